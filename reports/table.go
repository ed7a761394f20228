package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/zchaos/zchaos/scenarios"
)

// Layout says how a table is drawn. Width is the terminal's width in
// columns: a box table then wraps its cells (at spaces, else after - _ . /
// or anywhere) so that no line is longer; 0 leaves it unbounded. Plain
// writes tab-separated lines with no box drawing and no wrapping, for pipes,
// files and scripts: one line per row, tabs and newlines inside a cell
// turned into spaces.
type Layout struct {
	Width int
	Plain bool
}

// TableOptions tunes Table.
type TableOptions struct {
	Layout
	// Wide shows every column (the machine's lateness, the time to detect
	// and the reason inline) instead of the narrow default, which numbers
	// the reasons of the results that did not pass and lists them below.
	Wide bool
	// NoSummary leaves out the decision line after the table.
	NoSummary bool
}

// Table writes one row per scenario result (scenario × service × config):
// by default its verdict and its restart and healthy figures with their
// error, and the reasons of the results that did not pass as a numbered
// list below the table; with Wide also the machine's timer lateness (p99),
// the time to detect and the reason of every row. A plain layout has no
// notes: the reason is its last column. Then the decision line.
func Table(w io.Writer, r scenarios.Result, opts TableOptions) error {
	wide := opts.Wide
	header := []string{"Scenario", "Service", "Config", "Verdict", "Restart", "Healthy"}
	if wide {
		header = []string{"Scenario", "Service", "Config", "Verdict", "Machine", "Detect", "Restart", "Healthy", "Reason"}
	} else if opts.Plain {
		header = append(header, "Reason")
	}
	rows := make([][]string, 0, len(r.Scenarios))
	var notes noteList
	for _, s := range r.Scenarios {
		name := s.Scenario
		if s.Attempt > 1 {
			name = fmt.Sprintf("%s #%d", name, s.Attempt)
		}
		verdict := s.Verdict.String()
		var row []string
		switch {
		case wide:
			row = []string{name, serviceLabel(s.Service), s.Config, verdict, FormatLoad(s.Load),
				FormatMeasure(s.Recovery.Detect), FormatMeasure(s.Recovery.Restart), FormatMeasure(s.Recovery.Healthy), s.Reason}
		default:
			if !opts.Plain && s.Verdict != scenarios.VerdictPass && s.Reason != "" {
				verdict += " [" + strconv.Itoa(notes.ref(s.Reason)) + "]"
			}
			row = []string{name, serviceLabel(s.Service), s.Config, verdict,
				FormatMeasure(s.Recovery.Restart), FormatMeasure(s.Recovery.Healthy)}
			if opts.Plain {
				row = append(row, s.Reason)
			}
		}
		rows = append(rows, row)
	}
	if err := opts.Grid(w, header, rows); err != nil {
		return err
	}
	if err := opts.Notes(w, notes.texts); err != nil {
		return err
	}
	if opts.NoSummary {
		return nil
	}
	base := ""
	if b := scenarios.Gate(r, r.Require).Baseline.Sentence(); b != "" {
		base = " · legacy baseline: " + b
	}
	return opts.Text(w, fmt.Sprintf("decision: %s — %s%s · image %s · time scale %s · seed %d",
		DecisionWord(r.Decision, r.Verdict), r.DecisionReason, base, orDash(r.Image), formatScale(r.TimeScale), r.Seed))
}

// BehaviourDiffText writes the legacy-vs-migrated contrast as a terminal
// table (the gate prints it after a baseline run), unbounded. Nothing is
// written for an empty diff.
func BehaviourDiffText(w io.Writer, diffs []scenarios.BehaviourDiff) error {
	return Layout{}.BehaviourDiff(w, diffs)
}

// BehaviourDiff is BehaviourDiffText in the layout l.
func (l Layout) BehaviourDiff(w io.Writer, diffs []scenarios.BehaviourDiff) error {
	if len(diffs) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(diffs))
	for _, d := range diffs {
		rows = append(rows, []string{d.Scenario, serviceLabel(d.Service), d.Legacy, d.Migrated})
	}
	return l.Grid(w, []string{"Scenario", "Service", "Legacy", "Migrated"}, rows)
}

// ImageTables is the package's ImageTables in the layout l: an image's
// conformance and probe-audit tables (none for a result that was not
// judged as built).
func (l Layout) ImageTables(w io.Writer, r scenarios.Result) error {
	if len(r.Conformance) > 0 {
		if err := l.Text(w, "\nConformance to the policy:"); err != nil {
			return err
		}
		if err := l.Grid(w, conformanceHeader, conformanceRows(r)); err != nil {
			return err
		}
	}
	if len(r.ProbeAudit) > 0 {
		if err := l.Text(w, "\nProbe audit (each check run with its service healthy, hung, without its socket):"); err != nil {
			return err
		}
		if err := l.Grid(w, auditHeader, auditRows(r)); err != nil {
			return err
		}
	}
	return nil
}

// Catalogue writes the scenario list as a terminal table, unbounded.
func Catalogue(w io.Writer, list []scenarios.Scenario) error {
	return Layout{}.Catalogue(w, list)
}

// Catalogue writes the scenario list in the layout l.
func (l Layout) Catalogue(w io.Writer, list []scenarios.Scenario) error {
	rows := make([][]string, 0, len(list))
	for _, s := range list {
		rows = append(rows, []string{s.Name, joinComma(s.Tags), joinComma(s.RunConfigs()), serviceLabel(s.TargetLabel()), s.Description})
	}
	return l.Grid(w, []string{"Name", "Tags", "Configs", "Target", "Description"}, rows)
}

// Grid writes rows under header as a box table, unbounded. It and
// Layout.Grid are the one place tablewriter (pinned v1.1.5) is used in the
// module; cmd's tables use them too.
func Grid(w io.Writer, header []string, rows [][]string) error {
	return Layout{}.Grid(w, header, rows)
}

// Grid writes rows under header in the layout l: tab-separated lines when
// plain, else a box table whose lines are at most l.Width long (when the
// width leaves each column at least one character).
func (l Layout) Grid(w io.Writer, header []string, rows [][]string) error {
	head := make([]string, len(header))
	for i, h := range header {
		head[i] = strings.ToUpper(h)
	}
	if l.Plain {
		return plainGrid(w, head, rows)
	}
	if l.Width > 0 {
		head, rows = fitColumns(l.Width, head, rows)
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(head)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

// noteList numbers the notes of a table; rows with the same text share
// one number.
type noteList struct {
	texts []string
	index map[string]int
}

func (n *noteList) ref(text string) int {
	if i, ok := n.index[text]; ok {
		return i
	}
	if n.index == nil {
		n.index = map[string]int{}
	}
	n.texts = append(n.texts, text)
	n.index[text] = len(n.texts)
	return len(n.texts)
}

// Notes writes numbered notes ("[1] ...") under a table, each wrapped to
// the layout's width with a hanging indent.
func (l Layout) Notes(w io.Writer, notes []string) error {
	for i, n := range notes {
		tag := "[" + strconv.Itoa(i+1) + "] "
		if err := l.indented(w, tag, n); err != nil {
			return err
		}
	}
	return nil
}

// Text writes s as a line (or lines), word-wrapped to the layout's width
// unless it is plain or unbounded.
func (l Layout) Text(w io.Writer, s string) error {
	return l.indented(w, "", s)
}

func (l Layout) indented(w io.Writer, first, s string) error {
	if l.Plain || l.Width <= 0 {
		_, err := io.WriteString(w, first+s+"\n")
		return err
	}
	pad := strings.Repeat(" ", twwidth.Width(first))
	var b strings.Builder
	for i, para := range strings.Split(s, "\n") {
		lead := pad
		if i == 0 {
			lead = first
		}
		lines := wrapLine(para, max(l.Width-len(pad), 1))
		for j, line := range lines {
			if j > 0 {
				lead = pad
			}
			b.WriteString(strings.TrimRight(lead+line, " "))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plainGrid writes the header and rows as tab-separated lines.
func plainGrid(w io.Writer, header []string, rows [][]string) error {
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(plainCell(c))
		}
		b.WriteByte('\n')
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var plainCellReplacer = strings.NewReplacer("\t", " ", "\r\n", "; ", "\n", "; ")

func plainCell(s string) string { return plainCellReplacer.Replace(s) }

// Box drawing: "│ a │ b │": one border per column plus one, and a
// space of padding on each side of every cell.
const (
	boxBorder  = 1
	boxPadding = 2
)

// fitColumns wraps the header and cells so that the box table of n
// columns is at most width wide (see shareWidths).
func fitColumns(width int, header []string, rows [][]string) ([]string, [][]string) {
	n := len(header)
	if n == 0 {
		return header, rows
	}
	natural, word := make([]int, n), make([]int, n)
	measure := func(cells []string) {
		for i, c := range cells {
			if i >= n {
				continue
			}
			for _, line := range strings.Split(c, "\n") {
				natural[i] = max(natural[i], twwidth.Width(line))
				for _, wd := range strings.Fields(line) {
					word[i] = max(word[i], twwidth.Width(wd))
				}
			}
		}
	}
	measure(header)
	for _, r := range rows {
		measure(r)
	}
	room := width - boxBorder*(n+1) - boxPadding*n
	widths := shareWidths(natural, word, room)
	wrapRow := func(cells []string) []string {
		out := make([]string, len(cells))
		for i, c := range cells {
			if i < n && cellWidth(c) > widths[i] {
				out[i] = wrapCell(c, widths[i])
			} else {
				out[i] = c
			}
		}
		return out
	}
	header = wrapRow(header)
	wrapped := make([][]string, len(rows))
	for i, r := range rows {
		wrapped[i] = wrapRow(r)
	}
	return header, wrapped
}

// shareWidths gives each column its natural width when all fit in room.
// Else, when every column's longest word fits, each gets that and the
// rest of the room goes, evenly, to the columns still short of their
// natural width (so names stay whole and prose wraps at spaces). Else it
// water-fills over the longest words: a column whose longest word fits
// the fair share of what is left keeps that width; the rest split the
// remainder (each at least 1), and their words break after - _ . / or
// anywhere.
func shareWidths(natural, word []int, room int) []int {
	widths := append([]int(nil), natural...)
	floor := make([]int, len(natural))
	total, words := 0, 0
	for i, w := range natural {
		floor[i] = min(word[i], w)
		total += w
		words += floor[i]
	}
	if total <= room {
		return widths
	}
	if words <= room {
		left := room - words
		for i := range widths {
			widths[i] = min(word[i], natural[i])
		}
		for left > 0 {
			short := 0
			for i := range widths {
				if widths[i] < natural[i] {
					short++
				}
			}
			if short == 0 {
				break
			}
			each := max(left/short, 1)
			for i := range widths {
				if widths[i] < natural[i] && left > 0 {
					give := min(each, natural[i]-widths[i], left)
					widths[i] += give
					left -= give
				}
			}
		}
		return widths
	}
	fixed := make([]bool, len(natural))
	left, open := room, len(natural)
	for changed := true; changed && open > 0; {
		changed = false
		share := left / open
		for i, w := range floor {
			if !fixed[i] && w <= share {
				fixed[i], changed = true, true
				widths[i] = w
				left -= w
				open--
			}
		}
	}
	if open == 0 {
		return widths
	}
	share, extra := left/open, left%open
	for i := range natural {
		if fixed[i] {
			continue
		}
		widths[i] = max(share, 1)
		if extra > 0 {
			widths[i]++
			extra--
		}
	}
	return widths
}

func cellWidth(s string) int {
	w := 0
	for _, line := range strings.Split(s, "\n") {
		w = max(w, twwidth.Width(line))
	}
	return w
}

// wrapCell wraps every line of a cell to width.
func wrapCell(s string, width int) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		out = append(out, wrapLine(line, width)...)
	}
	return strings.Join(out, "\n")
}

// wrapLine breaks one line into pieces at most width wide: at the last
// space that fits, else after the last - _ . / , : that fits (names such as
// user.hero_embedder_server break there), else anywhere.
func wrapLine(s string, width int) []string {
	var out []string
	for twwidth.Width(s) > width {
		cut := breakPoint(s, width)
		out = append(out, strings.TrimRight(s[:cut], " "))
		s = strings.TrimLeft(s[cut:], " ")
	}
	return append(out, s)
}

// breakPoint is the byte index to cut s at so that s[:cut] fits width
// (at least one rune, so wrapping always progresses).
func breakPoint(s string, width int) int {
	w, fit, space, soft := 0, 0, 0, 0
	for i, r := range s {
		rw := twwidth.Width(string(r))
		if w+rw > width {
			if r == ' ' {
				return i // the whole prefix fits: cut before the space
			}
			break
		}
		w += rw
		fit = i + utf8.RuneLen(r)
		switch {
		case r == ' ':
			space = i
		case strings.ContainsRune("-_/", r),
			strings.ContainsRune(".,:", r) && !digitAt(s, fit):
			soft = fit
		}
	}
	switch {
	case space > 0 && space >= soft-1:
		return space
	case soft > 0:
		return soft
	case fit > 0:
		return fit
	}
	_, size := utf8.DecodeRuneInString(s)
	return size
}

// digitAt says whether s has a digit at byte i ("0.01" does not break
// after its dot).
func digitAt(s string, i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }

func joinComma(s []string) string { return strings.Join(s, ",") }
