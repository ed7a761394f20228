package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

type gateOptions struct {
	harnessOptions
	Baseline bool
	Require  int
	Tag      string
	Format   string // -o: table, wide, json, md, junit or html
}

func newGateCmd(f *Factory) *cobra.Command {
	var o gateOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Decide whether an image may be promoted (the CI entry point)",
		Long: `Migrate the fleet (the built-in hero fleet, or --config DIR) to the zinit
job model, run every catalogue scenario tagged "gate" against it in
containers, and decide. With --baseline the legacy config runs too, and the
behaviour difference (legacy: never restarted; migrated: restarted after
250 ms ...) is printed and reported.

Writes result.json, report.md (the rollout note, within a pull-request
comment's 65,536 characters), report-details.md, junit.xml and report.html
to --out, a forensics bundle for every scenario that did not pass, and every
attempt's full event stream (forensics/*/events.jsonl.gz). Prints the verdict
table fitted to the terminal (-o wide: every column, the reasons inline;
plain tab-separated lines when stdout is not a terminal), or the result as
-o json (--json), md, md-details, junit or html. Live progress goes to
stderr when it is a terminal, with a count and an ETA, even when stdout is
redirected.

With --repeat K, a scenario passes when --require of its K attempts passed
(default: all of them); the first-attempt pass rate is reported next to the
verdict.

Exit codes: 0 promote, 1 a scenario failed, 2 inconclusive (no failure),
3 usage or config error, 4 harness or infrastructure error (safe to retry).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.SeedGiven = cmd.Flags().Changed("seed")
			var err error
			if o.Format, err = out.value(); err != nil {
				return err
			}
			return runGate(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.addFlags(fl, 2, "auto")
	fl.BoolVar(&o.Baseline, "baseline", false, "also run the legacy config and print the behaviour diff")
	fl.IntVar(&o.Require, "require", 0, "passes needed out of --repeat attempts per scenario (default: all)")
	fl.StringVar(&o.Tag, "tag", scenarios.TagGate, "run the catalogue scenarios with this tag")
	out = addOutputFlag(cmd, true, "table", resultFormats...)
	return cmd
}

// reportFiles are the renderings gate writes next to result.json.
var reportFiles = []struct{ name, format string }{
	{"report.md", "markdown"}, {reports.DetailsFile, "markdown-details"}, {"junit.xml", "junit"}, {"report.html", "html"},
}

func runGate(ctx context.Context, f *Factory, o gateOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Require < 0 || o.Require > o.Repeat {
		return usageErrorf("--require %d: must be between 1 and --repeat (%d)", o.Require, o.Repeat)
	}
	if o.AsBuilt && o.Baseline {
		return usageErrorf("--baseline: an image as built has no legacy baseline to run beside it")
	}
	var ledger []scenarios.LedgerEntry
	var err error
	if !o.AsBuilt {
		if ledger, err = fleetLedger(o.ConfigDir, o.policy); err != nil {
			return &usageError{err: err}
		}
	}
	all, err := scenarios.Catalogue()
	if err != nil {
		return err
	}
	scs := scenarios.WithTag(all, o.Tag)
	if len(scs) == 0 {
		return usageErrorf("--tag %q: no catalogue scenario has it", o.Tag)
	}
	r, release, scs, err := prepare(ctx, f, o.harnessOptions, scs)
	if err != nil {
		return err
	}
	defer release()
	res, runErr := runScenarios(ctx, f, r, "gate", scs, o.configs(o.Baseline))

	o.imageFindings(&res)
	res.Ledger = ledger
	res.Diff = scenarios.BehaviourDiffs(res)
	d := res.Decide(o.Require)
	if res.Shard != nil && len(res.Scenarios) == 0 && runErr == nil {
		// More shards than attempts: this one has nothing to run, and
		// report --merge still needs its (empty) result.
		if err := writeResult(filepath.Join(o.Out, "result.json"), res); err != nil {
			return &exitError{code: exitInfra, err: err}
		}
		fmt.Fprintf(f.IO.ErrOut, "zchaos gate: shard %s holds none of the plan's %d attempts; its empty result is in %s\n",
			res.Shard, res.PlanAttempts, o.Out)
		return nil
	}
	if err := writeReports(o.Out, res); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if err := printGate(f.IO.Out, f.IO.Layout(), res, d, o); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	return verdictExit(d.Verdict)
}

// fleetLedger plans the gate's fleet once, for the fidelity ledger of the
// reports; a config the migrator cannot plan is a config error.
func fleetLedger(configDir string, pol migrator.Policy) ([]scenarios.LedgerEntry, error) {
	var inv *migrator.Inventory
	var err error
	if configDir == "" {
		inv, err = migrator.Load(migrator.FleetFS(), "fleet")
	} else {
		inv, err = migrator.LoadDir(configDir)
	}
	if err != nil {
		return nil, err
	}
	if len(inv.Errors) > 0 {
		errs := make([]error, len(inv.Errors))
		for i, e := range inv.Errors {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	plan, err := migrator.BuildPlan(inv, pol)
	if err != nil {
		return nil, err
	}
	var out []scenarios.LedgerEntry
	for _, sp := range plan.Services {
		for _, e := range sp.Ledger {
			detail := e.Detail
			if e.Source != "" {
				detail += " (" + e.Source + ")"
			}
			out = append(out, scenarios.LedgerEntry{Service: e.Service, Field: e.Field,
				Fidelity: string(e.Fidelity), Detail: detail})
		}
	}
	return out, nil
}

// writeReports writes result.json and every rendering of it into dir.
func writeReports(dir string, res scenarios.Result) error {
	if err := writeResult(filepath.Join(dir, "result.json"), res); err != nil {
		return err
	}
	for _, rf := range reportFiles {
		p := filepath.Join(dir, rf.name)
		fh, err := os.Create(p)
		if err != nil {
			return err
		}
		err = errors.Join(reports.Render(fh, res, rf.format), fh.Close())
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func printGate(w io.Writer, l reports.Layout, res scenarios.Result, d scenarios.GateDecision, o gateOptions) error {
	if err := writeResultFormat(w, l, res, o.Format); err != nil || !isTableFormat(o.Format) {
		return err
	}
	if len(res.Diff) > 0 {
		fmt.Fprintln(w, "\nBehaviour, legacy → migrated:")
		if err := l.BehaviourDiff(w, res.Diff); err != nil {
			return err
		}
	}
	for _, s := range d.Surprises {
		if err := l.Text(w, "warning: "+s); err != nil {
			return err
		}
	}
	if b := d.Baseline.Sentence(); b != "" {
		fmt.Fprintf(w, "\nlegacy baseline: %s\n", b)
	}
	line := fmt.Sprintf("\ngate: %s — %s", reports.DecisionWord(d.Decision, d.Verdict), d.Reason)
	if o.Repeat > 1 {
		need := o.Require
		if need == 0 {
			need = o.Repeat
		}
		line += fmt.Sprintf(" (%d of %d attempts each; first-attempt pass rate %.0f%%)", need, o.Repeat, 100*d.FirstPassRate)
	}
	if res.Shard != nil {
		line += fmt.Sprintf("; shard %s (%d of the plan's %d attempts: merge the shards with zchaos report --merge for the decision)",
			res.Shard, len(res.Scenarios), res.PlanAttempts)
	}
	return l.Text(w, line+fmt.Sprintf("; time scale %g; reports in %s", res.TimeScale, o.Out))
}
