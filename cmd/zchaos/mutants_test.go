package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit/supervisor"
)

// The gate proves its own power: each defect of supervisor.Mutants,
// switched on in a zinit built with supervisor.MutantsTag, must fail the
// catalogue scenario expected to catch it, through the invariant expected
// to say so; and the same zinit with no defect switched on must pass
// every one of those scenarios.

// mutantCatch is where the gate must catch one defect.
type mutantCatch struct {
	mutant   string // a supervisor.Mutants name
	scenario string // the catalogue scenario that catches it
	check    string // the check that fails there: an invariant id, or oracle.CheckRecover
	scale    string // the time scale it is caught at ("": 0.05)
}

// mutantCatches holds one catch per defect, in supervisor.Mutants order.
var mutantCatches = []mutantCatch{
	{"restart-early", "crash-restart", "R1", ""},
	{"restart-no-delay", "crash-restart", "R1", ""},
	// A tenth of d early is 25 ms at 0.05: inside the error bars of an exit
	// and a spawn (about 5 ms each) plus zinit's own lateness in acting on
	// the exit, which hides earliness. At 0.25 it is 125 ms.
	{"restart-slightly-early", "crash-restart", "R1", "0.25"},
	{"exit0-restarted", "clean-exit-on-failure", "R2", ""},
	{"always-ignores-exit0", "clean-exit-always", "R2", ""},
	{"stop-is-failure", "stop-not-failure", "R3", ""},
	{"stop-keeps-restart", "stop-during-restart-delay", "R4", ""},
	{"limit-off-by-one", "crash-loop-limit", "R5", ""},
	{"limit-reason-missing", "crash-loop-limit", "R6", ""},
	{"failed-not-sticky", "crash-loop-limit", "R6", ""},
	{"start-keeps-budget", "manual-start-after-limit", "R7", ""},
	{"no-grace", "grace-first-spawn", "H1", ""},
	{"check-no-kill", "health-error", "H2", ""},
	{"check-timeout-ignored", "check-timeout-enforced", "H4", ""},
	{"check-group-left", "leader-exit-cleans-group", "H4", ""},
	{"check-kill-bypasses-policy", "hang-detected", "H5", ""},
	{"check-state-carried", "crash-restart", "H6", ""},
	{"leader-exit-leaves-group", "leader-exit-cleans-group", "S1", ""},
	{"orphans-not-reaped", "leader-exit-cleans-group", "P1", ""},
	{"restarts-not-counted", "crash-restart", "C1", ""},
	{"reload-wipes-api-services", "reload-keeps-job-services", oracle.CheckRecover, ""},
	{"persist-not-restored", "supervisor-restart-restores", oracle.CheckRecover, ""},
}

// ciMutants run with every `make test`, one per part of the model
// (restart delay, stop, limit, health); `make mutants` (ZCHAOS_MUTANTS=all)
// runs every one. ZCHAOS_MUTANTS may also name mutants, comma-separated.
var ciMutants = []string{"restart-early", "stop-keeps-restart", "limit-off-by-one", "check-no-kill"}

// selectedCatches are the catches this run tries.
func selectedCatches(t *testing.T) []mutantCatch {
	t.Helper()
	names := ciMutants
	switch sel := os.Getenv("ZCHAOS_MUTANTS"); sel {
	case "":
	case "all":
		names = nil
		for _, c := range mutantCatches {
			names = append(names, c.mutant)
		}
	default:
		names = strings.Split(sel, ",")
	}
	var out []mutantCatch
	for _, n := range names {
		i := slices.IndexFunc(mutantCatches, func(c mutantCatch) bool { return c.mutant == n })
		require.GreaterOrEqual(t, i, 0, "ZCHAOS_MUTANTS: no mutant %q", n)
		out = append(out, mutantCatches[i])
	}
	return out
}

// TestMutantCatches: every defect has its catch, in a gate scenario of the
// catalogue that judges the check named, and the rule the defect breaks
// is the check that catches it (recovery, for the reload and persistence
// rules, which no invariant names).
func TestMutantCatches(t *testing.T) {
	cat, err := scenarios.Catalogue()
	require.NoError(t, err)
	require.Len(t, mutantCatches, len(supervisor.Mutants))
	for i, m := range supervisor.Mutants {
		c := mutantCatches[i]
		assert.Equal(t, m.Name, c.mutant, "catches follow supervisor.Mutants")
		if slices.Contains(oracle.InvariantIDs(), m.Rule) {
			assert.Equal(t, m.Rule, c.check, "%s breaks %s", m.Name, m.Rule)
		} else {
			assert.Equal(t, oracle.CheckRecover, c.check, "%s breaks a scenario's claim (%s): its recovery", m.Name, m.Rule)
		}
		j := slices.IndexFunc(cat, func(s scenarios.Scenario) bool { return s.Name == c.scenario })
		if !assert.GreaterOrEqual(t, j, 0, "%s: no scenario %s", c.mutant, c.scenario) {
			continue
		}
		sc := cat[j]
		assert.True(t, sc.HasTag(scenarios.TagGate), "%s: %s must gate", c.mutant, c.scenario)
		if c.check == oracle.CheckRecover {
			assert.True(t, sc.Expect.Recover, "%s: %s judges recovery", c.mutant, c.scenario)
		} else {
			assert.Contains(t, sc.Expect.Invariants, c.check, "%s: %s judges %s", c.mutant, c.scenario, c.check)
		}
	}
	for _, n := range ciMutants {
		assert.True(t, slices.ContainsFunc(mutantCatches, func(c mutantCatch) bool { return c.mutant == n }), n)
	}
}

// mutantScenarios are the scenarios of catches, each once, in order.
func mutantScenarios(catches []mutantCatch) []string {
	var out []string
	for _, c := range catches {
		if !slices.Contains(out, c.scenario) {
			out = append(out, c.scenario)
		}
	}
	return out
}

// runOnImage runs scenarios on image as a user runs them, at scale ("":
// 0.05).
func runOnImage(t *testing.T, image string, names []string, scale string) (binRun, scenarios.Result) {
	t.Helper()
	if scale == "" {
		scale = "0.05"
	}
	args := append([]string{"run"}, names...)
	r := runBinary(t, 20*time.Minute, append(args, "--image", image, "--time-scale", scale)...)
	return r, r.judged(t)
}

// scenarioResult is the result of the scenario called name, or nil.
func scenarioResult(res scenarios.Result, name string) *scenarios.ScenarioResult {
	i := slices.IndexFunc(res.Scenarios, func(s scenarios.ScenarioResult) bool { return s.Scenario == name })
	if i < 0 {
		return nil
	}
	return &res.Scenarios[i]
}

// TestDockerMutantsCaught runs each selected defect's scenario on an
// image whose zinit has that defect switched on: the verdict must be fail
// (never inconclusive), and the check expected must be the one failing.
// It ends with the catch table (run it with -v, as make mutants does).
func TestDockerMutantsCaught(t *testing.T) {
	chaostest.Docker(t)
	rules := map[string]string{}
	for _, m := range supervisor.Mutants {
		rules[m.Name] = m.Rule
	}
	var table strings.Builder
	for _, c := range selectedCatches(t) {
		t.Run(c.mutant, func(t *testing.T) {
			start := time.Now()
			verdict, why := "not run", ""
			defer func() {
				fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s |\n", c.mutant, rules[c.mutant], c.scenario, verdict,
					strings.ReplaceAll(why, "|", `\|`),
					time.Since(start).Round(time.Second))
			}()
			r, res := runOnImage(t, chaostest.Mutant(t, c.mutant), []string{c.scenario}, c.scale)
			assert.Equal(t, exitFail, r.code, "a caught defect fails the run")
			s := scenarioResult(res, c.scenario)
			require.NotNil(t, s, "%s ran", c.scenario)
			verdict, why = s.Verdict.String(), s.Reason
			assert.Equal(t, scenarios.VerdictFail, s.Verdict, s.Reason)
			i := slices.IndexFunc(s.Checks, func(k scenarios.InvariantCheck) bool { return k.ID == c.check })
			require.GreaterOrEqual(t, i, 0, "%s judged %s", c.scenario, c.check)
			k := s.Checks[i]
			why = c.check + " " + k.Verdict.String() + ": " + k.Reason
			assert.Equal(t, scenarios.VerdictFail, k.Verdict, "%s: %s", c.check, k.Reason)
		})
	}
	t.Logf("catch table:\n| mutant | rule | scenario | verdict | check: reason | time |\n|---|---|---|---|---|---|\n%s", table.String())
}

// TestDockerMutantControl: the same zinit with no defect switched on
// passes every scenario the selected catches use, so the gate blocks the
// defects and not the image.
func TestDockerMutantControl(t *testing.T) {
	chaostest.Docker(t)
	names := mutantScenarios(selectedCatches(t))
	start := time.Now()
	r, res := runOnImage(t, chaostest.MutantImage(t), names, "")
	assert.Equal(t, exitPass, r.code, "the reference supervisor passes")
	for _, n := range names {
		s := scenarioResult(res, n)
		if assert.NotNil(t, s, "%s ran", n) {
			assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s: %s", n, s.Reason)
		}
	}
	t.Logf("control: %d scenarios in %s", len(names), time.Since(start).Round(time.Second))
}
