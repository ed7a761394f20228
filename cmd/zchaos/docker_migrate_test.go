package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// TestDockerMigrateApplyRollback migrates the hero fleet inside a real
// container of the reference image (zinit as PID 1, the fleet in
// /etc/zinit) through `zchaos migrate apply --container`, applies again
// (zero changes), and rolls back: /etc/zinit is byte-identical again and
// zinit runs the legacy services.
func TestDockerMigrateApplyRollback(t *testing.T) {
	rt := chaostest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	ref, err := runtime.BuildImage(ctx, runtime.ImageOptions{Binaries: bins, Fleet: migrator.FleetFS()})
	require.NoError(t, err)
	c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "migrator-test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background()) })

	exec := func(argv ...string) runtime.ExecResult {
		r, err := c.Exec(ctx, argv, nil)
		require.NoError(t, err)
		return r
	}
	poll := func(within time.Duration, cond func() bool) error {
		wctx, wcancel := context.WithTimeout(ctx, within)
		defer wcancel()
		return zinit.PollUntil(wctx, clock.RealClock{}, 50*time.Millisecond, func(context.Context) (bool, error) { return cond(), nil })
	}
	require.NoError(t, poll(30*time.Second, func() bool { return exec("zinit", "list", "--json").ExitCode == 0 }),
		"zinit never answered in the container")
	sums := func() string { return string(exec("sh", "-c", "cd /etc/zinit && sha256sum *.toml").Stdout) }
	before := sums()
	require.Equal(t, 2*migrator.FleetSize, strings.Count(before, "\n"))

	first := runZchaosCLI(t, false, "", "migrate", "apply", fleetDir, "--container", c.Name(), "--time-scale", "0.05", "--json")
	require.Equal(t, exitPass, first.code, first.err)
	var rep migrator.ApplyReport
	require.NoError(t, json.Unmarshal([]byte(first.out), &rep))
	require.NotEmpty(t, rep.Backup)
	assert.True(t, strings.HasPrefix(rep.Backup, "/etc/zinit.zchaos-backup/"))
	assert.Empty(t, strings.TrimSpace(string(exec("sh", "-c", "ls /etc/zinit").Stdout)))

	var st []struct {
		Name   string `json:"name"`
		Legacy bool   `json:"legacy"`
	}
	require.NoError(t, json.Unmarshal(exec("zinit", "list", "--json").Stdout, &st))
	assert.Len(t, st, migrator.FleetSize)
	for _, s := range st {
		assert.False(t, s.Legacy, s.Name)
	}

	// The migrated checks really probe herosim: each long-running service
	// reports a passing check within a few (scaled, 3 s) intervals.
	plan := runZchaosCLI(t, false, "", "migrate", "plan", fleetDir, "--json")
	var p migrator.Plan
	require.NoError(t, json.Unmarshal([]byte(plan.out), &p))
	passing, want := 0, 0
	var failing []string
	err = poll(30*time.Second, func() bool {
		var full []zinit.ServiceStatus
		require.NoError(t, json.Unmarshal(exec("zinit", "list", "--json").Stdout, &full))
		passing, want, failing = 0, 0, nil
		for _, s := range full {
			if sp := p.Lookup(s.Name); sp == nil || sp.Oneshot {
				continue
			}
			want++
			for _, j := range s.Jobs {
				if j.Name == "check" && j.LastCheck != nil {
					if j.LastCheck.OK {
						passing++
					} else if j.LastCheck.Error != nil {
						failing = append(failing, s.Name+": "+*j.LastCheck.Error)
					}
				}
			}
		}
		return passing == want
	})
	require.NoError(t, err, "%d of %d checks passing; failing: %v", passing, want, failing)

	second := runZchaosCLI(t, false, "", "migrate", "apply", fleetDir, "--container", c.Name(), "--time-scale", "0.05")
	require.Equal(t, exitPass, second.code, second.err)
	assert.Contains(t, second.out, "applied 0 changes")

	rb := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--container", c.Name())
	require.Equal(t, exitPass, rb.code, rb.err)
	assert.Equal(t, before, sums(), "legacy files restored byte for byte")
}
