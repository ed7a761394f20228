package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const reportResult = "testdata/report_result.json"

func TestReportFormatsGolden(t *testing.T) {
	for _, format := range []string{"table", "markdown", "junit", "html", "json"} {
		t.Run(format, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", "report", reportResult, "--format", format)
			require.Equal(t, exitPass, r.code, r.err)
			assert.Empty(t, r.err)
			cliGolden(t).Assert(t, "report_"+format, []byte(r.out))
		})
	}
	// The default format is the table.
	def := runZchaosCLI(t, false, "", "report", reportResult)
	table := runZchaosCLI(t, false, "", "report", reportResult, "--format", "table")
	assert.Equal(t, table.out, def.out)
}

// Rendering JSON gives back the input: the schema round-trips through the CLI.
func TestReportJSONRoundTrip(t *testing.T) {
	in, err := os.ReadFile(reportResult)
	require.NoError(t, err)
	r := runZchaosCLI(t, false, "", "report", reportResult, "--format", "json")
	require.Equal(t, exitPass, r.code, r.err)
	assert.Equal(t, string(in), r.out)
}

func TestReportOutputFileAndStdin(t *testing.T) {
	in, err := os.ReadFile(reportResult)
	require.NoError(t, err)
	stdout := runZchaosCLI(t, false, "", "report", reportResult, "--format", "markdown")
	require.Equal(t, exitPass, stdout.code, stdout.err)

	out := filepath.Join(t.TempDir(), "report.md")
	toFile := runZchaosCLI(t, false, "", "report", reportResult, "--format", "markdown", "-o", out)
	require.Equal(t, exitPass, toFile.code, toFile.err)
	assert.Empty(t, toFile.out)
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, stdout.out, string(written))

	fromStdin := runZchaosCLI(t, false, string(in), "report", "-", "--format", "markdown")
	require.Equal(t, exitPass, fromStdin.code, fromStdin.err)
	assert.Equal(t, stdout.out, fromStdin.out)
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.json")
	require.NoError(t, os.WriteFile(v1, []byte(`{"schema_version": 1, "scenarios": []}`), 0o644))
	r := runZchaosCLI(t, false, "", "report", v1)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: "+v1+": result schema_version 1 is not supported: this zchaos reads version 2\n", r.err)
	assert.Empty(t, r.out)

	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"schema_version": 2, "scenarios": []}`), 0o644))
	r = runZchaosCLI(t, false, "", "report", empty)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: "+empty+": the result holds no scenario: nothing to report\n", r.err)

	// A decision its scenarios do not support is refused, never rendered.
	good, err := os.ReadFile(reportResult)
	require.NoError(t, err)
	forged := filepath.Join(dir, "forged.json")
	require.NoError(t, os.WriteFile(forged, []byte(strings.Replace(string(good), `"decision": "inconclusive"`, `"decision": "promote"`, 1)), 0o644))
	r = runZchaosCLI(t, false, "", "report", forged)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.err, `stored decision "promote" (verdict error) disagrees with its scenarios, which give "inconclusive" (verdict error)`)
	assert.Empty(t, r.out)

	// A result with scenarios but no decision is refused too.
	undecided := filepath.Join(dir, "undecided.json")
	require.NoError(t, os.WriteFile(undecided, []byte(strings.Replace(string(good), `"decision": "inconclusive",`, ``, 1)), 0o644))
	r = runZchaosCLI(t, false, "", "report", undecided)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: "+undecided+": the result holds no decision (promote, block or inconclusive): it was not written by zchaos run or gate, or was cut\n", r.err)
	assert.Empty(t, r.out)

	notResult := filepath.Join(dir, "x.json")
	require.NoError(t, os.WriteFile(notResult, []byte(`["not", "a", "result"]`), 0o644))
	r = runZchaosCLI(t, false, "", "report", notResult)
	assert.Equal(t, exitUsage, r.code)
	assert.True(t, strings.HasPrefix(r.err, "zchaos: "+notResult+": not a zchaos result"), r.err)

	r = runZchaosCLI(t, false, "", "report", reportResult, "--format", "pdf")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: unknown format \"pdf\": want table, markdown, junit, json, html\n", r.err)

	r = runZchaosCLI(t, false, "", "report", filepath.Join(dir, "missing.json"))
	assert.Equal(t, exitUsage, r.code)

	r = runZchaosCLI(t, false, "", "report")
	assert.Equal(t, exitUsage, r.code)

	out := filepath.Join(dir, "no-such-dir", "r.html")
	r = runZchaosCLI(t, false, "", "report", reportResult, "--format", "html", "-o", out)
	assert.Equal(t, exitInfra, r.code, "an unwritable output is not a usage error")
}
