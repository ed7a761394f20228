package oracle

import (
	"fmt"
	"strings"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// acc gathers the findings of one invariant: the first failure (else the
// first inconclusive finding, else the pass summary) is the reason.
type acc struct {
	fails, incs, notes []string
	lateNs             int64 // the worst machine lateness behind an upper-bound judgement
	lateKnown          bool
}

// measured records the canary's lateness behind one judgement.
func (a *acc) measured(l int64, known bool) {
	if known {
		a.lateNs, a.lateKnown = max(a.lateNs, l), true
	}
}

func (a *acc) fail(format string, args ...any) {
	a.fails = append(a.fails, fmt.Sprintf(format, args...))
}
func (a *acc) inconclusive(format string, args ...any) {
	a.incs = append(a.incs, fmt.Sprintf(format, args...))
}
func (a *acc) note(format string, args ...any) {
	a.notes = append(a.notes, fmt.Sprintf(format, args...))
}

// check renders the findings; pass is the reason when nothing went wrong.
func (a *acc) check(expected, observed, pass string) scenarios.InvariantCheck {
	c := scenarios.InvariantCheck{Expected: expected, Observed: observed}
	switch {
	case len(a.fails) > 0:
		c.Verdict, c.Reason = scenarios.VerdictFail, a.fails[0]
		if len(a.fails) > 1 {
			c.Reason += fmt.Sprintf(" (+%d more)", len(a.fails)-1)
		}
	case len(a.incs) > 0:
		c.Verdict, c.Reason = scenarios.VerdictInconclusive, a.incs[0]
	default:
		c.Verdict, c.Reason = scenarios.VerdictPass, pass
	}
	if c.Observed == "" {
		switch {
		case len(a.fails) > 0:
			c.Observed = strings.Join(firstN(a.fails, 2), "; ")
		case len(a.incs) > 0:
			c.Observed = strings.Join(firstN(a.incs, 2), "; ")
		default:
			c.Observed = strings.Join(firstN(a.notes, 3), "; ")
		}
	}
	if c.Observed == "" {
		c.Observed = c.Reason
	}
	if a.lateKnown {
		ms := float64(a.lateNs) / 1e6
		c.MachineLateMs = &ms
	}
	return c
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(append([]string(nil), s[:n]...), fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}

// spanText renders a list of durations as "251 ms" or "249 ms–260 ms".
func spanText(ns []int64) string {
	if len(ns) == 0 {
		return ""
	}
	lo, hi := ns[0], ns[0]
	for _, v := range ns {
		lo, hi = min(lo, v), max(hi, v)
	}
	if fmtNs(lo) == fmtNs(hi) {
		return fmtNs(lo)
	}
	return fmtNs(lo) + "–" + fmtNs(hi)
}

// judgeR1: every policy restart comes d to d+ε after the exit.
func judgeR1(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	d := t.m.RestartDelay
	var gaps []int64
	n := 0
	for _, in := range t.incs {
		if in.expect != expRestart {
			continue
		}
		n++
		nx := autoNext(in)
		if nx == nil {
			hi := in.Exit + t.upper(d, in.ExitErr)
			if cut, why := t.cutAfter(in.Exit); cut >= hi {
				t.late(&a, in.Exit, cut, cut-hi, "not restarted within d+ε=%s of %s at %s", fmtNs(hi-in.Exit), in.describe(), fmtNs(in.Exit))
			} else {
				a.inconclusive("%s %s after %s, before the restart was due (d+ε=%s)", why, fmtNs(cut-in.Exit), in.describe(), fmtNs(hi-in.Exit))
			}
			continue
		}
		gap := nx.Spawn - in.Exit
		gaps = append(gaps, gap)
		switch {
		case gap < t.d()-t.tolLo(in.ExitErr, nx.SpawnErr):
			if gap < t.d()/10 {
				a.fail("restarted after %s: no delay (d=%s)", fmtNs(gap), fmtDur(d))
			} else {
				a.fail("restarted after %s, before d=%s", fmtNs(gap), fmtDur(d))
			}
		case gap > t.upper(d, in.ExitErr, nx.SpawnErr):
			t.late(&a, in.Exit, nx.Spawn, gap-t.upper(d, in.ExitErr, nx.SpawnErr), "restarted after %s, later than d+ε=%s", fmtNs(gap), fmtNs(t.upper(d)))
		}
	}
	if n == 0 {
		if t.m.Restart == zinit.RestartNever || t.m.Oneshot {
			return scenarios.InvariantCheck{}, false, t.policyText() + ": no policy restart is due"
		}
		return scenarios.InvariantCheck{}, false, "no exit called for a policy restart"
	}
	exp := fmt.Sprintf("respawn %s to %s after each exit the policy restarts (d=%s)", fmtDur(d), fmtNs(t.upper(d)), fmtDur(d))
	obs := ""
	if len(gaps) > 0 {
		obs = fmt.Sprintf("%d restart(s) after %s", len(gaps), spanText(gaps))
	}
	pass := fmt.Sprintf("restarted after %s (d=%s)", spanText(gaps), fmtDur(d))
	if len(gaps) > 1 {
		pass = fmt.Sprintf("%d restarts after %s (d=%s)", len(gaps), spanText(gaps), fmtDur(d))
	}
	return a.check(exp, obs, pass), true, ""
}

// judgeR2: the policy matrix, for every exit not caused by a stop or a check.
func judgeR2(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	n := 0
	d := t.m.RestartDelay
	for _, in := range t.incs {
		if in.cause == causeCheck {
			continue // H5 judges check kills
		}
		switch in.expect {
		case expRestart:
			n++
			if nx := autoNext(in); nx != nil {
				a.note("%s at %s → restarted after %s", in.describe(), fmtNs(in.Exit), fmtNs(nx.Spawn-in.Exit))
				continue
			}
			hi := in.Exit + t.upper(d, in.ExitErr)
			if cut, why := t.cutAfter(in.Exit); cut >= hi {
				t.late(&a, in.Exit, cut, cut-hi, "not restarted within %s of %s (%s)", fmtNs(cut-in.Exit), in.describe(), t.policyText())
				a.note("%s at %s → no restart for %s", in.describe(), fmtNs(in.Exit), fmtNs(cut-in.Exit))
			} else {
				a.inconclusive("%s %s after %s, before a restart was due", why, fmtNs(cut-in.Exit), in.describe())
			}
		case expQuietPolicy:
			n++
			v, span, why := t.quiet(in, in.Exit)
			switch v {
			case scenarios.VerdictFail:
				a.fail("restarted %s after %s though %s", fmtNs(span), in.describe(), t.policyText())
				a.note("%s at %s → restarted after %s", in.describe(), fmtNs(in.Exit), fmtNs(span))
			case scenarios.VerdictInconclusive:
				a.inconclusive("quiet window cut short: %s after %s of W=%s (%s)", why, fmtNs(span), fmtNs(t.w), in.describe())
			default:
				a.note("%s at %s → no restart for %s", in.describe(), fmtNs(in.Exit), fmtNs(span))
			}
		case expUnsure:
			n++
			a.inconclusive("exit status of pid %d at %s unknown: cannot apply on-failure", in.PID, fmtNs(in.Exit))
			if nx := autoNext(in); nx != nil {
				a.note("unknown exit at %s → restarted after %s", fmtNs(in.Exit), fmtNs(nx.Spawn-in.Exit))
			}
		}
	}
	if n == 0 {
		return scenarios.InvariantCheck{}, false, "no exit outside a stop or a check kill"
	}
	var exp string
	switch {
	case t.m.Oneshot:
		exp = "oneshot: no respawn at all"
	case t.m.Restart == zinit.RestartAlways:
		exp = "always: respawn after exit 0, exit ≠ 0 and a signal"
	case t.m.Restart == zinit.RestartOnFailure:
		exp = fmt.Sprintf("on-failure: respawn after exit ≠ 0 or a signal, none after exit 0 (W=%s)", fmtNs(t.w))
	default:
		exp = fmt.Sprintf("never: no respawn at all (W=%s)", fmtNs(t.w))
	}
	return a.check(exp, "", "behaved as "+t.policyText()+": "+strings.Join(firstN(a.notes, 2), "; ")), true, ""
}

// judgeR3: after a stop, no spawn in W, restart count unchanged, state not failed.
func judgeR3(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	n := 0
	S := t.p.StopTimeout
	for _, r := range t.requests {
		if r.kind != "stop" {
			continue
		}
		n++
		from := r.at
		var after *incarnation // the incarnation whose successor would be a respawn
		if in := t.incAt(r.at); in != nil {
			if !in.Exited {
				if hi := t.upper(S, r.err); t.end-r.at >= hi {
					t.late(&a, r.at, t.end, t.end-r.at-hi, "pid %d still running %s after the stop (S=%s)", in.PID, fmtNs(t.end-r.at), fmtDur(S))
				} else {
					a.inconclusive("observation ended %s after the stop, pid %d still stopping", fmtNs(t.end-r.at), in.PID)
				}
				continue
			}
			from, after = in.Exit, in
			a.note("pid %d exited %s after the stop", in.PID, fmtNs(in.Exit-r.at))
		} else {
			after = t.lastExitBefore(r.at)
		}
		// A stop sent during a restart delay races the restart when it
		// takes effect after the restart was due: zinit may restart (and
		// count) first, then stop. Nothing after the stop then proves a
		// failure: the harness was late, not the supervisor.
		late, raced := t.stopRaced(r)
		if raced {
			a.inconclusive("the stop took effect up to %s after the restart was due (the harness was late): zinit may have restarted and counted first", fmtNs(late))
		}
		if after != nil && !raced {
			if nx := autoNext(after); nx != nil && nx.Spawn >= r.at {
				a.fail("respawned %s after the stop", fmtNs(nx.Spawn-r.at))
				continue
			}
		}
		cut, why := t.cutAfter(r.at)
		winEnd := min(cut, from+t.w)
		before := t.restartsBefore(r.at)
		for _, st := range t.statuses {
			if st.TNs < r.at || st.TNs > winEnd {
				continue
			}
			if st.State == zinit.StateFailed.String() {
				a.fail("state failed %s after the stop", fmtNs(st.TNs-r.at))
				break
			}
			if before != nil && st.Restarts != nil && *st.Restarts != *before && !raced {
				a.fail("restart count went from %d to %d after the stop", *before, *st.Restarts)
				break
			}
		}
		if cut-from < t.w {
			a.inconclusive("quiet window cut short: %s %s after the stop, need W=%s", why, fmtNs(cut-r.at), fmtNs(t.w))
			continue
		}
		a.note("no respawn for %s", fmtNs(cut-from))
	}
	if n == 0 {
		return scenarios.InvariantCheck{}, false, "no stop in the scenario"
	}
	exp := fmt.Sprintf("after a stop: exit within S=%s, no spawn for W=%s, restart count unchanged, state not failed", fmtDur(S), fmtNs(t.w))
	return a.check(exp, "", "stopped and stayed down: "+strings.Join(firstN(a.notes, 2), "; ")), true, ""
}

// stopRaced says whether a stop sent while the service waited out a
// restart delay may have taken effect only after the restart was due, and
// by how much: then zinit may have restarted (and counted) first, and the
// incarnation the stop ended at once may have lived too briefly for the
// agent to see.
func (t *timeline) stopRaced(r request) (int64, bool) {
	if r.kind != "stop" || t.incAt(r.at) != nil {
		return 0, false
	}
	after := t.lastExitBefore(r.at)
	if after == nil || (after.expect != expRestart && after.expect != expCancelled) {
		return 0, false
	}
	if nx := autoNext(after); nx != nil && nx.Spawn < r.at {
		return 0, false // restarted before the stop was sent: no race
	}
	due := after.Exit + t.d() - t.tolLo(after.ExitErr)
	done := t.requestDone(r)
	return done - due, due <= done
}

// stopRacedBefore says whether a stop sent before at raced a restart.
func (t *timeline) stopRacedBefore(at int64) bool {
	for _, r := range t.requests {
		if _, raced := t.stopRaced(r); raced && r.at <= at {
			return true
		}
	}
	return false
}

// requestDone is the latest the request can have taken effect: when the
// harness saw it done (its fault's effect), else the end of observation.
func (t *timeline) requestDone(r request) int64 {
	for _, f := range t.faults {
		if f.name() == r.kind && f.at == r.at && f.effect != nil {
			return f.effect.TNs
		}
	}
	return t.end
}

// restartsBefore is zinit's restart count at at: its last report at or
// before at, plus the automatic respawns seen since that report's query
// began (a report is a poll's, and a restart between it and at counts
// before at, not after).
func (t *timeline) restartsBefore(at int64) *int {
	var last *int
	var asked int64
	for _, st := range t.statuses {
		if st.TNs > at {
			break
		}
		if st.Restarts != nil {
			last, asked = st.Restarts, st.TNs-st.ErrNs
		}
	}
	if last == nil {
		return nil
	}
	n := *last
	for _, in := range t.incs {
		if in.idx > 0 && !in.manual && in.Spawn > asked && in.Spawn-in.SpawnErr <= at {
			n++
		}
	}
	return &n
}

// judgeR4: a stop during the restart delay cancels the pending restart.
func judgeR4(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	n := 0
	for _, in := range t.incs {
		if in.expect != expCancelled {
			continue
		}
		n++
		due := in.Exit + t.d()
		if nx := autoNext(in); nx != nil {
			a.fail("restarted %s after the exit though a stop came %s into the delay (d=%s)",
				fmtNs(nx.Spawn-in.Exit), fmtNs(in.stopReq.at-in.Exit), fmtNs(t.d()))
			continue
		}
		from := max(due, in.stopReq.at)
		cut, why := t.cutAfter(in.stopReq.at)
		if cut-from < t.w {
			a.inconclusive("quiet window cut short: %s %s after the restart was due, need W=%s", why, fmtNs(max(0, cut-from)), fmtNs(t.w))
			continue
		}
		a.note("stop %s into the delay; no respawn for %s after the restart was due", fmtNs(in.stopReq.at-in.Exit), fmtNs(cut-from))
	}
	if n == 0 {
		if t.hasFault(scenarios.FaultStop) {
			return scenarios.InvariantCheck{}, false, "no stop landed during a restart delay"
		}
		return scenarios.InvariantCheck{}, false, "no stop in the scenario"
	}
	exp := fmt.Sprintf("no spawn at t_exit + d or later (d=%s), checked for W=%s", fmtDur(t.m.RestartDelay), fmtNs(t.w))
	return a.check(exp, "", "pending restart cancelled: "+strings.Join(firstN(a.notes, 1), "; ")), true, ""
}

// epochIncs groups the incarnations by epoch.
func (t *timeline) epochIncs() [][]*incarnation {
	var out [][]*incarnation
	for _, in := range t.incs {
		if in.manual || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], in)
	}
	return out
}

// crashLoopDuring reports whether a crash-loop fault was in force during [from, to].
func (t *timeline) crashLoopDuring(from, to int64) bool {
	for _, f := range t.faults {
		if f.kind == scenarios.FaultCrashLoop && f.at <= to && (!f.reverted || f.revertAt >= from) {
			return true
		}
	}
	return false
}

// judgeR5: a crash-looping job with N spawns exactly 1 + N times, then none in W.
func judgeR5(t *timeline) (scenarios.InvariantCheck, bool, string) {
	N := t.m.MaxRestarts
	if N <= 0 {
		return scenarios.InvariantCheck{}, false, "max-restarts unlimited (N=0)"
	}
	if t.m.Restart == zinit.RestartNever || t.m.Oneshot {
		return scenarios.InvariantCheck{}, false, t.policyText() + ": the limit never applies"
	}
	var a acc
	n := 0
	for _, ep := range t.epochIncs() {
		first, last := ep[0], ep[len(ep)-1]
		to := t.end
		if last.Exited {
			to = last.Exit
		}
		var limit *incarnation
		for _, in := range ep {
			if in.expect == expQuietLimit {
				limit = in
			}
		}
		spawns := len(ep)
		if limit == nil && spawns <= 1+N && !t.crashLoopDuring(first.Spawn, to) {
			continue
		}
		n++
		switch {
		case spawns > 1+N:
			a.fail("%d spawns, want exactly 1+N=%d (%s)", spawns, 1+N, plusText(spawns-1-N))
		case limit != nil:
			cut, why := t.cutAfter(limit.Exit)
			if cut-limit.Exit < t.w {
				a.inconclusive("exactly 1+N=%d spawns, but %s %s after the last exit, need W=%s", 1+N, why, fmtNs(cut-limit.Exit), fmtNs(t.w))
			} else {
				a.note("exactly 1+N=%d spawns, then none for %s", 1+N, fmtNs(cut-limit.Exit))
			}
		case last.Exited && last.expect == expRestart:
			hi := last.Exit + t.upper(t.m.RestartDelay, last.ExitErr)
			if cut, why := t.cutAfter(last.Exit); cut >= hi {
				t.late(&a, last.Exit, cut, cut-hi, "gave up after %d spawns, want 1+N=%d (one too few)", spawns, 1+N)
			} else {
				a.inconclusive("%s after %d of 1+N=%d spawns", why, spawns, 1+N)
			}
		default:
			a.inconclusive("observation ended after %d of 1+N=%d spawns, the loop had not reached the limit", spawns, 1+N)
		}
	}
	if n == 0 {
		return scenarios.InvariantCheck{}, false, "no crash loop and the limit was never reached"
	}
	exp := fmt.Sprintf("exactly 1+N=%d spawns per start, then none for W=%s", 1+N, fmtNs(t.w))
	return a.check(exp, "", strings.Join(firstN(a.notes, 2), "; ")), true, ""
}

func plusText(k int) string {
	switch k {
	case 1:
		return "one too many"
	}
	return fmt.Sprintf("%d too many", k)
}

// judgeR6: after the limit the state is failed, naming the limit, for W.
func judgeR6(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	n := 0
	settle := int64(t.p.SlackMin)
	for _, in := range t.incs {
		if in.expect != expQuietLimit {
			continue
		}
		n++
		if nx := autoNext(in); nx != nil {
			a.fail("left the failed state: respawned %s after the limit", fmtNs(nx.Spawn-in.Exit))
			continue
		}
		cut, why := t.cutAfter(in.Exit)
		winEnd := min(cut, in.Exit+t.w)
		seen := 0
		bad := false
		for _, st := range t.statuses {
			if st.TNs < in.Exit+settle+st.ErrNs || st.TNs > winEnd {
				continue
			}
			seen++
			if st.State != zinit.StateFailed.String() {
				a.fail("state %s %s after the limit, want failed", st.State, fmtNs(st.TNs-in.Exit))
				bad = true
				break
			}
			if !strings.Contains(st.Reason, "limit") {
				a.fail("state failed, but the reason %q does not name the limit", st.Reason)
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		switch {
		case seen == 0:
			a.inconclusive("no status reported in the %s after the limit", fmtNs(winEnd-in.Exit))
		case cut-in.Exit < t.w:
			a.inconclusive("state failed, but %s %s after the limit, need W=%s", why, fmtNs(cut-in.Exit), fmtNs(t.w))
		default:
			a.note("failed (%s) for %s", zinit.ReasonRestartLimit, fmtNs(cut-in.Exit))
		}
	}
	if n == 0 {
		if t.m.MaxRestarts <= 0 {
			return scenarios.InvariantCheck{}, false, "max-restarts unlimited (N=0)"
		}
		return scenarios.InvariantCheck{}, false, "the restart limit was never reached"
	}
	exp := fmt.Sprintf("state failed, reason %s, for W=%s after the limit", zinit.ReasonRestartLimit, fmtNs(t.w))
	return a.check(exp, "", strings.Join(firstN(a.notes, 1), "; ")), true, ""
}

// judgeR7: a start after the limit spawns within ε with N fresh restarts.
func judgeR7(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var a acc
	n := 0
	for _, r := range t.requests {
		if r.kind != "start" && r.kind != "restart" {
			continue
		}
		prev := t.lastExitBefore(r.at)
		if prev == nil || prev.expect != expQuietLimit {
			continue
		}
		n++
		var nx *incarnation
		for _, in := range t.incs {
			if in.Spawn >= r.at-t.tolLo(r.err) {
				nx = in
				break
			}
		}
		hi := r.at + t.upper(0, r.err)
		if nx == nil || nx.Spawn > hi {
			switch {
			case nx == nil && t.end < hi:
				a.inconclusive("observation ended %s after the start", fmtNs(t.end-r.at))
			case nx == nil:
				t.late(&a, r.at, t.end, t.end-hi, "not started within ε=%s of the %s (state failed)", fmtNs(hi-r.at), r.kind)
			default:
				// A late first spawn, or one the agent missed (a hole): the
				// load rule and the hole check decide.
				t.late(&a, r.at, nx.Spawn, nx.Spawn-hi, "not started within ε=%s of the %s: first spawn seen %s after it", fmtNs(hi-r.at), r.kind, fmtNs(nx.Spawn-r.at))
			}
			continue
		}
		a.note("started %s after the %s", fmtNs(nx.Spawn-r.at), r.kind)
		// Fresh restarts: within the new epoch every restart the model grants must come.
		used := 0
		for in := nx; in != nil && (in == nx || !in.manual); in = in.next {
			if in != nx {
				used++
			}
			if in.expect == expRestart && autoNext(in) == nil {
				hiR := in.Exit + t.upper(t.m.RestartDelay, in.ExitErr)
				if cut, _ := t.cutAfter(in.Exit); cut >= hiR {
					// A restart that never came: missing, so judged like a
					// late one (a hole in the agent's view, or a loaded
					// machine, leaves it open).
					t.late(&a, in.Exit, cut, cut-hiR, "no fresh restarts after the %s: gave up after %d (N=%d)", r.kind, used, t.m.MaxRestarts)
				}
			}
		}
		if used > 0 {
			a.note("%d fresh restart(s) used (N=%d)", used, t.m.MaxRestarts)
		}
	}
	if n == 0 {
		return scenarios.InvariantCheck{}, false, "no start after the restart limit"
	}
	exp := fmt.Sprintf("a spawn within ε=%s of the start, then N=%d fresh restarts", fmtNs(t.upper(0)), t.m.MaxRestarts)
	return a.check(exp, "", strings.Join(firstN(a.notes, 2), "; ")), true, ""
}
