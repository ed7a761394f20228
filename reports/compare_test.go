package reports_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// pair is two copies of the sample: old, and new to change.
func pair() (scenarios.Result, scenarios.Result) {
	old := sampleResult()
	new := sampleResult()
	new.RunID = "zchaos-new"
	return old, new
}

func find(t *testing.T, c reports.Comparison, kind reports.ChangeKind, scenario, config string) reports.Change {
	t.Helper()
	for _, ch := range c.Changes {
		if ch.Kind == kind && ch.Scenario == scenario && ch.Config == config {
			return ch
		}
	}
	t.Fatalf("no %s change of %s/%s in %+v", kind, scenario, config, c.Changes)
	return reports.Change{}
}

func TestCompareSameRunHasNoChange(t *testing.T) {
	old, new := pair()
	c := reports.Compare(old, new)
	assert.Empty(t, c.Changes)
	assert.Zero(t, c.Regressions)
	assert.Contains(t, c.Summary(), "diff: no change")
}

func TestCompareVerdictFlips(t *testing.T) {
	old, new := pair()
	// crash-restart/migrated: pass → fail is a regression.
	new.Scenarios[0].Verdict, new.Scenarios[0].Reason = scenarios.VerdictFail, "R1 restarted after 126 ms, before d=250 ms"
	// health-error/migrated: inconclusive → pass is not.
	new.Scenarios[4].Verdict, new.Scenarios[4].Reason = scenarios.VerdictPass, "ok"
	// hang-detected/migrated: pass → inconclusive is not a regression either.
	new.Scenarios[2].Verdict, new.Scenarios[2].Reason = scenarios.VerdictInconclusive, "machine too loaded to judge"
	// The legacy baseline passing is a surprise, not a regression.
	new.Scenarios[1].Verdict = scenarios.VerdictPass
	new.Decide(0)

	c := reports.Compare(old, new)
	assert.Equal(t, 1, c.Regressions, "%+v", c.Changes)
	reg := find(t, c, reports.ChangeVerdict, "crash-restart", "migrated")
	assert.Equal(t, reports.Change{Kind: reports.ChangeVerdict, Regression: true, Scenario: "crash-restart", Config: "migrated",
		Service: embedder, Old: "pass", New: "fail", Why: "now fails: R1 restarted after 126 ms, before d=250 ms"}, reg)
	assert.Equal(t, reg, c.Changes[0], "regressions come first")
	assert.False(t, find(t, c, reports.ChangeVerdict, "health-error", "migrated").Regression)
	assert.False(t, find(t, c, reports.ChangeVerdict, "hang-detected", "migrated").Regression)
	base := find(t, c, reports.ChangeVerdict, "crash-restart", "legacy")
	assert.False(t, base.Regression)
	assert.True(t, base.Baseline)

	// And back: fail → pass is an improvement, never a regression.
	back := reports.Compare(new, old)
	assert.Zero(t, back.Regressions)
	assert.Equal(t, 1, back.Improvements)
}

func TestCompareRecoveryTimes(t *testing.T) {
	for name, c := range map[string]struct {
		old, new   scenarios.Measure
		newLate    float64
		kind       reports.ChangeKind // "" for no change
		regression bool
	}{
		"slower beyond the error bars":   {scenarios.Measure{Ms: 255, ErrorMs: 14}, scenarios.Measure{Ms: 400, ErrorMs: 14}, 3.2, reports.ChangeSlower, true},
		"slower within the error bars":   {scenarios.Measure{Ms: 255, ErrorMs: 14}, scenarios.Measure{Ms: 280, ErrorMs: 14}, 0, "", false},
		"slower just past the bars":      {scenarios.Measure{Ms: 255, ErrorMs: 14}, scenarios.Measure{Ms: 284, ErrorMs: 14}, 0, reports.ChangeSlower, true},
		"slower, explained by load":      {scenarios.Measure{Ms: 255, ErrorMs: 5}, scenarios.Measure{Ms: 300, ErrorMs: 5}, 50, "", false},
		"faster beyond the error bars":   {scenarios.Measure{Ms: 400, ErrorMs: 14}, scenarios.Measure{Ms: 255, ErrorMs: 14}, 0, reports.ChangeFaster, false},
		"faster within the error bars":   {scenarios.Measure{Ms: 270, ErrorMs: 14}, scenarios.Measure{Ms: 255, ErrorMs: 14}, 0, "", false},
		"slower in seconds, bars in sec": {scenarios.Measure{Ms: 4705, ErrorMs: 14}, scenarios.Measure{Ms: 6705, ErrorMs: 500}, 0, reports.ChangeSlower, true},
	} {
		t.Run(name, func(t *testing.T) {
			old, new := pair()
			om, nm := c.old, c.new
			old.Scenarios[0].Recovery.Restart = &om
			new.Scenarios[0].Recovery.Restart = &nm
			new.Scenarios[0].Load = &scenarios.Load{P99Ms: c.newLate}
			cmp := reports.Compare(old, new)
			if c.kind == "" {
				assert.Empty(t, cmp.Changes)
				return
			}
			require.Len(t, cmp.Changes, 1, "%+v", cmp.Changes)
			ch := cmp.Changes[0]
			assert.Equal(t, c.kind, ch.Kind)
			assert.Equal(t, "restart", ch.Figure)
			assert.Equal(t, c.regression, ch.Regression)
			assert.Equal(t, c.new.Ms-c.old.Ms, ch.DeltaMs)
			if c.regression {
				assert.Equal(t, 1, cmp.Regressions)
				assert.InDelta(t, c.old.ErrorMs+c.new.ErrorMs+c.newLate, ch.AllowanceMs, 0.05)
			}
		})
	}
}

// At different time scales the figures are compared in production terms.
func TestCompareAcrossTimeScales(t *testing.T) {
	old, new := pair()
	new.TimeScale = 1
	for i := range new.Scenarios {
		s := &new.Scenarios[i]
		for _, m := range []**scenarios.Measure{&s.Recovery.Detect, &s.Recovery.Restart, &s.Recovery.Healthy} {
			if *m != nil {
				x := **m
				x.Ms /= old.TimeScale // the same times, at production timings
				*m = &x
			}
		}
	}
	c := reports.Compare(old, new)
	assert.Empty(t, c.Changes, "the same times at another scale are no change")
	require.Len(t, c.Notes, 1)
	assert.Contains(t, c.Notes[0], "different time scales (0.05 and 1)")

	// 255 ms at 0.05 is 5.1 s in production: 6 s at scale 1 is slower.
	new.Scenarios[0].Recovery.Restart = &scenarios.Measure{Ms: 6000, ErrorMs: 14}
	c = reports.Compare(old, new)
	require.Len(t, c.Changes, 1)
	assert.True(t, c.Changes[0].Regression)
	assert.Contains(t, c.Changes[0].Why, "in production terms")
}

func TestCompareAddedAndRemoved(t *testing.T) {
	old, new := pair()
	new.Scenarios = append([]scenarios.ScenarioResult(nil), new.Scenarios...)
	added := new.Scenarios[0]
	added.Scenario, added.Service = "socket-removed", "user.hero_new_server"
	new.Scenarios = append(new.Scenarios, added)
	new.Scenarios = append(new.Scenarios[:5], new.Scenarios[6:]...) // crash-loop-limit vanishes
	new.Scenarios[0].Service = "user.hero_books_server"             // crash-restart/migrated targets another service
	new.Decide(0)

	c := reports.Compare(old, new)
	assert.Zero(t, c.Regressions, "coverage changes are listed, not regressions")
	assert.Equal(t, "only the old run has this scenario: the new run does not cover it",
		find(t, c, reports.ChangeScenarioRemoved, "crash-loop-limit", "").Why)
	find(t, c, reports.ChangeScenarioAdded, "socket-removed", "")
	assert.Equal(t, "user.hero_books_server", find(t, c, reports.ChangeCaseAdded, "crash-restart", "migrated").Service)
	assert.Equal(t, embedder, find(t, c, reports.ChangeCaseRemoved, "crash-restart", "migrated").Service)
	var svcAdded, svcRemoved []string
	for _, ch := range c.Changes {
		switch ch.Kind {
		case reports.ChangeServiceAdded:
			svcAdded = append(svcAdded, ch.Service)
		case reports.ChangeServiceRemoved:
			svcRemoved = append(svcRemoved, ch.Service)
		}
	}
	assert.Equal(t, []string{"user.hero_new_server"}, svcAdded)
	assert.Equal(t, []string{"test.crashloop"}, svcRemoved)
}

func TestComparisonRenderings(t *testing.T) {
	old, new := pair()
	new.Scenarios[0].Verdict, new.Scenarios[0].Reason = scenarios.VerdictFail, "R1 restarted early"
	new.Decide(0)
	c := reports.Compare(old, new)

	var b bytes.Buffer
	require.NoError(t, reports.ComparisonTable(&b, c, reports.TableOptions{}))
	golden(t).Assert(t, "comparison", b.Bytes())

	b.Reset()
	require.NoError(t, reports.ComparisonJSON(&b, c))
	var back reports.Comparison
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, c, back)
}

// DecodeComparable reads what Compare needs exactly as DecodeResult does.
func TestDecodeComparable(t *testing.T) {
	old, new := pair()
	new.Scenarios[2].Recovery.Restart = &scenarios.Measure{Ms: 9000, ErrorMs: 10}
	new.Decide(0)
	var ob, nb bytes.Buffer
	require.NoError(t, reports.JSON(&ob, old))
	require.NoError(t, reports.JSON(&nb, new))
	o, err := reports.DecodeComparable(ob.Bytes())
	require.NoError(t, err)
	n, err := reports.DecodeComparable(nb.Bytes())
	require.NoError(t, err)
	assert.Equal(t, reports.Compare(old, new), reports.Compare(o, n))
	require.Len(t, o.Scenarios, len(old.Scenarios))
	for i, s := range old.Scenarios {
		got := o.Scenarios[i]
		assert.Equal(t, []any{s.Scenario, s.Config, s.Service, s.Attempt, s.Baseline, s.Verdict, s.Reason, s.Recovery, s.Load},
			[]any{got.Scenario, got.Config, got.Service, got.Attempt, got.Baseline, got.Verdict, got.Reason, got.Recovery, got.Load})
	}
	assert.Equal(t, []any{old.RunID, old.Image, old.TimeScale, old.Verdict, old.Decision, old.Require},
		[]any{o.RunID, o.Image, o.TimeScale, o.Verdict, o.Decision, o.Require})

	v, err := reports.SchemaVersion([]byte(`{"tool": "x", "schema_version": 7}`))
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	_, err = reports.DecodeComparable([]byte(`{"schema_version": 1}`))
	var sv *scenarios.SchemaVersionError
	require.True(t, errors.As(err, &sv), "%v", err)
	assert.Equal(t, 1, sv.Got)
	_, err = reports.SchemaVersion([]byte(`["a"]`))
	assert.True(t, errors.Is(err, scenarios.ErrNotResult), "%v", err)
}
