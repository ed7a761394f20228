package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

type runOptions struct {
	harnessOptions
	Scenarios []string
	Legacy    bool
	JSON      bool
}

func newRunCmd(f *Factory) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [SCENARIO...]",
		Short: "Run chaos scenarios in containers and judge them",
		Long: `Run scenarios of the catalogue (all of them when none is named) in
containers: apply the config (migrated through the migrator, or legacy with
--legacy as a baseline), reach the steady state, inject the faults, observe,
and judge the timeline against the declared job model.

Writes result.json (and a forensics bundle per non-passing scenario) to
--out, prints a table (or the result JSON with --json).

Exit codes: 0 all pass, 1 a failure, 2 inconclusive (no failure), 3 usage
or config error, 4 harness or infrastructure error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Scenarios = args
			o.SeedGiven = cmd.Flags().Changed("seed")
			return runRun(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.addFlags(fl, 1, "0.05")
	fl.BoolVar(&o.Legacy, "legacy", false, "also run the legacy config (a baseline: it is expected to fail)")
	fl.BoolVar(&o.JSON, "json", false, "print the result JSON instead of a table")
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
			b, err := readScenarioFile(n)
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
	if o.JSON {
		if err := reports.JSON(f.IO.Out, res); err != nil {
			return err
		}
	} else if err := reports.Table(f.IO.Out, res, reports.TableOptions{Reason: true}); err != nil {
		return err
	} else if err := reports.ImageTables(f.IO.Out, res); err != nil {
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

// progress shows where each attempt is: on a TTY one live status line
// (rewritten in place), otherwise one quiet line per finished attempt.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	live map[string]chaos.ProgressEvent
	done int
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, live: map[string]chaos.ProgressEvent{}}
}

func attemptKey(p chaos.ProgressEvent) string {
	return fmt.Sprintf("%s/%s#%d", p.Scenario, p.Config, p.Attempt)
}

func (p *progress) update(ev chaos.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := attemptKey(ev)
	if ev.Phase == chaos.PhaseDone {
		delete(p.live, k)
		p.done++
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "%-12s %s (%s)\n", ev.Verdict, k, ev.Elapsed.Round(10*time.Millisecond))
	} else {
		p.live[k] = ev
	}
	if !p.tty {
		return
	}
	line := ""
	for key, e := range p.live {
		exp := ""
		if e.Expected > 0 {
			exp = "/" + e.Expected.Round(100*time.Millisecond).String()
		}
		line += fmt.Sprintf("[%s %s %s%s] ", key, e.Phase, e.Elapsed.Round(100*time.Millisecond), exp)
	}
	fmt.Fprintf(p.w, "\r\033[K%d done %s", p.done, line)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
