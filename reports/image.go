package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/zchaos/zchaos/scenarios"
)

// An image judged as built carries two tables besides its scenarios: its
// conformance to the policy and the audit of its checks. They are built
// here once, as rows, for every renderer.

// conformanceRows are one row per finding: service, severity, rule,
// where, message.
func conformanceRows(r scenarios.Result) [][]string {
	rows := make([][]string, 0, len(r.Conformance))
	for _, f := range r.Conformance {
		rows = append(rows, []string{f.Service, f.Severity, f.Code, orDash(f.Where), f.Message})
	}
	return rows
}

var conformanceHeader = []string{"Service", "Severity", "Rule", "Where", "Finding"}

// auditRows are one row per audited check: service, job, the outcome in
// each state, the verdict and its reason.
func auditRows(r scenarios.Result) [][]string {
	rows := make([][]string, 0, len(r.ProbeAudit))
	for _, a := range r.ProbeAudit {
		cells := map[string]string{}
		for _, run := range a.Runs {
			cells[run.State] = runOutcome(run)
		}
		rows = append(rows, []string{a.Service, a.Job, orDash(cells["healthy"]), orDash(cells["hung"]),
			orDash(cells["socket-gone"]), a.Verdict.String(), a.Reason})
	}
	return rows
}

var auditHeader = []string{"Service", "Job", "Healthy", "Hung", "Socket gone", "Verdict", "Reason"}

// runOutcome is one state's cell: "passes 12 ms", "fails", "times out".
func runOutcome(run scenarios.ProbeRun) string {
	switch {
	case run.Skipped != "":
		return "not run: " + run.Skipped
	case run.TimedOut:
		return fmt.Sprintf("times out (%s)", formatMsFloat(run.DurationMs))
	case run.Passed:
		return fmt.Sprintf("passes (%s)", formatMsFloat(run.DurationMs))
	}
	return fmt.Sprintf("fails (%s)", formatMsFloat(run.DurationMs))
}

// ImageTables writes an image's conformance and probe-audit tables (none
// for a result that was not judged as built).
func ImageTables(w io.Writer, r scenarios.Result) error {
	if len(r.Conformance) > 0 {
		if _, err := fmt.Fprintln(w, "\nConformance to the policy (the image as built):"); err != nil {
			return err
		}
		if err := Grid(w, conformanceHeader, conformanceRows(r)); err != nil {
			return err
		}
	}
	if len(r.ProbeAudit) > 0 {
		if _, err := fmt.Fprintln(w, "\nProbe audit (each check's own exec with its service healthy, hung, and without its socket):"); err != nil {
			return err
		}
		if err := Grid(w, auditHeader, auditRows(r)); err != nil {
			return err
		}
	}
	return nil
}

// image writes the Markdown sections of an image as built.
func (m *mdWriter) image(r scenarios.Result) {
	if len(r.Conformance) == 0 && len(r.ProbeAudit) == 0 {
		return
	}
	m.line("## The image as built")
	m.line("")
	if len(r.Conformance) > 0 {
		m.line("### Conformance to the policy")
		m.line("")
		m.table(conformanceHeader, mdRows(conformanceRows(r)))
	}
	if len(r.ProbeAudit) > 0 {
		m.line("### Probe audit")
		m.line("")
		m.line("Each check job's own exec, run as zinit runs it and bounded by its timeout, with its service healthy (it must pass), hung by SIGSTOP and without its socket (it must fail). A check that passes on a hung service is blind.")
		m.line("")
		m.table(auditHeader, mdRows(auditRows(r)))
	}
}

func mdRows(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, row := range rows {
		cells := make([]string, len(row))
		for k, c := range row {
			cells[k] = mdEscape(c)
		}
		out[i] = cells
	}
	return out
}

// imageSuites are the JUnit suites of an image as built: one test case per
// service's conformance (a failure for each error finding) and one per
// audited check (a failure for a blind probe).
func imageSuites(r scenarios.Result) []junitSuite {
	var out []junitSuite
	if len(r.Conformance) > 0 {
		s := junitSuite{Name: "conformance"}
		byService := map[string][]scenarios.Finding{}
		var order []string
		for _, f := range r.Conformance {
			if _, ok := byService[f.Service]; !ok {
				order = append(order, f.Service)
			}
			byService[f.Service] = append(byService[f.Service], f)
		}
		for _, svc := range order {
			tc := junitCase{Name: svc, Classname: "zchaos.conformance", Time: "0.000"}
			var errs, all []string
			for _, f := range byService[svc] {
				line := fmt.Sprintf("%s %s (%s): %s", f.Severity, f.Code, orDash(f.Where), f.Message)
				all = append(all, line)
				if f.Severity == scenarios.SeverityError {
					errs = append(errs, f.Message)
				}
			}
			if len(errs) > 0 {
				tc.Failure = &junitMessage{Message: errs[0], Type: "conformance", Body: strings.Join(all, "\n") + "\n"}
				s.Failures++
			} else {
				tc.SystemOut = strings.Join(all, "\n")
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
		out = append(out, s)
	}
	if len(r.ProbeAudit) > 0 {
		s := junitSuite{Name: "probe-audit"}
		for _, a := range r.ProbeAudit {
			tc := junitCase{Name: a.Service + " " + a.Job, Classname: "zchaos.probe-audit", Time: seconds(int64(a.DurationMs))}
			var body strings.Builder
			for _, run := range a.Runs {
				fmt.Fprintf(&body, "%s: %s\n", run.State, runOutcome(run))
			}
			switch a.Verdict {
			case scenarios.VerdictFail:
				tc.Failure = &junitMessage{Message: a.Reason, Type: "probe audit", Body: body.String()}
				s.Failures++
			case scenarios.VerdictInconclusive, scenarios.VerdictError:
				tc.Skipped = &junitMessage{Message: "inconclusive: " + a.Reason, Body: body.String()}
				s.Skipped++
			default:
				tc.SystemOut = body.String()
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
		out = append(out, s)
	}
	return out
}
