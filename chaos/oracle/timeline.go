package oracle

import (
	"fmt"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	observed "github.com/zchaos/zchaos/scenarios/timeline"
	"github.com/zchaos/zchaos/zinit"
)

// exitCause says why an incarnation of the main process ended.
type exitCause int

const (
	causeNone       exitCause = iota // still running, or its exit was not seen
	causeUnknown                     // nothing the harness or a check did explains it
	causeFault                       // a kill, exit, crash-loop or monkey fault
	causeCheck                       // a failed check run
	causeStop                        // a stop request
	causeRestart                     // a restart request (stop, then start)
	causeSupervisor                  // a supervisor restart or a reload
)

// expectKind is what the model says must follow an exit.
type expectKind int

const (
	expNone        expectKind = iota // not judged (running, exit unseen, supervisor restart)
	expRestart                       // a policy restart at exit + d
	expQuietPolicy                   // the policy says no restart
	expQuietLimit                    // max-restarts reached: failed, no restart
	expQuietStop                     // stopped: no restart
	expCancelled                     // a stop during the restart delay cancelled the restart
	expManual                        // a restart request: a manual spawn follows
	expUnsure                        // on-failure, but the exit status is unknown
)

// incarnation is one life of the start job's process, as the shared
// timeline model paired it, with what the oracle concludes of it.
type incarnation struct {
	*observed.Incarnation
	idx        int
	manual     bool // spawned by an explicit start/restart (or the first)
	epoch      int  // explicit starts delimit epochs; max-restarts counts within one
	used       int  // automatic restarts in the epoch up to this spawn
	cause      exitCause
	causeAt    int64
	causeFault *faultEv
	failed     *bool // whether the exit counts as a failure for on-failure
	expect     expectKind
	stopReq    *request // the stop that cancelled the pending restart (expCancelled)
	next       *incarnation
}

func (in *incarnation) alive(at, tol int64) bool {
	return in.Spawn <= at+tol && (!in.Exited || at <= in.Exit)
}

// describe names how the incarnation ended: "exit 1", "SIGKILL", "a check kill".
func (in *incarnation) describe() string {
	switch {
	case in.cause == causeCheck:
		return "a check kill"
	case in.Signal != "":
		return in.Signal
	case in.Code != nil:
		return fmt.Sprintf("exit %d", *in.Code)
	case in.causeFault != nil:
		return string(in.causeFault.kind)
	}
	return "an exit"
}

type faultEv struct {
	idx         int
	kind        scenarios.FaultKind
	ev          scenarios.Event
	at, err     int64
	effect      *scenarios.Event // the first effect with OK=true
	notSeen     string           // Detail of an effect with OK=false
	reverted    bool
	revertAt    int64
	code        *int // exit faults: the code the target was made to exit with
	declaredIdx int  // index in Scenario.Faults, -1 if unknown
}

func (f *faultEv) name() string { return string(f.kind) }

type request struct {
	kind string // start, stop, restart
	at   int64
	err  int64
}

// timeline is the observed timeline of one service, organised for judging.
type timeline struct {
	causedSpawn map[int]bool // index in requests → it was the cause of a manual spawn (classify)
	in          JudgeInput
	m           JobModel
	p           Params
	end         int64
	w           int64 // quiet window
	incs        []*incarnation
	runs        []*observed.CheckRun
	faults      []*faultEv
	requests    []request
	statuses    []*scenarios.Event
	probes      []*scenarios.Event
	zombies     []*scenarios.Event
	strays      []*scenarios.Event
	explicit    map[string]bool // invariants the scenario asked for by name
	fleetDeaths int             // fleet-wide judging: exits of any service
	canary      []*scenarios.Event
	holes       []*scenarios.Event // execs of the service's binary the agent never saw
}

func (t *timeline) slack(expected time.Duration) int64 { return int64(t.p.Slack(expected)) }

// tolLo is the strict lower-bound tolerance: granularity plus the events' errors.
func (t *timeline) tolLo(errs ...int64) int64 {
	s := int64(t.p.Granularity)
	for _, e := range errs {
		s += e
	}
	return s
}

// upper is the loose upper bound of an expected duration: expected + ε + errors.
func (t *timeline) upper(expected time.Duration, errs ...int64) int64 {
	s := int64(expected) + t.slack(expected)
	for _, e := range errs {
		s += e
	}
	return s
}

func (t *timeline) d() int64 { return int64(t.m.RestartDelay) }

// lateness is the worst timer lateness the agent's canary measured over
// [from, to], widened by one canary window on each side (a window is
// reported when it ends); known is false when no canary window comes
// near: then nothing tells a late machine from a late supervisor.
//
// The canary is one thread that mostly sleeps, which a loaded scheduler
// favours; the supervisor, busy with a fleet's checks, can starve longer
// (the soak saw zinit take 260 ms to notice an exit while the canary's
// worst tick was 44 ms late). zinit's own answers bound its lateness
// directly: a status query it took 260 ms to answer shows it was that
// late then. So the worst round trip of the status polls that overlap
// [from, to] counts too.
func (t *timeline) lateness(from, to int64) (worst int64, known bool) {
	for _, c := range t.canary {
		lo, hi := c.TNs-c.DurNs, c.TNs
		if hi+c.DurNs < from || lo-c.DurNs > to {
			continue
		}
		known = true
		worst = max(worst, c.LateMaxNs)
	}
	if known {
		for _, st := range t.statuses {
			if st.TNs >= from && st.TNs-st.ErrNs <= to {
				worst = max(worst, st.ErrNs)
			}
		}
	}
	return worst, known
}

// holeIn names the spawns of the service the agent missed during [from,
// to] (execs of its binary it never saw as processes), "" when none: an
// event that looks late or missing may be one of them, so it cannot be
// judged. A hole cannot make an event early, or a count too high.
func (t *timeline) holeIn(from, to int64) string {
	missed, at := 0, int64(0)
	for _, h := range t.holes {
		if h.TNs >= from && h.TNs-h.ErrNs <= to {
			missed += max(h.Missed, 1)
			at = h.TNs
		}
	}
	if missed == 0 {
		return ""
	}
	return fmt.Sprintf("the agent missed %d spawn(s) of %s (execs it never saw as processes, by %s)", missed, t.m.Service, fmtNs(at))
}

// late judges an upper bound missed by excess (ns), an event expected
// within [from, to] that came late or never: load can delay, never hasten,
// so it is a failure only when the canary shows the machine on time there
// (its worst lateness under 1/LoadMargin of the excess); otherwise the
// check is inconclusive, with both numbers in the reason.
func (t *timeline) late(a *acc, from, to, excess int64, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if h := t.holeIn(from, to); h != "" {
		a.inconclusive("%s: judged from an incomplete view: %s", h, msg)
		return
	}
	l, known := t.lateness(from, to)
	a.measured(l, known)
	switch {
	case !known:
		a.inconclusive("%s; no timer-lateness canary covers it, so a loaded machine cannot be ruled out", msg)
	case LoadMargin*l < excess:
		a.fail("%s", msg)
	default:
		a.inconclusive("machine too loaded to judge: timer lateness %s around it, excess %s: %s", fmtNs(l), fmtNs(excess), msg)
	}
}

// forService keeps the events of the service under test and those that
// name no service (zombies, supervisor-wide faults).
func (t *timeline) forService(ev scenarios.Event) bool {
	return ev.Service == "" || t.m.Service == "" || ev.Service == t.m.Service
}

// buildTimeline reads the service under test's incarnations, check runs,
// probes and statuses from the shared timeline model (scenarios/timeline,
// whose pairing rules the reports draw with too), and adds the oracle's
// own reading: which fault each effect and revert belongs to, the
// explicit requests, and then (classify) why each incarnation ended and
// what must follow.
func buildTimeline(in JudgeInput) *timeline {
	t := &timeline{in: in, m: in.Model, p: in.Params, end: int64(in.End)}
	t.w = int64(t.p.QuietWindow(t.m))
	for i := range in.Events {
		switch e := &in.Events[i]; {
		case e.Kind == scenarios.EventCanary:
			t.canary = append(t.canary, e)
		case e.Kind == scenarios.EventHole && (e.Service == "" || e.Service == in.Model.Service):
			t.holes = append(t.holes, e)
		}
	}
	evs := make([]scenarios.Event, 0, len(in.Events))
	for _, ev := range in.Events {
		if !t.forService(ev) {
			continue
		}
		if observed.OfService(ev.Kind) {
			if t.m.Service == "" && ev.Service != "" {
				// Fleet-wide: without a per-service model only deaths
				// count (for S1 and P1); call Judge per service to judge
				// each one.
				if ev.Kind == scenarios.EventExit {
					t.fleetDeaths++
				}
				continue
			}
			ev.Service = t.m.Service // one that names no service is the service under test's
		}
		evs = append(evs, ev)
	}
	tl := observed.Build(evs, map[string]observed.Jobs{t.m.Service: {Start: t.m.StartJob, Check: t.m.CheckJob}})
	svc := tl.Service(t.m.Service)
	for i, inc := range svc.Incarnations {
		t.incs = append(t.incs, &incarnation{Incarnation: inc, idx: i})
	}
	t.runs, t.probes, t.statuses = svc.Checks, svc.Probes, svc.Statuses
	t.zombies, t.strays = tl.Zombies, tl.Strays

	kindSeen := map[scenarios.FaultKind]int{}
	for _, ev := range tl.Faults {
		switch ev.Kind {
		case scenarios.EventFault:
			k := scenarios.FaultKind(ev.Fault)
			f := &faultEv{idx: len(t.faults), kind: k, ev: *ev, at: ev.TNs, err: ev.ErrNs, code: ev.Code, declaredIdx: -1}
			f.declaredIdx = declaredIndex(in.Scenario.Faults, k, kindSeen[k])
			kindSeen[k]++
			if f.code == nil && f.declaredIdx >= 0 && k == scenarios.FaultExit {
				c := in.Scenario.Faults[f.declaredIdx].Code
				f.code = &c
			}
			t.faults = append(t.faults, f)
			switch k {
			case scenarios.FaultStop:
				t.addRequest("stop", ev)
			case scenarios.FaultStart:
				t.addRequest("start", ev)
			}
		case scenarios.EventEffect:
			for _, f := range t.faults {
				if f.name() != ev.Fault || f.effect != nil || ev.TNs+t.tolLo(ev.ErrNs, f.err) < f.at {
					continue
				}
				if ev.OK != nil && *ev.OK {
					f.effect = ev
				} else if ev.Detail != "" {
					f.notSeen = ev.Detail
				} else {
					f.notSeen = "the effect probe gave up"
				}
				break
			}
		case scenarios.EventRevert:
			for _, f := range t.faults {
				if f.name() == ev.Fault && !f.reverted && f.at <= ev.TNs {
					f.reverted, f.revertAt = true, ev.TNs
					break
				}
			}
		case scenarios.EventAction:
			switch d := strings.ToLower(strings.TrimSpace(ev.Detail)); d {
			case "start", "stop", "restart":
				t.addRequest(d, ev)
			}
		}
	}
	t.classify()
	return t
}

// declaredIndex finds the n-th fault of kind k in the scenario.
func declaredIndex(fs []scenarios.Fault, k scenarios.FaultKind, n int) int {
	for i, f := range fs {
		if f.Kind == k {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return -1
}

// addRequest records an explicit start/stop/restart; the same request seen
// as both a fault and an action within ε counts once.
func (t *timeline) addRequest(kind string, ev *scenarios.Event) {
	for _, r := range t.requests {
		if r.kind == kind && abs64(r.at-ev.TNs) <= int64(t.p.SlackMin) {
			return
		}
	}
	t.requests = append(t.requests, request{kind: kind, at: ev.TNs, err: ev.ErrNs})
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// classify marks manual spawns, exit causes, epochs and what each exit
// must be followed by, simulating the restart counter of the model.
func (t *timeline) classify() {
	for i, in := range t.incs {
		if i == 0 {
			in.manual = true
		} else {
			in.manual = t.manualSpawn(t.incs[i-1], in)
		}
		if i+1 < len(t.incs) {
			in.next = t.incs[i+1]
		}
		if in.Exited && !in.ExitUnseen {
			t.attributeExit(in)
		}
	}
	epoch, used := -1, 0
	for i, in := range t.incs {
		if in.manual {
			epoch++
			used = 0
		} else if i > 0 {
			used++
		}
		if t.p.CounterResets && in.Exited && in.Exit-in.Spawn >= t.w {
			// A long healthy run resets the counter (when the model says so).
			used = 0
		}
		in.epoch, in.used = epoch, used
		if !in.Exited || in.ExitUnseen {
			continue
		}
		in.expect = t.expectAfter(in)
		if in.expect == expRestart {
			// A stop that lands before the restart is due cancels it (R4).
			due := in.Exit + t.upper(t.m.RestartDelay, in.ExitErr)
			until := due
			if in.next != nil && in.next.Spawn < until {
				until = in.next.Spawn
			}
			for k := range t.requests {
				r := &t.requests[k]
				if r.kind == "stop" && r.at >= in.Exit && r.at < until {
					in.expect, in.stopReq = expCancelled, r
					break
				}
			}
		}
	}
}

func (t *timeline) expectAfter(in *incarnation) expectKind {
	switch in.cause {
	case causeStop:
		return expQuietStop
	case causeRestart:
		return expManual
	case causeSupervisor:
		return expNone
	}
	if in.failed == nil && t.m.Restart == zinit.RestartOnFailure {
		return expUnsure
	}
	failed := in.failed != nil && *in.failed
	if !t.m.Restart.ShouldRestart(failed) || t.m.Oneshot {
		return expQuietPolicy
	}
	if t.m.MaxRestarts > 0 && in.used >= t.m.MaxRestarts {
		return expQuietLimit
	}
	return expRestart
}

// manualSpawn says whether cur was spawned by an explicit request rather
// than by the restart policy.
func (t *timeline) manualSpawn(prev, cur *incarnation) bool {
	if t.causedSpawn == nil {
		t.causedSpawn = map[int]bool{}
	}
	for i, r := range t.requests {
		// One request starts one incarnation: the first it can explain.
		// (A start just before a crash-looping incarnation died was
		// taken for the cause of the next spawn too.)
		if t.causedSpawn[i] {
			continue
		}
		// Each bound is loosened by the errors of the two times it
		// compares: the request's and prev's exit (or spawn) below, the
		// request's and cur's spawn above. (With cur's spawn error below,
		// a start that came just before a crash-looping incarnation died
		// was taken for the cause of the next spawn too.)
		hi := cur.Spawn + t.tolLo(r.err, cur.SpawnErr)
		switch r.kind {
		case "start":
			from, fromErr := prev.Spawn, prev.SpawnErr
			if prev.Exited && !prev.ExitUnseen {
				from, fromErr = prev.Exit, prev.ExitErr
			}
			if r.at >= from-t.tolLo(r.err, fromErr) && r.at <= hi {
				t.causedSpawn[i] = true
				return true
			}
		case "restart":
			if r.at >= prev.Spawn-t.tolLo(r.err, prev.SpawnErr) && r.at <= hi {
				t.causedSpawn[i] = true
				return true
			}
		}
	}
	for _, f := range t.faults {
		if (f.kind == scenarios.FaultSupervisor || f.kind == scenarios.FaultReload) &&
			f.at >= prev.Spawn-t.tolLo(f.err) && f.at <= cur.Spawn {
			return true
		}
	}
	return false
}

// attributeExit decides why an incarnation ended. Harness-driven causes
// (requests, faults) win over a check failure: a check that fails because
// the harness just killed the process is a consequence, not the cause.
func (t *timeline) attributeExit(in *incarnation) {
	tol := t.tolLo(in.ExitErr)
	lo, hi := in.Spawn-t.tolLo(in.SpawnErr), in.Exit+tol
	best, bestAt := causeNone, int64(0)
	var bestFault *faultEv
	consider := func(c exitCause, at int64, f *faultEv) {
		if best == causeNone || at >= bestAt {
			best, bestAt, bestFault = c, at, f
		}
	}
	for _, r := range t.requests {
		if r.at < lo || r.at > hi {
			continue
		}
		switch r.kind {
		case "stop":
			consider(causeStop, r.at, nil)
		case "restart":
			consider(causeRestart, r.at, nil)
		}
	}
	for _, f := range t.faults {
		switch f.kind {
		case scenarios.FaultKill, scenarios.FaultExit, scenarios.FaultMonkey:
			if f.at >= lo && f.at <= hi {
				consider(causeFault, f.at, f)
			}
		case scenarios.FaultCrashLoop:
			if f.at <= hi && (!f.reverted || f.revertAt >= in.Spawn) {
				at := f.at
				if in.Spawn > at {
					at = in.Spawn
				}
				consider(causeFault, at, f)
			}
		case scenarios.FaultSupervisor, scenarios.FaultReload:
			if f.at >= lo && f.at <= hi {
				consider(causeSupervisor, f.at, f)
			}
		}
	}
	if best == causeNone {
		for _, r := range t.runsOf(in) {
			if at, ok := t.runFailure(r); ok && at <= hi {
				consider(causeCheck, at, nil)
			}
		}
	}
	if best == causeNone {
		// The agent, not being the parent, may not know a check's exit
		// code: a run that ended just before an otherwise unexplained
		// death is taken as the failed check that caused it.
		for _, r := range t.runsOf(in) {
			if !r.Ended || r.Code != nil || r.Signal != "" || r.End > hi {
				continue
			}
			if in.Exit-r.End <= t.upper(0, r.EndErr, in.ExitErr) {
				consider(causeCheck, r.End, nil)
			}
		}
	}
	if best == causeNone {
		best, bestAt = causeUnknown, in.Exit
	}
	in.cause, in.causeAt, in.causeFault = best, bestAt, bestFault
	in.failed = t.exitFailed(in)
}

// exitFailed says whether the exit is a failure for on-failure: what was
// observed first (signal, code), then what caused it; nil when unknown.
func (t *timeline) exitFailed(in *incarnation) *bool {
	b := func(v bool) *bool { return &v }
	switch {
	case in.Signal != "":
		return b(true)
	case in.Code != nil:
		return b(*in.Code != 0)
	case in.cause == causeCheck:
		return b(true)
	case in.cause == causeFault && in.causeFault != nil:
		switch in.causeFault.kind {
		case scenarios.FaultExit:
			if in.causeFault.code != nil {
				return b(*in.causeFault.code != 0)
			}
			return nil
		default:
			return b(true)
		}
	}
	return nil
}

// runsOf returns the check runs that started while in was alive.
func (t *timeline) runsOf(in *incarnation) []*observed.CheckRun {
	var out []*observed.CheckRun
	for _, r := range t.runs {
		if r.Start >= in.Spawn-t.tolLo(in.SpawnErr, r.StartErr) && (!in.Exited || r.Start <= in.Exit) {
			out = append(out, r)
		}
	}
	return out
}

// runFailure says whether a check run failed and when (see
// observed.CheckRun.Outcome: a timeout at start + T, a non-zero exit, or
// the supervisor's word).
func (t *timeline) runFailure(r *observed.CheckRun) (int64, bool) {
	o, at := r.Outcome(t.m.Timeout, t.p.Granularity, t.end)
	return at, o == observed.CheckFailed
}

// runPassed says whether a run answered in time with exit 0.
func (t *timeline) runPassed(r *observed.CheckRun) bool {
	o, _ := r.Outcome(t.m.Timeout, t.p.Granularity, t.end)
	return o == observed.CheckPassed
}

// cutAfter is how far past at the absence of automatic spawns can be
// blamed on the supervisor: the end of observation, or the first explicit
// start/restart request (or manual spawn) after at.
func (t *timeline) cutAfter(at int64) (int64, string) {
	cut, why := t.end, "observation ended"
	for _, r := range t.requests {
		if (r.kind == "start" || r.kind == "restart") && r.at > at && r.at < cut {
			cut, why = r.at, "a "+r.kind+" came"
		}
	}
	for _, in := range t.incs {
		if in.manual && in.Spawn > at && in.Spawn < cut {
			cut, why = in.Spawn, "a manual start came"
		}
	}
	return cut, why
}

// autoNext returns the automatic respawn that followed in, if any.
func autoNext(in *incarnation) *incarnation {
	if in.next != nil && !in.next.manual {
		return in.next
	}
	return nil
}

// quiet judges a negative claim "no automatic respawn after at" over W.
// It returns the verdict and the observed span.
func (t *timeline) quiet(in *incarnation, at int64) (scenarios.Verdict, int64, string) {
	if n := autoNext(in); n != nil {
		return scenarios.VerdictFail, n.Spawn - at, ""
	}
	cut, why := t.cutAfter(at)
	if cut-at < t.w {
		return scenarios.VerdictInconclusive, cut - at, why
	}
	return scenarios.VerdictPass, cut - at, ""
}

func (t *timeline) incAt(at int64) *incarnation {
	for _, in := range t.incs {
		if in.Spawn <= at && (!in.Exited || at < in.Exit) {
			return in
		}
	}
	return nil
}

// lastExitBefore returns the last incarnation that exited at or before at
// with no spawn between its exit and at.
func (t *timeline) lastExitBefore(at int64) *incarnation {
	var last *incarnation
	for _, in := range t.incs {
		if in.Spawn > at {
			break
		}
		last = in
	}
	if last == nil || !last.Exited || last.Exit > at {
		return nil
	}
	return last
}

// hasFault reports whether the scenario injected a fault of one of kinds.
func (t *timeline) hasFault(kinds ...scenarios.FaultKind) bool {
	for _, f := range t.faults {
		for _, k := range kinds {
			if f.kind == k {
				return true
			}
		}
	}
	for _, f := range t.in.Scenario.Faults {
		for _, k := range kinds {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

func (t *timeline) anyExit() bool {
	if t.fleetDeaths > 0 {
		return true
	}
	for _, in := range t.incs {
		if in.Exited {
			return true
		}
	}
	return false
}

func (t *timeline) policyText() string {
	s := "policy " + t.m.Restart.String()
	if t.m.Legacy && t.m.Restart == zinit.RestartNever {
		s += ", legacy"
	}
	return s
}
