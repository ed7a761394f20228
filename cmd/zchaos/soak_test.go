package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// soakEnv names how many gate runs `make soak` asks of TestSoakUnderLoad.
const soakEnv = "ZCHAOS_SOAK"

// soakMutant is the defect the soak must still catch under its load: a
// restart at 0.9 d, early by a tenth of the delay.
const soakMutant = "restart-slightly-early"

// TestSoakUnderLoad is `make soak` (not CI: it takes an hour): N gate runs
// of the reference supervisor (its default catalogue, --time-scale auto)
// while stress-ng keeps CPU and I/O workers at twice the cores busy. No
// migrated scenario may fail (a fail on the correct supervisor is a false
// alarm); inconclusive ones are counted and reported with the canary's
// figures. Under the same load a supervisor that restarts at 0.9 d must
// still be judged fail (at scale 0.25, see below).
func TestSoakUnderLoad(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv(soakEnv))
	if runs <= 0 {
		t.Skipf("%s unset: make soak runs this (N gate runs under stress-ng)", soakEnv)
	}
	chaostest.Docker(t)
	stress, err := exec.LookPath("stress-ng")
	require.NoError(t, err, "stress-ng is needed (apt-get install stress-ng; make soak installs it as root)")
	mutant := chaostest.Mutant(t, soakMutant) // built before the load starts
	ref := chaostest.Image(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*20*time.Minute+20*time.Minute)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	workers := strconv.Itoa(2 * goruntime.NumCPU())
	load := exec.Command(stress, "--cpu", workers, "--io", workers, "--quiet")
	load.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, load.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-load.Process.Pid, syscall.SIGKILL)
		_ = load.Wait()
	})
	t.Logf("stress-ng --cpu %s --io %s running", workers, workers)

	// A run with a false alarm keeps its reports and forensics here (the
	// temp dirs go with the test).
	kept := filepath.Join(chaostest.ModuleRoot(t), "soak-out")
	var lastOut string
	zchaos := func(args ...string) (int, scenarios.Result, string) {
		out := t.TempDir()
		lastOut = out
		cmd := exec.CommandContext(ctx, bins.Agent, append(args, "--out", out)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		var res scenarios.Result
		if code <= exitInconclusive {
			res = binRun{out: out}.result(t)
		}
		return code, res, stderr.String()
	}

	var table strings.Builder
	fmt.Fprintf(&table, "| run | decision | scale | migrated pass / inconclusive / fail | canary p99 / max (ms, worst attempt) | wall |\n|---|---|---|---|---|---|\n")
	var pass, inconclusive, fail, errs int
	for i := 1; i <= runs; i++ {
		start := time.Now()
		code, res, stderr := zchaos("gate", "--image", ref, "--seed", strconv.Itoa(i))
		if code > exitInconclusive {
			errs++
			fmt.Fprintf(&table, "| %d | exit %d | | | | %s |\n", i, code, time.Since(start).Round(time.Second))
			t.Logf("run %d: exit %d:\n%s", i, code, stderr)
			continue
		}
		var p, n, f int
		var p99, mx float64
		for _, s := range res.Scenarios {
			if s.Baseline {
				continue
			}
			switch s.Verdict {
			case scenarios.VerdictPass:
				p++
			case scenarios.VerdictInconclusive:
				n++
			case scenarios.VerdictFail:
				f++
				t.Errorf("run %d: false alarm: %s on %s: %s", i, s.Scenario, s.Config, s.Reason)
			}
			if s.Load != nil {
				p99, mx = max(p99, s.Load.P99Ms), max(mx, s.Load.MaxMs)
			}
		}
		pass, inconclusive, fail = pass+p, inconclusive+n, fail+f
		if f > 0 {
			dst := filepath.Join(kept, fmt.Sprintf("run-%d", i))
			_ = os.RemoveAll(dst)
			if err := os.CopyFS(dst, os.DirFS(lastOut)); err != nil {
				t.Logf("run %d: keeping its reports: %v", i, err)
			} else {
				t.Logf("run %d: reports and forensics kept in %s", i, dst)
			}
		}
		fmt.Fprintf(&table, "| %d | %s | %g | %d / %d / %d | %.0f / %.0f | %s |\n", i, res.Decision, res.TimeScale, p, n, f, p99, mx,
			time.Since(start).Round(time.Second))
		t.Logf("run %d done: %s, scale %g", i, res.Decision, res.TimeScale)
	}

	// The same load, a supervisor early by a tenth of its delay, at 0.25
	// (d = 1.25 s, 125 ms early): at 0.05 a tenth of d is 25 ms, inside
	// the error bars of an exit and a spawn plus zinit's own delay in
	// noticing the exit, which hides earliness (the catch table says so).
	code, res, stderr := zchaos("run", "crash-restart", "--image", mutant, "--time-scale", "0.25", "--seed", "1")
	i := slices.IndexFunc(res.Scenarios, func(s scenarios.ScenarioResult) bool { return s.Scenario == "crash-restart" })
	caught := "not run: " + stderr
	if i >= 0 {
		s := res.Scenarios[i]
		caught = fmt.Sprintf("%s at scale %g: %s", s.Verdict, res.TimeScale, s.Reason)
		assert.Equal(t, scenarios.VerdictFail, s.Verdict, "the %s supervisor under load: %s", soakMutant, s.Reason)
	}
	assert.Equal(t, exitFail, code, "the %s supervisor is blocked under load", soakMutant)
	t.Logf("soak: %d gate runs under stress-ng (%s CPU + %s I/O workers)\n%s\nmigrated scenarios: %d pass, %d inconclusive, %d fail (false alarms); %d runs ended in a harness error\n%s: %s",
		runs, workers, workers, table.String(), pass, inconclusive, fail, errs, soakMutant, caught)
	assert.Zero(t, fail, "false alarms on the correct supervisor")
}
