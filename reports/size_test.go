package reports_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// Size limits on a result of the default gate's size class (see
// gateSizedResult): the rollout note fits a pull-request comment with room
// to spare, and result.json and report.html stay within 1 MB.
func TestDefaultGateSizes(t *testing.T) {
	full := gateSizedResult()
	raw := render(t, "json", full)
	require.Greater(t, len(raw), 4<<20, "the fixture is of the real gate's size class (5.7 MB before compaction)")
	t.Logf("full streams: result.json %d bytes", len(raw))

	r := compacted(full)
	sizes := map[string]int{}
	for _, format := range []string{"json", "html", "markdown", "markdown-details"} {
		sizes[format] = len(render(t, format, r))
	}
	t.Logf("compact: %v", sizes)
	assert.LessOrEqual(t, sizes["json"], 1<<20, "result.json ≤ 1 MB")
	assert.LessOrEqual(t, sizes["html"], 1<<20, "report.html ≤ 1 MB")
	assert.Less(t, sizes["markdown"], 60<<10, "report.md < 60 KB")

	// A version 2 result (full streams) renders within the same bounds:
	// the page folds dense stretches itself.
	assert.LessOrEqual(t, len(render(t, "html", full)), 1<<20, "report.html of full streams ≤ 1 MB")

	// Compaction keeps the result readable and decodable as it was.
	back, err := scenarios.DecodeResult(bytes.NewReader(render(t, "json", r)))
	require.NoError(t, err)
	assert.Equal(t, r, back)
}

// No result makes a rollout note longer than a pull-request comment may
// be: not 10,000 scenario results, nor cells of any length.
func TestRolloutNoteIsBounded(t *testing.T) {
	big := bigResult(10_000)
	long := gateSizedResult()
	huge := string(bytes.Repeat([]byte("ü|*"), 20_000))
	for i := range long.Scenarios {
		long.Scenarios[i].Reason, long.Scenarios[i].Description = huge, huge
		long.Scenarios[i].Verdict = scenarios.VerdictFail
		long.Scenarios[i].Service += huge[:300]
	}
	for i := range long.Ledger {
		long.Ledger[i].Field, long.Ledger[i].Fidelity, long.Ledger[i].Detail = huge[:90]+string(rune('a'+i%26))+string(rune('a'+i/26)), "dropped", huge
	}
	for i := range long.Services {
		long.Services[i].Service += huge[:3000]
		long.Services[i].IntervalMs += int64(i) // one class each
	}
	long.Decide(0)
	long.DecisionReason = huge
	// Many classes of many services, each with many situations.
	worst := scenarios.Result{SchemaVersion: scenarios.ResultSchemaVersion, TimeScale: 0.05}
	for c := 0; c < 20; c++ {
		for k := 0; k < 50; k++ {
			svc := fmt.Sprintf("user.%s-%02d-%02d", strings.Repeat("x", 70), c, k)
			worst.Services = append(worst.Services, scenarios.ServicePolicy{Service: svc, Config: "migrated", Restart: "on-failure",
				RestartDelayMs: 250, MaxRestarts: 20, IntervalMs: 3000 + int64(c), TimeoutMs: 1500, Probe: "server.health over /s/" + huge[:500]})
			if k < 30 {
				worst.Scenarios = append(worst.Scenarios, scenarios.ScenarioResult{Scenario: fmt.Sprintf("s%d", k) + huge[:200], Config: "migrated",
					Service: svc, Attempt: 1, Verdict: scenarios.VerdictFail, Reason: huge, Description: huge,
					Recovery: scenarios.Recovery{Detect: &scenarios.Measure{Ms: 1, ErrorMs: 1}}})
			}
		}
	}
	worst.Decide(0)
	for name, r := range map[string]scenarios.Result{"10,000 results": big, "long texts": long, "worst": worst} {
		note := render(t, "markdown", r)
		t.Logf("%s: %d characters", name, utf8.RuneCount(note))
		assert.Less(t, utf8.RuneCount(note), reports.MaxNoteChars, name)
		assert.True(t, utf8.Valid(note), name)
	}
}
