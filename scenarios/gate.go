package scenarios

import (
	"fmt"
	"sort"
)

// GateGroup is every attempt of one scenario on the migrated config: the
// unit the promotion gate decides on.
type GateGroup struct {
	Scenario string  `json:"scenario"`
	Service  string  `json:"service"`
	Attempts int     `json:"attempts"`
	Passes   int     `json:"passes"`
	First    Verdict `json:"first"`   // verdict of attempt 1
	Verdict  Verdict `json:"verdict"` // pass when Passes >= the requirement, else the worst non-pass
	Reason   string  `json:"reason"`  // the reason of the attempt that decided a non-pass
}

// Decision is the gate's answer for an image: the one word every report
// and the exit code agree on.
type Decision string

const (
	DecisionPromote      Decision = "promote"      // every judged scenario passed
	DecisionBlock        Decision = "block"        // a judged scenario failed
	DecisionInconclusive Decision = "inconclusive" // no failure, but not every scenario could be judged (or the harness broke)
)

// GateDecision is the promotion gate's answer over one result.
type GateDecision struct {
	Decision      Decision    `json:"decision"`
	Reason        string      `json:"reason"`  // the decision in one sentence
	Verdict       Verdict     `json:"verdict"` // worst group verdict: pass, fail, inconclusive or error
	Require       int         `json:"require"` // passes needed per scenario
	Groups        []GateGroup `json:"groups"`
	FirstPassRate float64     `json:"first_pass_rate"` // groups whose first attempt passed
	// Surprises are legacy runs that did not show their expected outcome:
	// a baseline that passes a restart scenario means the scenario cannot
	// tell a broken config from a fixed one.
	Surprises []string `json:"surprises"`
	// Baseline counts the baseline attempts by outcome.
	Baseline BaselineCount `json:"baseline"`
}

// BaselineCount sums up the baseline (legacy) attempts of a gate: they are
// expected to fail; they never decide.
type BaselineCount struct {
	Attempts         int `json:"attempts"`
	FailedAsExpected int `json:"failed_as_expected"`
	Surprises        int `json:"surprises"` // passed though a failure was expected
	Unjudged         int `json:"unjudged"`  // inconclusive, error or info
}

// Sentence says it in words: "6 failed as expected".
func (b BaselineCount) Sentence() string {
	if b.Attempts == 0 {
		return ""
	}
	s := fmt.Sprintf("%d failed as expected", b.FailedAsExpected)
	if b.Surprises > 0 {
		s += fmt.Sprintf(", %d passed unexpectedly", b.Surprises)
	}
	if b.Unjudged > 0 {
		s += fmt.Sprintf(", %d not judged", b.Unjudged)
	}
	return s
}

// Expected is what a baseline attempt was expected to show, and whether it
// did: a legacy config is expected to fail the scenarios that separate it
// from the migrated one (informational scenarios expect nothing).
func (s ScenarioResult) Expected() (expectation string, met bool) {
	switch s.Verdict {
	case VerdictFail:
		return "the legacy baseline is expected to fail", true
	case VerdictPass:
		return "the legacy baseline is expected to fail; it passed, so the scenario does not separate legacy from migrated", false
	case VerdictInfo:
		return "informational: nothing expected", true
	}
	return "the legacy baseline is expected to fail; it was not judged", false
}

// Gate decides promotion from a result: only migrated runs decide; each
// scenario passes when at least require of its attempts passed (require <= 0
// means every attempt). Informational scenarios never decide. The verdict of
// a group that did not pass is its worst attempt (error > fail >
// inconclusive); the decision is the worst group verdict.
func Gate(res Result, require int) GateDecision {
	type key struct{ sc, svc string }
	groups := map[key]*GateGroup{}
	var order []key
	var surprises []string
	var base BaselineCount
	baseline := baselineRule(res)
	for _, s := range res.Scenarios {
		if baseline(s) {
			base.Attempts++
			switch s.Verdict {
			case VerdictFail:
				base.FailedAsExpected++
			case VerdictPass:
				base.Surprises++
				surprises = append(surprises, fmt.Sprintf("%s: legacy config passed (attempt %d); the scenario does not separate legacy from migrated", s.Scenario, s.Attempt))
			default:
				base.Unjudged++
			}
			continue
		}
		if s.Verdict == VerdictInfo {
			continue
		}
		k := key{s.Scenario, s.Service}
		g, ok := groups[k]
		if !ok {
			g = &GateGroup{Scenario: s.Scenario, Service: s.Service, First: VerdictPass, Verdict: VerdictPass}
			groups[k] = g
			order = append(order, k)
		}
		g.Attempts++
		if s.Attempt == 1 {
			g.First = s.Verdict
		}
		if s.Verdict == VerdictPass {
			g.Passes++
			continue
		}
		worse := Worse(g.Verdict, s.Verdict)
		if worse != g.Verdict || g.Reason == "" {
			g.Reason = s.Reason
		}
		g.Verdict = worse
	}
	d := GateDecision{Verdict: VerdictPass, Require: require, Surprises: surprises, Baseline: base}
	firsts := 0
	for _, k := range order {
		g := groups[k]
		need := require
		if need <= 0 || need > g.Attempts {
			need = g.Attempts
		}
		if g.Passes >= need {
			g.Verdict, g.Reason = VerdictPass, ""
		}
		if g.First == VerdictPass {
			firsts++
		}
		d.Verdict = Worse(d.Verdict, g.Verdict)
		d.Groups = append(d.Groups, *g)
	}
	if len(d.Groups) > 0 {
		d.FirstPassRate = float64(firsts) / float64(len(d.Groups))
	}
	d.Decision, d.Reason = decide(d)
	// An image's own failure (a blind probe, a service never restarted) is
	// certain: it blocks whatever the scenarios said. Its inconclusive
	// audit only matters when the scenarios all passed.
	switch v, why := imageVerdict(res); {
	case v == VerdictFail:
		d.Verdict, d.Decision, d.Reason = Worse(d.Verdict, v), DecisionBlock, why
	case v != VerdictPass && d.Verdict == VerdictPass:
		d.Verdict, d.Decision, d.Reason = v, decisionOf(v), why
	}
	return d
}

// imageVerdict judges an image as built by its conformance and probe
// audit: an error finding or a failed audit fails it (a blind probe, a
// service that is never restarted); an audit that could not be made is
// inconclusive. The reason names the first.
func imageVerdict(res Result) (Verdict, string) {
	v, why := VerdictPass, ""
	for _, f := range res.Conformance {
		if f.Severity == SeverityError {
			return VerdictFail, fmt.Sprintf("%s: %s (%s)", f.Service, f.Message, f.Code)
		}
	}
	for _, a := range res.ProbeAudit {
		switch a.Verdict {
		case VerdictFail:
			return VerdictFail, fmt.Sprintf("%s: probe audit of %s: %s", a.Service, a.Job, a.Reason)
		case VerdictInconclusive, VerdictError:
			if v == VerdictPass {
				v, why = VerdictInconclusive, fmt.Sprintf("%s: probe audit of %s: %s", a.Service, a.Job, a.Reason)
			}
		}
	}
	return v, why
}

// decisionOf is the decision a verdict leads to.
func decisionOf(v Verdict) Decision {
	switch v {
	case VerdictPass, VerdictInfo:
		return DecisionPromote
	case VerdictFail:
		return DecisionBlock
	}
	return DecisionInconclusive
}

// decide words the decision of the groups.
func decide(d GateDecision) (Decision, string) {
	passed := 0
	var worst *GateGroup
	count := 0
	for i, g := range d.Groups {
		if g.Verdict == VerdictPass {
			passed++
			continue
		}
		if g.Verdict == d.Verdict {
			count++
			if worst == nil {
				worst = &d.Groups[i]
			}
		}
	}
	total := len(d.Groups)
	if total == 0 {
		return DecisionInconclusive, "no judged scenario ran"
	}
	name := func(g *GateGroup) string {
		if g.Service != "" {
			return g.Scenario + " on " + g.Service
		}
		return g.Scenario
	}
	more := ""
	if count > 1 {
		more = fmt.Sprintf(" (and %d more)", count-1)
	}
	switch d.Verdict {
	case VerdictPass:
		return DecisionPromote, fmt.Sprintf("%d/%d scenarios passed", passed, total)
	case VerdictFail:
		return DecisionBlock, fmt.Sprintf("%s failed%s: %s", name(worst), more, worst.Reason)
	case VerdictError:
		return DecisionInconclusive, fmt.Sprintf("harness error in %s%s, safe to retry: %s", name(worst), more, worst.Reason)
	}
	return DecisionInconclusive, fmt.Sprintf("no failure, but %s was inconclusive%s: %s", name(worst), more, worst.Reason)
}

// baselineRule says which attempts of res are baseline: the legacy ones,
// when res also ran another config (migrated, as-built) to judge. A run of
// the legacy config alone judges it.
func baselineRule(res Result) func(ScenarioResult) bool {
	judged := false
	for _, s := range res.Scenarios {
		if s.Config != ConfigLegacy {
			judged = true
		}
	}
	return func(s ScenarioResult) bool { return judged && s.Config == ConfigLegacy }
}

// Decide marks the baseline attempts (legacy ones, in a result that also
// judged another config), then derives every summary field of the result
// from its scenarios: Verdict (the worst judged attempt), Decision and its
// reason, Require, and FirstPassRate when a scenario had repeats. It is
// the one place these are computed: the runner, gate and report call it,
// and report refuses a stored result whose summary disagrees. require is
// the passes needed per scenario (0: every attempt).
func (r *Result) Decide(require int) GateDecision {
	baseline := baselineRule(*r)
	for i := range r.Scenarios {
		r.Scenarios[i].Baseline = baseline(r.Scenarios[i])
	}
	d := Gate(*r, require)
	r.Verdict = VerdictPass
	repeats := false
	for _, s := range r.Scenarios {
		if !s.Baseline {
			r.Verdict = Worse(r.Verdict, s.Verdict)
		}
		repeats = repeats || s.Attempt > 1
	}
	if v, _ := imageVerdict(*r); v != VerdictPass {
		r.Verdict = Worse(r.Verdict, v)
	}
	r.Decision, r.DecisionReason, r.Require = d.Decision, d.Reason, require
	r.FirstPassRate = nil
	if repeats {
		rate := d.FirstPassRate
		r.FirstPassRate = &rate
	}
	return d
}

// BehaviourDiffs contrasts, per scenario and service, the first legacy and
// the first migrated attempt: the before/after difference of the migration,
// in the oracle's own words.
func BehaviourDiffs(res Result) []BehaviourDiff {
	type key struct{ sc, svc string }
	legacy, migrated := map[key]ScenarioResult{}, map[key]ScenarioResult{}
	for _, s := range res.Scenarios {
		k := key{s.Scenario, s.Service}
		m := migrated
		if s.Config == ConfigLegacy {
			m = legacy
		}
		if old, ok := m[k]; !ok || s.Attempt < old.Attempt {
			m[k] = s
		}
	}
	var out []BehaviourDiff
	for k, l := range legacy {
		m, ok := migrated[k]
		if !ok {
			continue
		}
		out = append(out, BehaviourDiff{Scenario: k.sc, Service: k.svc,
			Legacy: l.Verdict.String() + ": " + l.Reason, Migrated: m.Verdict.String() + ": " + m.Reason})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scenario != out[j].Scenario {
			return out[i].Scenario < out[j].Scenario
		}
		return out[i].Service < out[j].Service
	})
	return out
}
