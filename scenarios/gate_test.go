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
