package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

type runOptions struct {
	harnessOptions
	Scenarios []string
	Legacy    bool
	Format    string // -o: table, wide, json, md, junit or html
}

func newRunCmd(f *Factory) *cobra.Command {
	var o runOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "run [SCENARIO...]",
		Short: "Run chaos scenarios in containers and judge them",
		Long: `Run scenarios of the catalogue (all of them when none is named) in
containers: apply the config (migrated through the migrator, or legacy with
--legacy as a baseline), reach the steady state, inject the faults, observe,
and judge the timeline against the declared job model.

Writes result.json (and a forensics bundle per non-passing scenario) to
--out, prints a table fitted to the terminal (-o wide: every column; plain
tab-separated lines when stdout is not a terminal), or the result as -o json
(--json), md, junit or html. Live progress goes to stderr when it is a
terminal, with a count and an ETA.

Exit codes: 0 all pass, 1 a failure, 2 inconclusive (no failure), 3 usage
or config error, 4 harness or infrastructure error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Scenarios = args
			o.SeedGiven = cmd.Flags().Changed("seed")
			var err error
			if o.Format, err = out.value(); err != nil {
				return err
			}
			return runRun(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.addFlags(fl, 1, "0.05")
	fl.BoolVar(&o.Legacy, "legacy", false, "also run the legacy config (a baseline: it is expected to fail)")
	out = addOutputFlag(cmd, true, "table", resultFormats...)
	return cmd
}

// loadScenarios returns the named catalogue scenarios (a name may also be
// a YAML file), or the whole catalogue.
func loadScenarios(names []string) ([]scenarios.Scenario, error) {
	if len(names) == 0 {
		list, err := scenarios.Catalogue()
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		return list, nil
	}
	var out []scenarios.Scenario
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && !st.IsDir() {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, &usageError{err: err}
			}
			sc, err := scenarios.Parse(n, b)
			if err != nil {
				return nil, &usageError{err: err}
			}
			out = append(out, sc)
			continue
		}
		sc, err := scenarios.Lookup(n)
		if err != nil {
			return nil, &usageError{err: err}
		}
		out = append(out, sc)
	}
	return out, nil
}

func runRun(ctx context.Context, f *Factory, o runOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	scs, err := loadScenarios(o.Scenarios)
	if err != nil {
		return err
	}
	if o.AsBuilt && o.Legacy {
		return usageErrorf("--legacy: an image as built has no legacy baseline to run beside it")
	}
	r, release, scs, err := prepare(ctx, f, o.harnessOptions, scs)
	if err != nil {
		return err
	}
	defer release()
	res, runErr := runScenarios(ctx, f, r, "run", scs, o.configs(o.Legacy))
	o.imageFindings(&res)
	res.Decide(0)

	if err := writeResult(filepath.Join(o.Out, "result.json"), res); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if err := writeResultFormat(f.IO.Out, f.IO.Layout(), res, o.Format); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	return verdictExit(res.Verdict)
}

// verdictExit maps a run's verdict to the exit codes of architecture.md.
func verdictExit(v scenarios.Verdict) error {
	switch v {
	case scenarios.VerdictPass, scenarios.VerdictInfo:
		return nil
	case scenarios.VerdictFail:
		return &exitError{code: exitFail}
	case scenarios.VerdictInconclusive:
		return &exitError{code: exitInconclusive}
	}
	return &exitError{code: exitInfra}
}

func writeResult(p string, res scenarios.Result) error {
	tmp := p + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	werr := reports.JSON(fh, res)
	if err := errors.Join(werr, fh.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.Rename(tmp, p)
}

// progressWriter is where image-build progress goes: the error stream.
func progressWriter(f *Factory) io.Writer { return f.IO.ErrOut }
