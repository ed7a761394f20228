package oracle

import (
	"time"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// This file is the oracle's model of how long things take, as the runner
// needs it to schedule an attempt: how long to wait for a fault's moment,
// and how long to observe after the last fault so every invariant can be
// judged. The judge itself (timeline.go and the judge*.go files) reads the
// same JobModel and Params.

// WhenTimeout bounds the wait for a fault's moment (running, healthy,
// restarting, failed): room for the whole restart budget, twice over.
func (p Params) WhenTimeout(m JobModel) time.Duration {
	per := m.RestartDelay + m.Interval + m.Timeout + p.Slack(m.RestartDelay+m.Interval+m.Timeout)
	n := max(m.MaxRestarts, 1) + 1
	return max(10*time.Second, time.Duration(n)*per*2)
}

// ExpectedRecovery is how long after fault f the model says the service
// needs to act and come back. crashMinAge is how long each life of a
// crash loop lasts at least. A start made once the service gave up
// (`when: failed`: it was crash-looping) runs the whole loop again: 1 + N
// spawns, each d after the previous crash, before it gives up again.
func ExpectedRecovery(m JobModel, f scenarios.Fault, crashMinAge time.Duration) time.Duration {
	k := f.Kind
	if m.Restart == zinit.RestartNever {
		if m.HasCheck && (k == scenarios.FaultHang || k == scenarios.FaultHealthHang || k == scenarios.FaultHealthError || k == scenarios.FaultSocket) {
			return m.Interval + m.Timeout
		}
		return 0
	}
	d := m.RestartDelay
	if k == scenarios.FaultStart && f.When == "failed" && m.MaxRestarts > 0 {
		return time.Duration(m.MaxRestarts+1) * (d + crashMinAge)
	}
	switch k {
	case scenarios.FaultKill, scenarios.FaultExit, scenarios.FaultStart, scenarios.FaultReload:
		return d
	case scenarios.FaultStop:
		// A stop during the restart delay: the cancelled restart was due
		// up to d after the stop, and the quiet window counts from then.
		return d
	case scenarios.FaultHang, scenarios.FaultHealthHang, scenarios.FaultSocket:
		if m.HasCheck {
			return m.Interval + m.Timeout + d
		}
		return d
	case scenarios.FaultHealthError:
		if m.HasCheck {
			return m.Interval + d
		}
		return d
	case scenarios.FaultCrashLoop:
		n := m.MaxRestarts
		if n <= 0 {
			n = 3
		}
		return time.Duration(n+1) * (d + crashMinAge)
	case scenarios.FaultSupervisor:
		return d + time.Second
	}
	return 0
}

// ObserveWindow is how long to observe after the last fault (nil: none
// was injected): the expected recovery plus its slack plus the quiet
// window. With no fault the scenario watches the service on its own (a
// crash loop, a oneshot): room for its whole restart budget.
func (p Params) ObserveWindow(m JobModel, last *scenarios.Fault, crashMinAge time.Duration) time.Duration {
	var exp time.Duration
	if last != nil {
		exp = ExpectedRecovery(m, *last, crashMinAge)
	} else {
		exp = time.Duration(max(m.MaxRestarts, 1)+1) * (m.RestartDelay + m.Interval + m.Timeout)
	}
	w := p.QuietWindow(m)
	win := exp + p.Slack(exp) + w
	if last != nil && (last.Kind == scenarios.FaultSupervisor || last.Kind == scenarios.FaultReload) {
		// The oracle gives a reload or a supervisor restart W to bring
		// the service back (recoveryModel): watch past W and its slack,
		// so that one that never comes back is judged, not cut short.
		win = max(win, w+p.Slack(w)+p.SlackMin)
	}
	return win
}
