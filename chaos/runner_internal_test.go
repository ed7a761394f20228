package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/scenarios"
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
	assert.GreaterOrEqual(t, ScaleDuration(time.Duration(start.DelayMs)*time.Millisecond, scale), W,
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
