package reports_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// longReasons is the sample with reasons far wider than any terminal and
// a scenario name with no space to break at.
func longReasons() scenarios.Result {
	r := sampleResult()
	r.Scenarios = append([]scenarios.ScenarioResult(nil), r.Scenarios...)
	r.Scenarios[1].Reason = strings.Repeat("no respawn within the quiet window of 5.50 s after the SIGKILL: the legacy config never restarts a crashed service; ", 3)
	r.Scenarios[4].Reason = "effect-probe-never-saw-the-error-and-this-sentence-has-no-space-to-break-at-whatsoever-" + strings.Repeat("x", 150)
	r.Scenarios[5].Scenario = "a-scenario-name-that-is-longer-than-the-whole-terminal-is-wide-" + strings.Repeat("y", 60)
	return r
}

func maxLine(s string) (int, string) {
	longest, line := 0, ""
	for _, l := range strings.Split(s, "\n") {
		if n := utf8.RuneCountInString(l); n > longest {
			longest, line = n, l
		}
	}
	return longest, line
}

func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || (r >= 0x2500 && r <= 0x257f) {
			return -1
		}
		return r
	}, s)
}

// A table rendered for a terminal of W columns has no line longer than W,
// whatever its cells hold, and wrapping loses nothing.
func TestTableFitsTerminalWidth(t *testing.T) {
	r := longReasons()
	list, err := scenarios.Catalogue()
	require.NoError(t, err)
	cmp := reports.Compare(sampleResult(), r)
	for _, width := range []int{50, 60, 80, 100, 120, 160} {
		for _, wide := range []bool{false, true} {
			opts := reports.TableOptions{Layout: reports.Layout{Width: width}, Wide: wide}
			var b bytes.Buffer
			require.NoError(t, reports.Table(&b, r, opts))
			n, line := maxLine(b.String())
			assert.LessOrEqual(t, n, width, "table width %d wide=%v: %q", width, wide, line)
			if !wide {
				// The reasons are listed below the table, whole.
				assert.Contains(t, squeeze(b.String()), squeeze(r.Scenarios[1].Reason))
				assert.Contains(t, squeeze(b.String()), squeeze(r.Scenarios[4].Reason))
			}

			b.Reset()
			require.NoError(t, reports.ComparisonTable(&b, cmp, opts))
			n, line = maxLine(b.String())
			assert.LessOrEqual(t, n, width, "comparison width %d wide=%v: %q", width, wide, line)

			b.Reset()
			require.NoError(t, opts.Catalogue(&b, list))
			n, line = maxLine(b.String())
			assert.LessOrEqual(t, n, width, "catalogue width %d: %q", width, line)
		}
	}
}

// Where everything fits, nothing is wrapped: one line per row.
func TestTableWideTerminalKeepsRowsWhole(t *testing.T) {
	r := sampleResult()
	var b bytes.Buffer
	require.NoError(t, reports.Table(&b, r, reports.TableOptions{Layout: reports.Layout{Width: 300}, Wide: true, NoSummary: true}))
	// top border, header, separator, rows, bottom border
	assert.Equal(t, len(r.Scenarios)+4, strings.Count(b.String(), "\n"), b.String())
}

// Piped or written to a file, a table is tab-separated lines: no box
// drawing, one line per row with as many fields as the header, the
// reason inline instead of a numbered note.
func TestTablePlainHasNoBoxDrawing(t *testing.T) {
	r := longReasons()
	r.Scenarios[0].Reason = "a reason\nover two lines\twith a tab"
	for _, wide := range []bool{false, true} {
		var b bytes.Buffer
		require.NoError(t, reports.Table(&b, r, reports.TableOptions{Layout: reports.Layout{Plain: true, Width: 80}, Wide: wide, NoSummary: true}))
		out := b.String()
		assert.False(t, strings.ContainsFunc(out, func(r rune) bool { return r >= 0x2500 && r <= 0x257f }), out)
		assert.NotContains(t, out, "[1]")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, len(r.Scenarios)+1)
		fields := strings.Count(lines[0], "\t")
		for _, l := range lines {
			assert.Equal(t, fields, strings.Count(l, "\t"), l)
		}
		assert.True(t, strings.HasSuffix(lines[0], "\tREASON"), lines[0])
		assert.Contains(t, out, "\ta reason; over two lines with a tab\n")
	}
	var b bytes.Buffer
	require.NoError(t, reports.Layout{Plain: true}.Catalogue(&b, []scenarios.Scenario{{Name: "x", Description: "d"}}))
	assert.False(t, strings.ContainsFunc(b.String(), func(r rune) bool { return r >= 0x2500 && r <= 0x257f }))
}

// The narrow default numbers the reasons of what did not pass, in row
// order, and lists them below the table.
func TestTableNotesKeyedFromRows(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, reports.Table(&b, sampleResult(), reports.TableOptions{NoSummary: true}))
	out := b.String()
	assert.Contains(t, out, "│ fail [1] ")
	assert.Contains(t, out, "\n[1] no respawn within the quiet window: the legacy config never restarts\n")
	assert.Contains(t, out, "│ info [5] ")
	assert.Contains(t, out, "\n[5] the counter did not reset")
	assert.NotContains(t, out, "respawned after the restart delay", "a pass gets no note")
}

// Rows with the same reason share its number.
func TestTableNotesShareNumbers(t *testing.T) {
	r := sampleResult()
	r.Scenarios[3].Reason = r.Scenarios[1].Reason
	var b bytes.Buffer
	require.NoError(t, reports.Table(&b, r, reports.TableOptions{NoSummary: true}))
	out := b.String()
	assert.Equal(t, 2, strings.Count(out, "│ fail [1] "), out)
	assert.Equal(t, 1, strings.Count(out, "[1] no respawn"), out)
	assert.Contains(t, out, "│ inconclusive [2] ")
}
