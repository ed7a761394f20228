package reports

import (
	"bufio"
	"embed"
	"fmt"
	"html/template"
	"io"
	"iter"
	"strconv"

	"github.com/zchaos/zchaos/scenarios"
)

//go:embed templates/report.html.tmpl
var templateFS embed.FS

// pageTemplate is the HTML page; html/template escapes every value it
// writes. Only a timeline's shapes arrive as template.HTML (see
// html_svg.go).
var pageTemplate = template.Must(template.New("report.html.tmpl").ParseFS(templateFS, "templates/report.html.tmpl"))

// HTML writes one self-contained page: inline CSS, no script, no network.
// It holds the run's decision and header, a summary table, the behaviour
// diff, an image's conformance and probe audit, a legend, and per scenario
// result an inline SVG timeline (the target's process incarnations, check
// runs, probes, faults, and the detection, kill, respawn and healthy marks
// on a time axis, dense stretches folded), followed by the services, the
// fidelity ledger and the oracle's parameters.
func HTML(w io.Writer, r scenarios.Result) error {
	b := bufio.NewWriterSize(w, 64<<10)
	if err := pageTemplate.Execute(b, htmlPageOf(r)); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	return b.Flush()
}

type htmlPage struct {
	Title, Verdict string
	Decision       *htmlDecision
	Baseline       string
	Meta           []htmlMeta
	Rows           []htmlRow
	Diff           []scenarios.BehaviourDiff
	Image          []htmlTable
	Cards          iter.Seq[htmlCard] // built one by one as the page is written
	Services       []htmlService
	LedgerCounts   string
	Ledger         []scenarios.LedgerEntry
	Params         string
}

type htmlDecision struct{ Class, Word, Reason string }

// htmlMeta is one line of the header: Code is shown as code, then Value.
type htmlMeta struct{ Key, Code, Value string }

type htmlRow struct {
	Anchor, Label, Service, Config, Verdict, Detect, Restart, Healthy, Reason string
}

type htmlTable struct {
	Title, Note string
	Header      []string
	Rows        [][]string
}

type htmlFigure struct{ Name, Value string }

type htmlCard struct {
	Anchor, Label, Config, Service, Verdict, Description, Reason string
	Figures                                                      []htmlFigure
	Timeline                                                     htmlTimeline
	Checks                                                       []scenarios.InvariantCheck
	ChecksOpen                                                   bool
	Forensics                                                    string
}

type htmlService struct{ Service, Config, Policy, Check, Probe, Source string }

func htmlPageOf(r scenarios.Result) htmlPage {
	p := htmlPage{Title: r.Verdict.String(), Verdict: r.Verdict.String()}
	if r.Decision != "" {
		word := DecisionWord(r.Decision, r.Verdict)
		class := string(r.Decision)
		if r.Verdict == scenarios.VerdictError && r.Decision == scenarios.DecisionInconclusive {
			class = "error"
		}
		p.Decision = &htmlDecision{Class: class, Word: word, Reason: r.DecisionReason}
		p.Title = word
	}
	p.Baseline = scenarios.Gate(r, r.Require).Baseline.Sentence()

	scale := formatScale(r.TimeScale)
	if r.TimeScale == 1 {
		scale += " (production timings)"
	} else {
		scale += " (job model and expectations scaled together; figures are as run)"
	}
	if c := r.Calibration; c != nil {
		scale += "; chosen by --time-scale auto: " + c.Reason
	}
	p.Meta = []htmlMeta{
		{Key: "Scenarios", Value: CountVerdicts(r).String()},
		{Key: "Image", Code: orDash(r.Image)},
		{Key: "Time scale", Value: scale},
		{Key: "Seed", Value: strconv.FormatInt(r.Seed, 10)},
		{Key: "Run", Code: orDash(r.RunID), Value: ", started " + formatTime(r.StartedAt) + ", took " + formatMs(r.DurationMs)},
		{Key: "Tool", Value: orDash(r.Tool)},
	}
	if r.FirstPassRate != nil {
		p.Meta = append(p.Meta, htmlMeta{Key: "First-pass rate", Value: fmt.Sprintf("%.1f %%", *r.FirstPassRate*100)})
	}

	for i, s := range r.Scenarios {
		p.Rows = append(p.Rows, htmlRow{Anchor: "r" + strconv.Itoa(i), Label: scenarioLabel(s), Service: serviceLabel(s.Service), Config: s.Config,
			Verdict: s.Verdict.String(), Detect: FormatMeasure(s.Recovery.Detect), Restart: FormatMeasure(s.Recovery.Restart),
			Healthy: FormatMeasure(s.Recovery.Healthy), Reason: s.Reason})
	}
	p.Cards = func(yield func(htmlCard) bool) {
		w := &svgWriter{} // one buffer for every picture
		for i, s := range r.Scenarios {
			if !yield(cardOf(w, i, s)) {
				return
			}
		}
	}
	for _, d := range r.Diff {
		d.Service = serviceLabel(d.Service)
		p.Diff = append(p.Diff, d)
	}
	if len(r.Conformance) > 0 {
		p.Image = append(p.Image, htmlTable{Title: "Conformance to the policy (the image as built)", Header: conformanceHeader, Rows: conformanceRows(r)})
	}
	if len(r.ProbeAudit) > 0 {
		p.Image = append(p.Image, htmlTable{Title: "Probe audit",
			Note:   "Each check job's own exec, run as zinit runs it and bounded by its timeout, with its service healthy (it must pass), hung by SIGSTOP and without its socket (it must fail). A check that passes on a hung service is blind.",
			Header: auditHeader, Rows: auditRows(r)})
	}
	for _, s := range r.Services {
		p.Services = append(p.Services, htmlService{Service: s.Service, Config: s.Config, Policy: policyLine(s), Check: checkLine(s),
			Probe: orDash(s.Probe), Source: orDash(s.ProbeSource)})
	}
	if len(r.Ledger) > 0 {
		p.Ledger, p.LedgerCounts = r.Ledger, ledgerCounts(r.Ledger)
	}
	pp := r.Params
	p.Params = fmt.Sprintf("F = %d failed check(s) before a kill · S = %s stop timeout · ε = max(%s, %s × expected) · restart counter resets after a healthy run: %t",
		pp.FailedChecks, formatMs(pp.StopTimeoutMs), formatMs(pp.SlackMinMs), formatScale(pp.SlackFraction), pp.CounterResets)
	return p
}

// cardOf is one scenario result's card: its figures, timeline and checks.
func cardOf(w *svgWriter, i int, s scenarios.ScenarioResult) htmlCard {
	c := htmlCard{Anchor: "r" + strconv.Itoa(i), Label: scenarioLabel(s), Config: s.Config, Service: serviceLabel(s.Service),
		Verdict: s.Verdict.String(), Description: s.Description, Reason: s.Reason,
		Figures: []htmlFigure{{"detect", FormatMeasure(s.Recovery.Detect)}, {"restart", FormatMeasure(s.Recovery.Restart)},
			{"healthy", FormatMeasure(s.Recovery.Healthy)}},
		Timeline: timeline(w, s), Checks: s.Checks, Forensics: s.Forensics,
		ChecksOpen: s.Verdict != scenarios.VerdictPass && s.Verdict != scenarios.VerdictInfo}
	if s.Policy != nil {
		c.Figures = append(c.Figures, htmlFigure{"policy", policyLine(*s.Policy) + "; check " + checkLine(*s.Policy)})
	}
	if s.RawEvents != "" {
		c.Figures = append(c.Figures, htmlFigure{"full event stream", s.RawEvents})
	}
	return c
}

func scenarioLabel(s scenarios.ScenarioResult) string {
	if s.Attempt > 1 {
		return fmt.Sprintf("%s #%d", s.Scenario, s.Attempt)
	}
	return s.Scenario
}
