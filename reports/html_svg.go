package reports

import (
	"bytes"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	observed "github.com/zchaos/zchaos/scenarios/timeline"
)

// A timeline picture is an SVG the page template frames (its size and
// accessible name are template fields); the lane labels and shapes inside
// are written here by svgWriter, whose only text goes through its escaper
// (html.EscapeString's): a timeline holds hundreds of numbers, and
// html/template spends 1.5–2.5 µs on each action, which would make the
// 10,000-result page several times slower.
//
// Dense stretches are folded so a page stays small: a run of probes of
// one outcome is one band, check runs and incarnations closer than
// foldPx are one band, each with a title counting what it stands for.

// Timeline colours (the legend in templates/report.html.tmpl draws each).
const (
	colIncarnation = "#54aeff"
	colOK          = "#2da44e"
	colBad         = "#cf222e"
	colMuted       = "#8c959f"
	colMark        = "#6e7781"
	colAction      = "#0969da"
	colAnomaly     = "#e16f24"
	colGrid        = "#eaeef2"
	colDetect      = "#bc4c00"
	colKill        = "#a40e26"
	colHealthy     = "#1a7f37"
)

var stateColors = map[string]string{
	"running": "#dafbe1", "restarting": "#fff1c2", "failed": "#ffd8d3", "inactive": "#eaeef2",
	"stopping": "#fbefff", "blocked": "#ddf4ff",
}

// Geometry of a timeline.
const (
	tlWidth     = 1100.0
	tlRightW    = 16.0
	tlLaneH     = 24.0
	tlFaultsH   = 32.0 // glyphs above, their labels below
	tlAxisH     = 26.0
	tlCharW     = 7.0 // a generous width of one character at 12 px
	tlLabelMinW = 90.0
	tlLabelMaxW = 300.0
	foldPx      = 2.0 // shapes closer than this are drawn as one
)

// htmlTimeline is what the template needs of one picture.
type htmlTimeline struct {
	Width, Height string
	Name          string        // for the accessible name
	Body          template.HTML // lane labels and shapes, escaped by svgWriter
}

type lane struct {
	label, title string
	height       float64
	draw         func(y float64)
}

type mark struct {
	label string
	tNs   int64
	errNs int64
	color string
}

// svgWriter writes SVG markup into a buffer; e escapes text as
// html.EscapeString does, for element text and quoted attribute values.
type svgWriter struct {
	b   bytes.Buffer
	num []byte
}

func (w *svgWriter) s(s string) { w.b.WriteString(s) }

// n1 writes x with one decimal (rounding half away from zero).
func (w *svgWriter) n1(x float64) {
	v := int64(math.Round(x * 10))
	b := w.num[:0]
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/10, 10)
	if d := v % 10; d != 0 {
		b = append(b, '.', byte('0'+d))
	}
	w.num = b
	w.b.Write(b)
}

func (w *svgWriter) i(n int64) {
	w.num = strconv.AppendInt(w.num[:0], n, 10)
	w.b.Write(w.num)
}

func (w *svgWriter) e(s string) {
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
		w.b.WriteString(s[start:i])
		w.b.WriteString(rep)
		start = i + 1
	}
	w.b.WriteString(s[start:])
}

// rect writes a rectangle with an optional title.
func (w *svgWriter) rect(x, y, width, height float64, fill, extra, title string) {
	w.s(`<rect x="`)
	w.n1(x)
	w.s(`" y="`)
	w.n1(y)
	w.s(`" width="`)
	w.n1(width)
	w.s(`" height="`)
	w.n1(height)
	w.s(`" fill="`)
	w.s(fill)
	w.close("rect", extra, title)
}

func (w *svgWriter) vline(x, y0, y1 float64, stroke, extra, title string) {
	w.s(`<line x1="`)
	w.n1(x)
	w.s(`" y1="`)
	w.n1(y0)
	w.s(`" x2="`)
	w.n1(x)
	w.s(`" y2="`)
	w.n1(y1)
	w.s(`" stroke="`)
	w.s(stroke)
	w.close("line", extra, title)
}

// close ends an element whose last attribute's value is open: the extra
// attributes, then "/>", or a tooltip (title) and the closing tag.
func (w *svgWriter) close(tag, extra, title string) {
	w.s(`"`)
	w.s(extra)
	if title == "" {
		w.s(`/>`)
		return
	}
	w.s(`><title>`)
	w.e(title)
	w.s(`</title></`)
	w.s(tag)
	w.s(`>`)
}

func (w *svgWriter) text(x, y float64, size int, fill, extra, text string) {
	w.s(`<text x="`)
	w.n1(x)
	w.s(`" y="`)
	w.n1(y)
	w.s(`" font-size="`)
	w.i(int64(size))
	w.s(`" fill="`)
	w.s(fill)
	w.s(`"`)
	w.s(extra)
	w.s(`>`)
	w.e(text)
	w.s(`</text>`)
}

func (w *svgWriter) diamond(cx, cy float64, color string, filled bool) {
	fill, stroke := color, "none"
	if !filled {
		fill, stroke = "#fff", color
	}
	w.s(`<path d="M`)
	w.n1(cx)
	w.s(" ")
	w.n1(cy - 6)
	w.s(`l6 6l-6 6l-6 -6z" fill="`)
	w.s(fill)
	w.s(`" stroke="`)
	w.s(stroke)
	w.s(`" stroke-width="2"/>`)
}

func (w *svgWriter) cross(cx, cy float64, color, title string) {
	w.s(`<path d="M`)
	w.n1(cx - 3)
	w.s(" ")
	w.n1(cy - 3)
	w.s(`l6 6m0 -6l-6 6" stroke="`)
	w.s(color)
	w.s(`" stroke-width="2"><title>`)
	w.e(title)
	w.s(`</title></path>`)
}

// timeline builds the picture of one scenario result with w, whose buffer
// it reuses.
func timeline(w *svgWriter, s scenarios.ScenarioResult) htmlTimeline {
	pic := newPicture(s)
	tl, end := pic.tl, pic.end
	w.b.Reset()

	var lanes []lane
	if s.Service != "" {
		target := tl.Service(s.Service)
		if len(target.States) > 0 {
			lanes = append(lanes, lane{label: "zinit state", draw: func(y float64) { w.stateLane(pic, target.States, y) }})
		}
		lanes = append(lanes,
			lane{label: "process", draw: func(y float64) { w.incarnations(pic, target.Incarnations, y, true) }},
			lane{label: "checks", draw: func(y float64) { w.checks(pic, target.Checks, y) }},
			lane{label: "probes", draw: func(y float64) { w.probes(pic, target.Probes, y+2, tlLaneH-4) }},
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
			lanes = append(lanes, lane{label: strings.TrimPrefix(name, "user."), title: name, draw: func(y float64) {
				w.incarnations(pic, svc.Incarnations, y, false)
				w.probes(pic, svc.Probes, y+tlLaneH-7, 5)
			}})
		}
		if more > 0 {
			lanes = append(lanes, lane{label: "+" + strconv.Itoa(more) + " more", draw: func(float64) {}})
		}
	}
	lanes = append(lanes, lane{label: "faults", height: tlFaultsH, draw: func(y float64) { w.faults(pic, tl.Faults, y) }})
	if len(tl.Zombies)+len(tl.Strays) > 0 {
		lanes = append(lanes, lane{label: "zombie / stray", draw: func(y float64) {
			w.anomalies(pic, tl.Zombies, y)
			w.anomalies(pic, tl.Strays, y)
		}})
	}

	// The label column fits the longest label (within bounds; a longer
	// one is shortened, its full name kept as its title).
	labelW := tlLabelMinW
	for _, l := range lanes {
		labelW = max(labelW, float64(len([]rune(l.label)))*tlCharW+16)
	}
	labelW = min(labelW, tlLabelMaxW)
	maxChars := int((labelW - 16) / tlCharW)
	pic.x0, pic.plotW = labelW, tlWidth-labelW-tlRightW

	marks := pic.marks(s)
	labels, rows := layoutMarkLabels(marks, pic.x)
	top := 8 + float64(rows)*13
	if rows == 0 {
		top = 10
	}
	bottom := top
	for i := range lanes {
		if lanes[i].height == 0 {
			lanes[i].height = tlLaneH
		}
		bottom += lanes[i].height
	}
	height := bottom + tlAxisH

	// Grid and axis.
	step := niceStep(end)
	for t := int64(0); t <= end; t += step {
		xx := pic.x(t)
		w.vline(xx, top, bottom, colGrid, "", "")
		w.vline(xx, bottom, bottom+4, colMark, "", "")
		w.text(xx, bottom+16, 11, colMark, ` text-anchor="middle"`, axisLabel(t, step))
	}
	w.s(`<line x1="`)
	w.n1(labelW)
	w.s(`" y1="`)
	w.n1(bottom)
	w.s(`" x2="`)
	w.n1(labelW + pic.plotW)
	w.s(`" y2="`)
	w.n1(bottom)
	w.s(`" stroke="` + colMark + "\"/>\n")

	// Lanes: a label (its full name as its title when shortened) and shapes.
	out := htmlTimeline{Width: fmtN(tlWidth), Height: fmtN(math.Ceil(height)), Name: caseName(s)}
	y := top
	for i, l := range lanes {
		label, title := l.label, l.title
		if len([]rune(label)) > maxChars {
			if title == "" {
				title = label
			}
			label = shorten(label, maxChars)
		}
		if i%2 == 1 {
			w.rect(0, y, labelW, l.height, "#f6f8fa", ` opacity="0.6"`, "")
		}
		w.s(`<text x="`)
		w.n1(labelW - 8)
		w.s(`" y="`)
		w.n1(y + min(l.height, tlLaneH)/2 + 4)
		w.s(`" font-size="12" text-anchor="end" fill="#1f2328">`)
		w.e(label)
		if title != "" {
			w.s(`<title>`)
			w.e(title)
			w.s(`</title>`)
		}
		w.s(`</text>`)
		l.draw(y)
		w.s("\n")
		y += l.height
	}

	// Marks across every lane; their labels are placed in the top rows.
	for _, m := range marks {
		xx := pic.x(m.tNs)
		if m.errNs > 0 {
			x0, x1 := pic.x(m.tNs-m.errNs), pic.x(m.tNs+m.errNs)
			w.rect(x0, top, x1-x0, bottom-top, m.color, ` opacity="0.10"`, "")
		}
		w.vline(xx, top-4, bottom, m.color, ` stroke-width="1.5" stroke-dasharray="4 3"`, m.label+" at "+formatNs(m.tNs))
		w.s("\n")
	}
	for _, l := range labels {
		w.text(l.x, 12+float64(l.row)*13, 11, l.color, ` font-weight="600"`+l.anchor, l.text)
		w.s("\n")
	}
	// Every text in it went through svgWriter.e.
	out.Body = template.HTML(w.b.String())
	return out
}

func fmtN(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

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
		start, end := lx, lx+w
		if anchor != "" {
			start, end = lx-w, lx
		}
		row := -1
		for r := 0; r < maxRows; r++ {
			if start > ends[r] {
				row = r
				break
			}
		}
		if row < 0 {
			continue // every row is taken there: the mark's own title names it
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
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (w *svgWriter) stateLane(pic *picture, states []observed.StateSpan, y float64) {
	for _, st := range states {
		x0, x1 := pic.x(st.From), pic.x(st.Until(pic.end))
		c, ok := stateColors[st.State]
		if !ok {
			c = colGrid
		}
		w.rect(x0, y+4, max(x1-x0, 1), tlLaneH-8, c, "", stateTitle(st))
		if x1-x0 > float64(len(st.State))*6.5+6 {
			w.text(x0+3, y+tlLaneH/2+4, 11, "#1f2328", "", st.State)
		}
	}
}

// incarnations draws a service's main processes; consecutive ones too
// narrow to tell apart (a crash loop) are one band.
func (w *svgWriter) incarnations(pic *picture, procs []*observed.Incarnation, y float64, labels bool) {
	for i := 0; i < len(procs); {
		p := procs[i]
		x0, x1 := pic.x(p.Spawn), pic.x(p.Until(pic.end))
		j := i + 1
		for j < len(procs) && x1-x0 < foldPx*2 {
			q := procs[j]
			qx0, qx1 := pic.x(q.Spawn), pic.x(q.Until(pic.end))
			if qx1-qx0 >= foldPx*2 || qx0-x1 > foldPx {
				break
			}
			x1 = qx1
			j++
		}
		if j-i > 1 {
			last := procs[j-1]
			title := strconv.Itoa(j-i) + " incarnations, pids " + strconv.Itoa(p.PID) + "…" + strconv.Itoa(last.PID) +
				", " + formatNs(p.Spawn) + " → " + formatNs(last.Until(pic.end))
			w.rect(x0, y+4, max(x1-x0, 2), tlLaneH-10, colIncarnation, ` rx="2"`, title)
			if last.Exited && !last.ExitUnseen {
				w.cross(x1, y+tlLaneH/2-2, exitColor(last), exitText(last))
			}
			i = j
			continue
		}
		width := max(x1-x0, 2)
		w.rect(x0, y+4, width, tlLaneH-10, colIncarnation, ` rx="2"`, incarnationTitle(p))
		if labels && width > 48 {
			w.text(x0+4, y+tlLaneH/2+2, 11, "#0b2e4f", "", "pid "+strconv.Itoa(p.PID))
		}
		if p.Exited && !p.ExitUnseen {
			w.cross(x1, y+tlLaneH/2-2, exitColor(p), exitText(p))
		}
		i++
	}
}

func exitColor(p *observed.Incarnation) string {
	if exitFailed(p) {
		return colBad
	}
	return colMuted
}

// checks draws a service's check runs; runs of one outcome closer than
// foldPx are one band.
func (w *svgWriter) checks(pic *picture, runs []*observed.CheckRun, y float64) {
	for i := 0; i < len(runs); {
		c := runs[i]
		failed := pic.checkFailed(c)
		x0, x1 := pic.x(c.Start), pic.x(pic.runEnd(c))
		j := i + 1
		for j < len(runs) {
			d := runs[j]
			if pic.checkFailed(d) != failed || pic.x(d.Start)-max(x1, x0+2.5) > foldPx {
				break
			}
			x1 = max(x1, pic.x(pic.runEnd(d)))
			j++
		}
		color := colOK
		if failed {
			color = colBad
		}
		title := pic.checkTitle(c, failed)
		if j-i > 1 {
			outcome := "passed"
			if failed {
				outcome = "failed"
			}
			title = strconv.Itoa(j-i) + " check runs " + outcome + ", " + formatNs(c.Start) + " → " + formatNs(pic.runEnd(runs[j-1]))
		}
		w.rect(x0, y+6, max(x1-x0, 2.5), 12, color, "", title)
		i = j
	}
}

// probes draws the agent's probes of a service: a run of one outcome is
// a band from its first probe to its last, a lone probe a tick.
func (w *svgWriter) probes(pic *picture, ps []*scenarios.Event, y, height float64) {
	ok := func(p *scenarios.Event) bool { return p.OK != nil && *p.OK }
	for i := 0; i < len(ps); {
		first := ps[i]
		n := 1 + first.Folded
		j := i + 1
		for j < len(ps) && ok(ps[j]) == ok(first) {
			n += 1 + ps[j].Folded
			j++
		}
		last := ps[j-1]
		color, what := colOK, "probe ok"
		if !ok(first) {
			color, what = colBad, "probe failed"
		}
		if n > 1 {
			what = strconv.Itoa(n) + " probes " + strings.TrimPrefix(what, "probe ")
		}
		if first.Detail != "" {
			what += ": " + first.Detail
		}
		x0, x1 := pic.x(first.TNs), pic.x(last.TNs)
		if n == 1 || x1-x0 < foldPx {
			w.vline(x0, y+1, y+height-1, color, ` stroke-width="2"`, what+" at "+formatNs(first.TNs))
		} else {
			w.rect(x0, y+height/4, max(x1-x0, 2), height/2, color, ` opacity="0.55"`, what+", "+formatNs(first.TNs)+" → "+formatNs(last.TNs))
		}
		i = j
	}
}

// faults draws the harness's faults, effects, reverts and actions as
// glyphs in the lane's upper half and labels the faults and actions in its
// lower half: a run of one label ("monkey") is labelled once, with its
// count, where it does not run into the previous label.
func (w *svgWriter) faults(pic *picture, evs []*scenarios.Event, y float64) {
	cy := y + 10
	// Effects first: a fault's glyph is drawn over its effect, seen a
	// moment after it.
	ordered := make([]*scenarios.Event, 0, len(evs))
	for _, e := range evs {
		if e.Kind == scenarios.EventEffect {
			ordered = append(ordered, e)
		}
	}
	for _, e := range evs {
		if e.Kind != scenarios.EventEffect {
			ordered = append(ordered, e)
		}
	}
	for _, e := range ordered {
		xx := pic.x(e.TNs)
		w.s("<g><title>")
		w.e(string(e.Kind))
		if e.Fault != "" {
			w.s(" ")
			w.e(e.Fault)
		}
		if e.Service != "" {
			w.s(" of ")
			w.e(e.Service)
		}
		w.s(" at ")
		w.e(formatNs(e.TNs))
		if e.Detail != "" {
			w.s(": ")
			w.e(e.Detail)
		}
		w.s("</title>")
		switch e.Kind {
		case scenarios.EventFault:
			w.diamond(xx, cy, colBad, true)
		case scenarios.EventRevert:
			w.diamond(xx, cy, colBad, false)
		case scenarios.EventEffect:
			w.s(`<circle cx="`)
			w.n1(xx)
			w.s(`" cy="`)
			w.n1(cy)
			if e.OK != nil && *e.OK {
				w.s(`" r="5" fill="` + colOK + `"/>`)
			} else {
				w.s(`" r="5" fill="#fff" stroke="` + colMuted + `" stroke-width="2"/>`)
			}
		case scenarios.EventAction:
			w.rect(xx-4.5, cy-4.5, 9, 9, colAction, "", "")
		}
		w.s("</g>")
	}
	type run struct {
		x     float64
		text  string
		color string
		n     int
	}
	var runs []run
	for _, e := range evs {
		if e.Kind != scenarios.EventFault && e.Kind != scenarios.EventAction {
			continue
		}
		text, color := e.Fault, colBad
		if e.Kind == scenarios.EventAction {
			text, color = e.Detail, colAction
		}
		if text == "" {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].text == text {
			runs[n-1].n++
			continue
		}
		runs = append(runs, run{x: pic.x(e.TNs), text: text, color: color, n: 1})
	}
	lastEnd := -1e9
	right := pic.x0 + pic.plotW
	for _, r := range runs {
		text := shorten(r.text, 28)
		if r.n > 1 {
			text += " ×" + strconv.Itoa(r.n)
		}
		width := float64(len([]rune(text))) * 6.2
		lx, anchor := max(r.x-4, pic.x0), ""
		if lx+width > right {
			lx, anchor = r.x+4, ` text-anchor="end"`
		}
		start := lx
		if anchor != "" {
			start = lx - width
		}
		if start <= lastEnd+6 {
			continue
		}
		w.text(lx, y+tlFaultsH-5, 11, r.color, anchor, text)
		lastEnd = start + width
	}
}

func (w *svgWriter) anomalies(pic *picture, evs []*scenarios.Event, y float64) {
	for _, e := range evs {
		w.s(`<path d="M`)
		w.n1(pic.x(e.TNs))
		w.s(" ")
		w.n1(y + 6)
		w.s(`l6 11h-12z" fill="` + colAnomaly + `"><title>`)
		w.e(string(e.Kind))
		w.s(" pid ")
		w.i(int64(e.PID))
		w.s(" at ")
		w.e(formatNs(e.TNs))
		w.s(": ")
		w.e(e.Detail)
		w.s(`</title></path>`)
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
// its place on the page, and the target's check timeout, with which a
// check run's outcome is told the way the oracle tells it.
type picture struct {
	tl           *observed.Timeline
	target       string
	end          int64
	checkTimeout time.Duration
	x0, plotW    float64
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

// x is where time tNs is drawn.
func (p *picture) x(tNs int64) float64 {
	if tNs < 0 {
		tNs = 0
	}
	return p.x0 + float64(tNs)/float64(p.end)*p.plotW
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
	add("detect", s.Recovery.Detect, colDetect)
	if p.target != "" {
		for _, in := range p.tl.Service(p.target).Incarnations {
			if in.Exited && !in.ExitUnseen && in.Exit >= faultAt && in.Signal != "" {
				out = append(out, mark{label: "kill", tNs: in.Exit, color: colKill})
				break
			}
		}
	}
	add("respawn", s.Recovery.Restart, colAction)
	add("healthy", s.Recovery.Healthy, colHealthy)
	sort.SliceStable(out, func(i, j int) bool { return out[i].tNs < out[j].tNs })
	return out
}
