package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/zchaos/zchaos/scenarios"
)

// JUnit writes JUnit XML: one testsuite per scenario, one testcase per
// scenario result (config × service × attempt). A fail carries a <failure>
// with the reason and each failing check's expected vs observed; an
// inconclusive result is <skipped> with its reason; an error is <error>;
// an informational result passes with its observation in <system-out>.
func JUnit(w io.Writer, r scenarios.Result) error {
	doc := junitSuites{Name: "zchaos", Properties: []junitProperty{
		{Name: "image", Value: r.Image}, {Name: "time_scale", Value: formatScale(r.TimeScale)},
		{Name: "seed", Value: fmt.Sprint(r.Seed)}, {Name: "run_id", Value: r.RunID},
		{Name: "verdict", Value: r.Verdict.String()},
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
		switch s.Verdict {
		case scenarios.VerdictFail:
			tc.Failure = &junitMessage{Message: s.Reason, Type: "invariant " + strings.Join(failingIDs(s), ","), Body: checkDetails(s)}
			suite.Failures++
		case scenarios.VerdictInconclusive:
			tc.Skipped = &junitMessage{Message: "inconclusive: " + s.Reason, Body: checkDetails(s)}
			suite.Skipped++
		case scenarios.VerdictError:
			tc.Error = &junitMessage{Message: s.Reason, Type: "harness", Body: forensicsLine(s)}
			suite.Errors++
		case scenarios.VerdictInfo:
			tc.SystemOut = "informational: " + s.Reason
		}
		suite.Tests++
		suite.timeMs += s.DurationMs
		suite.Cases = append(suite.Cases, tc)
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		s.Time = seconds(s.timeMs)
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
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}
