package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

func sr(name, cfg string, attempt int, v scenarios.Verdict, reason string) scenarios.ScenarioResult {
	return scenarios.ScenarioResult{Scenario: name, Config: cfg, Service: "svc", Attempt: attempt, Verdict: v, Reason: reason}
}

const (
	mig = scenarios.ConfigMigrated
	leg = scenarios.ConfigLegacy
)

func TestGateOnlyMigratedDecides(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("crash", mig, 1, scenarios.VerdictPass, "restarted after 251 ms"),
		sr("crash", leg, 1, scenarios.VerdictFail, "not restarted"),
		sr("counter", mig, 1, scenarios.VerdictInfo, "never resets"),
	}}
	d := scenarios.Gate(res, 0)
	assert.Equal(t, scenarios.VerdictPass, d.Verdict)
	require.Len(t, d.Groups, 1)
	assert.Equal(t, scenarios.GateGroup{Scenario: "crash", Service: "svc", Attempts: 1, Passes: 1,
		First: scenarios.VerdictPass, Verdict: scenarios.VerdictPass}, d.Groups[0])
	assert.Empty(t, d.Surprises)
	assert.InDelta(t, 1.0, d.FirstPassRate, 1e-9)
}

func TestGateKOfN(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("hang", mig, 1, scenarios.VerdictFail, "hang caught after 9 s"),
		sr("hang", mig, 2, scenarios.VerdictPass, ""),
		sr("hang", mig, 3, scenarios.VerdictPass, ""),
	}}
	two := scenarios.Gate(res, 2)
	assert.Equal(t, scenarios.VerdictPass, two.Verdict, "2 of 3 passed")
	assert.InDelta(t, 0.0, two.FirstPassRate, 1e-9, "the first attempt failed")

	all := scenarios.Gate(res, 0)
	assert.Equal(t, scenarios.VerdictFail, all.Verdict, "every attempt must pass by default")
	assert.Equal(t, "hang caught after 9 s", all.Groups[0].Reason)

	more := scenarios.Gate(res, 5)
	assert.Equal(t, scenarios.VerdictFail, more.Verdict, "a requirement above the attempts means all of them")
}

func TestGateWorstVerdictAndSurprise(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("a", mig, 1, scenarios.VerdictInconclusive, "effect never seen"),
		sr("b", mig, 1, scenarios.VerdictError, "docker broke"),
		sr("c", leg, 1, scenarios.VerdictPass, ""),
	}}
	d := scenarios.Gate(res, 0)
	assert.Equal(t, scenarios.VerdictError, d.Verdict)
	require.Len(t, d.Surprises, 1)
	assert.Contains(t, d.Surprises[0], "c: legacy config passed")

	inc := scenarios.Gate(scenarios.Result{Scenarios: res.Scenarios[:1]}, 0)
	assert.Equal(t, scenarios.VerdictInconclusive, inc.Verdict)
}

func TestBehaviourDiffsPairsFirstAttempts(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("crash", mig, 2, scenarios.VerdictPass, "second"),
		sr("crash", mig, 1, scenarios.VerdictPass, "restarted after 251 ms (d=250 ms)"),
		sr("crash", leg, 1, scenarios.VerdictFail, "not restarted within 9.00 s of the kill (policy never, legacy)"),
		sr("only-migrated", mig, 1, scenarios.VerdictPass, "x"),
	}}
	assert.Equal(t, []scenarios.BehaviourDiff{{Scenario: "crash", Service: "svc",
		Legacy:   "fail: not restarted within 9.00 s of the kill (policy never, legacy)",
		Migrated: "pass: restarted after 251 ms (d=250 ms)"}}, scenarios.BehaviourDiffs(res))
}

// TestDecideStatesOneDecision: the baseline never decides, the verdict is
// the judged attempts' worst, and the decision and its reason say why.
func TestDecideStatesOneDecision(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("crash", mig, 1, scenarios.VerdictPass, "restarted after 251 ms"),
		sr("crash", leg, 1, scenarios.VerdictFail, "not restarted"),
		sr("hang", mig, 1, scenarios.VerdictPass, "caught"),
		sr("hang", leg, 1, scenarios.VerdictFail, "hang undetected"),
	}}
	d := res.Decide(0)
	assert.Equal(t, scenarios.DecisionPromote, res.Decision)
	assert.Equal(t, "2/2 scenarios passed", res.DecisionReason)
	assert.Equal(t, scenarios.VerdictPass, res.Verdict, "the legacy baseline failing as expected is no failure")
	assert.Equal(t, scenarios.BaselineCount{Attempts: 2, FailedAsExpected: 2}, d.Baseline)
	assert.Equal(t, "2 failed as expected", d.Baseline.Sentence())
	assert.True(t, res.Scenarios[1].Baseline)
	assert.False(t, res.Scenarios[0].Baseline)
	assert.Nil(t, res.FirstPassRate, "no repeats, no rate")

	res.Scenarios[2].Verdict, res.Scenarios[2].Reason = scenarios.VerdictFail, "H2: hang caught after 9 s"
	res.Decide(0)
	assert.Equal(t, scenarios.DecisionBlock, res.Decision)
	assert.Equal(t, "hang on svc failed: H2: hang caught after 9 s", res.DecisionReason)
	assert.Equal(t, scenarios.VerdictFail, res.Verdict)

	res.Scenarios[2].Verdict, res.Scenarios[2].Reason = scenarios.VerdictInconclusive, "machine too loaded"
	res.Decide(0)
	assert.Equal(t, scenarios.DecisionInconclusive, res.Decision)
	assert.Equal(t, "no failure, but hang on svc was inconclusive: machine too loaded", res.DecisionReason)

	res.Scenarios[0].Verdict, res.Scenarios[0].Reason = scenarios.VerdictError, "docker broke"
	res.Decide(0)
	assert.Equal(t, scenarios.DecisionInconclusive, res.Decision)
	assert.Equal(t, scenarios.VerdictError, res.Verdict)
	assert.Contains(t, res.DecisionReason, "harness error in crash on svc, safe to retry")
}

// TestDecideLegacyAloneIsJudged: a run of the legacy config alone is not
// a baseline: its failures are failures.
func TestDecideLegacyAloneIsJudged(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("crash", leg, 1, scenarios.VerdictFail, "not restarted"),
	}}
	d := res.Decide(0)
	assert.False(t, res.Scenarios[0].Baseline)
	assert.Equal(t, scenarios.DecisionBlock, res.Decision)
	assert.Equal(t, scenarios.BaselineCount{}, d.Baseline)
	assert.Empty(t, d.Baseline.Sentence())

	empty := scenarios.Result{}
	empty.Decide(0)
	assert.Equal(t, scenarios.DecisionInconclusive, empty.Decision)
	assert.Equal(t, "no judged scenario ran", empty.DecisionReason)
}

func TestDecideRepeatsGiveFirstPassRate(t *testing.T) {
	res := scenarios.Result{Scenarios: []scenarios.ScenarioResult{
		sr("a", mig, 1, scenarios.VerdictFail, "late"),
		sr("a", mig, 2, scenarios.VerdictPass, ""),
		sr("b", mig, 1, scenarios.VerdictPass, ""),
		sr("b", mig, 2, scenarios.VerdictPass, ""),
	}}
	res.Decide(1)
	require.NotNil(t, res.FirstPassRate)
	assert.InDelta(t, 0.5, *res.FirstPassRate, 1e-9)
	assert.Equal(t, scenarios.DecisionPromote, res.Decision, "1 of 2 attempts required")
	assert.Equal(t, 1, res.Require)
	res.Decide(0)
	assert.Equal(t, scenarios.DecisionBlock, res.Decision)
}
