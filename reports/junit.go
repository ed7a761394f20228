package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/zchaos/zchaos/scenarios"
)

// JUnit writes JUnit XML: one testsuite per scenario, one testcase per
// scenario result (config × service × attempt). A fail carries a <failure>
// with the reason and each failing check's expected vs observed; an
// inconclusive result is <skipped> with its reason; an error is <error>;
// an informational result passes with its observation in <system-out>.
// A baseline (legacy) attempt never fails the build: one that failed as
// expected passes, with the expectation in its properties and system-out;
// one that could not be judged is <skipped>. The gate's decision is a
// property of the document.
func JUnit(w io.Writer, r scenarios.Result) error {
	doc := junitSuites{Name: "zchaos", Properties: []junitProperty{
		{Name: "image", Value: r.Image}, {Name: "time_scale", Value: formatScale(r.TimeScale)},
		{Name: "seed", Value: fmt.Sprint(r.Seed)}, {Name: "run_id", Value: r.RunID},
		{Name: "verdict", Value: r.Verdict.String()},
		{Name: "decision", Value: string(r.Decision)}, {Name: "decision_reason", Value: r.DecisionReason},
	}}
	index := map[string]int{}
	for _, s := range r.Scenarios {
		i, ok := index[s.Scenario]
		if !ok {
			i = len(doc.Suites)
			index[s.Scenario] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: s.Scenario})
		}
		suite := &doc.Suites[i]
		tc := junitCase{
			Name:      caseName(s),
			Classname: "zchaos." + s.Scenario,
			Time:      seconds(s.DurationMs),
		}
		if s.Load != nil {
			tc.Properties = append(tc.Properties, junitProperty{Name: "machine_late_p99_ms", Value: strconv.FormatFloat(s.Load.P99Ms, 'g', -1, 64)},
				junitProperty{Name: "machine_late_max_ms", Value: strconv.FormatFloat(s.Load.MaxMs, 'g', -1, 64)})
		}
		switch {
		case s.Baseline:
			baselineCase(&tc, suite, s)
		case s.Verdict == scenarios.VerdictFail:
			tc.Failure = &junitMessage{Message: s.Reason, Type: "invariant " + strings.Join(failingIDs(s), ","), Body: checkDetails(s)}
			suite.Failures++
		case s.Verdict == scenarios.VerdictInconclusive:
			tc.Skipped = &junitMessage{Message: "inconclusive: " + s.Reason, Body: checkDetails(s)}
			suite.Skipped++
		case s.Verdict == scenarios.VerdictError:
			tc.Error = &junitMessage{Message: s.Reason, Type: "harness", Body: forensicsLine(s)}
			suite.Errors++
		case s.Verdict == scenarios.VerdictInfo:
			tc.SystemOut = "informational: " + s.Reason
		}
		suite.Tests++
		suite.timeMs += s.DurationMs
		suite.Cases = append(suite.Cases, tc)
	}
	doc.Suites = append(doc.Suites, imageSuites(r)...)
	for i := range doc.Suites {
		s := &doc.Suites[i]
		if s.Time == "" {
			s.Time = seconds(s.timeMs)
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = seconds(r.DurationMs)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// baselineCase renders a baseline attempt: passed when it showed what was
// expected of it, skipped when it could not be judged.
func baselineCase(tc *junitCase, suite *junitSuite, s scenarios.ScenarioResult) {
	expectation, met := s.Expected()
	tc.Properties = append(tc.Properties, junitProperty{Name: "baseline", Value: "true"}, junitProperty{Name: "expected", Value: expectation},
		junitProperty{Name: "verdict", Value: s.Verdict.String()})
	switch {
	case s.Verdict == scenarios.VerdictFail:
		tc.SystemOut = "legacy baseline, failed as expected: " + s.Reason
	case met || s.Verdict == scenarios.VerdictPass:
		tc.SystemOut = "legacy baseline: " + expectation + ": " + s.Reason
	default:
		tc.Skipped = &junitMessage{Message: "legacy baseline not judged (" + s.Verdict.String() + "): " + s.Reason}
		suite.Skipped++
	}
}

// checkDetails lists every non-passing check with expected vs observed.
func checkDetails(s scenarios.ScenarioResult) string {
	var b strings.Builder
	for _, c := range s.Checks {
		if c.Verdict == scenarios.VerdictPass || c.Verdict == scenarios.VerdictInfo {
			continue
		}
		fmt.Fprintf(&b, "%s %s: %s\n  expected: %s\n  observed: %s\n", c.ID, c.Property, c.Verdict, c.Expected, c.Observed)
		if c.Reason != "" {
			fmt.Fprintf(&b, "  reason: %s\n", c.Reason)
		}
	}
	b.WriteString(forensicsLine(s))
	return b.String()
}

func forensicsLine(s scenarios.ScenarioResult) string {
	if s.Forensics == "" {
		return ""
	}
	return "forensics: " + s.Forensics + "\n"
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

type junitSuites struct {
	XMLName    xml.Name        `xml:"testsuites"`
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Suites     []junitSuite    `xml:"testsuite"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
	timeMs   int64
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Classname  string          `xml:"classname,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Failure    *junitMessage   `xml:"failure,omitempty"`
	Error      *junitMessage   `xml:"error,omitempty"`
	Skipped    *junitMessage   `xml:"skipped,omitempty"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}
