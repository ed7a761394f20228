package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// splitResult splits the report fixture into n shard results, as n runners
// given --shard i/n would have written them, and returns their paths.
func splitResult(t *testing.T, n int, edit func(i int, r *scenarios.Result)) (scenarios.Result, []string) {
	t.Helper()
	fh, err := os.Open(reportResult)
	require.NoError(t, err)
	defer fh.Close()
	whole, err := scenarios.DecodeResult(fh)
	require.NoError(t, err)
	keys := make([]string, len(whole.Scenarios))
	units := map[string]string{}
	for i, s := range whole.Scenarios {
		keys[i] = s.Key()
		units[keys[i]] = s.Scenario
	}
	owner := scenarios.Assign(keys, n)
	dir := t.TempDir()
	var paths []string
	for i := 1; i <= n; i++ {
		r := whole
		r.Scenarios = nil
		r.Plan, r.PlanAttempts, r.Shard = scenarios.PlanDigest(units), len(keys), &scenarios.Shard{Index: i, Count: n}
		for j, s := range whole.Scenarios {
			if owner[j] == i {
				r.Scenarios = append(r.Scenarios, s)
			}
		}
		r.Decide(whole.Require)
		if edit != nil {
			edit(i, &r)
		}
		var buf bytes.Buffer
		require.NoError(t, reports.JSON(&buf, r))
		sd := filepath.Join(dir, fmt.Sprintf("shard%d", i))
		p := filepath.Join(sd, "result.json")
		require.NoError(t, os.MkdirAll(sd, 0o755))
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		for _, s := range r.Scenarios { // each shard's bundles beside its result
			if s.Forensics != "" {
				require.NoError(t, os.MkdirAll(filepath.Join(sd, s.Forensics), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(sd, s.Forensics, "reproduce.txt"), []byte(s.Key()), 0o644))
			}
		}
		paths = append(paths, p)
	}
	return whole, paths
}

func TestReportMergeDecidesLikeTheWholeRun(t *testing.T) {
	whole, shards := splitResult(t, 2, nil)
	out := t.TempDir()
	r := runZchaosCLI(t, false, "", append([]string{"report", "--merge", "--out", out}, shards...)...)
	assert.Equal(t, verdictCode(whole.Verdict), r.code, r.err)
	assert.Contains(t, r.out, whole.DecisionReason, "stderr: %s", r.err)
	for _, f := range []string{"result.json", "report.md", "junit.xml", "report.html"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	fh, err := os.Open(filepath.Join(out, "result.json"))
	require.NoError(t, err)
	defer fh.Close()
	merged, err := scenarios.DecodeResult(fh)
	require.NoError(t, err)
	assert.Equal(t, whole.Decision, merged.Decision)
	assert.Equal(t, whole.DecisionReason, merged.DecisionReason)
	assert.Len(t, merged.Scenarios, len(whole.Scenarios))
	assert.Nil(t, merged.Shard)
	require.Len(t, merged.MergedFrom, 2)
	assert.Equal(t, scenarios.Shard{Index: 2, Count: 2}, merged.MergedFrom[1].Shard)

	bundles := 0
	for _, s := range merged.Scenarios {
		if s.Forensics != "" {
			bundles++
			b, err := os.ReadFile(filepath.Join(out, s.Forensics, "reproduce.txt"))
			require.NoError(t, err, "the bundle of %s is copied beside the merged result", s.Key())
			assert.Equal(t, s.Key(), string(b))
		}
	}
	require.Positive(t, bundles, "the fixture has forensics")

	// The merged result is a result like any other.
	again := runZchaosCLI(t, false, "", "report", filepath.Join(out, "result.json"))
	assert.Equal(t, exitPass, again.code, again.err)
}

func verdictCode(v scenarios.Verdict) int {
	if err := verdictExit(v); err != nil {
		return err.(*exitError).code
	}
	return exitPass
}

func TestReportMergeRefuses(t *testing.T) {
	_, good := splitResult(t, 2, nil)
	_, seed := splitResult(t, 2, func(i int, r *scenarios.Result) {
		if i == 2 {
			r.Seed++
		}
	})
	_, three := splitResult(t, 3, nil)
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"overlap":       {[]string{good[0], good[0], good[1]}, []string{"overlap", "attempt ", "#1", good[0]}},
		"seed":          {seed, []string{"seed", seed[0], seed[1]}},
		"shard missing": {good[:1], []string{"2/2 missing"}},
		"mixed counts":  {[]string{good[0], three[1], three[2]}, []string{"shard count", "2", "3"}},
		"unreadable":    {[]string{good[0], filepath.Join(t.TempDir(), "absent.json")}, []string{"absent.json"}},
		"no argument":   {nil, []string{"at least 1"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", append([]string{"report", "--merge", "--out", t.TempDir()}, tc.args...)...)
			assert.Equal(t, exitUsage, r.code, r.err)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.err), "\n")+1, "one line: %q", r.err)
			for _, w := range tc.want {
				assert.Contains(t, r.err, w)
			}
		})
	}
}
