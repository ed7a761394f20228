package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// TestObserveWindowAfterManualStart: after a start that follows the
// restart limit, the runner watches the whole second crash loop and then
// the quiet window, so R5/R6 can be judged on the second loop too; and
// the catalogue scenario waits W before that start, so they can be judged
// on the first one.
func TestObserveWindowAfterManualStart(t *testing.T) {
	const scale = 0.05
	sc, err := scenarios.Lookup("manual-start-after-limit")
	require.NoError(t, err)
	st, err := DeclaredSetup(sc, scale)
	require.NoError(t, err)
	r := &Runner{TimeScale: scale}
	r.defaults()
	a := &attempt{r: r, t: task{sc: sc}, setup: st, params: r.params(),
		model: oracle.JobModelFrom(sc.Target, st.Jobs, false, false), faults: FaultClient{CrashMinAge: 25 * time.Millisecond}}
	m := a.model
	require.Equal(t, 3, m.MaxRestarts)
	W := a.params.QuietWindow(m)

	require.Len(t, sc.Faults, 1)
	start := sc.Faults[0]
	assert.Equal(t, scenarios.FaultStart, start.Kind)
	assert.GreaterOrEqual(t, zinit.ScaleDuration(time.Duration(start.DelayMs)*time.Millisecond, scale), W,
		"the start waits the quiet window after the limit")

	// The second loop at its fastest: N delays, 1+N lives of CrashMinAge.
	loop := time.Duration(m.MaxRestarts)*m.RestartDelay + time.Duration(m.MaxRestarts+1)*a.faults.CrashMinAge
	assert.GreaterOrEqual(t, a.observeWindow(&start), loop+W)

	// A plain start (not after the limit) is not held that long.
	plain := scenarios.Fault{Kind: scenarios.FaultStart, When: "running"}
	assert.Less(t, a.observeWindow(&plain), loop+W)
}

func TestScaleExecDurations(t *testing.T) {
	assert.Equal(t, "herosim serve --slow-start 1s --crash-after=250ms --name x",
		ScaleExecDurations("herosim serve --slow-start 20s --crash-after=5s --name x", 0.05))
	assert.Equal(t, "herosim --slow-start 20s", ScaleExecDurations("herosim --slow-start 20s", 1))
	// The cases of scenarios.ScaleExec, the duplicate this replaced.
	for _, tc := range []struct {
		in    string
		scale float64
		want  string
	}{
		{"herosim serve --name x --slow-start 20s", 0.05, "herosim serve --name x --slow-start 1s"},
		{"herosim serve --crash-after=1500ms --exit-code 3", 0.1, "herosim serve --crash-after=150ms --exit-code 3"},
		{"herosim serve --slow-start 20s --crash-after 1m", 0.5, "herosim serve --slow-start 10s --crash-after 30s"},
		{"herosim serve --slow-start 20s", 1, "herosim serve --slow-start 20s"},
		{"herosim serve --slow-start 1us", 0.01, "herosim serve --slow-start 1ms"},
		{"herosim serve --slow-start soon", 0.05, "herosim serve --slow-start soon"},
		{"sleep 20s", 0.05, "sleep 20s"},
	} {
		assert.Equal(t, tc.want, ScaleExecDurations(tc.in, tc.scale), tc.in)
	}
}

func TestFillExitStatusFromZinit(t *testing.T) {
	three := 3
	evs := []scenarios.Event{
		{TNs: 100, Kind: scenarios.EventExit, Service: "s", PID: 1, ErrNs: 10},
		{TNs: 95, Kind: scenarios.EventStatus, Service: "s", Code: &three, Detail: "last_exit_at_ms=5", ErrNs: 1}, // overlaps the exit
		{TNs: 97, Kind: scenarios.EventProbe, Service: "s"},                                                       // not an exit: does not end the search
		{TNs: 200, Kind: scenarios.EventExit, Service: "s", PID: 2, Signal: "SIGKILL"},                            // read by the agent itself
		{TNs: 210, Kind: scenarios.EventStatus, Service: "s", Signal: "SIGTERM", Detail: "last_exit_at_ms=6"},
		{TNs: 300, Kind: scenarios.EventExit, Service: "s", PID: 3},
		{TNs: 310, Kind: scenarios.EventStatus, Service: "s", Signal: "SIGTERM", Detail: "unchanged last_exit_at_ms=6"},
	}
	sortEvents(evs)
	fillExitStatus(evs)
	byPID := map[int]scenarios.Event{}
	for _, e := range evs {
		if e.Kind == scenarios.EventExit {
			byPID[e.PID] = e
		}
	}
	require.NotNil(t, byPID[1].Code)
	assert.Equal(t, 3, *byPID[1].Code)
	assert.Contains(t, byPID[1].Detail, "from zinit status")
	assert.Equal(t, "SIGKILL", byPID[2].Signal, "what the agent read is kept")
	assert.Nil(t, byPID[3].Code, "no new last exit reported: stays unknown")
	assert.Empty(t, byPID[3].Signal)
}

func TestViewOfFallsBackOnStatusAndProbe(t *testing.T) {
	yes, no := true, false
	evs := []scenarios.Event{
		{TNs: 1, Kind: scenarios.EventProbe, Service: "s", OK: &no},
		{TNs: 2, Kind: scenarios.EventStatus, Service: "s", State: "running"},
	}
	v := viewOf(evs, "s", "main")
	assert.True(t, v.running, "no process matched: zinit's word")
	assert.False(t, v.healthy)
	evs = append(evs, scenarios.Event{TNs: 3, Kind: scenarios.EventProbe, Service: "s", OK: &yes})
	v = viewOf(evs, "s", "main")
	assert.True(t, v.running)
	assert.True(t, v.healthy, "a passing probe counts when no process was matched")
	// With a process seen, the probe must come after its spawn.
	evs = append(evs, scenarios.Event{TNs: 4, Kind: scenarios.EventSpawn, Service: "s", Job: "main", PID: 9})
	v = viewOf(evs, "s", "main")
	assert.True(t, v.running)
	assert.False(t, v.healthy)
}

func TestFillCheckStatusFromLastCheck(t *testing.T) {
	one, zero := 1, 0
	no, yes := false, true
	evs := []scenarios.Event{
		// A run the agent saw, without its exit code; zinit says it passed.
		{TNs: 1000 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckSpawn, Service: "s", Job: "check", PID: 40},
		{TNs: 1010 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", PID: 40},
		{TNs: 1008 * ms1, ErrNs: ms1, DurNs: 9 * ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", OK: &yes, Code: &zero,
			Detail: agent.LastCheckDetail + " at_ms=1 duration_ms=9"},
		// Another kind of event between them does not end the search.
		{TNs: 1009*ms1 + ms1/2, Kind: scenarios.EventProbe, Service: "s", OK: &yes},
		// A 1 ms run the agent missed; zinit says exit code 1.
		{TNs: 2001 * ms1, ErrNs: ms1, DurNs: ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", OK: &no, Code: &one,
			Detail: agent.LastCheckDetail + " at_ms=2 duration_ms=1: exit code 1"},
		{TNs: 2003 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventExit, Service: "s", Job: "main", PID: 10, Signal: "SIGKILL"},
	}
	sortEvents(evs)
	out := fillCheckStatus(evs)
	var runs []scenarios.Event
	for _, e := range out {
		if e.Kind == scenarios.EventCheckSpawn || e.Kind == scenarios.EventCheckExit {
			runs = append(runs, e)
		}
	}
	require.Len(t, runs, 4, "the derived event of the seen run is merged, the missed run is made whole")
	assert.Equal(t, 40, runs[1].PID)
	require.NotNil(t, runs[1].Code)
	assert.Equal(t, 0, *runs[1].Code)
	assert.Equal(t, 1010*ms1, runs[1].TNs, "the agent's own timing is kept")
	assert.Contains(t, runs[1].Detail, agent.LastCheckDetail)
	assert.Equal(t, scenarios.EventCheckSpawn, runs[2].Kind)
	assert.Less(t, runs[2].PID, 0, "a run nobody saw has no pid")
	assert.Equal(t, runs[2].PID, runs[3].PID)
	assert.Equal(t, 2000*ms1, runs[2].TNs)
	assert.Equal(t, 2001*ms1, runs[3].TNs)
	assert.Equal(t, ms1, runs[3].ErrNs)
	require.NotNil(t, runs[3].Code)
	assert.Equal(t, 1, *runs[3].Code)

}

const ms1 = int64(time.Millisecond)

func TestDeriveProbe(t *testing.T) {
	start := zinit.Job{Service: "s", Name: "main", Trigger: zinit.TriggerStart, Exec: "herosim serve --socket /s/main.sock --http-port 8080"}
	check := zinit.Job{Service: "s", Name: "check", Trigger: zinit.TriggerCheck, Exec: "echo x | socat - UNIX-CONNECT:/s/check.sock"}
	other := zinit.Job{Service: "o", Name: "main", Trigger: zinit.TriggerStart, Exec: "herosim serve --socket /s/o.sock"}
	p, ok := DeriveProbe("s", []zinit.Job{start, check, other})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", Socket: "/s/check.sock"}, p, "the check's socket first")
	p, ok = DeriveProbe("s", []zinit.Job{start})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", Socket: "/s/main.sock"}, p, "a socket before a port")
	start.Exec = "herosim serve --http-port 8080"
	p, ok = DeriveProbe("s", []zinit.Job{start, other})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", HTTPPort: 8080}, p)
	_, ok = DeriveProbe("none", []zinit.Job{start, other})
	assert.False(t, ok)
}
