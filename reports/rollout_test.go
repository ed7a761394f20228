package reports_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// assertInOrder checks that each piece occurs in text, after the one before.
func assertInOrder(t *testing.T, text string, pieces ...string) {
	t.Helper()
	at := 0
	for _, p := range pieces {
		i := strings.Index(text[at:], p)
		if !assert.GreaterOrEqual(t, i, 0, "%q missing after byte %d", p, at) {
			return
		}
		at += i + len(p)
	}
}

// The rollout note opens with the decision and why, then the baseline in
// one sentence, the expected behaviour at production timings per service
// class (measured figures and the same ÷ the scale), what changes for
// operators, and the rollback command, and links the details.
func TestRolloutNoteSectionsInOrder(t *testing.T) {
	note := string(render(t, "markdown", compacted(gateSizedResult())))
	lines := strings.Split(note, "\n")
	require.Greater(t, len(lines), 4)
	assert.Equal(t, "# Rollout note: `zchaos/hero:8945d206529bcfa8`", lines[0])
	assert.Equal(t, "**Decision: PROMOTE** — 19/19 scenarios passed (judged on the migrated config at time scale 0.05).", lines[2],
		"the decision is the first thing said")
	assert.True(t, strings.HasPrefix(lines[4], "Legacy baseline: 6 failed as expected "), lines[4])
	assertInOrder(t, note,
		"## Expected behaviour in production",
		"### Unix-socket services (18)",
		"In production: restarted (on-failure) 5 s after an exit, at most 20 times, then `failed` until `zinit start`; checked every 1 min (`server.health` over its Unix socket, timeout 30 s)",
		"| Situation (scenario) | Expected in production | Measured (as run, scale 0.05) | In production (measured ÷ 0.05) | Verdict |",
		// 251.3 ms ± 7.2 as run is 5.03 s ± 0.14 in production.
		"| crash-restart on user.hero\\_embedder\\_server | respawned 5 s after its exit | detect 49 ms ± 12 · restart 251 ms ± 7 · healthy 292 ms ± 5 | detect 988 ms ± 242 · restart 5.03 s ± 0.14 · healthy 5.84 s ± 0.10 | ✅ pass |",
		"| hang-detected on user.hero\\_embedder\\_server | killed by the first check to outlive its 30 s timeout, within I + T = 90 s; respawned 5 s later |",
		"### HTTP services (7)",
		"### Oneshot services (4)",
		"### Whole fleet",
		"| fleet-monkey | each killed service respawned 5 s after its exit |",
		"### Supervisor behaviours verified on test services",
		"| crash-loop-limit |",
		"## What changes for operators",
		"**A failed probe kills the service.**",
		"**The restart counter never resets.** max-restarts 20 counts every automatic restart",
		"**The grace is one interval.** The first check comes 1 min after every start and respawn",
		"**Services are jobs, not files.**",
		"**The fidelity ledger** (",
		"## Rollback",
		"zchaos migrate rollback --backup /etc/zinit.zchaos-backup/<TIMESTAMP> --container <NAME>",
		"[report-details.md](report-details.md)",
	)
	assert.NotContains(t, note, "## Needs attention", "nothing to flag on a promotion")
	assert.NotContains(t, note, "\\`", "no code span is escaped into plain text")
}

// At production timings there is nothing to divide; a judged failure is
// the decision's reason and is listed under "Needs attention".
func TestRolloutNoteAtProductionTimingsAndOnABlock(t *testing.T) {
	r := compacted(gateSizedResult())
	r.TimeScale = 1
	r.Calibration = nil
	s := &r.Scenarios[0]
	s.Verdict, s.Reason = scenarios.VerdictFail, "H4: the check outlived its timeout by 2 s"
	r.Decide(0)
	note := string(render(t, "markdown", r))
	assert.Contains(t, note, "**Decision: BLOCK** — check-timeout-enforced on test.unbounded failed: H4: the check outlived its timeout by 2 s (judged on the migrated config at time scale 1).")
	assert.Contains(t, note, "The gate ran at production timings (time scale 1): the figures are as measured.")
	assert.NotContains(t, note, "÷")
	assert.Contains(t, note, "| Situation (scenario) | Expected in production | Measured | Verdict |")
	assertInOrder(t, note, "## Rollback", "## Needs attention", "- ❌ fail check-timeout-enforced on test.unbounded: H4: the check outlived its timeout by 2 s")
}

// The details file holds what the note leaves out: every scenario, the
// ledger line by line, the checks of a non-pass, and links back.
func TestRolloutDetails(t *testing.T) {
	r := compacted(gateSizedResult())
	details := string(render(t, "markdown-details", r))
	assertInOrder(t, details, "# zchaos rollout report: details", "[report.md](report.md)", "## Services", "## Scenarios",
		"## Behaviour before and after", "## Migration fidelity ledger", "## Invariant checks of non-passing scenarios", "## Oracle parameters")
	assert.Equal(t, len(r.Ledger), strings.Count(details[strings.Index(details, "## Migration fidelity ledger"):strings.Index(details, "## Invariant checks")], "\n| `user."),
		"every ledger line")
}

// Every kind of shape a timeline draws, in its colour, is in the legend:
// nothing on the page goes unexplained.
func TestHTMLLegendExplainsEveryGlyph(t *testing.T) {
	r := sampleResult()
	r.Scenarios = append(r.Scenarios, compacted(gateSizedResult()).Scenarios...)
	page := string(render(t, "html", r))
	legendStart := strings.Index(page, `<ul class="legend"`)
	require.GreaterOrEqual(t, legendStart, 0)
	legend := page[legendStart : legendStart+strings.Index(page[legendStart:], "</ul>")]
	timelines := strings.Join(regexp.MustCompile(`(?s)<svg class="tl".*?</svg>`).FindAllString(page, -1), "\n")

	shape := regexp.MustCompile(`<(rect|line|path|circle)\b[^>]*>`)
	colour := regexp.MustCompile(`(fill|stroke)="(#[0-9a-f]{6})"`)
	glyphs := func(svg string) map[string]bool {
		out := map[string]bool{}
		for _, el := range shape.FindAllStringSubmatch(svg, -1) {
			for _, c := range colour.FindAllStringSubmatch(el[0], -1) {
				if c[2] != "#ffffff" {
					out[el[1]+" "+c[2]] = true
				}
			}
		}
		return out
	}
	// The frame of a picture is not a glyph: its grid, axis and lane shading.
	frame := map[string]bool{"line #eaeef2": true, "line #6e7781": true, "rect #f6f8fa": true}
	explained := glyphs(legend)
	var missing []string
	for g := range glyphs(timelines) {
		if !explained[g] && !frame[g] {
			missing = append(missing, g)
		}
	}
	assert.Empty(t, missing, "drawn but not in the legend")
}

// Labels are laid out, not piled: a run of faults of one kind is labelled
// once with its count, and no two labels of one lane overlap.
func TestHTMLFaultLabelsDoNotOverlap(t *testing.T) {
	r := compacted(gateSizedResult())
	var monkey scenarios.ScenarioResult
	for _, s := range r.Scenarios {
		if s.Scenario == "fleet-monkey" && s.Config == "migrated" {
			monkey = s
		}
	}
	r.Scenarios = []scenarios.ScenarioResult{monkey}
	page := string(render(t, "html", r))
	assert.Equal(t, 1, strings.Count(page, ">monkey ×16</text>"), "sixteen monkey kills, one label")
	assert.False(t, strings.Contains(page, ">monkey</text>"), "no label per kill")
	for _, name := range []string{"hero_embedder_server", "hero_calendar_server", "hero_search_server"} {
		assert.True(t, strings.Contains(page, ">"+name+"<title>user."+name+"</title></text>"), "lane labels are whole, the full name in a title: %s", name)
	}
}

func TestFormatsIncludeTheDetails(t *testing.T) {
	assert.Contains(t, reports.Formats(), "markdown-details")
}

// Services of one kind under two policies make two classes, each named by
// its policy at production timings.
func TestRolloutNoteClassesByPolicy(t *testing.T) {
	r := compacted(gateSizedResult())
	n := 0
	for i, p := range r.Services {
		if p.Config == "migrated" && strings.HasPrefix(p.Probe, "server.health") && n < 2 {
			r.Services[i].MaxRestarts = 5
			n++
		}
	}
	note := string(render(t, "markdown", r))
	assertInOrder(t, note,
		"### Unix-socket services (restart on-failure, delay 5 s, max 20; check every 1 min, timeout 30 s) (16)",
		"### HTTP services (7)",
		"### Oneshot services (4)",
		"### Unix-socket services (restart on-failure, delay 5 s, max 5; check every 1 min, timeout 30 s) (2)",
		"In production: restarted (on-failure) 5 s after an exit, at most 5 times")
}
