package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// complete asks the root command what the shell would offer after args
// (cobra's hidden __complete command, as the generated scripts do), and
// returns the values without descriptions and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	r := runZchaosCLI(t, false, "", append([]string{"__complete"}, args...)...)
	require.Equal(t, exitPass, r.code, r.err)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.NotEmpty(t, lines)
	var vals []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		vals = append(vals, name)
	}
	return vals, lines[len(lines)-1]
}

func TestCompletionOfScenarioNamesAndFormats(t *testing.T) {
	cat, err := scenarios.Catalogue()
	require.NoError(t, err)
	var all, crash []string
	for _, s := range cat {
		all = append(all, s.Name)
		if strings.HasPrefix(s.Name, "crash") {
			crash = append(crash, s.Name)
		}
	}
	require.NotEmpty(t, crash)

	got, dir := complete(t, "run", "crash")
	assert.Equal(t, crash, got)
	assert.Equal(t, ":0", dir, "file names too: a scenario may be a YAML file")

	got, _ = complete(t, "run", "crash-restart", "")
	assert.Len(t, got, len(all)-1, "a name already given is not offered again")
	assert.NotContains(t, got, "crash-restart")

	got, dir = complete(t, "scenarios", "show", "")
	assert.Equal(t, all, got)
	assert.Equal(t, ":4", dir, "no file names")

	got, _ = complete(t, "report", "--format", "")
	assert.Equal(t, reports.Formats(), got)

	got, _ = complete(t, "gate", "--tag", "")
	assert.Contains(t, got, scenarios.TagGate)

	got, _ = complete(t, "migrate", "render", "--format", "")
	assert.Equal(t, []string{"script", "json"}, got)
}
