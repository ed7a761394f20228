package chaos_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/chaos"
)

func TestDockerZZProfileAgent(t *testing.T) {
	if os.Getenv("ZZPROF") == "" {
		t.Skip("manual")
	}
	ctx := context.Background()
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	st, err := testSetup(ctx, scenarios.Scenario{}, scenarios.ConfigMigrated, 0.05)
	require.NoError(t, err)
	spec := agent.Spec{ZinitCLI: "zinit", Status: []string{tSvc}, Probes: []agent.Probe{{Service: tSvc, Socket: tSocket}},
		MaxDurationMs: 30000, ProbePeriodMs: 50, StatusPeriodMs: 50}
	for _, j := range st.Jobs {
		spec.Jobs = append(spec.Jobs, agent.Job{Service: j.Service, Job: j.Name, Trigger: j.Trigger.String(), Exec: j.Exec})
	}
	specJSON, _ := json.Marshal(spec)
	files := map[string][]byte{agent.SpecPath: specJSON}
	for k, v := range st.Files {
		files[k] = v
	}
	c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "prof", Env: st.Env, Files: files})
	require.NoError(t, err)
	defer c.Remove(context.Background())
	_ = chaos.ZinitCLI
	t0 := time.Now()
	res, err := c.Exec(ctx, []string{"sh", "-c", "GMP=" + os.Getenv("GMP") + "; GOMAXPROCS=${GMP:-2} " + agent.Path + " agent watch --spec " + agent.SpecPath + " --cpuprofile /tmp/p.prof > /tmp/ev.jsonl; cat /proc/self/status >/dev/null; cat /tmp/p.prof | base64 -w0"}, nil)
	require.NoError(t, err)
	t.Logf("ran %s", time.Since(t0))
	os.WriteFile("/tmp/agent.prof.b64", res.Stdout, 0o644)
	r2, _ := c.Exec(ctx, []string{"sh", "-c", "wc -l /tmp/ev.jsonl; cut -c1-60 /tmp/ev.jsonl | sed 's/\"t_ns\":[0-9]*,//' | cut -d, -f1-2 | sort | uniq -c | sort -rn | head"}, nil)
	t.Logf("%s", r2.Stdout)
}
