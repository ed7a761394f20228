package oracle

import (
	"fmt"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	observed "github.com/zchaos/zchaos/scenarios/timeline"
	"github.com/zchaos/zchaos/zinit"
)

func noCheck(t *timeline) string {
	if t.m.Legacy {
		return "no check job, legacy service"
	}
	return "no check job"
}

// firstRun returns the first check run that started while in was alive.
func (t *timeline) firstRun(in *incarnation) *observed.CheckRun {
	if rs := t.runsOf(in); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// judgeH1: no check-driven kill (and no check) before t_spawn + I.
func judgeH1(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.m.HasCheck {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	var a acc
	I := int64(t.m.Interval)
	evidence := 0
	var firsts []int64
	for _, in := range t.incs {
		if r := t.firstRun(in); r != nil {
			off := r.Start - in.Spawn
			firsts = append(firsts, off)
			if off < I-t.tolLo(in.SpawnErr, r.StartErr) {
				a.fail("first check ran %s after spawn of pid %d, before the grace I=%s", fmtNs(off), in.PID, fmtNs(I))
			}
		}
		if in.cause == causeCheck {
			evidence++
			if in.causeAt-in.Spawn < I-t.tolLo(in.SpawnErr, in.ExitErr) {
				a.fail("killed by its check %s after spawn, before the grace I=%s", fmtNs(in.causeAt-in.Spawn), fmtNs(I))
			}
			continue
		}
		lived := t.end - in.Spawn
		if in.Exited {
			lived = in.Exit - in.Spawn
		}
		if lived >= I {
			evidence++
		}
	}
	if evidence == 0 && len(a.fails) == 0 {
		a.inconclusive("no incarnation lived to its first check (I=%s)", fmtNs(I))
	}
	exp := fmt.Sprintf("no check and no check-driven kill before spawn + I=%s", fmtNs(I))
	obs := "no check run observed"
	if len(firsts) > 0 {
		obs = "first checks " + spanText(firsts) + " after spawn"
	}
	return a.check(exp, obs, fmt.Sprintf("first checks %s after spawn (I=%s)", spanText(firsts), fmtNs(I))), true, ""
}

// hangFault reports whether a fault leaves the process alive but unhealthy.
func hangFault(k scenarios.FaultKind) bool {
	switch k {
	case scenarios.FaultHang, scenarios.FaultHealthHang, scenarios.FaultHealthError, scenarios.FaultSocket:
		return true
	}
	return false
}

// hangWord names what went undetected: "hang", "health error", "socket removal".
func hangWord(k scenarios.FaultKind) string {
	switch k {
	case scenarios.FaultHealthError:
		return "health error"
	case scenarios.FaultSocket:
		return "socket removal"
	}
	return "hang"
}

func (t *timeline) failedRuns() int {
	n := 0
	for _, r := range t.runs {
		if _, ok := t.runFailure(r); ok {
			n++
		}
	}
	return n
}

// hangBound is F·(I+T): when an unresponsive process must have been killed.
func (t *timeline) hangBound() time.Duration {
	f := max(t.p.FailedChecks, 1)
	return time.Duration(f) * (t.m.Interval + t.m.Timeout)
}

// judgeH2: an unresponsive process is killed by t_h + F·(I+T) + ε and
// respawned by + d; and every failed check run leads to a kill (F = 1).
func judgeH2(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var hangs []*faultEv
	for _, f := range t.faults {
		if hangFault(f.kind) {
			hangs = append(hangs, f)
		}
	}
	// Without a check job H2 is judged only when asked for by name: then
	// an undetected hang is the honest answer.
	if !t.m.HasCheck && (len(hangs) == 0 || !t.explicit["H2"]) {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	if len(hangs) == 0 && t.failedRuns() == 0 {
		return scenarios.InvariantCheck{}, false, "no hang fault and no failed check"
	}
	var a acc
	bound := t.hangBound()
	boundText := fmt.Sprintf("I+T+ε=%s", fmtNs(t.upper(bound)))
	if t.p.FailedChecks > 1 {
		boundText = fmt.Sprintf("F·(I+T)+ε=%s", fmtNs(t.upper(bound)))
	}
	exp := fmt.Sprintf("unresponsive from t_h ⇒ killed by t_h + %s, respawned by + d; a failed check kills at once", boundText)
	if !t.m.HasCheck {
		bound, boundText = time.Duration(t.w), noCheck(t)
		exp = fmt.Sprintf("a hang is detected and the process killed (%s; judged over W=%s)", boundText, fmtNs(t.w))
	}
	judged := map[*incarnation]bool{}
	for _, f := range hangs {
		in := t.incAt(f.at)
		if in == nil {
			a.inconclusive("no process was running at the %s at %s", f.kind, fmtNs(f.at))
			continue
		}
		judged[in] = true
		deadline := f.at + t.upper(bound, f.err)
		if !t.m.HasCheck {
			deadline = f.at + int64(bound)
		}
		if in.Exited && in.Exit <= deadline {
			if in.cause != causeCheck && t.m.HasCheck {
				a.inconclusive("pid %d ended by %s %s after the %s, not by its check", in.PID, in.describe(), fmtNs(in.Exit-f.at), f.kind)
				continue
			}
			a.note("%s caught after %s (%s)", hangWord(f.kind), fmtNs(in.Exit-f.at), boundText)
			if t.m.Restart.ShouldRestart(true) && in.expect == expRestart {
				hi := in.Exit + t.upper(t.m.RestartDelay, in.ExitErr)
				if nx := autoNext(in); nx == nil || nx.Spawn > hi {
					if cut, _ := t.cutAfter(in.Exit); nx != nil || cut >= hi {
						seen := cut
						if nx != nil {
							seen = nx.Spawn
						}
						t.late(&a, in.Exit, seen, seen-hi, "%s caught after %s but not respawned within d+ε=%s", hangWord(f.kind), fmtNs(in.Exit-f.at), fmtNs(hi-in.Exit))
					}
				}
			}
			continue
		}
		if f.reverted && f.revertAt < deadline && (!in.Exited || in.Exit > f.revertAt) {
			a.inconclusive("the %s was undone after %s, before the detection deadline (%s)", f.kind, fmtNs(f.revertAt-f.at), boundText)
			continue
		}
		switch {
		case in.Exited:
			t.late(&a, f.at, in.Exit, in.Exit-deadline, "%s caught after %s, later than %s", hangWord(f.kind), fmtNs(in.Exit-f.at), boundText)
		case t.end >= deadline:
			t.late(&a, f.at, t.end, t.end-deadline, "%s undetected for %s (%s)", hangWord(f.kind), fmtNs(t.end-f.at), boundText)
		default:
			a.inconclusive("observation ended %s after the %s, before the deadline (%s)", fmtNs(t.end-f.at), f.kind, boundText)
		}
	}
	// The Docker trap: a check failed, the service was marked, nothing killed it.
	for _, r := range t.runs {
		at, failed := t.runFailure(r)
		if !failed {
			continue
		}
		in := t.incAt(r.Start)
		if in == nil || judged[in] || (in.Exited && at >= in.Exit) {
			continue
		}
		limit := at + t.upper(0, r.EndErr)
		if (in.Exited && in.Exit > limit) || (!in.Exited && t.end > limit) {
			still := t.end - at
			if in.Exited {
				still = in.Exit - at
			}
			t.late(&a, at, at+still, at+still-limit, "check failed at %s (%s) but pid %d was not killed for %s: marked unhealthy, never restarted",
				fmtNs(at), runText(r, t), in.PID, fmtNs(still))
			break
		}
	}
	return a.check(exp, "", strings.Join(firstN(a.notes, 2), "; ")), true, ""
}

func runText(r *observed.CheckRun, t *timeline) string {
	switch {
	case r.Signal != "" || !r.Ended || r.Duration(t.end) > int64(t.m.Timeout):
		return fmt.Sprintf("timed out, T=%s", fmtDur(t.m.Timeout))
	case r.Code != nil:
		return fmt.Sprintf("exit %d", *r.Code)
	}
	return "failed"
}

func isKillSignal(sig string) bool {
	s := strings.ToUpper(sig)
	return strings.Contains(s, "KILL") || s == "9"
}

// judgeH3: a check answering within T never triggers a kill.
func judgeH3(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.m.HasCheck {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	var a acc
	var slowest int64 = -1
	for _, r := range t.runs {
		if t.runPassed(r) {
			slowest = max(slowest, r.Duration(t.end))
		}
	}
	for _, in := range t.incs {
		if !in.Exited || in.ExitUnseen || in.cause != causeUnknown {
			continue
		}
		var last *observed.CheckRun
		for _, r := range t.runsOf(in) {
			if r.Ended && r.End <= in.Exit+t.tolLo(in.ExitErr, r.EndErr) {
				last = r
			}
		}
		switch {
		case last != nil && t.runPassed(last) && in.Exit-last.End <= t.upper(0, in.ExitErr, last.EndErr):
			a.fail("pid %d killed %s after a check answered in %s (< T=%s)", in.PID, fmtNs(in.Exit-last.End), fmtNs(last.End-last.Start), fmtDur(t.m.Timeout))
		case isKillSignal(in.Signal):
			a.fail("pid %d killed (%s) with no failed check and no fault", in.PID, in.Signal)
		}
	}
	if slowest < 0 && len(a.fails) == 0 {
		return scenarios.InvariantCheck{}, false, "no passing check run observed"
	}
	exp := fmt.Sprintf("a check answering in < T=%s never triggers a kill", fmtDur(t.m.Timeout))
	obs := fmt.Sprintf("slowest passing check %s", fmtNs(slowest))
	return a.check(exp, obs, fmt.Sprintf("slowest passing check answered in %s (T=%s); no kill without a failed check", fmtNs(slowest), fmtDur(t.m.Timeout))), true, ""
}

// judgeH4: no check process older than T + ε, no check zombie older than
// 1 s, at most one check in flight.
func judgeH4(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.m.HasCheck && len(t.runs) == 0 {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	var a acc
	T := t.m.Timeout
	var longest int64
	for i, r := range t.runs {
		dur := r.Duration(t.end)
		longest = max(longest, dur)
		if hi := t.upper(T, r.StartErr, r.EndErr); T > 0 && dur > hi {
			if r.Ended {
				t.late(&a, r.Start, r.Start+dur, dur-hi, "check pid %d ran %s, longer than T+ε=%s", r.PID, fmtNs(dur), fmtNs(t.upper(T)))
			} else {
				t.late(&a, r.Start, r.Start+dur, dur-hi, "check pid %d still running %s after it started (T+ε=%s): never killed", r.PID, fmtNs(dur), fmtNs(t.upper(T)))
			}
		}
		for _, o := range t.runs[:i] {
			oEnd := t.end
			if o.Ended {
				oEnd = o.End
			}
			if r.Start < oEnd-t.tolLo(r.StartErr, o.EndErr) {
				a.fail("2 checks in flight at %s (pids %d and %d)", fmtNs(r.Start), o.PID, r.PID)
				break
			}
		}
	}
	checkPIDs := map[int]bool{}
	for _, r := range t.runs {
		checkPIDs[r.PID] = true
	}
	isCheck := func(pid int, job string) bool {
		return checkPIDs[pid] || (t.m.CheckJob != "" && job == t.m.CheckJob)
	}
	for _, z := range zombieAges(t.zombies) {
		if v := z.violation(); v != "" && isCheck(z.pid, z.job) {
			a.fail("check %s", v)
		}
	}
	for _, s := range t.strays {
		if isCheck(s.PGID, s.Job) {
			a.fail("check group %d left pid %d behind at %s", s.PGID, s.PID, fmtNs(s.TNs))
		}
	}
	if len(t.runs) == 0 && len(a.fails) == 0 {
		a.inconclusive("no check run observed")
	}
	exp := fmt.Sprintf("no check older than T+ε=%s, no zombie older than %s, at most one check in flight", fmtNs(t.upper(T)), fmtDur(zombieLimit))
	obs := fmt.Sprintf("%d check run(s), longest %s", len(t.runs), fmtNs(longest))
	return a.check(exp, obs, obs+"; at most one in flight"), true, ""
}

// judgeH5: a check kill is restarted as a crash would be: ≥ d later,
// counted toward N, and not at all under never.
func judgeH5(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.m.HasCheck {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	var a acc
	n := 0
	d := t.m.RestartDelay
	for _, in := range t.incs {
		if in.cause != causeCheck {
			continue
		}
		n++
		nx := autoNext(in)
		switch in.expect {
		case expRestart:
			hi := in.Exit + t.upper(d, in.ExitErr)
			switch {
			case nx == nil:
				if cut, why := t.cutAfter(in.Exit); cut >= hi {
					t.late(&a, in.Exit, cut, cut-hi, "killed by its check at %s, not restarted within %s (%s)", fmtNs(in.Exit), fmtNs(cut-in.Exit), t.policyText())
				} else {
					a.inconclusive("%s %s after the check kill, before the restart was due", why, fmtNs(cut-in.Exit))
				}
			case nx.Spawn-in.Exit < t.d()-t.tolLo(in.ExitErr, nx.SpawnErr):
				a.fail("respawned %s after the check kill, before d=%s", fmtNs(nx.Spawn-in.Exit), fmtDur(d))
			case nx.Spawn > hi+nx.SpawnErr:
				t.late(&a, in.Exit, nx.Spawn, nx.Spawn-hi-nx.SpawnErr, "respawned %s after the check kill, later than d+ε=%s", fmtNs(nx.Spawn-in.Exit), fmtNs(t.upper(d)))
			default:
				a.note("killed by its check, respawned after %s (d=%s)", fmtNs(nx.Spawn-in.Exit), fmtDur(d))
			}
		case expQuietPolicy, expQuietLimit:
			what := t.policyText()
			if in.expect == expQuietLimit {
				what = fmt.Sprintf("the limit N=%d was reached", t.m.MaxRestarts)
			}
			v, span, why := t.quiet(in, in.Exit)
			switch v {
			case scenarios.VerdictFail:
				if in.expect == expQuietLimit {
					a.fail("check kill not counted toward N: restarted %s after it though %s", fmtNs(span), what)
				} else {
					a.fail("restarted %s after a check kill though %s", fmtNs(span), what)
				}
			case scenarios.VerdictInconclusive:
				a.inconclusive("quiet window cut short: %s %s after the check kill, need W=%s", why, fmtNs(span), fmtNs(t.w))
			default:
				a.note("killed by its check, stayed down for %s (%s)", fmtNs(span), what)
			}
		}
	}
	if n == 0 {
		return scenarios.InvariantCheck{}, false, "no check kill observed"
	}
	exp := fmt.Sprintf("a check kill is a failure: respawn ≥ d=%s later (%s), counted toward N", fmtDur(d), t.policyText())
	if t.m.Restart == zinit.RestartNever {
		exp = "a check kill under policy never: the service stays down"
	}
	return a.check(exp, "", strings.Join(firstN(a.notes, 2), "; ")), true, ""
}

// judgeH6: the first check of each respawned incarnation comes no earlier
// than its spawn + I, and no check runs while the service is not running.
func judgeH6(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.m.HasCheck {
		return scenarios.InvariantCheck{}, false, noCheck(t)
	}
	if len(t.incs) < 2 {
		return scenarios.InvariantCheck{}, false, "no respawn observed"
	}
	var a acc
	I := int64(t.m.Interval)
	var firsts []int64
	for _, in := range t.incs[1:] {
		r := t.firstRun(in)
		if r == nil {
			continue
		}
		off := r.Start - in.Spawn
		firsts = append(firsts, off)
		if off < I-t.tolLo(in.SpawnErr, r.StartErr) {
			a.fail("first check of pid %d ran %s after its spawn, before I=%s: check state carried over", in.PID, fmtNs(off), fmtNs(I))
		}
	}
	for _, r := range t.runs {
		inside := false
		for _, in := range t.incs {
			if in.alive(r.Start, t.tolLo(r.StartErr, in.SpawnErr, in.ExitErr)) {
				inside = true
				break
			}
		}
		if !inside {
			a.fail("check pid %d ran at %s while the service was not running", r.PID, fmtNs(r.Start))
		}
	}
	if len(firsts) == 0 && len(a.fails) == 0 {
		a.inconclusive("no respawned incarnation lived to its first check (I=%s)", fmtNs(I))
	}
	exp := fmt.Sprintf("first check of each respawn ≥ spawn + I=%s", fmtNs(I))
	obs := ""
	if len(firsts) > 0 {
		obs = "first checks of respawns " + spanText(firsts) + " after spawn"
	}
	return a.check(exp, obs, fmt.Sprintf("first check of each respawn %s after spawn (I=%s)", spanText(firsts), fmtNs(I))), true, ""
}
