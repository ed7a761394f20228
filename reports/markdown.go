package reports

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/zchaos/zchaos/scenarios"
)

// Markdown writes the rollout note (see rollout.go): the decision and
// why, the legacy baseline, each service class's expected behaviour at
// production timings beside the figures measured, what changes for
// operators and the rollback command, within MaxNoteChars. The rest is in
// MarkdownDetails, which it links as DetailsFile.
func Markdown(w io.Writer, r scenarios.Result) error {
	var note []byte
	for _, caps := range []noteCaps{noteCapsUsual, noteCapsTight} {
		var buf bytes.Buffer
		b := bufio.NewWriter(&buf)
		md := &mdWriter{w: b, caps: caps}
		md.note(r)
		if err := b.Flush(); err != nil {
			return err
		}
		note = buf.Bytes()
		if utf8.RuneCount(note) <= noteBudget {
			break
		}
	}
	_, err := w.Write(cutNote(note))
	return err
}

// noteBudget is what the note may take of MaxNoteChars, leaving room for
// whatever a CI job puts around it in a comment.
const noteBudget = MaxNoteChars - 4096

// cutNote cuts a note still over noteBudget with the tight caps (texts of
// pathological length) at a line, and says where the rest is.
func cutNote(note []byte) []byte {
	if utf8.RuneCount(note) <= noteBudget {
		return note
	}
	const tail = "\n\n… (cut here: the note would not fit a pull-request comment; everything is in [" + DetailsFile + "](" + DetailsFile + "))\n"
	n, runes := 0, 0
	for n < len(note) && runes < noteBudget-len(tail) {
		_, size := utf8.DecodeRune(note[n:])
		n += size
		runes++
	}
	if i := bytes.LastIndexByte(note[:n], '\n'); i > 0 {
		n = i
	}
	return append(note[:n:n], tail...)
}

// MarkdownDetails writes the full report the rollout note links: a header
// (verdict, image, time scale, seed), each service's applied policy and
// probe, an image's conformance and probe audit, every scenario's verdict
// and recovery figures, the legacy-vs-migrated behaviour diff, the
// migrator's fidelity ledger, the invariant checks of every non-passing
// scenario, and the oracle's parameters.
func MarkdownDetails(w io.Writer, r scenarios.Result) error {
	b := bufio.NewWriter(w)
	md := &mdWriter{w: b}
	md.header(r)
	md.services(r)
	md.image(r)
	md.scenarios(r)
	md.diff(r)
	md.ledger(r)
	md.nonPassing(r)
	md.params(r)
	return b.Flush()
}

type mdWriter struct {
	w    *bufio.Writer
	caps noteCaps // bounds of the rollout note's lists and cells
}

func (m *mdWriter) line(format string, a ...any) {
	fmt.Fprintf(m.w, format, a...)
	m.w.WriteByte('\n')
}

// table writes a Markdown table; cells are already Markdown (plain text
// goes through mdEscape, code through code).
func (m *mdWriter) table(header []string, rows [][]string) {
	m.row(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	m.w.WriteString("|" + strings.Join(sep, "|") + "|\n")
	for _, r := range rows {
		m.row(r)
	}
	m.w.WriteByte('\n')
}

func (m *mdWriter) row(cells []string) {
	m.w.WriteString("|")
	for _, c := range cells {
		m.w.WriteString(" ")
		m.w.WriteString(c)
		m.w.WriteString(" |")
	}
	m.w.WriteByte('\n')
}

var mdReplacer = strings.NewReplacer("|", `\|`, "\r\n", "<br>", "\n", "<br>", "<", "&lt;", ">", "&gt;",
	"*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`)

// mdEscape makes plain text safe in Markdown prose and table cells.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

var codeReplacer = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ")

// code renders s as inline code (safe in a table cell), choosing a fence
// longer than any backtick run inside it.
func code(s string) string {
	if s == "" || s == "-" {
		return "-"
	}
	s = codeReplacer.Replace(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func verdictBadge(v scenarios.Verdict) string {
	switch v {
	case scenarios.VerdictPass:
		return "✅ pass"
	case scenarios.VerdictFail:
		return "❌ fail"
	case scenarios.VerdictInconclusive:
		return "❔ inconclusive"
	case scenarios.VerdictError:
		return "⚠️ error"
	case scenarios.VerdictInfo:
		return "ℹ️ info"
	}
	return v.String()
}

func (m *mdWriter) header(r scenarios.Result) {
	m.line("# zchaos rollout report: details")
	m.line("")
	m.line("The rollout note, with the decision, the expected behaviour in production and the rollback command, is [report.md](report.md).")
	m.line("")
	if r.Decision != "" {
		m.line("**%s** — %s", DecisionWord(r.Decision, r.Verdict), mdEscape(r.DecisionReason))
		m.line("")
	}
	if b := scenarios.Gate(r, r.Require).Baseline.Sentence(); b != "" {
		m.line("Legacy baseline: %s.", mdEscape(b))
		m.line("")
	}
	scale := formatScale(r.TimeScale)
	if r.TimeScale != 1 && r.TimeScale > 0 {
		scale += " (every duration of the job model and of the expectations was scaled together; figures below are as run)"
	} else if r.TimeScale == 1 {
		scale += " (production timings)"
	}
	if c := r.Calibration; c != nil {
		scale += "; chosen by --time-scale auto: " + c.Reason
	}
	items := [][2]string{
		{"Verdict", verdictBadge(r.Verdict) + " (" + mdEscape(CountVerdicts(r).String()) + ")"},
		{"Image", code(r.Image)},
		{"Time scale", mdEscape(scale)},
		{"Seed", fmt.Sprint(r.Seed)},
		{"Run", code(r.RunID) + ", started " + mdEscape(formatTime(r.StartedAt)) + ", took " + mdEscape(formatMs(r.DurationMs))},
		{"Tool", mdEscape(orDash(r.Tool))},
	}
	if r.FirstPassRate != nil {
		items = append(items, [2]string{"First-pass rate", fmt.Sprintf("%.1f %%", *r.FirstPassRate*100)})
	}
	for _, it := range items {
		m.line("- **%s:** %s", it[0], it[1])
	}
	m.line("")
}

func (m *mdWriter) services(r scenarios.Result) {
	m.line("## Services")
	m.line("")
	if len(r.Services) == 0 {
		m.line("No service policy recorded.")
		m.line("")
		return
	}
	rows := make([][]string, 0, len(r.Services))
	for _, p := range r.Services {
		rows = append(rows, []string{code(p.Service), mdEscape(p.Config), mdEscape(policyLine(p)), mdEscape(checkLine(p)), code(p.Probe), mdEscape(orDash(p.ProbeSource))})
	}
	m.table([]string{"Service", "Config", "Policy", "Check", "Probe", "Probe from"}, rows)
}

func (m *mdWriter) scenarios(r scenarios.Result) {
	m.line("## Scenarios")
	m.line("")
	if len(r.Scenarios) == 0 {
		m.line("No scenario ran.")
		m.line("")
		return
	}
	rows := make([][]string, 0, len(r.Scenarios))
	for _, s := range r.Scenarios {
		name := s.Scenario
		if s.Attempt > 1 {
			name += fmt.Sprintf(" #%d", s.Attempt)
		}
		rows = append(rows, []string{mdEscape(name), code(serviceLabel(s.Service)), mdEscape(s.Config), verdictBadge(s.Verdict), FormatLoad(s.Load),
			FormatMeasure(s.Recovery.Detect), FormatMeasure(s.Recovery.Restart), FormatMeasure(s.Recovery.Healthy), mdEscape(s.Reason)})
	}
	m.table([]string{"Scenario", "Service", "Config", "Verdict", "Machine", "Detect", "Restart", "Healthy", "Reason"}, rows)
	m.line("Machine: the timer lateness the agent's canary measured during the attempt (p99 of its 250 ms windows' worst ticks); a late event fails only when the machine was on time around it. Detect: fault → the supervisor acts; restart: fault → new pid; healthy: fault → first passing probe (each ± its measurement error).")
	m.line("")
}

func (m *mdWriter) diff(r scenarios.Result) {
	m.line("## Behaviour before and after")
	m.line("")
	if len(r.Diff) == 0 {
		m.line("No baseline was run (`--baseline` compares the legacy config with the migrated one).")
		m.line("")
		return
	}
	rows := make([][]string, 0, len(r.Diff))
	for _, d := range r.Diff {
		rows = append(rows, []string{mdEscape(d.Scenario), code(serviceLabel(d.Service)), mdEscape(d.Legacy), mdEscape(d.Migrated)})
	}
	m.table([]string{"Scenario", "Service", "Legacy (before)", "Migrated (after)"}, rows)
}

func (m *mdWriter) ledger(r scenarios.Result) {
	m.line("## Migration fidelity ledger")
	m.line("")
	if len(r.Ledger) == 0 {
		m.line("No migration in this run.")
		m.line("")
		return
	}
	m.line("%s.", mdEscape(ledgerCounts(r.Ledger)))
	m.line("")
	rows := make([][]string, 0, len(r.Ledger))
	for _, e := range r.Ledger {
		rows = append(rows, []string{code(e.Service), code(e.Field), mdEscape(e.Fidelity), mdEscape(e.Detail)})
	}
	m.table([]string{"Service", "Field", "Fidelity", "Detail"}, rows)
}

func (m *mdWriter) nonPassing(r scenarios.Result) {
	m.line("## Invariant checks of non-passing scenarios")
	m.line("")
	shown := false
	for _, s := range r.Scenarios {
		if s.Verdict == scenarios.VerdictPass || s.Verdict == scenarios.VerdictInfo {
			continue
		}
		shown = true
		m.line("### %s — %s", mdEscape(caseName(s)), verdictBadge(s.Verdict))
		m.line("")
		if s.Description != "" {
			m.line("%s", mdEscape(s.Description))
			m.line("")
		}
		m.line("**Reason:** %s", mdEscape(orDash(s.Reason)))
		m.line("")
		if s.Policy != nil {
			m.line("**Policy:** %s; check %s; probe %s.", mdEscape(policyLine(*s.Policy)), mdEscape(checkLine(*s.Policy)), code(s.Policy.Probe))
			m.line("")
		}
		if len(s.Checks) > 0 {
			rows := make([][]string, 0, len(s.Checks))
			for _, c := range s.Checks {
				rows = append(rows, []string{mdEscape(c.ID), mdEscape(c.Property), verdictBadge(c.Verdict), mdEscape(c.Expected), mdEscape(c.Observed), mdEscape(c.Reason)})
			}
			m.table([]string{"Check", "Property", "Verdict", "Expected", "Observed", "Reason"}, rows)
		}
		if s.Forensics != "" {
			m.line("Forensics: %s", code(s.Forensics))
			m.line("")
		}
	}
	if !shown {
		m.line("Every scenario passed.")
		m.line("")
	}
}

func (m *mdWriter) params(r scenarios.Result) {
	p := r.Params
	m.line("## Oracle parameters")
	m.line("")
	m.line("F = %d failed check(s) before a kill · S = %s stop timeout · ε = max(%s, %s × expected) · restart counter resets after a healthy run: %t.",
		p.FailedChecks, formatMs(p.StopTimeoutMs), formatMs(p.SlackMinMs), formatScale(p.SlackFraction), p.CounterResets)
}
