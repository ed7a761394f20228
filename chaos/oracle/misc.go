package oracle

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// judgeS1: no process of a dead incarnation's group remains.
func judgeS1(t *timeline) (scenarios.InvariantCheck, bool, string) {
	deaths := t.fleetDeaths
	for _, in := range t.incs {
		if in.Exited {
			deaths++
		}
	}
	if deaths == 0 && len(t.strays) == 0 {
		return scenarios.InvariantCheck{}, false, "no process died"
	}
	var a acc
	for _, s := range t.strays {
		what := fmt.Sprintf("stray pid %d", s.PID)
		if s.PGID != 0 {
			what += fmt.Sprintf(" (pgid %d)", s.PGID)
		}
		if s.Cmdline != "" {
			what += fmt.Sprintf(" %q", s.Cmdline)
		}
		a.fail("%s of a dead incarnation still there at %s", what, fmtNs(s.TNs))
	}
	exp := "after each death no process of the old process group remains"
	obs := fmt.Sprintf("%d death(s), %d stray process(es)", deaths, len(t.strays))
	return a.check(exp, obs, fmt.Sprintf("no process of an old group left after %d death(s)", deaths)), true, ""
}

type zombieAge struct {
	pid   int
	job   string
	age   int64 // a lower bound of how long it was a zombie
	known bool  // whether anything tells the age
	err   int64
	seen  int64
}

// zombieAges folds zombie sightings per pid: the age is the longest of the
// reported age (DurNs, else ZombieMs) and the span
// between the first and last sighting.
func zombieAges(zs []*scenarios.Event) []zombieAge {
	type sighting struct {
		first, last, dur, err int64
		job                   string
		known                 bool
	}
	by := map[int]*sighting{}
	var order []int
	for _, z := range zs {
		a := by[z.PID]
		if a == nil {
			a = &sighting{first: z.TNs, job: z.Job}
			by[z.PID] = a
			order = append(order, z.PID)
		}
		a.last = z.TNs
		dur := z.DurNs
		if dur == 0 {
			dur = z.ZombieMs * int64(time.Millisecond)
		}
		a.known = a.known || dur > 0 || a.last > a.first
		a.dur = max(a.dur, dur)
		a.err = max(a.err, z.ErrNs)
	}
	out := make([]zombieAge, 0, len(order))
	for _, pid := range order {
		a := by[pid]
		out = append(out, zombieAge{pid: pid, job: a.job, age: max(a.dur, a.last-a.first), known: a.known, err: a.err, seen: a.first})
	}
	return out
}

// violation says how a zombie breaks the reaping bound, or "". The
// measured age is a lower bound (it starts at the first sighting), so it
// is compared with no tolerance; a zombie of unknown age is evidence too
// (the agent reports only zombies it has seen linger).
func (z zombieAge) violation() string {
	switch {
	case !z.known:
		return fmt.Sprintf("zombie pid %d seen at %s (age unknown, limit %s)", z.pid, fmtNs(z.seen), fmtDur(zombieLimit))
	case z.age >= int64(zombieLimit):
		return fmt.Sprintf("zombie pid %d not reaped for %s (limit %s)", z.pid, fmtNs(z.age), fmtDur(zombieLimit))
	}
	return ""
}

// judgeP1: zombies reparented to zinit are reaped within 1 s.
func judgeP1(t *timeline) (scenarios.InvariantCheck, bool, string) {
	if !t.anyExit() && len(t.zombies) == 0 {
		return scenarios.InvariantCheck{}, false, "no process died"
	}
	var a acc
	zs := zombieAges(t.zombies)
	for _, z := range zs {
		if err := z.violation(); err != "" {
			// Reaping is a wake-up like any other: a loaded machine delays it.
			excess := z.age - int64(zombieLimit)
			if !z.known {
				// The agent reports only a zombie it has seen linger for
				// about the limit: that long is the evidence.
				excess = int64(zombieLimit)
			}
			t.late(&a, z.seen, z.seen+z.age, excess, "%s", err)
		}
	}
	exp := fmt.Sprintf("every zombie reaped within %s", fmtDur(zombieLimit))
	obs := fmt.Sprintf("%d zombie(s) seen", len(zs))
	pass := fmt.Sprintf("no zombie older than %s", fmtDur(zombieLimit))
	if len(zs) > 0 {
		pass += fmt.Sprintf(" (%d seen briefly)", len(zs))
	}
	return a.check(exp, obs, pass), true, ""
}

// explicitBetween reports an explicit start/restart (or a supervisor
// restart) in [from, to], which resets zinit's restart counter.
func (t *timeline) explicitBetween(from, to int64) bool {
	for _, r := range t.requests {
		if (r.kind == "start" || r.kind == "restart") && r.at >= from-t.tolLo(r.err) && r.at <= to {
			return true
		}
	}
	for _, f := range t.faults {
		if (f.kind == scenarios.FaultSupervisor || f.kind == scenarios.FaultReload) && f.at >= from && f.at <= to {
			return true
		}
	}
	return false
}

// observedRestarts counts the automatic respawns since the counter was
// last reset (an explicit start, or base) up to at.
func (t *timeline) observedRestarts(at, base int64, sinceStart bool) int {
	from := base
	for _, r := range t.requests {
		if sinceStart && (r.kind == "start" || r.kind == "restart") && r.at <= at {
			from = max(from, r.at)
		}
	}
	for _, f := range t.faults {
		if (f.kind == scenarios.FaultSupervisor || f.kind == scenarios.FaultReload) && f.at <= at {
			from = max(from, f.at)
		}
	}
	n := 0
	for _, in := range t.incs {
		if in.idx > 0 && !in.manual && in.Spawn > from && in.Spawn <= at {
			n++
		}
	}
	return n
}

// supervisorRestartBefore reports whether the supervisor was restarted
// before at.
func (t *timeline) supervisorRestartBefore(at int64) bool {
	for _, f := range t.faults {
		if f.kind == scenarios.FaultSupervisor && f.at <= at {
			return true
		}
	}
	return false
}

// judgeC1: the reported restart count never decreases without a start and
// equals the observed respawns.
func judgeC1(t *timeline) (scenarios.InvariantCheck, bool, string) {
	var sts []*scenarios.Event
	for _, st := range t.statuses {
		if st.Restarts != nil {
			sts = append(sts, st)
		}
	}
	if len(sts) == 0 {
		return scenarios.InvariantCheck{}, false, "zinit reported no restart count"
	}
	var a acc
	base := int64(math.MinInt64)
	var prev *scenarios.Event
	lastObs := 0
	for i := range sts {
		st := sts[i]
		r := *st.Restarts
		if prev != nil && r < *prev.Restarts && !t.explicitBetween(prev.TNs, st.TNs) {
			// Later reports count from the reset, so one reset is reported once.
			base = prev.TNs
			if t.p.CounterResets {
				a.note("counter reset from %d to %d at %s", *prev.Restarts, r, fmtNs(st.TNs))
			} else {
				a.fail("reported restarts fell from %d to %d at %s with no start (counter reset)", *prev.Restarts, r, fmtNs(st.TNs))
			}
		}
		delta := int64(t.p.SlackMin) + st.ErrNs
		// The report may be up to ε stale or early (and straddle a reset).
		// A supervisor may count restarts since the last explicit start or
		// over the service's whole life (never decreasing); either agrees.
		agrees := func(sinceStart bool) (bool, int) {
			early, obs, late := t.observedRestarts(st.TNs-delta, base, sinceStart), t.observedRestarts(st.TNs, base, sinceStart), t.observedRestarts(st.TNs+delta, base, sinceStart)
			lo, hi := min(early, obs, late), max(early, obs, late)
			if st.State == zinit.StateRestarting.String() {
				hi++ // the restart may be counted when it is scheduled
			}
			return r >= lo && r <= hi, obs
		}
		okStart, obs := agrees(true)
		okLife, obsLife := agrees(false)
		if okLife && !okStart {
			obs = obsLife
		}
		lastObs = obs
		if !okStart && !okLife {
			if h := t.holeIn(0, st.TNs); h != "" && r > obs {
				// zinit counted more than the agent saw, and the agent's
				// view has a hole: the missing restarts may be in it.
				a.inconclusive("%s: zinit reported %d restart(s) at %s, observed %d", h, r, fmtNs(st.TNs), obs)
				continue
			}
			if r > obs && t.stopRacedBefore(st.TNs) {
				a.inconclusive("zinit reported %d restart(s) at %s, observed %d, and a stop came as a restart was due: the incarnation it ended at once may have lived too briefly to be seen", r, fmtNs(st.TNs), obs)
				continue
			}
			if t.in.Config == scenarios.ConfigAsBuilt && t.supervisorRestartBefore(st.TNs) {
				// An image as built boots its own way: its boot may stop
				// and re-add its services after the supervisor restart,
				// starts the harness never sees as requests.
				a.inconclusive("zinit reported %d restart(s) at %s, observed %d, after a supervisor restart the image's own boot may have stopped and started the service: not judged", r, fmtNs(st.TNs), obs)
				continue
			}
			a.fail("zinit reported %d restart(s) at %s, observed %d", r, fmtNs(st.TNs), obs)
		}
		prev = st
	}
	exp := "reported restarts never decrease (except on start) and equal the observed respawns"
	obsText := fmt.Sprintf("last report %d, observed %d", *sts[len(sts)-1].Restarts, lastObs)
	return a.check(exp, obsText, fmt.Sprintf("reported restarts matched the observed respawns (%d) in %d report(s)", lastObs, len(sts))), true, ""
}

// faultNoun names a fault for reasons: "the kill", "the hang".
func faultNoun(k scenarios.FaultKind) string {
	switch k {
	case scenarios.FaultKill, scenarios.FaultMonkey:
		return "the kill"
	case scenarios.FaultHang, scenarios.FaultHealthHang:
		return "the hang"
	case scenarios.FaultHealthError:
		return "the health error"
	case scenarios.FaultSocket:
		return "the socket removal"
	case scenarios.FaultCrashLoop:
		return "the crash loop"
	case scenarios.FaultExit:
		return "the exit"
	case scenarios.FaultSupervisor:
		return "the supervisor restart"
	case scenarios.FaultReload:
		return "the reload"
	}
	return "the " + string(k)
}

// recoveryModel says whether the model recovers from fault f, how long
// that should take, and how to name that bound.
func (t *timeline) recoveryModel(f *faultEv) (bool, time.Duration, string) {
	d := t.m.RestartDelay
	restarts := func(failed bool) bool { return !t.m.Oneshot && t.m.Restart.ShouldRestart(failed) }
	switch {
	case hangFault(f.kind):
		if !t.m.HasCheck {
			return false, 0, noCheck(t)
		}
		b := t.hangBound()
		return restarts(true), b + d, fmt.Sprintf("I+T+d+ε=%s", fmtNs(t.upper(b+d)))
	case f.kind == scenarios.FaultExit:
		failed := f.code == nil || *f.code != 0
		txt := t.policyText()
		if f.code != nil {
			txt += fmt.Sprintf(", exit %d", *f.code)
		}
		if !restarts(failed) {
			return false, 0, txt
		}
		return true, d, fmt.Sprintf("d=%s", fmtDur(d))
	case f.kind == scenarios.FaultStart:
		return true, 0, "a start"
	case f.kind == scenarios.FaultStop:
		return false, 0, "stopped"
	case f.kind == scenarios.FaultSupervisor || f.kind == scenarios.FaultReload:
		return true, time.Duration(t.w), fmt.Sprintf("W=%s", fmtNs(t.w))
	}
	if !restarts(true) {
		return false, 0, t.policyText()
	}
	return true, d, fmt.Sprintf("d=%s", fmtDur(d))
}

// judgeRecover: after the last fault the target has a new spawn and a
// passing probe after it, before the end of observation.
func judgeRecover(t *timeline) scenarios.InvariantCheck {
	c := scenarios.InvariantCheck{ID: CheckRecover, Property: "the target runs and answers its probe again after the faults"}
	if len(t.faults) == 0 {
		c.Verdict, c.Reason = scenarios.VerdictInconclusive, "no fault was injected"
		c.Observed = c.Reason
		return c
	}
	f := t.faults[len(t.faults)-1]
	noun := faultNoun(f.kind)
	can, expDur, bound := t.recoveryModel(f)
	c.Expected = fmt.Sprintf("a new pid and a passing probe after %s", noun)
	if can {
		c.Expected += fmt.Sprintf(" (%s)", bound)
	}
	old := t.incAt(f.at)
	var spawn *incarnation
	for _, in := range t.incs {
		if in.Spawn > f.at && in != old {
			spawn = in
			break
		}
	}
	// A reload must leave the target alone: it changes only what came from
	// changed config files, and the harness changed none (services added
	// with zinit add are never touched). The pid that ran before it must
	// still run at the end; a restart or a removal fails.
	if f.kind == scenarios.FaultReload && old != nil {
		c.Expected = "the same pid keeps running through the reload and answers a probe after it"
		if old.Exited {
			c.Verdict = scenarios.VerdictFail
			what := "stopped"
			if spawn != nil {
				what = fmt.Sprintf("restarted (new pid %d %s after it)", spawn.PID, fmtNs(spawn.Spawn-f.at))
			}
			c.Reason = fmt.Sprintf("the reload %s the service: pid %d ended by %s %s after it", what, old.PID, old.describe(), fmtNs(old.Exit-f.at))
			c.Observed = c.Reason
			return c
		}
	}
	// A reload or a supervisor restart need not touch the target: living
	// through it and answering afterwards is a recovery too.
	if survivable(f.kind) && old != nil && !old.Exited {
		if p := t.passingProbeAfter(f.at); p != nil {
			c.Verdict = scenarios.VerdictPass
			c.Reason = fmt.Sprintf("pid %d kept running through %s, healthy after %s", old.PID, noun, fmtNs(p.TNs-f.at))
			c.Observed = c.Reason
			return c
		}
	}
	hang := hangFault(f.kind)
	caught := ""
	if hang && old != nil && old.Exited && old.Exit >= f.at {
		caught = fmt.Sprintf("%s caught after %s (I+T+ε=%s), ", hangWord(f.kind), fmtNs(old.Exit-f.at), fmtNs(t.upper(t.hangBound())))
	}
	if spawn == nil {
		deadline := f.at + int64(t.w)
		if can {
			deadline = f.at + t.upper(expDur, f.err)
		}
		since := t.end - f.at
		c.Observed = fmt.Sprintf("no new pid %s after %s", fmtNs(since), noun)
		if t.end < deadline {
			c.Verdict = scenarios.VerdictInconclusive
			c.Reason = fmt.Sprintf("observation ended %s after %s, before recovery was due (%s)", fmtNs(since), noun, bound)
			return c
		}
		var reason string
		switch {
		case hang && caught != "":
			reason = fmt.Sprintf("%snot restarted within %s (%s)", caught, fmtNs(t.end-old.Exit), t.policyText())
		case hang:
			reason = fmt.Sprintf("%s undetected: not restarted within %s of %s (%s)", hangWord(f.kind), fmtNs(since), noun, bound)
		default:
			reason = fmt.Sprintf("not restarted within %s of %s (%s)", fmtNs(since), noun, bound)
		}
		return t.lateCheck(c, f.at, t.end, t.end-deadline, reason)
	}
	restart := fmt.Sprintf("restarted after %s", fmtNs(spawn.Spawn-f.at))
	if !hang && can && expDur > 0 {
		restart += fmt.Sprintf(" (%s)", bound)
	}
	probe := t.passingProbeAfter(spawn.Spawn)
	if probe == nil {
		c.Observed = caught + restart + ", no passing probe"
		if t.end-spawn.Spawn >= t.w {
			return t.lateCheck(c, spawn.Spawn, t.end, t.end-spawn.Spawn-t.w,
				fmt.Sprintf("%s%s but no passing probe within %s", caught, restart, fmtNs(t.end-spawn.Spawn)))
		} else {
			c.Verdict = scenarios.VerdictInconclusive
			c.Reason = fmt.Sprintf("%s%s; observation ended %s later, before a passing probe", caught, restart, fmtNs(t.end-spawn.Spawn))
		}
		return c
	}
	c.Verdict = scenarios.VerdictPass
	c.Reason = fmt.Sprintf("%s%s, healthy after %s", caught, restart, fmtNs(probe.TNs-f.at))
	c.Observed = c.Reason
	return c
}

// lateCheck is late for a check judged on its own: c fails with reason
// when the canary shows the machine on time over [from, to], else it is
// inconclusive (see late).
func (t *timeline) lateCheck(c scenarios.InvariantCheck, from, to, excess int64, reason string) scenarios.InvariantCheck {
	var a acc
	t.late(&a, from, to, excess, "%s", reason)
	out := a.check(c.Expected, c.Observed, "")
	out.ID, out.Property = c.ID, c.Property
	return out
}

func survivable(k scenarios.FaultKind) bool {
	return k == scenarios.FaultReload || k == scenarios.FaultSupervisor
}

// passingProbeAfter returns the first passing probe at or after at.
func (t *timeline) passingProbeAfter(at int64) *scenarios.Event {
	for _, p := range t.probes {
		if p.TNs >= at && p.OK != nil && *p.OK {
			return p
		}
	}
	return nil
}

// judgeEffects requires every fault's effect to have been seen.
func judgeEffects(t *timeline) (*scenarios.InvariantCheck, bool) {
	if len(t.faults) == 0 && len(t.in.Scenario.Faults) == 0 {
		return nil, false
	}
	var missing, seen, refused []string
	for _, f := range t.faults {
		if f.effect != nil && f.effect.Refused {
			refused = append(refused, fmt.Sprintf("zinit refused the %s at %s: %s", f.kind, fmtNs(f.at), f.effect.Detail))
		}
		if f.effect == nil {
			s := fmt.Sprintf("effect of %s at %s never seen", f.kind, fmtNs(f.at))
			if f.notSeen != "" {
				s += ": " + f.notSeen
			}
			missing = append(missing, s)
			continue
		}
		s := string(f.kind)
		if f.effect.Detail != "" {
			s += ": " + f.effect.Detail
		}
		seen = append(seen, s)
	}
	if tgt := t.in.Scenario.Target; tgt == "" || tgt == t.m.Service {
		declared := map[scenarios.FaultKind]int{}
		var kinds []string
		for _, f := range t.in.Scenario.Faults {
			if f.Kind == scenarios.FaultMonkey {
				continue
			}
			if declared[f.Kind] == 0 {
				kinds = append(kinds, string(f.Kind))
			}
			declared[f.Kind]++
		}
		sort.Strings(kinds)
		observed := map[scenarios.FaultKind]int{}
		for _, f := range t.faults {
			observed[f.kind]++
		}
		for _, k := range kinds {
			fk := scenarios.FaultKind(k)
			if observed[fk] < declared[fk] {
				missing = append(missing, fmt.Sprintf("fault %s injected %d of %d time(s)", k, observed[fk], declared[fk]))
			}
		}
	}
	c := scenarios.InvariantCheck{
		ID: CheckEffect, Property: "every fault's effect was seen",
		Expected: "an effect with ok=true after each fault",
		Observed: strings.Join(firstN(append(append([]string(nil), seen...), missing...), 4), "; "),
	}
	if len(refused) > 0 {
		// The command reached the supervisor, which refused it: certain.
		c.Verdict, c.Reason = scenarios.VerdictFail, refused[0]
		return &c, false
	}
	if len(missing) > 0 {
		c.Verdict, c.Reason = scenarios.VerdictInconclusive, missing[0]
		if len(missing) > 1 {
			c.Reason += fmt.Sprintf(" (+%d more)", len(missing)-1)
		}
		return &c, true
	}
	c.Verdict, c.Reason = scenarios.VerdictPass, fmt.Sprintf("%d fault effect(s) seen", len(seen))
	return &c, false
}

// measure is the span between two events with its error bar.
func (t *timeline) measure(from, fromErr, to, toErr int64) *scenarios.Measure {
	return &scenarios.Measure{
		Ms:      float64(to-from) / 1e6,
		ErrorMs: float64(fromErr+toErr+int64(t.p.Granularity)) / 1e6,
	}
}

// recoveryFigures measures detect, restart and healthy from the last
// disruptive fault (else the last fault).
func recoveryFigures(t *timeline) scenarios.Recovery {
	var rec scenarios.Recovery
	var f *faultEv
	for _, x := range t.faults {
		if x.kind != scenarios.FaultStart && x.kind != scenarios.FaultStop {
			f = x
		}
	}
	if f == nil && len(t.faults) > 0 {
		f = t.faults[len(t.faults)-1]
	}
	if f == nil {
		return rec
	}
	old := t.incAt(f.at)
	after := f.at
	switch {
	case hangFault(f.kind) || f.kind == scenarios.FaultSupervisor || f.kind == scenarios.FaultReload || f.kind == scenarios.FaultStop:
		if old != nil && old.Exited {
			rec.Detect = t.measure(f.at, f.err, old.Exit, old.ExitErr)
			after = old.Exit
		}
	default:
		for _, st := range t.statuses {
			if st.TNs >= f.at && st.State != "" && st.State != zinit.StateRunning.String() {
				rec.Detect = t.measure(f.at, f.err, st.TNs, st.ErrNs)
				break
			}
		}
	}
	var spawn *incarnation
	for _, in := range t.incs {
		if in.Spawn > after && in != old {
			spawn = in
			break
		}
	}
	if spawn == nil {
		return rec
	}
	rec.Restart = t.measure(f.at, f.err, spawn.Spawn, spawn.SpawnErr)
	for _, p := range t.probes {
		if p.TNs >= spawn.Spawn && p.OK != nil && *p.OK {
			rec.Healthy = t.measure(f.at, f.err, p.TNs, p.ErrNs)
			break
		}
	}
	return rec
}
