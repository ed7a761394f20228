package chaos_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// fakeRuntime starts fakeContainers: a scripted zinit service whose agent
// stream reports spawns, exits, probes and status, and whose `agent inject`
// acts on the script. No Docker.
type fakeRuntime struct {
	mu        sync.Mutex
	started   []*fakeContainer
	live, max int
	startErr  error
	restartD  time.Duration // the fake supervisor's restart delay
	applyErr  bool          // zinit add fails
	applyHang bool          // zinit add never answers (until its ctx ends)
}

func (r *fakeRuntime) Name() string { return "fake" }
func (r *fakeRuntime) Start(ctx context.Context, opts runtime.StartOptions) (runtime.Container, error) {
	if r.startErr != nil {
		return nil, r.startErr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &fakeContainer{rt: r, name: opts.Name, t0: time.Now(), opts: opts, restartD: r.restartD, applyErr: r.applyErr, applyHang: r.applyHang}
	r.started = append(r.started, c)
	r.live++
	r.max = max(r.max, r.live)
	return c, nil
}
func (r *fakeRuntime) Cleanup(context.Context, string) ([]string, error) { return nil, nil }
func (r *fakeRuntime) RemoveAll(context.Context) error                   { return nil }

type fakeContainer struct {
	rt        *fakeRuntime
	name      string
	t0        time.Time
	opts      runtime.StartOptions
	restartD  time.Duration
	applyErr  bool
	applyHang bool

	mu       sync.Mutex
	execs    [][]string
	out      chan []byte // lines to the current agent stream (nil: none)
	pid      int
	running  bool
	stopped  bool // zinit stop was asked
	removed  bool
	kept     bool // Keep was called
	pending  *time.Timer
	restarts int
	wg       sync.WaitGroup
}

func (c *fakeContainer) mono() int64 { return int64(time.Since(c.t0)) + 1e9 }
func (c *fakeContainer) ID() string  { return c.name }
func (c *fakeContainer) Name() string {
	return c.name
}

func (c *fakeContainer) emitLocked(e scenarios.Event) {
	if c.out == nil {
		return
	}
	if e.TNs == 0 {
		e.TNs = c.mono()
	}
	b, _ := json.Marshal(e)
	select {
	case c.out <- append(b, '\n'):
	default: // a slow reader loses events; the tests never fill 4096
	}
}

func ok(v bool) *bool { return &v }
func intp(v int) *int { return &v }

// spawnLocked starts a new incarnation and reports it healthy.
func (c *fakeContainer) spawnLocked() {
	c.pid++
	c.running = true
	c.emitLocked(scenarios.Event{Kind: scenarios.EventSpawn, Service: "svc", Job: "main", PID: c.pid, PGID: c.pid, ErrNs: 1e6})
	c.emitLocked(scenarios.Event{Kind: scenarios.EventStatus, Service: "svc", State: "running", PID: c.pid, Restarts: intp(c.restarts)})
	c.emitLocked(scenarios.Event{Kind: scenarios.EventProbe, Service: "svc", OK: ok(true), DurNs: 1e5})
}

func (c *fakeContainer) Stream(ctx context.Context, argv []string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	ch := make(chan []byte, 4096)
	c.mu.Lock()
	c.out = ch
	c.emitLocked(scenarios.Event{Kind: scenarios.EventAgentStart})
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer pw.Close()
		for {
			select {
			case <-ctx.Done():
				c.mu.Lock()
				c.out = nil
				c.mu.Unlock()
				return
			case b := <-ch:
				if _, err := pw.Write(b); err != nil {
					return
				}
			}
		}
	}()
	return pr, nil
}

func (c *fakeContainer) Exec(ctx context.Context, argv []string, _ io.Reader) (runtime.ExecResult, error) {
	if c.applyHang && len(argv) >= 3 && argv[0] == "zinit" && argv[1] == "add" {
		<-ctx.Done()
		return runtime.ExecResult{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.execs = append(c.execs, argv)
	if ctx.Err() != nil {
		return runtime.ExecResult{}, ctx.Err()
	}
	switch {
	case len(argv) >= 3 && argv[0] == "zinit" && argv[1] == "add" && c.applyErr:
		return runtime.ExecResult{ExitCode: 2, Stderr: []byte("zinit: boom\n")}, nil
	case len(argv) >= 2 && argv[0] == "zinit" && argv[1] == "start":
		c.restarts = 0
		c.spawnLocked()
	case len(argv) == 4 && argv[0] == "zinit" && argv[1] == "logs" && argv[3] == "--mono":
		ns := c.mono()
		return runtime.ExecResult{Stdout: []byte(fmt.Sprintf("[%d.%06d] hello\n", ns/1e9, ns%1e9/1e3))}, nil
	case len(argv) >= 3 && argv[1] == "agent" && argv[2] == "now":
		return runtime.ExecResult{Stdout: []byte(strconv.FormatInt(c.mono(), 10) + "\n")}, nil
	case len(argv) >= 3 && argv[1] == "agent" && argv[2] == "inject":
		return c.inject(argv[3:]), nil
	}
	return runtime.ExecResult{}, nil
}

func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// inject acts like `zchaos agent inject` on the script.
func (c *fakeContainer) inject(args []string) runtime.ExecResult {
	kind := flag(args, "--kind")
	var out strings.Builder
	w := func(e scenarios.Event) {
		if e.TNs == 0 {
			e.TNs = c.mono()
		}
		e.Fault = kind
		b, _ := json.Marshal(e)
		out.Write(append(b, '\n'))
	}
	if slices.Contains(args, "--revert") {
		w(scenarios.Event{Kind: scenarios.EventRevert, OK: ok(true)})
		return runtime.ExecResult{Stdout: []byte(out.String())}
	}
	switch kind {
	case "kill":
		w(scenarios.Event{Kind: scenarios.EventFault, Service: "svc", PID: c.pid, PGID: c.pid, Signal: "SIGKILL"})
		c.running = false
		c.emitLocked(scenarios.Event{Kind: scenarios.EventExit, Service: "svc", Job: "main", PID: c.pid, PGID: c.pid, Signal: "SIGKILL", ErrNs: 1e6})
		c.restarts++
		c.emitLocked(scenarios.Event{Kind: scenarios.EventStatus, Service: "svc", State: "restarting", Restarts: intp(c.restarts)})
		w(scenarios.Event{Kind: scenarios.EventEffect, OK: ok(true), Detail: "pid gone"})
		c.pending = time.AfterFunc(c.restartD, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if !c.stopped && !c.removed {
				c.spawnLocked()
			}
		})
	case "stop":
		w(scenarios.Event{Kind: scenarios.EventFault, Service: "svc"})
		c.stopped = true
		if c.pending != nil {
			c.pending.Stop()
		}
		c.emitLocked(scenarios.Event{Kind: scenarios.EventStatus, Service: "svc", State: "inactive", Restarts: intp(c.restarts)})
		w(scenarios.Event{Kind: scenarios.EventEffect, OK: ok(true), Detail: "exit 0"})
	case "hang":
		w(scenarios.Event{Kind: scenarios.EventFault, Service: "svc", PID: c.pid, PGID: c.pid, Signal: "SIGSTOP"})
		w(scenarios.Event{Kind: scenarios.EventEffect, OK: ok(true), Detail: "state T"})
	default:
		return runtime.ExecResult{ExitCode: agent.ExitUnsupported, Stderr: []byte("unsupported\n")}
	}
	return runtime.ExecResult{Stdout: []byte(out.String())}
}

func (c *fakeContainer) CopyIn(context.Context, map[string][]byte) error { return nil }
func (c *fakeContainer) Signal(context.Context, syscall.Signal) error    { return nil }
func (c *fakeContainer) Restart(context.Context, time.Duration) error    { return nil }
func (c *fakeContainer) Logs(context.Context) ([]byte, error)            { return []byte("logs\n"), nil }
func (c *fakeContainer) Keep(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kept = true
	return nil
}
func (c *fakeContainer) Remove(context.Context) error {
	c.mu.Lock()
	if c.pending != nil {
		c.pending.Stop()
	}
	first := !c.removed
	c.removed = true
	c.mu.Unlock()
	if first {
		c.rt.mu.Lock()
		c.rt.live--
		c.rt.mu.Unlock()
	}
	return nil
}

// injects lists the kinds of `agent inject` calls, with --revert marked.
func (c *fakeContainer) injects() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.execs {
		if len(a) >= 3 && a[1] == "agent" && a[2] == "inject" {
			k := flag(a, "--kind")
			if slices.Contains(a, "--revert") {
				k += " revert"
			}
			out = append(out, k)
		}
	}
	return out
}

func declared(faults ...scenarios.Fault) scenarios.Scenario {
	return scenarios.Scenario{
		Name: "fake", Target: "svc",
		Services: scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "svc", Jobs: []scenarios.DeclaredJob{
			{Name: "main", Trigger: "start", Exec: "/usr/local/bin/herosim serve --name svc --socket /s/svc.sock",
				Restart: "on-failure", RestartDelayMs: 1000, MaxRestarts: 5},
		}}}},
		Steady: scenarios.SteadyState{Running: true, Healthy: true},
		Faults: faults,
		Expect: scenarios.Expectation{Invariants: []string{"R3", "R4"}},
		Source: "name: fake\n",
	}
}

func fakeRunner(rt *fakeRuntime, out string) *chaos.Runner {
	return &chaos.Runner{Runtime: rt, Image: "fake", TimeScale: 0.05, Seed: 7, OutDir: out, RunID: "zc-test"}
}

func TestRunnerSchedulesFaultsAndJudges(t *testing.T) {
	rt := &fakeRuntime{restartD: 50 * time.Millisecond}
	r := fakeRunner(rt, t.TempDir())
	var phases []chaos.Phase
	var pmu sync.Mutex
	r.Progress = func(p chaos.ProgressEvent) {
		pmu.Lock()
		phases = append(phases, p.Phase)
		pmu.Unlock()
	}
	sc := declared(
		scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL", When: "healthy"},
		scenarios.Fault{Kind: scenarios.FaultStop, When: "restarting", DelayMs: 200},
	)
	res, err := r.Run(context.Background(), []scenarios.Scenario{sc}, nil)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	s := res.Scenarios[0]
	require.Len(t, rt.started, 1)
	c := rt.started[0]
	assert.Equal(t, []string{"kill", "stop"}, c.injects(), "faults in order")
	assert.True(t, c.removed, "the container is removed")
	assert.Contains(t, c.opts.Env, "ZINIT_CONFIG_DIR="+chaos.EmptyConfigDir, "declared services boot with no fleet")
	assert.Equal(t, "migrated", s.Config)
	assert.Equal(t, "svc", s.Service)
	require.NotNil(t, s.Policy)
	assert.Equal(t, int64(50), s.Policy.RestartDelayMs, "1000 ms scaled by 0.05")

	// The stop came while the restart was pending, delay_ms (scaled) after it.
	var exitT, stopT int64 = -1, -1
	spawns := 0
	for _, e := range s.Timeline {
		switch {
		case e.Kind == scenarios.EventExit:
			exitT = e.TNs
		case e.Kind == scenarios.EventFault && e.Fault == "stop":
			stopT = e.TNs
		case e.Kind == scenarios.EventSpawn:
			spawns++
		}
	}
	require.True(t, exitT >= 0 && stopT >= 0, "timeline: %v", s.Timeline)
	assert.GreaterOrEqual(t, stopT-exitT, int64(10*time.Millisecond), "delay_ms 200 × 0.05")
	assert.Equal(t, 1, spawns, "the stop cancelled the restart")
	assert.Equal(t, int64(0), s.Timeline[0].TNs, "times are relative to the agent's start")
	assert.True(t, slices.IsSortedFunc(s.Timeline, func(a, b scenarios.Event) int { return int(a.TNs - b.TNs) }))

	assert.NotEmpty(t, s.Checks, "the oracle judged")
	assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s %+v", s.Reason, s.Checks)
	assert.Greater(t, s.PhysicalMinMs, int64(0))
	assert.GreaterOrEqual(t, s.DurationMs, s.PhysicalMinMs)
	assert.Equal(t, []chaos.Phase{chaos.PhaseStart, chaos.PhaseApply, chaos.PhaseSteady, chaos.PhaseFault,
		chaos.PhaseObserve, chaos.PhaseJudge, chaos.PhaseDone}, phases)
	assert.Equal(t, oracle.DefaultParams(0.05).Result(), res.Params)
	assert.Equal(t, res.Verdict, s.Verdict)
}

// Every attempt's full event stream goes to its forensics directory
// (gzipped JSON lines, a pass's too); the result keeps its compaction.
func TestRunnerKeepsTheFullStreamBesideACompactTimeline(t *testing.T) {
	out := t.TempDir()
	rt := &fakeRuntime{restartD: 50 * time.Millisecond}
	res, err := fakeRunner(rt, out).Run(context.Background(), []scenarios.Scenario{declared(
		scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL", When: "healthy"},
		scenarios.Fault{Kind: scenarios.FaultStop, When: "restarting", DelayMs: 200})}, nil)
	require.NoError(t, err)
	s := res.Scenarios[0]
	require.Equal(t, scenarios.VerdictPass, s.Verdict, s.Reason)
	assert.Empty(t, s.Forensics, "a pass has no bundle")
	require.Equal(t, filepath.Join("forensics", "fake_migrated_1", "events.jsonl.gz"), s.RawEvents)

	fh, err := os.Open(filepath.Join(out, s.RawEvents))
	require.NoError(t, err)
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	require.NoError(t, err)
	var raw []scenarios.Event
	dec := json.NewDecoder(zr)
	for dec.More() {
		var e scenarios.Event
		require.NoError(t, dec.Decode(&e))
		raw = append(raw, e)
	}
	require.NotEmpty(t, raw)
	assert.Equal(t, scenarios.CompactTimeline(raw), s.Timeline, "the result's timeline is the stream's compaction")
}

// A non-passing attempt's bundle holds the result's compact timeline as
// timeline.json, one event a line, and the full stream beside it.
func TestRunnerBundleHoldsTheCompactTimeline(t *testing.T) {
	out := t.TempDir()
	rt := &fakeRuntime{restartD: 5 * time.Millisecond} // restarts before d = 50 ms: R1 does not pass
	sc := declared(scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL", When: "healthy"})
	sc.Expect.Invariants = []string{"R1"}
	res, err := fakeRunner(rt, out).Run(context.Background(), []scenarios.Scenario{sc}, nil)
	require.NoError(t, err)
	s := res.Scenarios[0]
	require.NotEqual(t, scenarios.VerdictPass, s.Verdict, s.Reason)
	require.NotEmpty(t, s.Forensics)
	tlFile, err := os.ReadFile(filepath.Join(out, s.Forensics, "timeline.json"))
	require.NoError(t, err)
	var tl []scenarios.Event
	require.NoError(t, json.Unmarshal(tlFile, &tl), "%s", tlFile)
	require.NotEmpty(t, tl)
	assert.Equal(t, s.Timeline, tl)
	assert.Equal(t, len(tl)+2, strings.Count(string(tlFile), "\n"), "one event a line")
	assert.Equal(t, filepath.Join(s.Forensics, "events.jsonl.gz"), s.RawEvents, "the full stream in the same bundle")
	assert.FileExists(t, filepath.Join(out, s.RawEvents))
}

func TestRunnerInfrastructureBreaksAsVerdictError(t *testing.T) {
	out := t.TempDir()
	rt := &fakeRuntime{restartD: 50 * time.Millisecond, applyErr: true}
	res, err := fakeRunner(rt, out).Run(context.Background(), []scenarios.Scenario{declared()}, nil)
	require.NoError(t, err)
	s := res.Scenarios[0]
	assert.Equal(t, scenarios.VerdictError, s.Verdict)
	assert.Contains(t, s.Reason, "zinit: boom")
	assert.True(t, rt.started[0].removed)
	require.NotEmpty(t, s.Forensics, "a non-pass keeps a bundle")
	for _, f := range []string{"timeline.json", "judgement.json", "scenario.yaml", "seed.txt", "ps.txt", "container.log"} {
		assert.FileExists(t, filepath.Join(out, s.Forensics, f))
	}
	seed, err := os.ReadFile(filepath.Join(out, s.Forensics, "seed.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(seed), "run seed 7")
	repro, err := os.ReadFile(filepath.Join(out, s.Forensics, "reproduce.txt"))
	require.NoError(t, err)
	assert.Equal(t, "zchaos run "+filepath.Join(out, s.Forensics, "scenario.yaml")+" --seed 7 --time-scale 0.05\n", string(repro))
	logs, err := os.ReadFile(filepath.Join(out, s.Forensics, "zinit-logs-svc.txt"))
	require.NoError(t, err)
	assert.Regexp(t, `^\[t=\+[0-9.]+s mono=[0-9]+\.[0-9]{6}\] hello\n$`, string(logs), "log lines on the scenario's clock")

	rt = &fakeRuntime{startErr: errors.New("engine down")}
	res, err = fakeRunner(rt, "").Run(context.Background(), []scenarios.Scenario{declared()}, nil)
	require.NoError(t, err)
	assert.Equal(t, scenarios.VerdictError, res.Scenarios[0].Verdict)
	assert.Contains(t, res.Scenarios[0].Reason, "engine down")
	assert.Equal(t, scenarios.VerdictError, res.Verdict)
}

// TestRunnerAttemptDeadline: an attempt that hangs (here: a zinit CLI that
// never answers) is stopped at its deadline, its container removed, and
// its verdict is error with a reason naming the deadline and the phase.
func TestRunnerAttemptDeadline(t *testing.T) {
	rt := &fakeRuntime{restartD: 50 * time.Millisecond, applyHang: true}
	r := fakeRunner(rt, "")
	r.AttemptDeadline = 300 * time.Millisecond
	res, err := r.Run(context.Background(), []scenarios.Scenario{declared()}, nil)
	require.NoError(t, err, "the run itself was not cancelled")
	s := res.Scenarios[0]
	assert.Equal(t, scenarios.VerdictError, s.Verdict)
	assert.Contains(t, s.Reason, "attempt stopped at its deadline of 300ms in phase apply")
	require.Len(t, rt.started, 1)
	assert.True(t, rt.started[0].removed, "the container is removed")
}

func TestRunnerCancelRevertsAndRemovesEverything(t *testing.T) {
	rt := &fakeRuntime{restartD: 50 * time.Millisecond}
	r := fakeRunner(rt, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Progress = func(p chaos.ProgressEvent) {
		if p.Phase == chaos.PhaseObserve {
			cancel() // as on SIGINT, while the hang is in place
		}
	}
	sc := declared(scenarios.Fault{Kind: scenarios.FaultHang, When: "healthy"})
	sc.ObserveMs = 600_000
	res, err := r.Run(ctx, []scenarios.Scenario{sc, sc}, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, res.Scenarios, 2)
	for _, s := range res.Scenarios {
		assert.Equal(t, scenarios.VerdictError, s.Verdict, s.Reason)
	}
	require.NotEmpty(t, rt.started)
	for _, c := range rt.started {
		assert.True(t, c.removed, "container %s removed", c.name)
	}
	assert.Equal(t, []string{"hang", "hang revert"}, rt.started[0].injects(), "a SIGSTOP is undone even on cancel")
}

func TestRunnerParallelismAndRepeats(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: six scenario attempts in real time")
	}
	rt := &fakeRuntime{restartD: 50 * time.Millisecond}
	r := fakeRunner(rt, "")
	r.Parallel, r.Repeat = 2, 3
	var totals sync.Map
	r.Progress = func(p chaos.ProgressEvent) { totals.Store(p.Total, true) }
	a, b := declared(), declared()
	a.Name, b.Name = "a", "b"
	res, err := r.Run(context.Background(), []scenarios.Scenario{a, b}, nil)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 6)
	var seen []int
	totals.Range(func(k, _ any) bool { seen = append(seen, k.(int)); return true })
	assert.Equal(t, []int{6}, seen, "every progress event counts the run's 6 attempts")
	assert.LessOrEqual(t, rt.max, 2, "at most Parallel containers at once")
	assert.Equal(t, 0, rt.live)
	var got []string
	seeds := map[int64]bool{}
	for _, s := range res.Scenarios {
		got = append(got, fmt.Sprintf("%s/%d", s.Scenario, s.Attempt))
		seeds[s.Seed] = true
	}
	assert.Equal(t, []string{"a/1", "a/2", "a/3", "b/1", "b/2", "b/3"}, got)
	assert.Len(t, seeds, 6, "each attempt has its own seed")
	assert.Equal(t, chaos.AttemptSeed(7, "a", "migrated", 2), res.Scenarios[1].Seed, "seeds derive from the run seed")
	require.NotNil(t, res.FirstPassRate)
}

func TestConfigsFor(t *testing.T) {
	fleet := scenarios.Scenario{Services: scenarios.ServiceSet{From: "fleet"}}
	assert.Equal(t, []string{"migrated", "legacy"}, chaos.ConfigsFor(fleet, nil))
	assert.Equal(t, []string{"migrated"}, chaos.ConfigsFor(fleet, []string{"migrated"}))
	assert.Equal(t, []string{"migrated"}, chaos.ConfigsFor(declared(), []string{"migrated", "legacy"}))
}

// TestRunnerKeepOnFailureDisarmsTheDeadMan: every container carries the
// agent's dead-man switch; a non-passing attempt's container kept with
// KeepOnFailure is kept through Keep (which disarms it), not removed.
func TestRunnerKeepOnFailureDisarmsTheDeadMan(t *testing.T) {
	rt := &fakeRuntime{restartD: 50 * time.Millisecond, applyErr: true}
	r := fakeRunner(rt, "")
	r.KeepOnFailure = true
	res, err := r.Run(context.Background(), []scenarios.Scenario{declared()}, nil)
	require.NoError(t, err)
	assert.Equal(t, scenarios.VerdictError, res.Scenarios[0].Verdict)
	require.Len(t, rt.started, 1)
	c := rt.started[0]
	assert.Equal(t, chaos.DeadMan(), c.opts.DeadMan)
	assert.Equal(t, []string{agent.Path, "agent", "deadman"}, c.opts.DeadMan.Argv)
	assert.True(t, c.kept, "kept through Keep")
	assert.False(t, c.removed)

	rt = &fakeRuntime{restartD: 50 * time.Millisecond, applyErr: true}
	_, err = fakeRunner(rt, "").Run(context.Background(), []scenarios.Scenario{declared()}, nil)
	require.NoError(t, err)
	assert.False(t, rt.started[0].kept, "without KeepOnFailure nothing is kept")
	assert.True(t, rt.started[0].removed)
}

// Two runners given the same plan and shards 1/2 and 2/2 run every attempt
// of it exactly once between them, record their shard and the plan, and
// merge into one result.
func TestRunnerShardsSplitThePlan(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: four scenario attempts in real time")
	}
	a, b := declared(), declared()
	a.Name, b.Name = "a", "b"
	var in []scenarios.ShardInput
	seen := map[string]int{}
	for i := 1; i <= 2; i++ {
		r := fakeRunner(&fakeRuntime{restartD: 50 * time.Millisecond}, "")
		r.Parallel, r.Repeat, r.Shard = 2, 2, scenarios.Shard{Index: i, Count: 2}
		res, err := r.Run(context.Background(), []scenarios.Scenario{a, b}, nil)
		require.NoError(t, err)
		require.NotNil(t, res.Shard)
		assert.Equal(t, scenarios.Shard{Index: i, Count: 2}, *res.Shard)
		assert.Equal(t, 4, res.PlanAttempts)
		assert.NotEmpty(t, res.Plan)
		for _, s := range res.Scenarios {
			seen[s.Key()]++
			assert.Equal(t, chaos.AttemptSeed(7, s.Scenario, s.Config, s.Attempt), s.Seed, "a shard keeps the unsharded seeds")
		}
		in = append(in, scenarios.ShardInput{Name: fmt.Sprint(i), Result: res})
	}
	assert.Equal(t, map[string]int{"a@svc/migrated#1": 1, "a@svc/migrated#2": 1, "b@svc/migrated#1": 1, "b@svc/migrated#2": 1}, seen)
	assert.Equal(t, in[0].Result.Plan, in[1].Result.Plan)
	merged, err := scenarios.Merge(in)
	require.NoError(t, err)
	assert.Len(t, merged.Scenarios, 4)
}
