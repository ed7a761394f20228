package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const reportResult = "testdata/report_result.json"

func TestReportFormatsGolden(t *testing.T) {
	for _, format := range []string{"table", "wide", "markdown", "junit", "html", "json"} {
		t.Run(format, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", "report", reportResult, "-o", format)
			require.Equal(t, exitPass, r.code, r.err)
			assert.Empty(t, r.err)
			cliGolden(t).Assert(t, "report_"+format, []byte(r.out))
		})
	}
	// The default format is the table.
	def := runZchaosCLI(t, false, "", "report", reportResult)
	table := runZchaosCLI(t, false, "", "report", reportResult, "-o", "table")
	assert.Equal(t, table.out, def.out)
	// md is markdown; --output is -o; the deprecated --format still works.
	md := runZchaosCLI(t, false, "", "report", reportResult, "--output", "md")
	markdown := runZchaosCLI(t, false, "", "report", reportResult, "-o", "markdown")
	format := runZchaosCLI(t, false, "", "report", reportResult, "--format", "md")
	require.Equal(t, exitPass, md.code, md.err)
	assert.Equal(t, markdown.out, md.out)
	assert.Equal(t, markdown.out, format.out)
	assert.Equal(t, "zchaos: --format is deprecated: use -o/--output\n", format.err)
}

// -o is the format, as in kubectl: -o json prints JSON, never a file
// named json; a path given to -o is refused with a pointer to --out.
func TestReportOutputIsAFormat(t *testing.T) {
	abs := filepath.Join(wd(t), reportResult)
	dir := t.TempDir()
	t.Chdir(dir)
	r := runZchaosCLI(t, false, "", "report", abs, "-o", "json")
	require.Equal(t, exitPass, r.code, r.err)
	assert.True(t, strings.HasPrefix(r.out, "{\n  \"schema_version\": 2,"), r.out)
	_, err := os.Stat(filepath.Join(dir, "json"))
	assert.True(t, os.IsNotExist(err), "no file named json")

	r = runZchaosCLI(t, false, "", "report", abs, "-o", "r.md")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.err, `unknown format "r.md": want table, wide, json, md, md-details, junit, html (-o is the format; to write a file use --out r.md)`)

	r = runZchaosCLI(t, false, "", "report", abs, "--json")
	assert.Equal(t, exitUsage, r.code, "report has no --json: -o json")
}

// Rendering JSON gives back the input: the schema round-trips through the CLI.
func TestReportJSONRoundTrip(t *testing.T) {
	in, err := os.ReadFile(reportResult)
	require.NoError(t, err)
	r := runZchaosCLI(t, false, "", "report", reportResult, "-o", "json")
	require.Equal(t, exitPass, r.code, r.err)
	assert.Equal(t, string(in), r.out)
}

func TestReportOutputFileAndStdin(t *testing.T) {
	in, err := os.ReadFile(reportResult)
	require.NoError(t, err)
	stdout := runZchaosCLI(t, false, "", "report", reportResult, "-o", "md")
	require.Equal(t, exitPass, stdout.code, stdout.err)

	out := filepath.Join(t.TempDir(), "report.md")
	toFile := runZchaosCLI(t, false, "", "report", reportResult, "-o", "md", "--out", out)
	require.Equal(t, exitPass, toFile.code, toFile.err)
	assert.Empty(t, toFile.out)
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, stdout.out, string(written))

	fromStdin := runZchaosCLI(t, false, string(in), "report", "-", "-o", "md")
	require.Equal(t, exitPass, fromStdin.code, fromStdin.err)
	assert.Equal(t, stdout.out, fromStdin.out)
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.json")
	require.NoError(t, os.WriteFile(v1, []byte(`{"schema_version": 1, "scenarios": []}`), 0o644))
	r := runZchaosCLI(t, false, "", "report", v1)
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: "+v1+": result schema_version 1 is not supported: this zchaos reads versions 2 to 3\n", r.err)
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

	notResult := filepath.Join(dir, "x.json")
	require.NoError(t, os.WriteFile(notResult, []byte(`["not", "a", "result"]`), 0o644))
	r = runZchaosCLI(t, false, "", "report", notResult)
	assert.Equal(t, exitUsage, r.code)
	assert.True(t, strings.HasPrefix(r.err, "zchaos: "+notResult+": not a zchaos result"), r.err)

	r = runZchaosCLI(t, false, "", "report", reportResult, "-o", "pdf")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "zchaos: invalid argument \"pdf\" for \"-o, --output\" flag: unknown format \"pdf\": want table, wide, json, md, md-details, junit, html\n", r.err)

	r = runZchaosCLI(t, false, "", "report", filepath.Join(dir, "missing.json"))
	assert.Equal(t, exitUsage, r.code)

	r = runZchaosCLI(t, false, "", "report")
	assert.Equal(t, exitUsage, r.code)

	out := filepath.Join(dir, "no-such-dir", "r.html")
	r = runZchaosCLI(t, false, "", "report", reportResult, "-o", "html", "--out", out)
	assert.Equal(t, exitInfra, r.code, "an unwritable output is not a usage error")
}

func wd(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	require.NoError(t, err)
	return d
}

// On a terminal the table fits its width; piped, it has no box drawing.
func TestReportTableFitsTerminal(t *testing.T) {
	for _, width := range []int{60, 80, 120} {
		for _, format := range []string{"table", "wide"} {
			var out, errOut bytes.Buffer
			f := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, TTY: true, Width: width}, Executable: os.Executable}
			require.Equal(t, exitPass, execute(context.Background(), f, []string{"report", reportResult, "-o", format}), errOut.String())
			assert.Contains(t, out.String(), "┌")
			for _, line := range strings.Split(out.String(), "\n") {
				assert.LessOrEqual(t, utf8.RuneCountInString(line), width, "%s at %d: %q", format, width, line)
			}
		}
	}
	piped := runZchaosCLI(t, false, "", "report", reportResult)
	require.Equal(t, exitPass, piped.code, piped.err)
	assert.False(t, strings.ContainsFunc(piped.out, func(r rune) bool { return r >= 0x2500 && r <= 0x257f }), piped.out)
}
