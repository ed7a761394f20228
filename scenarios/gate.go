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

// GateDecision is the promotion gate's answer over one result.
type GateDecision struct {
	Verdict       Verdict     `json:"verdict"`
	Require       int         `json:"require"` // passes needed per scenario
	Groups        []GateGroup `json:"groups"`
	FirstPassRate float64     `json:"first_pass_rate"` // groups whose first attempt passed
	// Surprises are legacy runs that did not show their expected outcome:
	// a baseline that passes a restart scenario means the scenario cannot
	// tell a broken config from a fixed one.
	Surprises []string `json:"surprises"`
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
	for _, s := range res.Scenarios {
		if s.Config == ConfigLegacy {
			if s.Verdict == VerdictPass {
				surprises = append(surprises, fmt.Sprintf("%s: legacy config passed (attempt %d); the scenario does not separate legacy from migrated", s.Scenario, s.Attempt))
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
	d := GateDecision{Verdict: VerdictPass, Require: require, Surprises: surprises}
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
