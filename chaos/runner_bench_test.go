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
	// Probe and status periods as the runner sets them at the default
	// scale (0.05): 50 ms each.
	spec := agent.Spec{ZinitCLI: "zinit", Status: []string{tSvc},
		Probes: []agent.Probe{{Service: tSvc, Socket: tSocket}}, ProbePeriodMs: 50, StatusPeriodMs: 50}
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
	var cpu0 agentCPUSample
	var worst, sum, errSum, spawnErrSum, spawnErrMax float64
	n := 0
	var spawn scenarios.Event // the current incarnation's
	for i := 0; i < b.N; i++ {
		// Wait for a running, healthy incarnation.
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
		if i == 0 && agentPid != "" {
			cpu0 = agentCPU(b, ctx, c, agentPid)
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
		// The restart's spawn: its stated error is how closely the agent
		// dates a start (the starttime's tick bounds it, not the scan).
		for e := range evs {
			if e.Kind == scenarios.EventSpawn && e.PID != fault.PID {
				require.GreaterOrEqual(b, e.TNs, fault.TNs, "the restart is dated after the kill")
				spawnErrSum += float64(e.ErrNs) / 1e6
				spawnErrMax = max(spawnErrMax, float64(e.ErrNs)/1e6)
				spawn = e
				break
			}
		}
	}
	b.ReportMetric(sum/float64(n), "exit-lag-ms")
	b.ReportMetric(worst, "exit-lag-max-ms")
	b.ReportMetric(errSum/float64(n), "stated-err-ms")
	b.ReportMetric(spawnErrSum/float64(n), "spawn-err-ms")
	b.ReportMetric(spawnErrMax, "spawn-err-max-ms")
	if agentPid != "" {
		// The agent's CPU share while watching: from the first kill to now
		// (its start, which reads the whole tree once, left out), from the
		// scheduler's exact run time of its threads (schedstat): the tick-
		// sampled utime/stime overcount a process that wakes on timers, as
		// it runs when the tick lands. Its children count too (from their
		// ticks): a zinit CLI per status query cost more than the agent
		// itself before the status came over the socket.
		cpu1 := agentCPU(b, ctx, c, agentPid)
		if d := cpu1.up - cpu0.up; d > 0 {
			b.ReportMetric(100*float64(cpu1.runNs-cpu0.runNs)/1e9/d, "agent-cpu%")
			const hz = procfs.ClockTicksPerSecond
			kids := float64(cpu1.st.CUTime+cpu1.st.CSTime-cpu0.st.CUTime-cpu0.st.CSTime) / hz
			b.ReportMetric(100*(float64(cpu1.runNs-cpu0.runNs)/1e9+kids)/d, "agent+children-cpu%")
			b.ReportMetric(100*float64(cpu1.st.UTime+cpu1.st.STime-cpu0.st.UTime-cpu0.st.STime)/hz/d, "agent-ticks-cpu%")
		}
	}
}

// agentCPUSample is the agent's CPU use so far: its stat, its threads'
// run time (schedstat, ns) and the container's uptime (s).
type agentCPUSample struct {
	st    procfs.Stat
	runNs int64
	up    float64
}

func agentCPU(b *testing.B, ctx context.Context, c runtime.Container, pid string) agentCPUSample {
	b.Helper()
	res, err := c.Exec(ctx, []string{"sh", "-c", "cat /proc/uptime /proc/" + pid + "/stat /proc/" + pid + "/task/*/schedstat"}, nil)
	require.NoError(b, err)
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	require.GreaterOrEqual(b, len(lines), 3, "%s", res.Stdout)
	var s agentCPUSample
	s.up, err = strconv.ParseFloat(strings.Fields(lines[0])[0], 64)
	require.NoError(b, err)
	s.st, err = procfs.ParseStat([]byte(lines[1]))
	require.NoError(b, err)
	for _, l := range lines[2:] {
		ns, err := strconv.ParseInt(strings.Fields(l)[0], 10, 64)
		require.NoError(b, err)
		s.runNs += ns
	}
	return s
}
