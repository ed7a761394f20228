package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

type runOptions struct {
	Scenarios     []string
	ConfigDir     string
	Legacy        bool
	Image         string
	TimeScale     float64
	Parallel      int
	Repeat        int
	Seed          int64
	Out           string
	KeepOnFailure bool
	JSON          bool
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
			return runRun(cmd.Context(), f, o, cmd.Flags().Changed("seed"))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ConfigDir, "config", "", "legacy config dir to use instead of the hero fleet fixture")
	fl.BoolVar(&o.Legacy, "legacy", false, "also run the legacy config (a baseline: it is expected to fail)")
	fl.StringVar(&o.Image, "image", "", "image to run (default: build or reuse the reference image)")
	fl.Float64Var(&o.TimeScale, "time-scale", 0.05, "scale every duration of the job model and of the expectations")
	fl.IntVar(&o.Parallel, "parallel", 1, "scenarios run at once")
	fl.IntVar(&o.Repeat, "repeat", 1, "attempts per scenario and config")
	fl.Int64Var(&o.Seed, "seed", 0, "seed of every random choice (default: random, printed)")
	fl.StringVar(&o.Out, "out", "zchaos-out", "directory for result.json and forensics")
	fl.BoolVar(&o.KeepOnFailure, "keep-on-failure", false, "keep the containers of non-passing scenarios")
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

func runRun(ctx context.Context, f *Factory, o runOptions, seedGiven bool) error {
	switch {
	case !(o.TimeScale > 0):
		return usageErrorf("--time-scale %v: must be > 0", o.TimeScale)
	case o.Parallel < 1:
		return usageErrorf("--parallel %d: must be >= 1", o.Parallel)
	case o.Repeat < 1:
		return usageErrorf("--repeat %d: must be >= 1", o.Repeat)
	}
	scs, err := loadScenarios(o.Scenarios)
	if err != nil {
		return err
	}
	if o.ConfigDir != "" {
		if st, err := os.Stat(o.ConfigDir); err != nil || !st.IsDir() {
			return usageErrorf("--config %s: not a directory", o.ConfigDir)
		}
	}
	if !seedGiven {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	}
	configs := []string{scenarios.ConfigMigrated}
	if o.Legacy {
		configs = append(configs, scenarios.ConfigLegacy)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return &usageError{err: fmt.Errorf("--out: %w", err)}
	}

	rt, err := chaos.NewDockerRuntime(ctx)
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	defer func() {
		// Purge on exit and on SIGINT: a fresh deadline, even if ctx is done.
		_ = rt.RemoveAll(context.WithoutCancel(ctx))
	}()
	r := &chaos.Runner{Runtime: rt, Image: o.Image, Setup: fleetSetup(migrator.DefaultPolicy(), o.ConfigDir),
		TimeScale: o.TimeScale, Parallel: o.Parallel, Repeat: o.Repeat, Seed: o.Seed, OutDir: o.Out,
		KeepOnFailure: o.KeepOnFailure, Tool: "zchaos " + version}
	if o.Image == "" {
		refs, err := buildReferenceImage(ctx, f, imageBuildOptions{}, progressWriter(f))
		if err != nil {
			return &exitError{code: exitInfra, err: fmt.Errorf("reference image: %w", err)}
		}
		r.Image = refs.Image
	} else {
		// A user's image has no agent: copy this (static) binary in.
		self, err := f.Executable()
		if err == nil {
			r.AgentBinary, err = os.ReadFile(self)
		}
		if err != nil {
			return &exitError{code: exitInfra, err: fmt.Errorf("agent binary: %w", err)}
		}
	}
	fmt.Fprintf(f.IO.ErrOut, "zchaos run: %d scenario(s), image %s, time scale %g, seed %d\n", len(scs), r.Image, o.TimeScale, o.Seed)
	prog := newProgress(f.IO.ErrOut, f.IO.TTY)
	r.Progress = prog.update
	res, runErr := r.Run(ctx, scs, configs)
	prog.finish()

	if err := writeResult(filepath.Join(o.Out, "result.json"), res); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if o.JSON {
		if err := reports.JSON(f.IO.Out, res); err != nil {
			return err
		}
	} else if err := reports.Table(f.IO.Out, res, reports.TableOptions{Reason: true}); err != nil {
		return err
	}
	if runErr != nil {
		return &exitError{code: exitInfra, err: fmt.Errorf("run interrupted: %w", runErr)}
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
