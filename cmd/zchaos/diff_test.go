package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// writeVariant writes the report fixture, changed by edit, to dir/name.
func writeVariant(t *testing.T, dir, name string, edit func(*scenarios.Result)) string {
	t.Helper()
	fh, err := os.Open(reportResult)
	require.NoError(t, err)
	defer fh.Close()
	res, err := scenarios.DecodeResult(fh)
	require.NoError(t, err)
	if edit != nil {
		edit(&res)
		res.Decide(res.Require)
	}
	p := filepath.Join(dir, name)
	out, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, reports.JSON(out, res))
	require.NoError(t, out.Close())
	return p
}

func passIndex(t *testing.T, res *scenarios.Result) int {
	t.Helper()
	for i, s := range res.Scenarios {
		if s.Verdict == scenarios.VerdictPass && s.Config == scenarios.ConfigMigrated {
			return i
		}
	}
	t.Fatal("the fixture has no migrated pass")
	return 0
}

func TestDiffExitCodes(t *testing.T) {
	dir := t.TempDir()
	old := writeVariant(t, dir, "old.json", nil)
	failed := writeVariant(t, dir, "failed.json", func(r *scenarios.Result) {
		i := passIndex(t, r)
		r.Scenarios[i].Verdict, r.Scenarios[i].Reason = scenarios.VerdictFail, "R1 restarted after 126 ms, before d=250 ms"
	})

	// pass → fail: a regression, exit 1, in the table and in JSON.
	r := runZchaosCLI(t, false, "", "diff", old, failed)
	assert.Equal(t, exitFail, r.code, r.err)
	assert.Contains(t, r.out, "verdict (regression)\t")
	assert.Contains(t, r.out, "\tpass\tfail\tnow fails: R1 restarted after 126 ms, before d=250 ms\n")
	assert.Contains(t, r.out, "diff: 1 regression, 0 improvements")

	j := runZchaosCLI(t, false, "", "diff", old, failed, "--json")
	assert.Equal(t, exitFail, j.code, j.err)
	var c reports.Comparison
	require.NoError(t, json.Unmarshal([]byte(j.out), &c))
	assert.Equal(t, 1, c.Regressions)
	assert.Equal(t, old, c.Old.File)
	assert.Equal(t, failed, c.New.File)
	o := runZchaosCLI(t, false, "", "diff", old, failed, "-o", "json")
	assert.Equal(t, j.out, o.out)

	// fail → pass: not a regression, exit 0.
	r = runZchaosCLI(t, false, "", "diff", failed, old)
	assert.Equal(t, exitPass, r.code, r.err)
	assert.Contains(t, r.out, "diff: 0 regressions, 1 improvement")

	// The same run: no change.
	r = runZchaosCLI(t, false, "", "diff", old, old)
	assert.Equal(t, exitPass, r.code, r.err)
	assert.True(t, strings.HasPrefix(r.out, "diff: no change"), r.out)

	// On a terminal: a box table, the reasons numbered below.
	r = runZchaosCLI(t, true, "", "diff", old, failed)
	assert.Equal(t, exitFail, r.code, r.err)
	assert.Contains(t, r.out, "│ verdict (regression) [1] │")
	assert.Contains(t, r.out, "\n[1] now fails: R1 restarted")

	// One of them on stdin.
	in, err := os.ReadFile(failed)
	require.NoError(t, err)
	r = runZchaosCLI(t, false, string(in), "diff", old, "-")
	assert.Equal(t, exitFail, r.code, r.err)
}

func TestDiffRecoveryTimes(t *testing.T) {
	dir := t.TempDir()
	old := writeVariant(t, dir, "old.json", func(r *scenarios.Result) {
		r.Scenarios[passIndex(t, r)].Recovery.Restart = &scenarios.Measure{Ms: 255, ErrorMs: 14}
	})
	within := writeVariant(t, dir, "within.json", func(r *scenarios.Result) {
		r.Scenarios[passIndex(t, r)].Recovery.Restart = &scenarios.Measure{Ms: 275, ErrorMs: 14}
	})
	beyond := writeVariant(t, dir, "beyond.json", func(r *scenarios.Result) {
		r.Scenarios[passIndex(t, r)].Recovery.Restart = &scenarios.Measure{Ms: 480, ErrorMs: 14}
	})
	r := runZchaosCLI(t, false, "", "diff", old, within)
	assert.Equal(t, exitPass, r.code, r.out)
	r = runZchaosCLI(t, false, "", "diff", old, beyond)
	assert.Equal(t, exitFail, r.code, r.out)
	assert.Contains(t, r.out, "restart slower (regression)\t")
	assert.Contains(t, r.out, "\t255 ms ± 14\t480 ms ± 14\trestart 225 ms slower, beyond the error bars")
}

func TestDiffBadInput(t *testing.T) {
	dir := t.TempDir()
	old := writeVariant(t, dir, "old.json", nil)
	v1 := filepath.Join(dir, "v1.json")
	require.NoError(t, os.WriteFile(v1, []byte(`{"schema_version": 1, "scenarios": []}`), 0o644))
	r := runZchaosCLI(t, false, "", "diff", v1, old)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: "+v1+" has result schema_version 1 and "+old+" has 2: results of different schema versions cannot be compared (re-render both with the same zchaos)\n", r.err)
	assert.Empty(t, r.out)

	// Both of a version this zchaos cannot read: refused, naming it.
	r = runZchaosCLI(t, false, "", "diff", v1, v1)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.err, "result schema_version 1 is not supported: this zchaos reads versions 2 to 3")

	missing := filepath.Join(dir, "missing.json")
	r = runZchaosCLI(t, false, "", "diff", old, missing)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: cannot read "+missing+": no such file or directory\n", r.err)

	notJSON := filepath.Join(dir, "x.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("<html>"), 0o644))
	r = runZchaosCLI(t, false, "", "diff", notJSON, old)
	assert.Equal(t, exitUsage, r.code)
	assert.True(t, strings.HasPrefix(r.err, "zchaos: "+notJSON+": not a zchaos result"), r.err)

	r = runZchaosCLI(t, false, "", "diff", old, old, "-o", "md")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.err, `unknown format "md": want table, wide, json`)

	r = runZchaosCLI(t, false, "", "diff", old, old, "--json", "-o", "wide")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: --json and -o wide: pick one\n", r.err)

	r = runZchaosCLI(t, false, "", "diff", old)
	assert.Equal(t, exitUsage, r.code)
	r = runZchaosCLI(t, false, "", "diff", "-", "-")
	assert.Equal(t, exitUsage, r.code)
}

func TestDiffHelpGolden(t *testing.T) {
	r := runZchaosCLI(t, false, "", "diff", "--help")
	require.Equal(t, exitPass, r.code, r.err)
	cliGolden(t).Assert(t, "diff_help", []byte(r.out))
}
