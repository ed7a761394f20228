package reports

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/zchaos/zchaos/scenarios"
)

// TableOptions tunes Table.
type TableOptions struct {
	// Reason adds a column with each result's reason.
	Reason bool
	// NoSummary leaves out the verdict line after the table.
	NoSummary bool
}

// Table writes one row per scenario result (scenario × service × config):
// verdict, the machine's timer lateness during it (p99), and the detect /
// restart / healthy figures with their error, then a decision line.
func Table(w io.Writer, r scenarios.Result, opts TableOptions) error {
	header := []string{"Scenario", "Service", "Config", "Verdict", "Machine", "Detect", "Restart", "Healthy"}
	if opts.Reason {
		header = append(header, "Reason")
	}
	rows := make([][]string, 0, len(r.Scenarios))
	for _, s := range r.Scenarios {
		name := s.Scenario
		if s.Attempt > 1 {
			name = fmt.Sprintf("%s #%d", name, s.Attempt)
		}
		row := []string{name, serviceLabel(s.Service), s.Config, s.Verdict.String(), FormatLoad(s.Load),
			FormatMeasure(s.Recovery.Detect), FormatMeasure(s.Recovery.Restart), FormatMeasure(s.Recovery.Healthy)}
		if opts.Reason {
			row = append(row, s.Reason)
		}
		rows = append(rows, row)
	}
	if err := Grid(w, header, rows); err != nil {
		return err
	}
	if opts.NoSummary {
		return nil
	}
	base := ""
	if b := scenarios.Gate(r, r.Require).Baseline.Sentence(); b != "" {
		base = " · legacy baseline: " + b
	}
	_, err := fmt.Fprintf(w, "decision: %s — %s%s · image %s · time scale %s · seed %d\n",
		DecisionWord(r.Decision, r.Verdict), r.DecisionReason, base, orDash(r.Image), formatScale(r.TimeScale), r.Seed)
	return err
}

// BehaviourDiffText writes the legacy-vs-migrated contrast as a terminal
// table (the gate prints it after a baseline run). Nothing is written for
// an empty diff.
func BehaviourDiffText(w io.Writer, diffs []scenarios.BehaviourDiff) error {
	if len(diffs) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(diffs))
	for _, d := range diffs {
		rows = append(rows, []string{d.Scenario, serviceLabel(d.Service), d.Legacy, d.Migrated})
	}
	return Grid(w, []string{"Scenario", "Service", "Legacy", "Migrated"}, rows)
}

// Catalogue writes the scenario list as a terminal table.
func Catalogue(w io.Writer, list []scenarios.Scenario) error {
	rows := make([][]string, 0, len(list))
	for _, s := range list {
		rows = append(rows, []string{s.Name, joinComma(s.Tags), joinComma(s.RunConfigs()), serviceLabel(s.TargetLabel()), s.Description})
	}
	return Grid(w, []string{"Name", "Tags", "Configs", "Target", "Description"}, rows)
}

// Grid writes rows under header as a terminal table. It is the one place
// tablewriter (pinned v1.1.5) is used in the module; cmd's tables use it too.
func Grid(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
