package chaos_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// BenchmarkDockerHarnessOverhead runs crash-restart (migrated) at time
// scale 0.05 and reports wall time ÷ physical minimum (target ≤ 1.3).
func BenchmarkDockerHarnessOverhead(b *testing.B) {
	rt := chaostest.Docker(b)
	ref := chaostest.Image(b)
	sc := catalogued(b, "crash-restart")
	var ratio, wall, phys float64
	for i := 0; i < b.N; i++ {
		r := &chaos.Runner{Runtime: rt, Image: ref, Setup: testSetup, TimeScale: 0.05, Seed: 1}
		t0 := time.Now()
		res, err := r.Run(context.Background(), []scenarios.Scenario{sc}, []string{scenarios.ConfigMigrated})
		require.NoError(b, err)
		w := time.Since(t0)
		s := res.Scenarios[0]
		require.Equal(b, scenarios.VerdictPass, s.Verdict, s.Reason)
		wall += float64(w.Milliseconds())
		phys += float64(s.PhysicalMinMs)
		ratio += float64(w.Milliseconds()) / float64(s.PhysicalMinMs)
	}
	n := float64(b.N)
	b.ReportMetric(ratio/n, "wall/physical-min")
	b.ReportMetric(wall/n, "wall-ms")
	b.ReportMetric(phys/n, "physical-min-ms")
}

// startWatched starts a container running the test service (migrated,
// production timings) with a watching agent, and returns the container,
// the event channel, the time Start was called and when agent_start came.
func startWatched(tb testing.TB, ctx context.Context) (runtime.Container, <-chan scenarios.Event, time.Duration) {
	tb.Helper()
	rt := chaostest.Docker(tb)
	ref := chaostest.Image(tb)
	st, err := testSetup(ctx, scenarios.Scenario{}, scenarios.ConfigMigrated, 1)
	require.NoError(tb, err)
	spec := agent.Spec{ZinitCLI: "zinit", Status: []string{tSvc},
		Probes: []agent.Probe{{Service: tSvc, Socket: tSocket}}}
	for _, j := range st.Jobs {
		spec.Jobs = append(spec.Jobs, agent.Job{Service: j.Service, Job: j.Name, Trigger: j.Trigger.String(), Exec: j.Exec})
	}
	specJSON, _ := json.Marshal(spec)
	files := map[string][]byte{agent.SpecPath: specJSON}
	for k, v := range st.Files {
		files[k] = v
	}
	t0 := time.Now()
	c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "bench", Env: st.Env, Files: files})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Remove(context.Background()) })
	rc, err := c.Stream(ctx, []string{agent.Path, "agent", "watch", "--spec", agent.SpecPath})
	require.NoError(tb, err)
	evs := make(chan scenarios.Event, 1024)
	first := make(chan time.Duration, 1)
	go func() {
		defer close(evs)
		once := false
		_ = agent.ReadEvents(rc, func(e scenarios.Event) {
			if !once {
				once = true
				first <- time.Since(t0)
			}
			select {
			case evs <- e:
			default:
			}
		})
	}()
	tb.Cleanup(func() { _ = rc.Close() })
	var d time.Duration
	select {
	case d = <-first:
	case <-ctx.Done():
		tb.Fatal("no agent event")
	}
	require.NoError(tb, st.Apply(ctx, c))
	return c, evs, d
}

// BenchmarkDockerAgentFirstEvent: container start → first agent event
// (target ≤ 1 s).
func BenchmarkDockerAgentFirstEvent(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _, d := startWatched(b, ctx)
		total += d
		cancel()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-event")
}

// BenchmarkDockerEventPrecision kills the service at a known monotonic
// time (the fault event's, taken at the kill syscall) and reports how far
// the agent's exit event is from it (target ≤ 10 ms), with its stated
// error, and the agent's CPU share while watching.
func BenchmarkDockerEventPrecision(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, evs, _ := startWatched(b, ctx)
	var agentPid string
	var worst, sum, errSum float64
	n := 0
	for i := 0; i < b.N; i++ {
		// Wait for a running, healthy incarnation.
		var spawn scenarios.Event
		for e := range evs {
			if e.Kind == scenarios.EventAgentStart && agentPid == "" {
				agentPid = strconv.Itoa(e.PID)
			}
			if e.Kind == scenarios.EventSpawn {
				spawn = e
			}
			if e.Kind == scenarios.EventProbe && e.OK != nil && *e.OK && spawn.PID != 0 && e.TNs > spawn.TNs {
				break
			}
		}
		fevs, _, err := chaos.Inject(ctx, c, scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL"}, tSvc)
		require.NoError(b, err)
		var fault scenarios.Event
		for _, e := range fevs {
			if e.Kind == scenarios.EventFault {
				fault = e
			}
		}
		for e := range evs {
			if e.Kind == scenarios.EventExit && e.PID == fault.PID {
				d := float64(e.TNs-fault.TNs) / 1e6
				sum += d
				worst = max(worst, d)
				errSum += float64(e.ErrNs) / 1e6
				n++
				break
			}
		}
	}
	b.ReportMetric(sum/float64(n), "exit-lag-ms")
	b.ReportMetric(worst, "exit-lag-max-ms")
	b.ReportMetric(errSum/float64(n), "stated-err-ms")
	if agentPid != "" {
		// The agent's CPU share over its life so far.
		res, err := c.Exec(ctx, []string{"sh", "-c", "cat /proc/" + agentPid + "/stat; cat /proc/uptime"}, nil)
		require.NoError(b, err)
		lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
		if len(lines) == 2 {
			st, err := procfs.ParseStat([]byte(lines[0]))
			require.NoError(b, err)
			up, _ := strconv.ParseFloat(strings.Fields(lines[1])[0], 64)
			const hz = procfs.ClockTicksPerSecond
			if life := up - float64(st.Start)/hz; life > 0 {
				b.ReportMetric(100*float64(st.UTime+st.STime)/hz/life, "agent-cpu%")
			}
		}
	}
}
