package reports

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	observed "github.com/zchaos/zchaos/scenarios/timeline"
)

// HTML writes one self-contained page: inline CSS, no script, no network.
// It holds the run's header, a summary table, the behaviour diff, and per
// scenario result an inline SVG timeline (the target's process
// incarnations, check runs, probes, faults, and the detection, kill,
// respawn and healthy marks on a time axis), followed by the services, the
// fidelity ledger and the oracle's parameters.
func HTML(w io.Writer, r scenarios.Result) error {
	b := bufio.NewWriterSize(w, 64<<10)
	h := &htmlWriter{w: b}
	h.page(r)
	return b.Flush()
}

type htmlWriter struct {
	w   *bufio.Writer
	num []byte // scratch for numbers
}

// n1 writes x with one decimal (like %.1f, rounding half away from zero),
// without fmt: coordinates are most of a timeline's bytes.
func (h *htmlWriter) n1(x float64) {
	v := int64(math.Round(x * 10))
	b := h.num[:0]
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/10, 10)
	b = append(b, '.', byte('0'+v%10))
	h.num = b
	h.w.Write(b)
}

// fl writes x exactly as fmt's %.<prec>f does (for the finite
// coordinates of a page).
func (h *htmlWriter) fl(x float64, prec int) {
	h.num = strconv.AppendFloat(h.num[:0], x, 'f', prec, 64)
	h.w.Write(h.num)
}

// i writes n as fmt's %d does.
func (h *htmlWriter) i(n int64) {
	h.num = strconv.AppendInt(h.num[:0], n, 10)
	h.w.Write(h.num)
}

// e writes s escaped as html.EscapeString escapes it, without building
// the escaped string.
func (h *htmlWriter) e(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '\'':
			rep = "&#39;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&#34;"
		default:
			continue
		}
		h.w.WriteString(s[start:i])
		h.w.WriteString(rep)
		start = i + 1
	}
	h.w.WriteString(s[start:])
}

func (h *htmlWriter) s(s string)                { h.w.WriteString(s) }
func (h *htmlWriter) f(format string, a ...any) { fmt.Fprintf(h.w, format, a...) }
func (h *htmlWriter) text(s string)             { h.w.WriteString(html.EscapeString(s)) }
func (h *htmlWriter) tag(name, cls, body string) {
	h.s("<" + name + " class=\"" + cls + "\">")
	h.e(body)
	h.s("</" + name + ">")
}

func esc(s string) string { return html.EscapeString(s) }

const pageCSS = `:root{--pass:#1a7f37;--fail:#cf222e;--inc:#9a6700;--err:#8250df;--info:#0969da;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:20px}
h1{font-size:24px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:0 0 4px}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 16px;margin:0 0 14px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff1f3;padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
td code{white-space:nowrap}
.v{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.v-pass{background:var(--pass)}.v-fail{background:var(--fail)}.v-inconclusive{background:var(--inc)}.v-error{background:var(--err)}.v-info{background:var(--info)}
.reason{margin:4px 0;color:#1f2328}.sub{color:var(--muted);font-size:12px}
.figs{display:flex;gap:18px;flex-wrap:wrap;margin:6px 0;font-size:13px}.figs b{color:var(--muted);font-weight:500}
svg.tl{width:100%;height:auto;display:block;margin:8px 0 4px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
details{margin-top:6px}summary{cursor:pointer;color:var(--muted)}
a{color:#0969da;text-decoration:none}
`

func (h *htmlWriter) page(r scenarios.Result) {
	counts := CountVerdicts(r)
	h.s("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	h.s("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	h.f("<title>zchaos report: %s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", esc(r.Verdict.String()), pageCSS)

	h.s("<div class=\"card\">\n<h1>zchaos rollout report ")
	h.badge(r.Verdict)
	h.s("</h1>\n<dl class=\"meta\">")
	h.meta("Scenarios", counts.String())
	h.metaHTML("Image", "<code>"+esc(orDash(r.Image))+"</code>")
	scale := formatScale(r.TimeScale)
	if r.TimeScale == 1 {
		scale += " (production timings)"
	} else {
		scale += " (job model and expectations scaled together; figures are as run)"
	}
	h.meta("Time scale", scale)
	h.meta("Seed", fmt.Sprint(r.Seed))
	h.metaHTML("Run", "<code>"+esc(orDash(r.RunID))+"</code>, started "+esc(formatTime(r.StartedAt))+", took "+esc(formatMs(r.DurationMs)))
	h.meta("Tool", orDash(r.Tool))
	if r.FirstPassRate != nil {
		h.meta("First-pass rate", fmt.Sprintf("%.1f %%", *r.FirstPassRate*100))
	}
	h.s("</dl>\n</div>\n")

	h.s("<h2>Scenarios</h2>\n<table>\n<tr><th>Scenario</th><th>Service</th><th>Config</th><th>Verdict</th><th>Detect</th><th>Restart</th><th>Healthy</th><th>Reason</th></tr>\n")
	for i, s := range r.Scenarios {
		h.s("<tr><td><a href=\"#r")
		h.i(int64(i))
		h.s("\">")
		h.scenarioLabel(s)
		h.s("</a></td><td><code>")
		h.e(serviceLabel(s.Service))
		h.s("</code></td><td>")
		h.e(s.Config)
		h.s("</td><td>")
		h.badge(s.Verdict)
		h.s("</td><td>")
		h.e(FormatMeasure(s.Recovery.Detect))
		h.s("</td><td>")
		h.e(FormatMeasure(s.Recovery.Restart))
		h.s("</td><td>")
		h.e(FormatMeasure(s.Recovery.Healthy))
		h.s("</td><td>")
		h.e(s.Reason)
		h.s("</td></tr>\n")
	}
	h.s("</table>\n")

	if len(r.Diff) > 0 {
		h.s("<h2>Behaviour before and after</h2>\n<table>\n<tr><th>Scenario</th><th>Service</th><th>Legacy (before)</th><th>Migrated (after)</th></tr>\n")
		for _, d := range r.Diff {
			h.f("<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td></tr>\n", esc(d.Scenario), esc(serviceLabel(d.Service)), esc(d.Legacy), esc(d.Migrated))
		}
		h.s("</table>\n")
	}

	h.s("<h2>Timelines</h2>\n")
	h.legend()
	for i, s := range r.Scenarios {
		h.scenario(i, s)
	}

	h.s("<h2>Services</h2>\n")
	if len(r.Services) == 0 {
		h.s("<p class=\"sub\">No service policy recorded.</p>\n")
	} else {
		h.s("<table>\n<tr><th>Service</th><th>Config</th><th>Policy</th><th>Check</th><th>Probe</th><th>Probe from</th></tr>\n")
		for _, p := range r.Services {
			h.f("<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>\n",
				esc(p.Service), esc(p.Config), esc(policyLine(p)), esc(checkLine(p)), esc(orDash(p.Probe)), esc(orDash(p.ProbeSource)))
		}
		h.s("</table>\n")
	}

	if len(r.Ledger) > 0 {
		h.f("<h2>Migration fidelity ledger</h2>\n<p class=\"sub\">%s</p>\n<table>\n<tr><th>Service</th><th>Field</th><th>Fidelity</th><th>Detail</th></tr>\n", esc(ledgerCounts(r.Ledger)))
		for _, e := range r.Ledger {
			h.f("<tr><td><code>%s</code></td><td><code>%s</code></td><td>%s</td><td>%s</td></tr>\n", esc(e.Service), esc(e.Field), esc(e.Fidelity), esc(e.Detail))
		}
		h.s("</table>\n")
	}

	p := r.Params
	h.f("<h2>Oracle parameters</h2>\n<p class=\"sub\">F = %d failed check(s) before a kill · S = %s stop timeout · ε = max(%s, %s × expected) · restart counter resets after a healthy run: %t</p>\n",
		p.FailedChecks, esc(formatMs(p.StopTimeoutMs)), esc(formatMs(p.SlackMinMs)), esc(formatScale(p.SlackFraction)), p.CounterResets)
	h.s("</main>\n</body>\n</html>\n")
}

func scenarioLabel(s scenarios.ScenarioResult) string {
	if s.Attempt > 1 {
		return fmt.Sprintf("%s #%d", s.Scenario, s.Attempt)
	}
	return s.Scenario
}

// scenarioLabel writes scenarioLabel(s), escaped.
func (h *htmlWriter) scenarioLabel(s scenarios.ScenarioResult) {
	h.e(s.Scenario)
	if s.Attempt > 1 {
		h.s(" #")
		h.i(int64(s.Attempt))
	}
}

func (h *htmlWriter) badge(v scenarios.Verdict) {
	name := v.String()
	h.s("<span class=\"v v-")
	h.e(name)
	h.s("\">")
	h.e(name)
	h.s("</span>")
}

func (h *htmlWriter) meta(k, v string) { h.f("<dt>%s</dt><dd>%s</dd>", esc(k), esc(v)) }

func (h *htmlWriter) metaHTML(k, v string) { h.f("<dt>%s</dt><dd>%s</dd>", esc(k), v) }

func (h *htmlWriter) scenario(i int, s scenarios.ScenarioResult) {
	h.s("<div class=\"card\" id=\"r")
	h.i(int64(i))
	h.s("\">\n<h3>")
	h.scenarioLabel(s)
	h.s(" <span class=\"sub\">[")
	h.e(s.Config)
	h.s("] ")
	h.e(serviceLabel(s.Service))
	h.s("</span> ")
	h.badge(s.Verdict)
	h.s("</h3>\n")
	if s.Description != "" {
		h.tag("div", "sub", s.Description)
		h.s("\n")
	}
	if s.Reason != "" {
		h.tag("div", "reason", s.Reason)
		h.s("\n")
	}
	h.s("<div class=\"figs\"><span><b>detect</b> ")
	h.e(FormatMeasure(s.Recovery.Detect))
	h.s("</span><span><b>restart</b> ")
	h.e(FormatMeasure(s.Recovery.Restart))
	h.s("</span><span><b>healthy</b> ")
	h.e(FormatMeasure(s.Recovery.Healthy))
	h.s("</span>")
	if s.Policy != nil {
		h.s("<span><b>policy</b> ")
		h.e(policyLine(*s.Policy))
		h.s("; check ")
		h.e(checkLine(*s.Policy))
		h.s("</span>")
	}
	h.s("</div>\n")
	h.timeline(s)
	if len(s.Checks) > 0 {
		open := ""
		if s.Verdict != scenarios.VerdictPass && s.Verdict != scenarios.VerdictInfo {
			open = " open"
		}
		h.s("<details" + open + "><summary>invariant checks (")
		h.i(int64(len(s.Checks)))
		h.s(")</summary>\n<table>\n<tr><th>Check</th><th>Property</th><th>Verdict</th><th>Expected</th><th>Observed</th><th>Reason</th></tr>\n")
		for _, c := range s.Checks {
			h.s("<tr><td>")
			h.e(c.ID)
			h.s("</td><td>")
			h.e(c.Property)
			h.s("</td><td>")
			h.badge(c.Verdict)
			h.s("</td><td>")
			h.e(c.Expected)
			h.s("</td><td>")
			h.e(c.Observed)
			h.s("</td><td>")
			h.e(c.Reason)
			h.s("</td></tr>\n")
		}
		h.s("</table>\n</details>\n")
	}
	if s.Forensics != "" {
		h.s("<div class=\"sub\">forensics: <code>")
		h.e(s.Forensics)
		h.s("</code></div>\n")
	}
	h.s("</div>\n")
}

// legend draws one sample of every glyph the timelines use.
func (h *htmlWriter) legend() {
	h.s(`<div class="card"><svg class="tl" viewBox="0 0 1100 44" role="img" aria-label="legend">` + "\n")
	x := 10.0
	item := func(glyph func(x float64), label string) {
		glyph(x)
		h.f(`<text x="%.0f" y="26" font-size="12" fill="#1f2328">%s</text>`, x+26, esc(label))
		x += 34 + float64(len(label))*6.6
	}
	item(func(x float64) {
		h.f(`<rect x="%.0f" y="14" width="20" height="14" rx="2" fill="%s"/>`, x, colIncarnation)
	}, "process incarnation")
	item(func(x float64) { h.f(`<rect x="%.0f" y="16" width="20" height="10" fill="%s"/>`, x, colOK) }, "check ok")
	item(func(x float64) { h.f(`<rect x="%.0f" y="16" width="20" height="10" fill="%s"/>`, x, colBad) }, "check failed")
	item(func(x float64) {
		h.f(`<line x1="%.0f" y1="14" x2="%.0f" y2="28" stroke="%s" stroke-width="2"/><line x1="%.0f" y1="14" x2="%.0f" y2="28" stroke="%s" stroke-width="2"/>`,
			x+6, x+6, colOK, x+14, x+14, colBad)
	}, "probe ok / failed")
	item(func(x float64) { h.diamond(x+10, 21, colBad, true) }, "fault")
	item(func(x float64) { h.f(`<circle cx="%.0f" cy="21" r="5" fill="%s"/>`, x+10, colOK) }, "effect seen")
	item(func(x float64) {
		h.f(`<circle cx="%.0f" cy="21" r="5" fill="none" stroke="%s" stroke-width="2"/>`, x+10, colMuted)
	}, "effect not seen")
	item(func(x float64) {
		h.f(`<line x1="%.0f" y1="10" x2="%.0f" y2="34" stroke="%s" stroke-width="2" stroke-dasharray="4 3"/>`, x+10, x+10, colMark)
	}, "marks: detect, kill, respawn, healthy (± error)")
	h.s("</svg></div>\n")
}

func (h *htmlWriter) diamond(cx, cy float64, color string, filled bool) {
	fill, stroke := color, "none"
	if !filled {
		fill, stroke = "#fff", color
	}
	h.s(`<path d="M`)
	h.fl(cx, 1)
	h.s(" ")
	h.fl(cy-6, 1)
	h.s(`l6 6l-6 6l-6 -6z" fill="`)
	h.s(fill)
	h.s(`" stroke="`)
	h.s(stroke)
	h.s(`" stroke-width="2"/>`)
}

// Timeline colours.
const (
	colIncarnation = "#54aeff"
	colOK          = "#2da44e"
	colBad         = "#cf222e"
	colMuted       = "#8c959f"
	colMark        = "#6e7781"
	colAction      = "#0969da"
	colAnomaly     = "#e16f24"
	colGrid        = "#eaeef2"
)

var stateColors = map[string]string{
	"running": "#dafbe1", "restarting": "#fff1c2", "failed": "#ffd8d3", "inactive": "#eaeef2",
	"stopping": "#fbefff", "blocked": "#ddf4ff",
}

// Geometry of a timeline.
const (
	tlWidth  = 1100.0
	tlLabelW = 128.0
	tlRightW = 16.0
	tlLaneH  = 24.0
	tlAxisH  = 26.0
)

type lane struct {
	label string
	draw  func(y float64)
}

type mark struct {
	label string
	tNs   int64
	errNs int64
	color string
}

func (h *htmlWriter) timeline(s scenarios.ScenarioResult) {
	pic := newPicture(s)
	tl, end := pic.tl, pic.end
	plotW := tlWidth - tlLabelW - tlRightW
	x := func(tNs int64) float64 {
		if tNs < 0 {
			tNs = 0
		}
		return tlLabelW + float64(tNs)/float64(end)*plotW
	}

	var lanes []lane
	if s.Service != "" {
		target := tl.Service(s.Service)
		if len(target.States) > 0 {
			lanes = append(lanes, lane{"zinit state", func(y float64) { h.stateLane(target.States, end, x, y) }})
		}
		lanes = append(lanes,
			lane{"process", func(y float64) { h.incarnations(target.Incarnations, end, x, y, true) }},
			lane{"checks", func(y float64) { h.checks(pic, target.Checks, x, y) }},
			lane{"probes", func(y float64) { h.probes(target.Probes, x, y, tlLaneH) }},
		)
	} else {
		var names []string
		for _, svc := range tl.Services {
			if len(svc.Incarnations) > 0 {
				names = append(names, svc.Name)
			}
		}
		const maxLanes = 40
		more := 0
		if len(names) > maxLanes {
			more, names = len(names)-maxLanes, names[:maxLanes]
		}
		for _, name := range names {
			svc := tl.Service(name)
			lanes = append(lanes, lane{shorten(strings.TrimPrefix(name, "user."), 17), func(y float64) {
				h.incarnations(svc.Incarnations, end, x, y, false)
				h.probes(svc.Probes, x, y+tlLaneH-8, 7)
			}})
		}
		if more > 0 {
			lanes = append(lanes, lane{fmt.Sprintf("+%d more", more), func(float64) {}})
		}
	}
	lanes = append(lanes, lane{"faults", func(y float64) { h.faults(tl.Faults, x, y) }})
	if len(tl.Zombies)+len(tl.Strays) > 0 {
		lanes = append(lanes, lane{"zombie / stray", func(y float64) {
			h.anomalies(tl.Zombies, x, y)
			h.anomalies(tl.Strays, x, y)
		}})
	}

	marks := pic.marks(s)
	labels, rows := layoutMarkLabels(marks, x)
	top := 8 + float64(rows)*13
	if rows == 0 {
		top = 10
	}
	height := top + float64(len(lanes))*tlLaneH + tlAxisH
	bottom := top + float64(len(lanes))*tlLaneH
	h.s(`<svg class="tl" viewBox="0 0 `)
	h.fl(tlWidth, 0)
	h.s(" ")
	h.fl(height, 0)
	h.s(`" role="img" aria-label="timeline of `)
	h.e(caseName(s))
	h.s("\">\n")

	// Grid and axis.
	step := niceStep(end)
	topS, bottomS := strconv.FormatFloat(top, 'f', 0, 64), strconv.FormatFloat(bottom, 'f', 0, 64)
	tickS, labelS := strconv.FormatFloat(bottom+4, 'f', 0, 64), strconv.FormatFloat(bottom+16, 'f', 0, 64)
	for t := int64(0); t <= end; t += step {
		xx := x(t)
		h.s(`<line x1="`)
		h.n1(xx)
		h.s(`" y1="`)
		h.s(topS)
		h.s(`" x2="`)
		h.n1(xx)
		h.s(`" y2="`)
		h.s(bottomS)
		h.s(`" stroke="` + colGrid + `"/><line x1="`)
		h.n1(xx)
		h.s(`" y1="`)
		h.s(bottomS)
		h.s(`" x2="`)
		h.n1(xx)
		h.s(`" y2="`)
		h.s(tickS)
		h.s(`" stroke="` + colMark + `"/><text x="`)
		h.n1(xx)
		h.s(`" y="`)
		h.s(labelS)
		h.s(`" font-size="11" text-anchor="middle" fill="` + colMark + `">`)
		h.s(axisLabel(t, step))
		h.s(`</text>`)
	}
	h.s(`<line x1="`)
	h.fl(tlLabelW, 0)
	h.s(`" y1="`)
	h.s(bottomS)
	h.s(`" x2="`)
	h.fl(tlLabelW+plotW, 0)
	h.s(`" y2="`)
	h.s(bottomS)
	h.s(`" stroke="` + colMark + "\"/>\n")

	// Lanes.
	for i, l := range lanes {
		y := top + float64(i)*tlLaneH
		if i%2 == 1 {
			h.s(`<rect x="0" y="`)
			h.fl(y, 0)
			h.s(`" width="`)
			h.fl(tlLabelW, 0)
			h.s(`" height="`)
			h.fl(tlLaneH, 0)
			h.s(`" fill="#f6f8fa" opacity="0.6"/>`)
		}
		h.s(`<text x="`)
		h.fl(tlLabelW-8, 0)
		h.s(`" y="`)
		h.fl(y+tlLaneH/2+4, 1)
		h.s(`" font-size="12" text-anchor="end" fill="#1f2328">`)
		h.e(l.label)
		h.s(`</text>`)
		l.draw(y)
		h.s("\n")
	}

	// Marks across every lane; their labels are placed in the top rows.
	for _, m := range marks {
		xx := x(m.tNs)
		if m.errNs > 0 {
			x0, x1 := x(m.tNs-m.errNs), x(m.tNs+m.errNs)
			h.s(`<rect x="`)
			h.fl(x0, 1)
			h.s(`" y="`)
			h.fl(top, 0)
			h.s(`" width="`)
			h.fl(x1-x0, 1)
			h.s(`" height="`)
			h.fl(bottom-top, 0)
			h.s(`" fill="`)
			h.e(m.color)
			h.s(`" opacity="0.10"/>`)
		}
		h.s(`<line x1="`)
		h.fl(xx, 1)
		h.s(`" y1="`)
		h.fl(top-4, 0)
		h.s(`" x2="`)
		h.fl(xx, 1)
		h.s(`" y2="`)
		h.fl(bottom, 0)
		h.s(`" stroke="`)
		h.e(m.color)
		h.s(`" stroke-width="1.5" stroke-dasharray="4 3"><title>`)
		h.e(m.label)
		h.s(" at ")
		h.e(formatNs(m.tNs))
		h.s("</title></line>\n")
	}
	for _, l := range labels {
		h.s(`<text x="`)
		h.fl(l.x, 1)
		h.s(`" y="`)
		h.fl(12+float64(l.row)*13, 0)
		h.s(`" font-size="11" font-weight="600" fill="`)
		h.s(l.color)
		h.s(`"`)
		h.s(l.anchor)
		h.s(`>`)
		h.e(l.text)
		h.s("</text>\n")
	}
	h.s("</svg>\n")
}

type markLabel struct {
	text, color, anchor string
	x                   float64
	row                 int
}

// layoutMarkLabels merges the labels of marks closer than a few pixels
// ("fault / detect / kill") and puts each in the first of up to four rows
// where it does not overlap the previous label; it returns the labels and
// the number of rows used.
func layoutMarkLabels(marks []mark, x func(int64) float64) ([]markLabel, int) {
	type group struct {
		x     float64
		text  string
		color string
	}
	var groups []group
	for _, m := range marks {
		xx := x(m.tNs)
		if n := len(groups); n > 0 && xx-groups[n-1].x < 4 {
			groups[n-1].text += " / " + m.label
			continue
		}
		groups = append(groups, group{x: xx, text: m.label, color: m.color})
	}
	const maxRows = 4
	var ends [maxRows]float64
	for i := range ends {
		ends[i] = -1e9
	}
	var out []markLabel
	rows := 0
	for _, g := range groups {
		w := float64(len(g.text))*6.3 + 6
		lx, anchor := g.x+2, ""
		if lx+w > tlWidth {
			lx, anchor = g.x-2, ` text-anchor="end"`
		}
		row := maxRows - 1
		for r := 0; r < maxRows; r++ {
			if lx > ends[r] {
				row = r
				break
			}
		}
		start, end := lx, lx+w
		if anchor != "" {
			start, end = lx-w, lx
		}
		if start <= ends[row] {
			// Every row is taken: stack on the last one anyway.
			row = maxRows - 1
		}
		ends[row] = end
		out = append(out, markLabel{text: g.text, color: g.color, anchor: anchor, x: lx, row: row})
		if row+1 > rows {
			rows = row + 1
		}
	}
	return out, rows
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func (h *htmlWriter) stateLane(states []observed.StateSpan, end int64, x func(int64) float64, y float64) {
	for _, st := range states {
		x0, x1 := x(st.From), x(st.Until(end))
		c, ok := stateColors[st.State]
		if !ok {
			c = "#eaeef2"
		}
		h.s(`<rect x="`)
		h.fl(x0, 1)
		h.s(`" y="`)
		h.fl(y+4, 1)
		h.s(`" width="`)
		h.fl(max(x1-x0, 1), 1)
		h.s(`" height="`)
		h.fl(tlLaneH-8, 0)
		h.s(`" fill="`)
		h.s(c)
		h.s(`"><title>`)
		h.e(stateTitle(st))
		h.s(`</title></rect>`)
		if x1-x0 > float64(len(st.State))*6.5+6 {
			h.s(`<text x="`)
			h.fl(x0+3, 1)
			h.s(`" y="`)
			h.fl(y+tlLaneH/2+4, 1)
			h.s(`" font-size="11" fill="#1f2328">`)
			h.e(st.State)
			h.s(`</text>`)
		}
	}
}

func (h *htmlWriter) incarnations(procs []*observed.Incarnation, end int64, x func(int64) float64, y float64, labels bool) {
	for _, p := range procs {
		x0, x1 := x(p.Spawn), x(p.Until(end))
		w := max(x1-x0, 2)
		h.s(`<rect x="`)
		h.fl(x0, 1)
		h.s(`" y="`)
		h.fl(y+4, 1)
		h.s(`" width="`)
		h.fl(w, 1)
		h.s(`" height="`)
		h.fl(tlLaneH-10, 0)
		h.s(`" rx="2" fill="` + colIncarnation + `"><title>`)
		h.e(incarnationTitle(p))
		h.s(`</title></rect>`)
		if labels && w > 48 {
			h.s(`<text x="`)
			h.fl(x0+4, 1)
			h.s(`" y="`)
			h.fl(y+tlLaneH/2+2, 1)
			h.s(`" font-size="11" fill="#0b2e4f">pid `)
			h.i(int64(p.PID))
			h.s(`</text>`)
		}
		if p.Exited && !p.ExitUnseen {
			c := colMuted
			if exitFailed(p) {
				c = colBad
			}
			h.s(`<path d="M`)
			h.fl(x1-3, 1)
			h.s(" ")
			h.fl(y+tlLaneH/2-5, 1)
			h.s(`l6 6m0 -6l-6 6" stroke="`)
			h.s(c)
			h.s(`" stroke-width="2"><title>`)
			h.e(exitText(p))
			h.s(`</title></path>`)
		}
	}
}

func (h *htmlWriter) checks(pic *picture, runs []*observed.CheckRun, x func(int64) float64, y float64) {
	for _, c := range runs {
		x0, x1 := x(c.Start), x(pic.runEnd(c))
		failed := pic.checkFailed(c)
		color := colOK
		if failed {
			color = colBad
		}
		h.s(`<rect x="`)
		h.n1(x0)
		h.s(`" y="`)
		h.n1(y + 6)
		h.s(`" width="`)
		h.n1(max(x1-x0, 2.5))
		h.s(`" height="12" fill="` + color + `"><title>`)
		h.text(pic.checkTitle(c, failed))
		h.s(`</title></rect>`)
	}
}

func (h *htmlWriter) probes(ps []*scenarios.Event, x func(int64) float64, y, height float64) {
	for _, p := range ps {
		color, what := colOK, "probe ok"
		if p.OK == nil || !*p.OK {
			color, what = colBad, "probe failed"
		}
		if p.Detail != "" {
			what += ": " + p.Detail
		}
		xx := x(p.TNs)
		pad := (tlLaneH - height) / 2
		if height < tlLaneH/2 {
			pad = 0
		}
		// Written piecewise: probes are the most numerous element.
		h.s(`<line x1="`)
		h.n1(xx)
		h.s(`" y1="`)
		h.n1(y + pad + 2)
		h.s(`" x2="`)
		h.n1(xx)
		h.s(`" y2="`)
		h.n1(y + pad + height - 2)
		h.s(`" stroke="` + color + `" stroke-width="2"><title>`)
		h.text(what)
		h.s(" at ")
		h.s(formatNs(p.TNs))
		h.s("</title></line>")
	}
}

func (h *htmlWriter) faults(evs []*scenarios.Event, x func(int64) float64, y float64) {
	cy := y + tlLaneH/2
	lastLabelEnd := -1e9
	for _, e := range evs {
		xx := x(e.TNs)
		h.s("<g><title>")
		h.e(string(e.Kind))
		h.s(" ")
		h.e(e.Fault)
		h.s(" at ")
		h.e(formatNs(e.TNs))
		if e.Detail != "" {
			h.s(": ")
			h.e(e.Detail)
		}
		h.s("</title>")
		switch e.Kind {
		case scenarios.EventFault:
			h.diamond(xx, cy, colBad, true)
		case scenarios.EventRevert:
			h.diamond(xx, cy, colBad, false)
		case scenarios.EventEffect:
			if e.OK != nil && *e.OK {
				h.s(`<circle cx="`)
				h.fl(xx, 1)
				h.s(`" cy="`)
				h.fl(cy, 1)
				h.s(`" r="5" fill="` + colOK + `"/>`)
			} else {
				h.s(`<circle cx="`)
				h.fl(xx, 1)
				h.s(`" cy="`)
				h.fl(cy, 1)
				h.s(`" r="5" fill="#fff" stroke="` + colMuted + `" stroke-width="2"/>`)
			}
		case scenarios.EventAction:
			h.s(`<rect x="`)
			h.fl(xx-4.5, 1)
			h.s(`" y="`)
			h.fl(cy-4.5, 1)
			h.s(`" width="9" height="9" fill="` + colAction + `"/>`)
		}
		h.s("</g>")
		if e.Kind == scenarios.EventFault || e.Kind == scenarios.EventAction {
			label := e.Fault
			if label == "" {
				label = e.Detail
			}
			if xx+8 > lastLabelEnd && label != "" {
				label = shorten(label, 28)
				h.s(`<text x="`)
				h.fl(xx+9, 1)
				h.s(`" y="`)
				h.fl(cy+4, 1)
				h.s(`" font-size="11" fill="` + colBad + `">`)
				h.e(label)
				h.s(`</text>`)
				lastLabelEnd = xx + 9 + float64(len(label))*6.2
			}
		}
	}
}

func (h *htmlWriter) anomalies(evs []*scenarios.Event, x func(int64) float64, y float64) {
	for _, e := range evs {
		xx := x(e.TNs)
		h.s(`<path d="M`)
		h.fl(xx, 1)
		h.s(" ")
		h.fl(y+6, 1)
		h.s(`l6 11h-12z" fill="` + colAnomaly + `"><title>`)
		h.e(string(e.Kind))
		h.s(" pid ")
		h.i(int64(e.PID))
		h.s(" at ")
		h.e(formatNs(e.TNs))
		h.s(": ")
		h.e(e.Detail)
		h.s(`</title></path>`)
	}
}

// niceStep picks a 1-2-5 tick step giving at most about 12 ticks.
func niceStep(endNs int64) int64 {
	step := int64(1e6) // 1 ms
	for {
		for _, m := range []int64{1, 2, 5} {
			if endNs/(step*m) <= 12 {
				return step * m
			}
		}
		step *= 10
	}
}

func axisLabel(tNs, stepNs int64) string {
	// strconv's shortest 'g' is fmt's %g.
	if stepNs >= 1e9 {
		return strconv.FormatFloat(float64(tNs)/1e9, 'g', -1, 64) + " s"
	}
	if tNs == 0 {
		return "0"
	}
	if tNs%1e9 == 0 {
		return strconv.FormatInt(tNs/1e9, 10) + " s"
	}
	return strconv.FormatFloat(float64(tNs)/1e9, 'g', -1, 64) + " s"
}

func formatNs(tNs int64) string {
	ms := float64(tNs) / 1e6
	if ms < 1000 && ms > -1000 {
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 3, 64) + " s"
}

// --- the picture of a timeline: the shared model, and how it is drawn ---

// picture is what a scenario's timeline draws: the shared timeline model
// (scenarios/timeline, on which the oracle judged), the time axis's end,
// and the target's check timeout, with which a check run's outcome is
// told the way the oracle tells it.
type picture struct {
	tl           *observed.Timeline
	target       string
	end          int64
	checkTimeout time.Duration
}

func newPicture(s scenarios.ScenarioResult) *picture {
	end := s.DurationMs * 1e6
	for _, e := range s.Timeline {
		if t := e.TNs + e.DurNs; t > end {
			end = t
		}
	}
	if end <= 0 {
		end = 1e9
	}
	p := &picture{tl: observed.Build(s.Timeline, nil), target: s.Service, end: end}
	if s.Policy != nil {
		p.checkTimeout = time.Duration(s.Policy.TimeoutMs) * time.Millisecond
	}
	return p
}

// runEnd is where a check run's bar ends: its exit, or the axis's end.
func (p *picture) runEnd(r *observed.CheckRun) int64 {
	if r.Ended {
		return r.End
	}
	return p.end
}

func (p *picture) checkFailed(r *observed.CheckRun) bool {
	o, _ := r.Outcome(p.checkTimeout, observed.Granularity, p.end)
	return o == observed.CheckFailed
}

func (p *picture) checkTitle(r *observed.CheckRun, failed bool) string {
	s := "check pid " + strconv.Itoa(r.PID) + ", " + formatNs(r.Start) + " → " + formatNs(p.runEnd(r))
	if r.Code != nil {
		s += ", exit " + strconv.Itoa(*r.Code)
	}
	if failed {
		s += " (failed)"
	}
	return s
}

// exitFailed says whether an exit is drawn as a failure: a signal or a
// non-zero code.
func exitFailed(p *observed.Incarnation) bool {
	return p.Signal != "" || (p.Code != nil && *p.Code != 0)
}

func exitText(p *observed.Incarnation) string {
	switch {
	case p.Signal != "":
		return "pid " + strconv.Itoa(p.PID) + " killed by " + p.Signal + " at " + formatNs(p.Exit)
	case p.Code != nil:
		return "pid " + strconv.Itoa(p.PID) + " exited " + strconv.Itoa(*p.Code) + " at " + formatNs(p.Exit)
	}
	return "pid " + strconv.Itoa(p.PID) + " gone at " + formatNs(p.Exit)
}

func incarnationTitle(p *observed.Incarnation) string {
	s := "pid " + strconv.Itoa(p.PID) + " spawned at " + formatNs(p.Spawn)
	switch {
	case p.ExitUnseen:
		s += "; its exit not seen before the next spawn at " + formatNs(p.Exit)
	case p.Exited:
		s += "; " + exitText(p)
	}
	return s
}

func stateTitle(s observed.StateSpan) string {
	t := s.State
	if s.Reason != "" {
		t += " (" + s.Reason + ")"
	}
	if s.Restarts != nil {
		t += ", restarts " + strconv.Itoa(*s.Restarts)
	}
	return t + ", from " + formatNs(s.From)
}

// marks derives the vertical marks: the first fault, detection, the first
// kill of the target after it, respawn and healthy (from the recovery
// figures, with their error as a band).
func (p *picture) marks(s scenarios.ScenarioResult) []mark {
	var out []mark
	faultAt := int64(-1)
	for _, e := range p.tl.Faults {
		if e.Kind == scenarios.EventFault {
			faultAt = e.TNs
			break
		}
	}
	if faultAt < 0 {
		return nil
	}
	out = append(out, mark{label: "fault", tNs: faultAt, color: colBad})
	add := func(label string, meas *scenarios.Measure, color string) {
		if meas != nil {
			out = append(out, mark{label: label, tNs: faultAt + int64(meas.Ms*1e6), errNs: int64(meas.ErrorMs * 1e6), color: color})
		}
	}
	add("detect", s.Recovery.Detect, "#bc4c00")
	if p.target != "" {
		for _, in := range p.tl.Service(p.target).Incarnations {
			if in.Exited && !in.ExitUnseen && in.Exit >= faultAt && in.Signal != "" {
				out = append(out, mark{label: "kill", tNs: in.Exit, color: "#a40e26"})
				break
			}
		}
	}
	add("respawn", s.Recovery.Restart, colAction)
	add("healthy", s.Recovery.Healthy, "#1a7f37")
	sort.SliceStable(out, func(i, j int) bool { return out[i].tNs < out[j].tNs })
	return out
}
