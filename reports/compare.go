package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/zchaos/zchaos/scenarios"
)

// Comparing two runs (zchaos diff): what got worse since OLD, typically
// the gate of the last promoted image.
//
// The unit compared is a case: one scenario on one config and one service
// (its attempts taken together as the gate takes them: it passes when
// enough attempts passed, else it has its worst verdict). Regressions, the
// only changes that make diff exit 1:
//
//   - a judged case (not the legacy baseline, not informational) that did
//     not fail in OLD fails in NEW;
//   - a recovery figure (detect, restart, healthy) of a judged case that
//     grew by more than both stated errors together plus the timer
//     lateness (p99) of the NEW attempt: the two intervals no longer
//     overlap even when the new machine's lateness, which can only delay,
//     is taken off. With repeats each side takes the median attempt's
//     figure. When the two runs ran at different time scales every figure
//     is compared in production terms (divided by its run's scale).
//
// A case that got faster beyond the same bars is an improvement; verdict
// flips that are not to fail (to inconclusive, to error, of the baseline)
// and scenarios, cases or services that appeared or vanished are listed
// but are not regressions.

// ChangeKind names what changed between two runs.
type ChangeKind string

const (
	ChangeVerdict         ChangeKind = "verdict"          // a case's verdict flipped
	ChangeSlower          ChangeKind = "slower"           // a recovery figure grew beyond the error bars
	ChangeFaster          ChangeKind = "faster"           // a recovery figure shrank beyond the error bars
	ChangeScenarioAdded   ChangeKind = "scenario-added"   // a scenario only NEW ran
	ChangeScenarioRemoved ChangeKind = "scenario-removed" // a scenario only OLD ran
	ChangeCaseAdded       ChangeKind = "case-added"       // a scenario both ran, on a config or service only NEW has
	ChangeCaseRemoved     ChangeKind = "case-removed"     // ... only OLD has
	ChangeServiceAdded    ChangeKind = "service-added"    // a service only NEW's fleet has
	ChangeServiceRemoved  ChangeKind = "service-removed"  // a service only OLD's fleet has
)

// Comparison is what changed from one result (Old) to another (New).
type Comparison struct {
	Old          RunRef   `json:"old"`
	New          RunRef   `json:"new"`
	Regressions  int      `json:"regressions"`
	Improvements int      `json:"improvements"`
	Changes      []Change `json:"changes"`
	// Notes say how the runs were compared when it matters (different
	// time scales).
	Notes []string `json:"notes,omitempty"`
}

// RunRef names one side of a comparison.
type RunRef struct {
	File      string  `json:"file,omitempty"`
	RunID     string  `json:"run_id"`
	Image     string  `json:"image"`
	TimeScale float64 `json:"time_scale"`
	Decision  string  `json:"decision"`
	Cases     int     `json:"cases"`
}

// Change is one difference between the runs.
type Change struct {
	Kind       ChangeKind `json:"kind"`
	Regression bool       `json:"regression"`
	Scenario   string     `json:"scenario,omitempty"`
	Config     string     `json:"config,omitempty"`
	Service    string     `json:"service,omitempty"`
	Baseline   bool       `json:"baseline,omitempty"` // a legacy baseline case: it never decides
	// Figure is the recovery figure of a slower or faster change: detect,
	// restart or healthy.
	Figure string `json:"figure,omitempty"`
	// Old and New are the verdicts, or the figures with their error.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// DeltaMs is how much a figure grew (negative: shrank) and AllowanceMs
	// the bars it had to clear, both in the compared terms (production
	// ms when the scales differ).
	DeltaMs     float64 `json:"delta_ms,omitempty"`
	AllowanceMs float64 `json:"allowance_ms,omitempty"`
	// Why says it in a sentence.
	Why string `json:"why"`
}

type caseKey struct{ scenario, config, service string }

// runCase is one case of one run: its attempts summed up.
type runCase struct {
	verdict  scenarios.Verdict
	reason   string
	baseline bool
	info     bool
	attempts []scenarios.ScenarioResult
}

func cases(r scenarios.Result) (map[caseKey]*runCase, []caseKey) {
	m := map[caseKey]*runCase{}
	var order []caseKey
	for _, s := range r.Scenarios {
		k := caseKey{s.Scenario, s.Config, s.Service}
		c := m[k]
		if c == nil {
			c = &runCase{baseline: s.Baseline}
			m[k] = c
			order = append(order, k)
		}
		c.attempts = append(c.attempts, s)
		c.info = c.info || s.Verdict == scenarios.VerdictInfo
	}
	for _, k := range order {
		c := m[k]
		passes := 0
		worst, reason := scenarios.VerdictPass, ""
		for _, a := range c.attempts {
			if a.Verdict == scenarios.VerdictPass {
				passes++
				continue
			}
			if w := scenarios.Worse(worst, a.Verdict); w != worst || reason == "" {
				reason = a.Reason
				worst = w
			}
		}
		need := r.Require
		if need <= 0 || need > len(c.attempts) {
			need = len(c.attempts)
		}
		switch {
		case c.info:
			c.verdict, c.reason = scenarios.VerdictInfo, c.attempts[0].Reason
		case passes >= need:
			c.verdict = scenarios.VerdictPass
		default:
			c.verdict, c.reason = worst, reason
		}
	}
	return m, order
}

// figure is one recovery figure of a case: the median attempt's, with the
// timer lateness (p99) of that attempt.
type figure struct {
	ms, errMs, lateMs float64
}

func (c *runCase) figure(name string) (figure, bool) {
	var fs []figure
	for _, a := range c.attempts {
		m := recoveryFigure(a.Recovery, name)
		if m == nil {
			continue
		}
		f := figure{ms: m.Ms, errMs: m.ErrorMs}
		if a.Load != nil {
			f.lateMs = a.Load.P99Ms
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		return figure{}, false
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].ms < fs[j].ms })
	return fs[(len(fs)-1)/2], true
}

var recoveryFigures = []string{"detect", "restart", "healthy"}

func recoveryFigure(r scenarios.Recovery, name string) *scenarios.Measure {
	switch name {
	case "detect":
		return r.Detect
	case "restart":
		return r.Restart
	}
	return r.Healthy
}

func runRef(r scenarios.Result, n int) RunRef {
	return RunRef{RunID: r.RunID, Image: r.Image, TimeScale: r.TimeScale, Decision: DecisionWord(r.Decision, r.Verdict), Cases: n}
}

// Compare lists what changed from old to new (see the rules above). It is
// a pure function of the two results; the caller checks that they share
// a schema version.
func Compare(old, new scenarios.Result) Comparison {
	oc, oOrder := cases(old)
	nc, nOrder := cases(new)
	cmp := Comparison{Old: runRef(old, len(oOrder)), New: runRef(new, len(nOrder))}

	oldScale, newScale := 1.0, 1.0
	if old.TimeScale != new.TimeScale && old.TimeScale > 0 && new.TimeScale > 0 {
		oldScale, newScale = old.TimeScale, new.TimeScale
		cmp.Notes = append(cmp.Notes, fmt.Sprintf("the runs ran at different time scales (%s and %s): recovery times are compared in production terms, each divided by its run's scale",
			formatScale(old.TimeScale), formatScale(new.TimeScale)))
	}

	scenarioSet := func(order []caseKey) map[string]bool {
		m := map[string]bool{}
		for _, k := range order {
			m[k.scenario] = true
		}
		return m
	}
	oScen, nScen := scenarioSet(oOrder), scenarioSet(nOrder)
	var out []Change
	add := func(c Change) {
		if c.Regression {
			cmp.Regressions++
		}
		if c.Kind == ChangeFaster || (c.Kind == ChangeVerdict && !c.Baseline && c.Old == "fail" && c.New == "pass") {
			cmp.Improvements++
		}
		out = append(out, c)
	}
	reported := map[string]bool{}
	for _, k := range nOrder {
		n := nc[k]
		o, ok := oc[k]
		switch {
		case !oScen[k.scenario]:
			if !reported[k.scenario] {
				reported[k.scenario] = true
				add(Change{Kind: ChangeScenarioAdded, Scenario: k.scenario, New: n.verdict.String(),
					Why: "only the new run has this scenario"})
			}
			continue
		case !ok:
			add(Change{Kind: ChangeCaseAdded, Scenario: k.scenario, Config: k.config, Service: k.service, Baseline: n.baseline,
				New: n.verdict.String(), Why: "the new run also ran this scenario on this config and service"})
			continue
		}
		if o.verdict != n.verdict {
			c := Change{Kind: ChangeVerdict, Scenario: k.scenario, Config: k.config, Service: k.service,
				Baseline: n.baseline || o.baseline, Old: o.verdict.String(), New: n.verdict.String()}
			judged := !c.Baseline && !n.info && !o.info
			c.Regression = judged && n.verdict == scenarios.VerdictFail
			c.Why = verdictWhy(c, o, n)
			add(c)
		}
		if n.baseline || o.baseline || n.info || o.info {
			continue
		}
		for _, name := range recoveryFigures {
			of, ok1 := o.figure(name)
			nf, ok2 := n.figure(name)
			if !ok1 || !ok2 {
				continue
			}
			if c, changed := compareFigure(name, of, nf, oldScale, newScale); changed {
				c.Scenario, c.Config, c.Service = k.scenario, k.config, k.service
				add(c)
			}
		}
	}
	for _, k := range oOrder {
		o := oc[k]
		if _, ok := nc[k]; ok {
			continue
		}
		if !nScen[k.scenario] {
			if !reported[k.scenario] {
				reported[k.scenario] = true
				add(Change{Kind: ChangeScenarioRemoved, Scenario: k.scenario, Old: o.verdict.String(),
					Why: "only the old run has this scenario: the new run does not cover it"})
			}
			continue
		}
		add(Change{Kind: ChangeCaseRemoved, Scenario: k.scenario, Config: k.config, Service: k.service, Baseline: o.baseline,
			Old: o.verdict.String(), Why: "the new run no longer ran this scenario on this config and service"})
	}
	oSvc, nSvc := services(old), services(new)
	for _, s := range sortedKeys(nSvc) {
		if !oSvc[s] {
			add(Change{Kind: ChangeServiceAdded, Service: s, Why: "only the new run's fleet has this service"})
		}
	}
	for _, s := range sortedKeys(oSvc) {
		if !nSvc[s] {
			add(Change{Kind: ChangeServiceRemoved, Service: s, Why: "only the old run's fleet has this service"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Regression != b.Regression {
			return a.Regression
		}
		if ka, kb := kindRank(a.Kind), kindRank(b.Kind); ka != kb {
			return ka < kb
		}
		return false
	})
	cmp.Changes = out
	if cmp.Changes == nil {
		cmp.Changes = []Change{}
	}
	return cmp
}

func kindRank(k ChangeKind) int {
	for i, x := range []ChangeKind{ChangeVerdict, ChangeSlower, ChangeFaster, ChangeScenarioRemoved, ChangeScenarioAdded,
		ChangeCaseRemoved, ChangeCaseAdded, ChangeServiceRemoved, ChangeServiceAdded} {
		if x == k {
			return i
		}
	}
	return 99
}

func verdictWhy(c Change, o, n *runCase) string {
	switch {
	case c.Regression:
		return "now fails: " + n.reason
	case c.Baseline:
		return "a legacy baseline case (expected to fail, never decides); now: " + orDash(n.reason)
	case n.verdict == scenarios.VerdictPass:
		return "now passes; it was " + o.verdict.String() + ": " + o.reason
	case n.verdict == scenarios.VerdictFail:
		return "informational case now fails: " + n.reason
	}
	return "not judged now (" + n.verdict.String() + ", not a regression): " + n.reason
}

// compareFigure applies the error-bar rule to one figure.
func compareFigure(name string, of, nf figure, oldScale, newScale float64) (Change, bool) {
	o := figure{of.ms / oldScale, of.errMs / oldScale, of.lateMs / oldScale}
	n := figure{nf.ms / newScale, nf.errMs / newScale, nf.lateMs / newScale}
	delta := n.ms - o.ms
	c := Change{Figure: name, Old: FormatMeasure(&scenarios.Measure{Ms: of.ms, ErrorMs: of.errMs}),
		New: FormatMeasure(&scenarios.Measure{Ms: nf.ms, ErrorMs: nf.errMs}), DeltaMs: round1(delta)}
	terms := ""
	if oldScale != 1 || newScale != 1 {
		terms = " in production terms"
	}
	switch {
	case delta > o.errMs+n.errMs+n.lateMs:
		c.Kind, c.Regression = ChangeSlower, true
		c.AllowanceMs = round1(o.errMs + n.errMs + n.lateMs)
		c.Why = fmt.Sprintf("%s %s slower%s, beyond the error bars (± %s and ± %s) and the new run's timer lateness (p99 %s)",
			name, formatMsFloat(delta), terms, formatMsFloat(o.errMs), formatMsFloat(n.errMs), formatMsFloat(n.lateMs))
	case -delta > o.errMs+n.errMs+o.lateMs:
		c.Kind = ChangeFaster
		c.AllowanceMs = round1(o.errMs + n.errMs + o.lateMs)
		c.Why = fmt.Sprintf("%s %s faster%s, beyond the error bars (± %s and ± %s) and the old run's timer lateness (p99 %s)",
			name, formatMsFloat(-delta), terms, formatMsFloat(o.errMs), formatMsFloat(n.errMs), formatMsFloat(o.lateMs))
	default:
		return Change{}, false
	}
	return c, true
}

func round1(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return v
}

// services are the names of the services a run's fleet had: its policies
// and the services its cases targeted.
func services(r scenarios.Result) map[string]bool {
	m := map[string]bool{}
	for _, p := range r.Services {
		m[p.Service] = true
	}
	for _, s := range r.Scenarios {
		if s.Service != "" {
			m[s.Service] = true
		}
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ComparisonJSON writes c as indented JSON.
func ComparisonJSON(w io.Writer, c Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

// ComparisonTable writes one row per change: by default its kind, case,
// and old and new values, with the reasons numbered below the table;
// with Wide (or a plain layout) the reason is the last column. Then the
// summary line.
func ComparisonTable(w io.Writer, c Comparison, opts TableOptions) error {
	inline := opts.Wide || opts.Plain
	header := []string{"Change", "Scenario", "Config", "Service", "Old", "New"}
	if inline {
		header = append(header, "Why")
	}
	rows := make([][]string, 0, len(c.Changes))
	var notes noteList
	for _, ch := range c.Changes {
		kind := strings.ReplaceAll(string(ch.Kind), "-", " ")
		if ch.Figure != "" {
			kind = ch.Figure + " " + kind
		}
		if ch.Regression {
			kind += " (regression)"
		}
		svc := ch.Service
		if svc == "" && ch.Config != "" {
			svc = serviceLabel(svc) // a case of a fleet-wide scenario
		}
		row := []string{kind, orDash(ch.Scenario), orDash(ch.Config), orDash(svc), orDash(ch.Old), orDash(ch.New)}
		if inline {
			row = append(row, ch.Why)
		} else {
			row[0] += " [" + strconv.Itoa(notes.ref(ch.Why)) + "]"
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		if err := opts.Grid(w, header, rows); err != nil {
			return err
		}
		if err := opts.Notes(w, notes.texts); err != nil {
			return err
		}
	}
	for _, n := range c.Notes {
		if err := opts.Text(w, "note: "+n); err != nil {
			return err
		}
	}
	return opts.Text(w, c.Summary())
}

// Summary is the comparison in one line.
func (c Comparison) Summary() string {
	side := func(r RunRef) string {
		return fmt.Sprintf("%s (image %s, time scale %s, %s, %d cases)", orDash(r.RunID), orDash(r.Image), formatScale(r.TimeScale), r.Decision, r.Cases)
	}
	head := "no change"
	if len(c.Changes) > 0 {
		head = fmt.Sprintf("%s, %s, %s", plural(c.Regressions, "regression"), plural(c.Improvements, "improvement"),
			plural(len(c.Changes)-c.Regressions-c.Improvements, "other change"))
	}
	return fmt.Sprintf("diff: %s · old %s → new %s", head, side(c.Old), side(c.New))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// SchemaVersion reads a result's schema_version, which the result JSON
// writes first, without reading the rest (0 when the object has none).
func SchemaVersion(data []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", scenarios.ErrNotResult, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return 0, fmt.Errorf("%w: not a JSON object", scenarios.ErrNotResult)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", scenarios.ErrNotResult, err)
		}
		if tok != "schema_version" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0, fmt.Errorf("%w: %w", scenarios.ErrNotResult, err)
			}
			continue
		}
		var v int
		if err := dec.Decode(&v); err != nil {
			return 0, fmt.Errorf("%w: schema_version: %w", scenarios.ErrNotResult, err)
		}
		return v, nil
	}
	return 0, nil
}

// comparable is what Compare reads of a result.
type comparable struct {
	RunID     string             `json:"run_id"`
	Image     string             `json:"image"`
	TimeScale float64            `json:"time_scale"`
	Verdict   scenarios.Verdict  `json:"verdict"`
	Decision  scenarios.Decision `json:"decision"`
	Require   int                `json:"require"`
	Services  []struct {
		Service string `json:"service"`
		Config  string `json:"config"`
	} `json:"services"`
	Scenarios []struct {
		Scenario string             `json:"scenario"`
		Config   string             `json:"config"`
		Service  string             `json:"service"`
		Baseline bool               `json:"baseline"`
		Attempt  int                `json:"attempt"`
		Verdict  scenarios.Verdict  `json:"verdict"`
		Reason   string             `json:"reason"`
		Recovery scenarios.Recovery `json:"recovery"`
		Load     *scenarios.Load    `json:"load"`
	} `json:"scenarios"`
}

// DecodeComparable decodes from a result JSON of a schema version this
// zchaos reads (scenarios.OldestResultSchemaVersion to
// scenarios.ResultSchemaVersion: what Compare reads is the same in each)
// what Compare reads, and nothing else (no timelines, no checks): a
// 10,000-result file reads several times faster than with
// scenarios.DecodeResult. Another version is a *scenarios.SchemaVersionError.
func DecodeComparable(data []byte) (scenarios.Result, error) {
	v, err := SchemaVersion(data)
	if err != nil {
		return scenarios.Result{}, err
	}
	if v < scenarios.OldestResultSchemaVersion || v > scenarios.ResultSchemaVersion {
		return scenarios.Result{}, &scenarios.SchemaVersionError{Got: v, Want: scenarios.ResultSchemaVersion}
	}
	var c comparable
	if err := gojson.Unmarshal(data, &c); err != nil {
		return scenarios.Result{}, fmt.Errorf("decode result: %w", err)
	}
	r := scenarios.Result{SchemaVersion: v, RunID: c.RunID, Image: c.Image, TimeScale: c.TimeScale, Verdict: c.Verdict,
		Decision: c.Decision, Require: c.Require, Scenarios: make([]scenarios.ScenarioResult, len(c.Scenarios))}
	for _, s := range c.Services {
		r.Services = append(r.Services, scenarios.ServicePolicy{Service: s.Service, Config: s.Config})
	}
	for i, s := range c.Scenarios {
		r.Scenarios[i] = scenarios.ScenarioResult{Scenario: s.Scenario, Config: s.Config, Service: s.Service, Baseline: s.Baseline,
			Attempt: s.Attempt, Verdict: s.Verdict, Reason: s.Reason, Recovery: s.Recovery, Load: s.Load}
	}
	return r, nil
}
