package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// What gate prints after its run (the verdict table, the behaviour diff,
// the decision) fits the terminal, and has no box drawing when piped.
func TestPrintGateFitsTerminal(t *testing.T) {
	fh, err := os.Open(reportResult)
	require.NoError(t, err)
	defer fh.Close()
	res, err := scenarios.DecodeResult(fh)
	require.NoError(t, err)
	require.NotEmpty(t, res.Diff, "the fixture has a behaviour diff")
	d := scenarios.Gate(res, res.Require)
	o := gateOptions{Format: "table"}
	o.Out, o.Repeat = "zchaos-out", 1
	for _, width := range []int{60, 80, 100} {
		var b bytes.Buffer
		require.NoError(t, printGate(&b, reports.Layout{Width: width}, res, d, o))
		assert.Contains(t, b.String(), "gate: "+reports.DecisionWord(d.Decision, d.Verdict))
		for _, line := range strings.Split(b.String(), "\n") {
			assert.LessOrEqual(t, utf8.RuneCountInString(line), width, "%q", line)
		}
	}
	var b bytes.Buffer
	require.NoError(t, printGate(&b, reports.Layout{Plain: true}, res, d, o))
	assert.False(t, strings.ContainsFunc(b.String(), func(r rune) bool { return r >= 0x2500 && r <= 0x257f }), b.String())
}

// -o/--output is the format in every command that prints more than one:
// an unknown value exits 3 and lists the valid ones, before anything runs.
func TestOutputFlagEverywhere(t *testing.T) {
	for _, c := range []struct {
		args  []string
		valid string
	}{
		{[]string{"run", "crash-restart"}, "table, wide, json, md, md-details, junit, html"},
		{[]string{"gate"}, "table, wide, json, md, md-details, junit, html"},
		{[]string{"report", reportResult}, "table, wide, json, md, md-details, junit, html"},
		{[]string{"diff", reportResult, reportResult}, "table, wide, json"},
		{[]string{"scenarios", "list"}, "table, wide, json"},
		{[]string{"lint", fleetDir}, "table, json"},
		{[]string{"migrate", "plan", fleetDir}, "table, json"},
		{[]string{"migrate", "render", fleetDir}, "script, json"},
		{[]string{"migrate", "apply", fleetDir, "--socket", "/nonexistent.sock"}, "table, json"},
		{[]string{"migrate", "rollback", "--backup", "x", "--socket", "/nonexistent.sock"}, "table, json"},
		{[]string{"cleanup"}, "text, json"},
		{[]string{"image", "build"}, "text, json"},
	} {
		t.Run(strings.Join(c.args[:1], " "), func(t *testing.T) {
			r := runZchaosCLI(t, false, "", append(c.args, "-o", "yaml")...)
			assert.Equal(t, exitUsage, r.code, r.err)
			assert.Contains(t, r.err, `unknown format "yaml": want `+c.valid+"\n")
			assert.Empty(t, r.out)
		})
	}
}

// --json is -o json wherever it exists.
func TestJSONIsOutputJSON(t *testing.T) {
	for _, args := range [][]string{
		{"scenarios", "list", "--tag", "gate"},
		{"lint", fleetDir},
		{"migrate", "plan", fleetDir},
		{"diff", reportResult, reportResult},
	} {
		t.Run(args[0], func(t *testing.T) {
			short := runZchaosCLI(t, false, "", append(args, "--json")...)
			long := runZchaosCLI(t, false, "", append(args, "-o", "json")...)
			assert.Equal(t, long.code, short.code)
			assert.Equal(t, long.out, short.out)
			assert.True(t, strings.HasPrefix(long.out, "{") || strings.HasPrefix(long.out, "["), long.out)
			both := runZchaosCLI(t, false, "", append(args, "--json", "-o", "table")...)
			assert.Equal(t, exitUsage, both.code)
		})
	}
}
