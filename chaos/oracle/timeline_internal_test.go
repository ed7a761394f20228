package oracle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// TestTimelineAttributesKillToFailedCheck: a kill that follows a failed
// check run (one zinit reported and the agent missed: a negative pid) is
// the check's doing, not a crash.
func TestTimelineAttributesKillToFailedCheck(t *testing.T) {
	const ms1 = int64(time.Millisecond)
	one, zero := 1, 0
	no, yes := false, true
	evs := []scenarios.Event{
		{TNs: 100 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventSpawn, Service: "s", Job: "main", PID: 10},
		{TNs: 1000 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckSpawn, Service: "s", Job: "check", PID: 40},
		{TNs: 1010 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", PID: 40, OK: &yes, Code: &zero},
		{TNs: 2000 * ms1, ErrNs: 2 * ms1, Kind: scenarios.EventCheckSpawn, Service: "s", Job: "check", PID: -1},
		{TNs: 2001 * ms1, ErrNs: ms1, DurNs: ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", PID: -1, OK: &no, Code: &one},
		{TNs: 2003 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventExit, Service: "s", Job: "main", PID: 10, Signal: "SIGKILL"},
	}
	m := JobModel{Service: "s", Restart: zinit.RestartOnFailure, RestartDelay: 250 * time.Millisecond, HasCheck: true,
		Interval: 900 * time.Millisecond, Timeout: 500 * time.Millisecond, StartJob: "main", CheckJob: "check"}
	tl := buildTimeline(JudgeInput{Model: m, Events: evs, Params: DefaultParams(0.05), End: 3 * time.Second})
	require.Len(t, tl.incs, 1)
	assert.Equal(t, causeCheck, tl.incs[0].cause)
	require.Len(t, tl.runs, 2)
	assert.True(t, tl.runPassed(tl.runs[0]))
	assert.False(t, tl.runPassed(tl.runs[1]))
}

// TestObserveWindowCoversStopDuringDelay: after a stop during the restart
// delay the cancelled restart was due up to d later; the window must hold
// the whole quiet window after that.
func TestObserveWindowCoversStopDuringDelay(t *testing.T) {
	m := JobModel{Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 3,
		HasCheck: true, Interval: 5 * time.Second, Timeout: 2 * time.Second}
	p := DefaultParams(1)
	stop := scenarios.Fault{Kind: scenarios.FaultStop}
	assert.Equal(t, m.RestartDelay, ExpectedRecovery(m, stop, 0))
	assert.GreaterOrEqual(t, p.ObserveWindow(m, &stop, 0), m.RestartDelay+p.QuietWindow(m))
}

// TestObserveWindowCoversRecoveryDeadline: the runner's observation
// window and the oracle's recovery deadline are two views of one model.
// For every fault kind a scenario can end on, the window must reach past
// the deadline the oracle judges by, or a service that never recovers
// would be called inconclusive instead of failed.
func TestObserveWindowCoversRecoveryDeadline(t *testing.T) {
	models := map[string]JobModel{
		"fleet": {Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 5,
			HasCheck: true, Interval: 60 * time.Second, Timeout: 10 * time.Second},
		"fast check": {Restart: zinit.RestartAlways, RestartDelay: 2 * time.Second, MaxRestarts: 3,
			HasCheck: true, Interval: 5 * time.Second, Timeout: 2 * time.Second},
		"no check": {Restart: zinit.RestartAlways, RestartDelay: time.Second},
	}
	kinds := []scenarios.FaultKind{scenarios.FaultKill, scenarios.FaultHang, scenarios.FaultHealthHang,
		scenarios.FaultHealthError, scenarios.FaultSocket, scenarios.FaultSupervisor, scenarios.FaultReload,
		scenarios.FaultExit, scenarios.FaultStart}
	for _, scale := range []float64{0.05, 1} {
		for name, m := range models {
			m.RestartDelay = zinit.ScaleDuration(m.RestartDelay, scale)
			m.Interval = zinit.ScaleDuration(m.Interval, scale)
			m.Timeout = zinit.ScaleDuration(m.Timeout, scale)
			p := DefaultParams(scale)
			tl := buildTimeline(JudgeInput{Model: m, Params: p})
			for _, k := range kinds {
				can, exp, bound := tl.recoveryModel(&faultEv{kind: k})
				if !can {
					continue
				}
				f := scenarios.Fault{Kind: k}
				assert.GreaterOrEqual(t, int64(p.ObserveWindow(m, &f, 0)), tl.upper(exp),
					"scale %g, %s, %s: the window ends before the oracle's deadline (%s)", scale, name, k, bound)
			}
		}
	}
}

func TestChooseScale(t *testing.T) {
	s, why, err := ChooseScale(scenarios.Load{P50Ms: 0.06, P99Ms: 3, MaxMs: 9, Windows: 12}, ScaleLadder)
	require.NoError(t, err)
	assert.Equal(t, 0.05, s, "an idle machine: the fastest scale")
	assert.Contains(t, why, "timer lateness p99 3 ms")
	s, _, err = ChooseScale(scenarios.Load{P99Ms: 40}, ScaleLadder)
	require.NoError(t, err)
	assert.Equal(t, 0.5, s, "40 ms late needs a slack floor above 80 ms: 0.25's is 62.5 ms, 0.5's 125 ms")
	_, _, err = ChooseScale(scenarios.Load{P99Ms: 200}, ScaleLadder)
	assert.ErrorIs(t, err, ErrTooLoaded)
}
