package reports_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

func golden(t *testing.T) *goldie.Goldie {
	return goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
}

func render(t *testing.T, format string, r scenarios.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, reports.Render(&b, r, format))
	return b.Bytes()
}

func TestGoldenFormats(t *testing.T) {
	r := sampleResult()
	for _, format := range reports.Formats() {
		t.Run(format, func(t *testing.T) {
			out := render(t, format, r)
			golden(t).Assert(t, format, out)
			// Pure: the same result renders to the same bytes.
			assert.Equal(t, out, render(t, format, r))
		})
	}
}

func TestGoldenTableOptions(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, reports.Table(&b, sampleResult(), reports.TableOptions{NoSummary: true}))
	golden(t).Assert(t, "table_plain", b.Bytes())
}

func TestGoldenBehaviourDiffText(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, reports.BehaviourDiffText(&b, sampleResult().Diff))
	golden(t).Assert(t, "diff", b.Bytes())

	b.Reset()
	require.NoError(t, reports.BehaviourDiffText(&b, nil))
	assert.Empty(t, b.String())
}

func TestGoldenCatalogue(t *testing.T) {
	list, err := scenarios.Catalogue()
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, reports.Catalogue(&b, list))
	golden(t).Assert(t, "catalogue", b.Bytes())
}

func TestRenderUnknownFormat(t *testing.T) {
	err := reports.Render(io.Discard, sampleResult(), "pdf")
	assert.True(t, errors.Is(err, reports.ErrUnknownFormat), "%v", err)
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleResult()
	got, err := scenarios.DecodeResult(bytes.NewReader(render(t, "json", r)))
	require.NoError(t, err)
	assert.Equal(t, r, got)

	r.SchemaVersion = 0
	out := render(t, "json", r)
	assert.Contains(t, string(out), `"schema_version": 3,`, "a zero version is written as the current one")
}

// The streamed JSON holds exactly what encoding/json would write, and
// every event sits on one line.
func TestJSONEqualsEncodingJSON(t *testing.T) {
	for name, r := range map[string]scenarios.Result{
		"sample":         sampleResult(),
		"no scenarios":   {SchemaVersion: 1},
		"empty list":     {SchemaVersion: 1, Scenarios: []scenarios.ScenarioResult{}},
		"empty timeline": {SchemaVersion: 1, Scenarios: []scenarios.ScenarioResult{{Scenario: "x", Timeline: []scenarios.Event{}}}},
		"html chars":     {SchemaVersion: 1, Image: "a<b>&c", Scenarios: []scenarios.ScenarioResult{{Reason: "x < y", Timeline: []scenarios.Event{{Detail: "\"scenarios\": null <&>"}}}}},
		"canary": {SchemaVersion: 1, Scenarios: []scenarios.ScenarioResult{{Timeline: []scenarios.Event{
			{TNs: 5, DurNs: 250, Kind: scenarios.EventCanary, LateMaxNs: 1234, LateP50Ns: 56, Ticks: 25}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			out := render(t, "json", r)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(r))
			var got, exp bytes.Buffer
			require.NoError(t, json.Compact(&got, out))
			require.NoError(t, json.Compact(&exp, want.Bytes()))
			g, e := got.String(), exp.String()
			if g != e {
				i := 0
				for i < len(g) && i < len(e) && g[i] == e[i] {
					i++
				}
				t.Errorf("differs at byte %d: got %.80q, want %.80q", i, g[i:], e[i:])
			}
		})
	}
	out := string(render(t, "json", sampleResult()))
	assert.Contains(t, out, "\n        {\"t_ns\":20000000,\"kind\":\"spawn\",\"service\":\"user.hero_embedder_server\",\"job\":\"main\",\"pid\":101,")
	assert.Contains(t, out, "\"image\": \"zchaos/hero-fleet:3f2a9c1e\",\n")
}

func TestDecodeResultRejectsOtherVersions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		got  int
		text string
	}{
		{`{"schema_version": 1, "scenarios": []}`, 1, "result schema_version 1 is not supported: this zchaos reads versions 2 to 3"},
		{`{"schema_version": 4, "scenarios": []}`, 4, "result schema_version 4 is not supported: this zchaos reads versions 2 to 3"},
		{`{"scenarios": []}`, 0, "not a zchaos result: schema_version is missing (want 3)"},
	} {
		_, err := scenarios.DecodeResult(strings.NewReader(tc.in))
		var sv *scenarios.SchemaVersionError
		require.True(t, errors.As(err, &sv), "%v", err)
		assert.Equal(t, scenarios.SchemaVersionError{Got: tc.got, Want: scenarios.ResultSchemaVersion}, *sv)
		assert.Equal(t, tc.text, err.Error())
	}
	_, err := scenarios.DecodeResult(strings.NewReader(`[1,2]`))
	assert.True(t, errors.Is(err, scenarios.ErrNotResult), "%v", err)

	// Version 2 (full timelines) is still read, and keeps its version.
	v2, err := scenarios.DecodeResult(strings.NewReader(`{"schema_version": 2, "scenarios": [{"scenario": "x", "timeline": [{"t_ns": 1, "kind": "probe"}]}]}`))
	require.NoError(t, err)
	assert.Equal(t, 2, v2.SchemaVersion)
	assert.Len(t, v2.Scenarios[0].Timeline, 1)
}

func TestJUnitStructure(t *testing.T) {
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
				SystemOut  string `xml:"system-out"`
				Properties []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"properties>property"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(render(t, "junit", sampleResult()), &doc))
	assert.Equal(t, 8, doc.Tests, "one testcase per scenario × config × service")
	assert.Equal(t, 0, doc.Failures, "the legacy baseline failing as expected fails no build")
	assert.Equal(t, 1, doc.Errors)
	assert.Equal(t, 1, doc.Skipped)
	require.Len(t, doc.Suites, 6)
	crash := doc.Suites[0]
	require.Len(t, crash.Cases, 2)
	assert.Equal(t, "crash-restart [legacy] user.hero_embedder_server", crash.Cases[1].Name)
	assert.Nil(t, crash.Cases[1].Failure)
	assert.Equal(t, "legacy baseline, failed as expected: no respawn within the quiet window: the legacy config never restarts",
		crash.Cases[1].SystemOut)
	require.Len(t, crash.Cases[1].Properties, 3)
	assert.Equal(t, "baseline", crash.Cases[1].Properties[0].Name)
	assert.Equal(t, "the legacy baseline is expected to fail", crash.Cases[1].Properties[1].Value)
	assert.Nil(t, crash.Cases[0].Failure)

	// A judged (migrated) failure is a failure, with expected vs observed.
	res := sampleResult()
	res.Scenarios[0] = res.Scenarios[1]
	res.Scenarios[0].Config = scenarios.ConfigMigrated
	res.Decide(0)
	judged := doc
	judged.Suites = nil
	require.NoError(t, xml.Unmarshal(render(t, "junit", res), &judged))
	assert.Equal(t, 1, judged.Failures)
	fail := judged.Suites[0].Cases[0]
	require.NotNil(t, fail.Failure)
	assert.Equal(t, "no respawn within the quiet window: the legacy config never restarts", fail.Failure.Message)
	assert.Contains(t, fail.Failure.Body, "expected: respawn in [250 ms, 500 ms] after the exit\n  observed: no respawn in 5.5 s")
	require.NotNil(t, doc.Suites[2].Cases[0].Skipped)
	assert.Contains(t, doc.Suites[2].Cases[0].Skipped.Message, "inconclusive: the fault's effect was never seen")
	require.NotNil(t, doc.Suites[4].Cases[0].Error)
	assert.Contains(t, doc.Suites[4].Cases[0].Error.Message, "OOM killed")
}

func TestHTMLIsSelfContained(t *testing.T) {
	out := string(render(t, "html", sampleResult()))
	// Nothing is fetched: no script, no external resource of any kind.
	for _, banned := range []string{"<script", "<link", "<img", "<iframe", "src=", `href="http`, "@import", "url("} {
		assert.False(t, strings.Contains(out, banned), "the page contains %q", banned)
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(out, -1)
	assert.Len(t, regexp.MustCompile(`<svg class="tl"`).FindAllString(out, -1), len(sampleResult().Scenarios), "one timeline per scenario result")
	for _, svg := range svgs {
		// Every picture is well-formed XML, so any browser draws it.
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "%.300s", svg)
		}
	}
	svgs = svgs[len(svgs)-len(sampleResult().Scenarios):] // after the legend's glyphs
	// The crash-restart timeline shows both incarnations and the marks.
	crash := svgs[0]
	assertContainsAll(t, crash, "pid 101", "pid 142", ">fault / detect / kill<", ">respawn<", ">healthy<", "killed by SIGKILL",
		">zinit state<", ">process<", ">checks<", ">probes<", ">faults<")
	// The hang timeline shows the failed check run.
	assertContainsAll(t, svgs[2], "exit 137 (failed)", "probes failed: timeout", ">fault<", ">detect / kill<")
	// The fleet-wide timeline has one lane per service, named in full.
	assertContainsAll(t, svgs[6], ">hero_auth_server<", ">hero_books_server<", ">hero_embedder_server<title>user.hero_embedder_server</title>", ">zombie / stray<")
}

func TestEmptyResultRenders(t *testing.T) {
	for _, format := range reports.Formats() {
		var b bytes.Buffer
		require.NoError(t, reports.Render(&b, scenarios.Result{}, format), format)
		assert.NotEmpty(t, b.String(), format)
	}
}

func TestCountVerdicts(t *testing.T) {
	c := reports.CountVerdicts(sampleResult())
	assert.Equal(t, reports.Counts{Pass: 3, Fail: 2, Inconclusive: 1, Error: 1, Info: 1}, c)
	assert.Equal(t, 8, c.Total())
	assert.Equal(t, "3 pass, 2 fail, 1 inconclusive, 1 error, 1 info", c.String())
	assert.Equal(t, "0 pass", reports.Counts{}.String())
}

func TestFormatMeasure(t *testing.T) {
	assert.Equal(t, "-", reports.FormatMeasure(nil))
	assert.Equal(t, "255 ms ± 14", reports.FormatMeasure(&scenarios.Measure{Ms: 255, ErrorMs: 14}))
	assert.Equal(t, "4.45 s ± 0.01", reports.FormatMeasure(&scenarios.Measure{Ms: 4452, ErrorMs: 12}))
}

// assertContainsAll names the missing pieces only (not the whole text).
func assertContainsAll(t *testing.T, text string, wants ...string) {
	t.Helper()
	var missing []string
	for _, w := range wants {
		if !strings.Contains(text, w) {
			missing = append(missing, w)
		}
	}
	assert.Empty(t, missing, "missing from the output")
}

// TestImageAsBuiltRenders: conformance findings and probe audits of an
// image as built show in the terminal tables, the rollout report and
// JUnit, and a blind probe is a JUnit failure.
func TestImageAsBuiltRenders(t *testing.T) {
	r := sampleResult()
	r.Conformance = []scenarios.Finding{
		{Service: "user.hero_embedder_server", Severity: "warning", Code: "health-ignores-answer", Where: "job check",
			Message: "check job check passes on any answer (it never looks at it): echo ... | socat - UNIX-CONNECT:/s.sock"},
		{Service: "user.hero_books_server", Severity: "error", Code: "no-restart", Where: "job main", Message: "no restart on failure"},
	}
	r.ProbeAudit = []scenarios.ProbeAudit{{Service: "user.hero_embedder_server", Job: "check", Exec: "echo x | socat - UNIX-CONNECT:/s.sock",
		TimeoutMs: 1500, Verdict: scenarios.VerdictFail, Reason: "blind probe: it passed while the service was hung (SIGSTOP)",
		Runs: []scenarios.ProbeRun{{State: "healthy", Passed: true, DurationMs: 4}, {State: "hung", Passed: true, DurationMs: 502},
			{State: "socket-gone", DurationMs: 3}}}}
	r.Decide(0)
	assert.Equal(t, scenarios.DecisionBlock, r.Decision)
	assert.Equal(t, "user.hero_books_server: no restart on failure (no-restart)", r.DecisionReason)

	var tables bytes.Buffer
	require.NoError(t, reports.ImageTables(&tables, r))
	assert.Contains(t, tables.String(), "Conformance to the policy")
	assert.Contains(t, tables.String(), "passes (502 ms)")
	assert.Contains(t, tables.String(), "fails (3.0 ms)")

	md := string(render(t, "markdown-details", r))
	assert.Contains(t, md, "## The image as built")
	assert.Contains(t, md, "### Probe audit")
	note := string(render(t, "markdown", r))
	assert.Contains(t, note, "**Decision: BLOCK** — user.hero\\_books\\_server: no restart on failure (no-restart)")
	assert.Contains(t, note, "## Needs attention\n")
	assert.Contains(t, note, "\n- ❌ user.hero\\_books\\_server: no restart on failure (no-restart)\n")
	page := string(render(t, "html", r))
	assertContainsAll(t, page, "<h2>Conformance to the policy (the image as built)</h2>", "<h2>Probe audit</h2>", "passes (502 ms)")

	var doc struct {
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(render(t, "junit", r), &doc))
	got := map[string]string{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				got[s.Name+"/"+c.Name] = c.Failure.Message
			}
		}
	}
	assert.Equal(t, map[string]string{
		"conformance/user.hero_books_server":          "no restart on failure",
		"probe-audit/user.hero_embedder_server check": "blind probe: it passed while the service was hung (SIGSTOP)",
	}, got)
}
