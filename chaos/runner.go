package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// Phase names a step of a scenario attempt, for progress.
type Phase string

const (
	PhaseStart   Phase = "start"   // starting the container
	PhaseApply   Phase = "apply"   // applying the config
	PhaseSteady  Phase = "steady"  // waiting for the steady state
	PhaseFault   Phase = "fault"   // injecting faults
	PhaseObserve Phase = "observe" // observing the outcome
	PhaseJudge   Phase = "judge"   // judging, writing forensics
	PhaseDone    Phase = "done"    // finished; Verdict is set
)

// ProgressEvent reports where one scenario attempt is.
type ProgressEvent struct {
	Scenario string
	Config   string
	Attempt  int
	Phase    Phase
	Elapsed  time.Duration // since the attempt started
	Expected time.Duration // expected total (the physical minimum), when known
	Verdict  scenarios.Verdict
	Reason   string
}

// Runner runs scenarios in containers and judges them. Its zero-valued
// optional fields take defaults. Run may be called once at a time.
type Runner struct {
	Runtime       runtime.Runtime
	Image         string
	Setup         SetupFunc // for fleet scenarios; declared ones use DeclaredSetup
	TimeScale     float64   // default 1
	Parallel      int       // default 1
	Repeat        int       // attempts per scenario × config (default 1)
	Seed          int64     // decides every random choice (the monkey's)
	OutDir        string    // forensics bundles go under OutDir/forensics ("" = none written)
	KeepOnFailure bool      // keep the containers of non-passing attempts
	Progress      func(ProgressEvent)
	Clock         clock.Clock // default real

	// RunID labels the run's containers (default: random).
	RunID string
	// Tool is Result.Tool (default "zchaos").
	Tool string
	// AgentBinary, when set, is copied to agent.Path in every container (for
	// a user's image, which has no agent).
	AgentBinary []byte
	// ZinitCLI is the target's zinit CLI inside the container (default "zinit").
	ZinitCLI string
	// ProcPeriod is the agent's /proc poll period (default 5 ms).
	ProcPeriod time.Duration
	// SteadyTimeout bounds the steady-state wait when the scenario gives
	// none (default 30 s).
	SteadyTimeout time.Duration
	// Params overrides the oracle's parameters (default oracle.DefaultParams).
	Params *oracle.Params
}

// task is one scenario × config × attempt.
type task struct {
	sc      scenarios.Scenario
	config  string
	attempt int
	seed    int64
}

func (r *Runner) defaults() {
	if r.TimeScale <= 0 {
		r.TimeScale = 1
	}
	if r.Parallel <= 0 {
		r.Parallel = 1
	}
	if r.Repeat <= 0 {
		r.Repeat = 1
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.RunID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		r.RunID = "zc-" + hex.EncodeToString(b[:])
	}
	if r.Tool == "" {
		r.Tool = "zchaos"
	}
	if r.ZinitCLI == "" {
		r.ZinitCLI = ZinitCLI
	}
	if r.SteadyTimeout <= 0 {
		r.SteadyTimeout = 30 * time.Second
	}
}

func (r *Runner) params() oracle.Params {
	if r.Params != nil {
		return *r.Params
	}
	return oracle.DefaultParams(r.TimeScale)
}

// ConfigsFor returns the configs a scenario runs on: those it supports
// (RunConfigs), limited to the requested ones when any are given.
func ConfigsFor(sc scenarios.Scenario, requested []string) []string {
	supported := sc.RunConfigs()
	if len(requested) == 0 {
		return supported
	}
	var out []string
	for _, c := range requested {
		if slices.Contains(supported, c) {
			out = append(out, c)
		}
	}
	return out
}

// AttemptSeed derives an attempt's seed from the run seed, so a rerun with
// the same seed makes the same choices.
func AttemptSeed(seed int64, scenario, config string, attempt int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s/%d", seed, scenario, config, attempt)
	return int64(h.Sum64() & math.MaxInt64)
}

// Run runs every scenario on each of its configs (limited to configs when
// not empty) Repeat times, Parallel at a time, and returns the result. A
// scenario whose infrastructure breaks gets verdict error; Run's error is
// only ctx's (the result then holds what finished, and every container is
// removed). It blocks; every goroutine it starts has ended when it returns.
func (r *Runner) Run(ctx context.Context, scs []scenarios.Scenario, configs []string) (scenarios.Result, error) {
	r.defaults()
	started := r.Clock.Now()
	params := r.params()
	res := scenarios.Result{
		SchemaVersion: scenarios.ResultSchemaVersion, Tool: r.Tool, RunID: r.RunID, StartedAt: started,
		Image: r.Image, TimeScale: r.TimeScale, Seed: r.Seed, Params: params.Result(),
		Verdict: scenarios.VerdictPass,
	}
	var tasks []task
	for _, sc := range scs {
		for _, cfg := range ConfigsFor(sc, configs) {
			for a := 1; a <= r.Repeat; a++ {
				tasks = append(tasks, task{sc: sc, config: cfg, attempt: a, seed: AttemptSeed(r.Seed, sc.Name, cfg, a)})
			}
		}
	}
	results := make([]scenarios.ScenarioResult, len(tasks))
	setups := make([]Setup, len(tasks))
	var g errgroup.Group
	g.SetLimit(r.Parallel)
	for i, t := range tasks {
		if ctx.Err() != nil {
			results[i] = r.skipped(t, ctx.Err())
			continue
		}
		g.Go(func() error {
			results[i], setups[i] = r.runAttempt(ctx, t)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil && r.Runtime != nil {
		// Belt and braces: every attempt removes its own container.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		_, _ = r.Runtime.Cleanup(cctx, r.RunID)
		cancel()
	}
	res.Scenarios = results
	seen := map[string]bool{}
	for _, st := range setups {
		for _, p := range st.Policies {
			k := p.Service + "\x00" + p.Config
			if !seen[k] {
				seen[k] = true
				res.Services = append(res.Services, p)
			}
		}
		for _, l := range st.Ledger {
			k := "ledger\x00" + l.Service + "\x00" + l.Field + "\x00" + l.Detail
			if !seen[k] {
				seen[k] = true
				res.Ledger = append(res.Ledger, l)
			}
		}
	}
	sort.SliceStable(res.Services, func(i, j int) bool {
		if res.Services[i].Config != res.Services[j].Config {
			return res.Services[i].Config > res.Services[j].Config // migrated first
		}
		return res.Services[i].Service < res.Services[j].Service
	})
	for _, s := range results {
		res.Verdict = scenarios.Worse(res.Verdict, s.Verdict)
	}
	if r.Repeat > 1 {
		firsts, passes := 0, 0
		for _, s := range results {
			if s.Attempt == 1 {
				firsts++
				if s.Verdict == scenarios.VerdictPass {
					passes++
				}
			}
		}
		if firsts > 0 {
			rate := float64(passes) / float64(firsts)
			res.FirstPassRate = &rate
		}
	}
	res.DurationMs = r.Clock.Since(started).Milliseconds()
	return res, ctx.Err()
}

func (r *Runner) skipped(t task, err error) scenarios.ScenarioResult {
	return scenarios.ScenarioResult{Scenario: t.sc.Name, Description: t.sc.Description, Tags: t.sc.Tags,
		Config: t.config, Service: t.sc.Target, Attempt: t.attempt, Seed: t.seed, StartedAt: r.Clock.Now(),
		Verdict: scenarios.VerdictError, Reason: "not run: " + err.Error()}
}

// attempt is the live state of one task.
type attempt struct {
	r          *Runner
	t          task
	setup      Setup
	model      oracle.JobModel
	params     oracle.Params
	c          runtime.Container
	obs        *observer
	inj        Injector
	spec       agent.Spec
	start      time.Time
	expect     time.Duration // physical minimum
	reverts    []pendingRevert
	revMu      sync.Mutex
	revWG      sync.WaitGroup
	stopRev    chan struct{}
	notesMu    sync.Mutex
	notes      []string // harness notes for the reason / forensics
	steadyList []byte
}

type pendingRevert struct {
	fault  scenarios.FaultKind
	revert Revert
}

func (a *attempt) progress(p Phase) {
	if a.r.Progress == nil {
		return
	}
	a.r.Progress(ProgressEvent{Scenario: a.t.sc.Name, Config: a.t.config, Attempt: a.t.attempt, Phase: p,
		Elapsed: a.r.Clock.Since(a.start), Expected: a.expect})
}

// runAttempt runs one task to a result; it never returns an error: broken
// infrastructure is verdict error.
func (r *Runner) runAttempt(ctx context.Context, t task) (res scenarios.ScenarioResult, setup Setup) {
	a := &attempt{r: r, t: t, obs: newObserver(), start: r.Clock.Now(), params: r.params(), stopRev: make(chan struct{})}
	res = scenarios.ScenarioResult{Scenario: t.sc.Name, Description: t.sc.Description, Tags: t.sc.Tags,
		Config: t.config, Service: t.sc.Target, Attempt: t.attempt, Seed: t.seed, StartedAt: a.start}
	fail := func(v scenarios.Verdict, format string, args ...any) {
		res.Verdict, res.Reason = v, fmt.Sprintf(format, args...)
	}
	defer func() {
		res.DurationMs = r.Clock.Since(a.start).Milliseconds()
		if r.Progress != nil {
			r.Progress(ProgressEvent{Scenario: t.sc.Name, Config: t.config, Attempt: t.attempt, Phase: PhaseDone,
				Elapsed: r.Clock.Since(a.start), Expected: a.expect, Verdict: res.Verdict, Reason: res.Reason})
		}
	}()

	// Setup.
	var err error
	if len(t.sc.Services.Declared) > 0 {
		a.setup, err = DeclaredSetup(t.sc, r.TimeScale)
	} else if r.Setup != nil {
		a.setup, err = r.Setup(ctx, t.sc, t.config, r.TimeScale)
	} else {
		err = errors.New("no setup for fleet scenarios")
	}
	if err != nil {
		fail(scenarios.VerdictError, "setup: %v", err)
		return res, Setup{}
	}
	setup = a.setup
	policies := a.setup.Policies
	a.model = oracle.JobModelFrom(t.sc.Target, a.setup.Jobs, a.setup.Legacy[t.sc.Target], a.setup.Oneshot[t.sc.Target])
	if t.sc.Target == "" {
		// Fleet-wide: time the scenario by its slowest service (the oracle
		// judges each with its own model).
		for i, svc := range a.watched() {
			m := oracle.JobModelFrom(svc, a.setup.Jobs, a.setup.Legacy[svc], a.setup.Oneshot[svc])
			if i == 0 || m.RestartDelay+m.Interval+m.Timeout > a.model.RestartDelay+a.model.Interval+a.model.Timeout {
				a.model = m
			}
		}
	}
	for i := range policies {
		if policies[i].Service == t.sc.Target && policies[i].Config == t.config {
			p := policies[i]
			res.Policy = &p
		}
	}
	a.spec = r.agentSpec(a.setup, t.sc, a.params)
	a.inj = Injector{Agent: agent.Path, SpecPath: agent.SpecPath, EffectTimeout: a.effectTimeout(),
		CrashMinAge: max(25*time.Millisecond, 10*a.spec.ProcPeriod())}
	a.expect = a.physicalMin()
	res.PhysicalMinMs = a.expect.Milliseconds()
	if r.Runtime == nil {
		fail(scenarios.VerdictError, "no runtime")
		return res, setup
	}

	// runtime.Container.
	a.progress(PhaseStart)
	files := map[string][]byte{}
	for k, v := range a.setup.Files {
		files[k] = v
	}
	specJSON, _ := json.Marshal(a.spec)
	files[agent.SpecPath] = specJSON
	if r.AgentBinary != nil {
		files[agent.Path] = r.AgentBinary
	}
	c, err := r.Runtime.Start(ctx, runtime.StartOptions{Image: r.Image, RunID: r.RunID, Env: a.setup.Env, Files: files,
		Name: containerNameFor(r.RunID, t)})
	if err != nil {
		fail(scenarios.VerdictError, "start container: %v", err)
		return res, setup
	}
	a.c = c
	keep := false
	defer func() {
		if keep {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := c.Remove(rctx); err != nil && res.Verdict == scenarios.VerdictPass {
			res.Verdict, res.Reason = scenarios.VerdictError, "remove container: "+err.Error()
		}
	}()

	verdict, reason, evs, end := a.execute(ctx)
	if ctx.Err() != nil && verdict != scenarios.VerdictError {
		verdict, reason = scenarios.VerdictError, "cancelled: "+ctx.Err().Error()
	}
	res.Timeline = evs
	if verdict == scenarios.VerdictPass { // the harness got through: judge
		a.progress(PhaseJudge)
		j := a.judge(evs, end)
		res.Verdict, res.Reason, res.Checks, res.Recovery = j.Verdict, j.Reason, j.Checks, j.Recovery
	} else {
		res.Verdict, res.Reason = verdict, reason
	}
	if len(a.notes) > 0 {
		res.Reason = strings.TrimSpace(res.Reason + " [" + strings.Join(a.notes, "; ") + "]")
	}
	if res.Verdict != scenarios.VerdictPass && res.Verdict != scenarios.VerdictInfo {
		if r.OutDir != "" {
			dir, ferr := a.forensics(ctx, res)
			res.Forensics = dir
			if ferr != nil {
				res.Reason += " (forensics incomplete: " + ferr.Error() + ")"
			}
		}
		keep = r.KeepOnFailure
	}
	return res, setup
}

// execute drives the attempt from a started container to the end of the
// observation. verdict is pass when the harness got through (the oracle
// judges then), else error/inconclusive/fail with the reason. evs are the
// rebased events, end the observation's end on the same scale.
func (a *attempt) execute(ctx context.Context) (verdict scenarios.Verdict, reason string, evs []scenarios.Event, end time.Duration) {
	r, sc := a.r, a.t.sc
	// Reverts always run, even on cancel, before the agent stops.
	defer func() { a.runReverts(ctx) }()
	actx, stopAgents := context.WithCancel(ctx)
	agentsStopped := false
	stop := func() {
		if !agentsStopped {
			agentsStopped = true
			stopAgents()
			a.obs.wait()
		}
	}
	defer stop()
	if err := a.attachAgent(actx); err != nil {
		return scenarios.VerdictError, err.Error(), nil, 0
	}
	if err := a.obs.waitFor(ctx, r.Clock, 15*time.Second, "agent start", func(evs []scenarios.Event) bool {
		return slices.ContainsFunc(evs, func(e scenarios.Event) bool { return e.Kind == scenarios.EventAgentStart })
	}); err != nil {
		return scenarios.VerdictError, err.Error(), nil, 0
	}
	// The agent watches before the config is applied, so the first spawns
	// (a crash loop's) are seen too.
	a.progress(PhaseApply)
	if a.setup.Apply != nil {
		if len(a.setup.Stops)+len(a.setup.Starts) > 0 {
			t, err := a.monoNow(ctx)
			if err != nil {
				return scenarios.VerdictError, "read the container's clock: " + err.Error(), nil, 0
			}
			for _, svc := range a.setup.Stops {
				a.obs.add(scenarios.Event{TNs: t, Kind: scenarios.EventAction, Service: svc, Detail: "stop"})
			}
			for _, svc := range a.setup.Starts {
				a.obs.add(scenarios.Event{TNs: t, Kind: scenarios.EventAction, Service: svc, Detail: "start"})
			}
		}
		if err := a.setup.Apply(ctx, a.c); err != nil {
			return scenarios.VerdictError, "apply " + a.t.config + ": " + err.Error(), nil, 0
		}
	}

	// Steady state.
	a.progress(PhaseSteady)
	steadyTimeout := r.SteadyTimeout
	if sc.Steady.TimeoutMs > 0 {
		steadyTimeout = ScaleDuration(time.Duration(sc.Steady.TimeoutMs)*time.Millisecond, r.TimeScale)
	}
	if sc.Steady.Running || sc.Steady.Healthy {
		err := a.obs.waitFor(ctx, r.Clock, steadyTimeout, "steady state", a.steady(sc.Steady.Healthy))
		if err != nil {
			evs, _ := a.obs.snapshot0()
			if errors.Is(err, ErrConditionTimeout) && hasStatus(evs) {
				return scenarios.VerdictFail, "steady state not reached: " + err.Error() + ": " + a.describe(evs), a.rebase(evs), 0
			}
			return scenarios.VerdictError, err.Error(), a.rebase(evs), 0
		}
	}
	if out, err := a.exec(ctx, r.ZinitCLI, "list", "--json"); err == nil {
		a.steadyList = out
	}

	// Faults.
	a.progress(PhaseFault)
	rng := mrand.New(mrand.NewPCG(uint64(a.t.seed), uint64(a.t.attempt)))
	var last *scenarios.Fault
	for i, f := range sc.Faults {
		if err := a.obs.waitFor(ctx, r.Clock, a.whenTimeout(), fmt.Sprintf("fault %d when %q", i+1, when(f)), a.condition(when(f))); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrAgentGone) {
				return scenarios.VerdictError, err.Error(), nil, 0
			}
			// The system never reached the fault's moment: that is evidence
			// too; stop injecting and let the oracle judge what happened.
			a.note(err.Error())
			a.action(ctx, fmt.Sprintf("fault %d (%s) not injected: %v", i+1, f.Kind, err))
			break
		}
		if f.DelayMs > 0 {
			if err := a.sleep(ctx, ScaleDuration(time.Duration(f.DelayMs)*time.Millisecond, r.TimeScale)); err != nil {
				return scenarios.VerdictError, err.Error(), nil, 0
			}
		}
		var err error
		if f.Kind == scenarios.FaultMonkey {
			err = a.monkey(ctx, f, rng)
		} else {
			err = a.inject(ctx, actx, f)
		}
		if err != nil {
			if errors.Is(err, agent.ErrUnsupportedFault) {
				return scenarios.VerdictInconclusive, fmt.Sprintf("fault %d (%s): %v", i+1, f.Kind, err), nil, 0
			}
			return scenarios.VerdictError, fmt.Sprintf("fault %d (%s): %v", i+1, f.Kind, err), nil, 0
		}
		last = &sc.Faults[i]
	}

	// Observe.
	a.progress(PhaseObserve)
	if err := a.sleep(ctx, a.observeWindow(last)); err != nil {
		return scenarios.VerdictError, err.Error(), nil, 0
	}
	a.runReverts(ctx)
	endNs, err := a.monoNow(ctx)
	if err != nil {
		return scenarios.VerdictError, "read the container's clock: " + err.Error(), nil, 0
	}
	stop()
	raw, _ := a.obs.snapshot0()
	evs = a.rebase(raw)
	return scenarios.VerdictPass, "", evs, time.Duration(endNs - a.zero(raw))
}

func (o *observer) snapshot0() ([]scenarios.Event, error) {
	evs, _, _, err := o.snapshot()
	return append([]scenarios.Event(nil), evs...), err
}

func hasStatus(evs []scenarios.Event) bool {
	return slices.ContainsFunc(evs, func(e scenarios.Event) bool { return e.Kind == scenarios.EventStatus })
}

// describe says where the target stands, for a steady-state failure.
func (a *attempt) describe(evs []scenarios.Event) string {
	for _, svc := range a.watched() {
		v := viewOf(evs, svc, a.startJob(svc))
		if !v.running || !v.healthy {
			return fmt.Sprintf("%s: zinit state %q, running=%v healthy=%v", svc, v.state, v.running, v.healthy)
		}
	}
	return "all watched services up"
}

func when(f scenarios.Fault) string {
	if f.When == "" {
		return "now"
	}
	return f.When
}

func (a *attempt) note(s string) {
	a.notesMu.Lock()
	defer a.notesMu.Unlock()
	a.notes = append(a.notes, s)
}

// action records a harness action event at the container's clock.
func (a *attempt) action(ctx context.Context, detail string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t, err := a.monoNow(ctx)
	if err != nil {
		return
	}
	a.obs.add(scenarios.Event{TNs: t, Kind: scenarios.EventAction, Service: a.t.sc.Target, Detail: detail})
}

// attachAgent starts `zchaos agent watch` in the container.
func (a *attempt) attachAgent(ctx context.Context) error {
	rc, err := a.c.Stream(ctx, []string{agent.Path, "agent", "watch", "--spec", agent.SpecPath})
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	a.obs.attach(rc)
	return nil
}

// inject performs one fault; supervisor-restart re-attaches the agent.
func (a *attempt) inject(ctx, actx context.Context, f scenarios.Fault) error {
	target := a.t.sc.Target
	if !f.Kind.NeedsTarget() {
		target = ""
	}
	if f.Kind == scenarios.FaultSupervisor {
		evs, _, err := a.inj.Inject(ctx, a.c, f, target)
		a.obs.add(evs...)
		if err != nil {
			return err
		}
		// PID 1 restarted: the old agent died with it. Attach a new one.
		if err := a.obs.waitDetached(ctx, a.r.Clock, 30*time.Second); err != nil {
			return err
		}
		if err := a.attachAgent(actx); err != nil {
			return err
		}
		return nil
	}
	evs, rev, err := a.inj.Inject(ctx, a.c, f, target)
	a.obs.add(evs...)
	if err != nil {
		return err
	}
	if rev != nil {
		a.addRevert(f, rev)
	}
	return nil
}

// addRevert keeps a revert to run at the end, or after the fault's
// duration (a goroutine owned by the attempt, stopped by runReverts).
func (a *attempt) addRevert(f scenarios.Fault, rev Revert) {
	a.revMu.Lock()
	a.reverts = append(a.reverts, pendingRevert{fault: f.Kind, revert: rev})
	a.revMu.Unlock()
	if f.DurationMs <= 0 {
		return
	}
	d := ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
	timer := a.r.Clock.NewTimer(d)
	a.revWG.Add(1)
	go func() {
		defer a.revWG.Done()
		defer timer.Stop()
		select {
		case <-timer.C():
		case <-a.stopRev:
			return
		}
		evs, err := rev(context.Background())
		a.obs.add(evs...)
		if err != nil {
			a.note("revert " + string(f.Kind) + ": " + err.Error())
		}
	}()
}

// runReverts undoes every reversible fault not undone yet (idempotent).
func (a *attempt) runReverts(ctx context.Context) {
	a.revMu.Lock()
	select {
	case <-a.stopRev:
	default:
		close(a.stopRev)
	}
	revs := a.reverts
	a.reverts = nil
	a.revMu.Unlock()
	a.revWG.Wait()
	for _, p := range revs {
		evs, err := p.revert(ctx)
		a.obs.add(evs...)
		if err != nil {
			a.note("revert " + string(p.fault) + ": " + err.Error())
		}
	}
}

// monkey kills random non-oneshot services with SIGKILL for DurationMs,
// about every IntervalMs (exponentially distributed, from the seed).
func (a *attempt) monkey(ctx context.Context, f scenarios.Fault, rng *mrand.Rand) error {
	var pool []string
	for _, s := range a.setup.Services {
		if !a.setup.Oneshot[s.Name] {
			pool = append(pool, s.Name)
		}
	}
	for _, j := range a.setup.Jobs {
		if j.Trigger == zinit.TriggerStart && !a.setup.Oneshot[j.Service] && !slices.Contains(pool, j.Service) {
			pool = append(pool, j.Service)
		}
	}
	sort.Strings(pool)
	if len(pool) == 0 {
		return fmt.Errorf("monkey: no service to kill: %w", agent.ErrUnsupportedFault)
	}
	total := ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
	mean := ScaleDuration(time.Duration(max(f.IntervalMs, 1))*time.Millisecond, a.r.TimeScale)
	deadline := a.r.Clock.Now().Add(total)
	for {
		gap := time.Duration(rng.ExpFloat64() * float64(mean))
		if a.r.Clock.Now().Add(gap).After(deadline) {
			return a.sleep(ctx, deadline.Sub(a.r.Clock.Now()))
		}
		if err := a.sleep(ctx, gap); err != nil {
			return err
		}
		svc := pool[rng.IntN(len(pool))]
		evs, _, err := a.inj.Inject(ctx, a.c, scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL"}, svc)
		for i := range evs {
			if evs[i].Kind == scenarios.EventFault || evs[i].Kind == scenarios.EventEffect {
				evs[i].Fault = string(scenarios.FaultMonkey)
			}
		}
		a.obs.add(evs...)
		if err != nil {
			return err
		}
	}
}

// sleep waits d on the runner's clock, or until ctx ends.
func (a *attempt) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := a.r.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// exec runs the target's zinit CLI (or another argv) in the container.
func (a *attempt) exec(ctx context.Context, argv ...string) ([]byte, error) {
	res, err := a.c.Exec(ctx, argv, nil)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return res.Stdout, fmt.Errorf("%s: exit %d: %s", strings.Join(argv, " "), res.ExitCode, firstLine(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// monoNow reads the container's CLOCK_MONOTONIC through the agent.
func (a *attempt) monoNow(ctx context.Context) (int64, error) {
	out, err := a.exec(ctx, agent.Path, "agent", "now")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

// zero is the scenario's time origin: the first agent_start.
func (a *attempt) zero(evs []scenarios.Event) int64 {
	for _, e := range evs {
		if e.Kind == scenarios.EventAgentStart {
			return e.TNs
		}
	}
	if len(evs) > 0 {
		return evs[0].TNs
	}
	return 0
}

// rebase sorts the events and makes their times relative to the scenario's
// start. Events of processes present before it may be negative.
func (a *attempt) rebase(raw []scenarios.Event) []scenarios.Event {
	z := a.zero(raw)
	out := make([]scenarios.Event, len(raw))
	for i, e := range raw {
		e.TNs -= z
		out[i] = e
	}
	sortEvents(out)
	fillExitStatus(out)
	return fillCheckStatus(out)
}

// pairHorizon bounds how far past a report pairReports looks for the
// event it reports (events are sorted by time, not by their lower bound).
const pairHorizon = 10 * time.Second

// pairReports pairs zinit's reports of outcomes with the events the agent
// saw of them. Each report (report gives its group, such as a service, and
// the id of the outcome it names) that names a new outcome for its group
// is paired with the latest event of that group (target) that began no
// later than the report's upper bound (TNs+ErrNs), came after the event
// paired with the group's previous report, and that near accepts (nil:
// any; it gets both indices). apply gets the report's index and the
// paired event's, or -1 when there is none. evs must be sorted.
func pairReports(evs []scenarios.Event, report func(scenarios.Event) (group, id string, ok bool),
	target func(scenarios.Event) (group string, ok bool), near func(r, x int) bool, apply func(r, x int)) {
	lastID := map[string]string{}
	paired := map[string]int{} // group → index of the last event paired
	for i := range evs {
		g, id, ok := report(evs[i])
		if !ok || id == lastID[g] {
			continue
		}
		lastID[g] = id
		r := evs[i]
		from, ok := paired[g]
		if !ok {
			from = -1
		}
		pick := -1
		for j := from + 1; j < len(evs); j++ {
			x := evs[j]
			if x.TNs > r.TNs+r.ErrNs+int64(pairHorizon) {
				break
			}
			xg, ok := target(x)
			if !ok || xg != g || j == i {
				continue // other events (probes, statuses) do not end the search
			}
			if x.TNs-x.ErrNs > r.TNs+r.ErrNs {
				break
			}
			if near == nil || near(i, j) {
				pick = j
			}
		}
		if pick >= 0 {
			paired[g] = pick
		}
		apply(i, pick)
	}
}

// fillExitStatus completes exit events whose code or signal the agent
// could not read (the supervisor reaped the process before the agent saw
// it as a zombie) from zinit's last_exit: each status reporting a new last
// exit (last_exit_at_ms) completes the latest code-less exit of that
// service that happened before it (within both events' errors). Older
// code-less exits stay unknown. The event's Detail says where the code
// came from. evs must be sorted.
func fillExitStatus(evs []scenarios.Event) {
	pairReports(evs,
		func(e scenarios.Event) (string, string, bool) {
			if e.Kind != scenarios.EventStatus || (e.Code == nil && e.Signal == "") {
				return "", "", false
			}
			at := detailFields(e.Detail)["last_exit_at_ms"]
			return e.Service, at, at != ""
		},
		func(e scenarios.Event) (string, bool) { return e.Service, e.Kind == scenarios.EventExit },
		nil,
		func(r, x int) {
			if x < 0 {
				return
			}
			st, ex := evs[r], &evs[x]
			if ex.Code != nil || ex.Signal != "" {
				return // the agent read it itself
			}
			if st.Code != nil {
				c := *st.Code
				ex.Code = &c
			}
			ex.Signal = st.Signal
			ex.Detail = strings.TrimSpace(ex.Detail + " exit status from zinit status")
		})
}

// checkPairSlack widens the match between a run zinit reported and one
// the agent saw: zinit dates a run from after its fork to its reaping, the
// agent from its exec to its exit. Runs of one job are an interval apart.
const checkPairSlack = 20 * time.Millisecond

// fillCheckStatus merges the check_exit events the agent derived from
// zinit's last_check (PID 0, Detail agent.LastCheckDetail) with the check runs
// it saw, the way fillExitStatus completes exits: a derived event that
// overlaps a run the agent saw completes that run's exit (OK, and the code
// or signal when the agent could not read them) and is dropped; one that
// overlaps none (a run too short for the agent's poll) becomes a run of
// its own, a check_spawn and check_exit pair with a negative PID, dated
// with the derived event's error. evs must be sorted; the result is too.
func fillCheckStatus(evs []scenarios.Event) []scenarios.Event {
	derived := func(e scenarios.Event) bool {
		return e.Kind == scenarios.EventCheckExit && e.PID == 0 && strings.HasPrefix(e.Detail, agent.LastCheckDetail)
	}
	spawnAt := map[int]int64{} // index of an observed check_exit → its run's spawn (lower bound)
	open := map[int]int64{}
	for i, e := range evs {
		switch {
		case e.Kind == scenarios.EventCheckSpawn:
			open[e.PID] = e.TNs - e.ErrNs
		case e.Kind == scenarios.EventCheckExit && !derived(e):
			if t, ok := open[e.PID]; ok {
				spawnAt[i] = t
				delete(open, e.PID)
			}
		}
	}
	drop := map[int]bool{}
	var add []scenarios.Event
	synthetic := 0
	pairReports(evs,
		func(e scenarios.Event) (string, string, bool) {
			return e.Service + "\x00" + e.Job, e.Detail, derived(e)
		},
		func(e scenarios.Event) (string, bool) {
			return e.Service + "\x00" + e.Job, e.Kind == scenarios.EventCheckExit && !derived(e)
		},
		func(ri, xi int) bool {
			r, x := evs[ri], evs[xi]
			slack := max(int64(checkPairSlack), r.ErrNs)
			lo, hi := r.TNs-r.DurNs-r.ErrNs-slack, r.TNs+r.ErrNs+slack
			spawn, ok := spawnAt[xi]
			if !ok {
				spawn = x.TNs - x.ErrNs
			}
			return spawn <= hi && x.TNs >= lo
		},
		func(r, x int) {
			d := evs[r]
			drop[r] = true
			if x >= 0 {
				ex := &evs[x]
				if ex.Code == nil && ex.Signal == "" {
					ex.Code, ex.Signal = d.Code, d.Signal
				}
				ex.OK = d.OK
				ex.Detail = strings.TrimSpace(ex.Detail + " exit status from " + agent.LastCheckDetail)
				return
			}
			synthetic++
			pid := -synthetic
			detail := "not seen by the agent; from " + strings.TrimPrefix(d.Detail, agent.LastCheckDetail+" ")
			add = append(add,
				scenarios.Event{TNs: d.TNs - d.DurNs, ErrNs: d.ErrNs + int64(time.Millisecond), Kind: scenarios.EventCheckSpawn,
					Service: d.Service, Job: d.Job, PID: pid, Detail: detail},
				scenarios.Event{TNs: d.TNs, ErrNs: d.ErrNs, Kind: scenarios.EventCheckExit, Service: d.Service, Job: d.Job,
					PID: pid, Code: d.Code, Signal: d.Signal, OK: d.OK, DurNs: d.DurNs, Detail: detail})
		})
	if len(drop) == 0 {
		return evs
	}
	out := make([]scenarios.Event, 0, len(evs)-len(drop)+len(add))
	for i, e := range evs {
		if !drop[i] {
			out = append(out, e)
		}
	}
	out = append(out, add...)
	sortEvents(out)
	return out
}

// judge runs the oracle: on the target, or for a fleet-wide scenario on
// each watched service a fault hit, with its own model and events,
// combined (worst verdict, every check prefixed with its service, the
// slowest recovery).
func (a *attempt) judge(evs []scenarios.Event, end time.Duration) oracle.Judgement {
	in := oracle.JudgeInput{Scenario: a.t.sc, Config: a.t.config, Model: a.model, Events: evs, Params: a.params, End: end}
	if a.t.sc.Target != "" {
		return oracle.Judge(in)
	}
	var out oracle.Judgement
	var reasons []string
	// Only the services a fault hit are judged: the oracle has nothing to
	// judge (inconclusive) on a service nothing happened to.
	hit := map[string]bool{}
	for _, e := range evs {
		if e.Kind == scenarios.EventFault && e.Service != "" {
			hit[e.Service] = true
		}
	}
	var judged []string
	for _, svc := range a.watched() {
		if hit[svc] {
			judged = append(judged, svc)
		}
	}
	if len(judged) == 0 {
		out.Verdict, out.Reason = scenarios.VerdictInconclusive, "no fault hit any service"
		return out
	}
	for i, svc := range judged {
		in.Model = oracle.JobModelFrom(svc, a.setup.Jobs, a.setup.Legacy[svc], a.setup.Oneshot[svc])
		in.Events = nil
		for _, e := range evs {
			if e.Service == svc || e.Service == "" {
				in.Events = append(in.Events, e)
			}
		}
		j := oracle.Judge(in)
		if i == 0 {
			out.Verdict = j.Verdict
		} else {
			out.Verdict = scenarios.Worse(out.Verdict, j.Verdict)
		}
		for _, c := range j.Checks {
			c.Observed = svc + ": " + c.Observed
			out.Checks = append(out.Checks, c)
		}
		if j.Verdict != scenarios.VerdictPass && j.Verdict != scenarios.VerdictInfo {
			reasons = append(reasons, svc+": "+j.Reason)
		}
		out.Recovery.Detect = slowest(out.Recovery.Detect, j.Recovery.Detect)
		out.Recovery.Restart = slowest(out.Recovery.Restart, j.Recovery.Restart)
		out.Recovery.Healthy = slowest(out.Recovery.Healthy, j.Recovery.Healthy)
	}
	switch {
	case len(reasons) > 3:
		out.Reason = fmt.Sprintf("%s (and %d more services)", strings.Join(reasons[:3], "; "), len(reasons)-3)
	case len(reasons) > 0:
		out.Reason = strings.Join(reasons, "; ")
	default:
		out.Reason = fmt.Sprintf("%d of %d services hit: every applicable invariant held", len(judged), len(a.watched()))
	}
	return out
}

func slowest(a, b *scenarios.Measure) *scenarios.Measure {
	if a == nil || (b != nil && b.Ms > a.Ms) {
		return b
	}
	return a
}

// watched are the services the agent watches: the target, or for a
// fleet-wide scenario every service of the setup.
func (a *attempt) watched() []string {
	if a.t.sc.Target != "" {
		return []string{a.t.sc.Target}
	}
	var out []string
	for _, j := range a.setup.Jobs {
		if j.Trigger == zinit.TriggerStart && !a.setup.Oneshot[j.Service] && !slices.Contains(out, j.Service) {
			out = append(out, j.Service)
		}
	}
	return out
}

// startJob is the start job's name the agent reports for svc ("" when the
// oracle matches any job, as for legacy services).
func (a *attempt) startJob(svc string) string {
	if a.setup.Legacy[svc] {
		return ""
	}
	for _, j := range a.setup.Jobs {
		if j.Service == svc && j.Trigger == zinit.TriggerStart {
			return j.Name
		}
	}
	return ""
}

// steady is the steady-state condition on every watched service.
func (a *attempt) steady(healthy bool) func([]scenarios.Event) bool {
	svcs := a.watched()
	return func(evs []scenarios.Event) bool {
		for _, s := range svcs {
			v := viewOf(evs, s, a.startJob(s))
			if !v.running || (healthy && a.hasProbe(s) && !v.healthy) {
				return false
			}
		}
		return true
	}
}

func (a *attempt) hasProbe(svc string) bool {
	return slices.ContainsFunc(a.spec.Probes, func(p agent.Probe) bool { return p.Service == svc })
}

// condition is a fault's `when` on the target.
func (a *attempt) condition(w string) func([]scenarios.Event) bool {
	svc := a.t.sc.Target
	switch w {
	case "running":
		return a.steady(false)
	case "healthy":
		return a.steady(true)
	case "restarting":
		return func(evs []scenarios.Event) bool {
			v := viewOf(evs, svc, a.startJob(svc))
			return v.state == "restarting" || (v.seenProcess && !v.running && v.state != "failed")
		}
	case "failed":
		return func(evs []scenarios.Event) bool { return viewOf(evs, svc, a.startJob(svc)).state == "failed" }
	}
	return func([]scenarios.Event) bool { return true }
}

// effectTimeout bounds each effect probe: long enough for a health probe
// to time out a few times.
func (a *attempt) effectTimeout() time.Duration {
	return max(3*time.Second, 3*a.spec.ProbeTimeout())
}

// whenTimeout bounds the wait for a fault's moment.
func (a *attempt) whenTimeout() time.Duration {
	m := a.model
	per := m.RestartDelay + m.Interval + m.Timeout + a.params.Slack(m.RestartDelay+m.Interval+m.Timeout)
	n := max(m.MaxRestarts, 1) + 1
	return max(10*time.Second, time.Duration(n)*per*2)
}

// expectedRecovery is how long after a fault the model says the target
// needs to act and come back. A start made once the target gave up
// (`when: failed`: it was crash-looping) runs the whole loop again: 1 + N
// spawns, each d after the previous crash, before it gives up again.
func (a *attempt) expectedRecovery(f scenarios.Fault) time.Duration {
	m := a.model
	k := f.Kind
	if m.Restart == zinit.RestartNever {
		if m.HasCheck && (k == scenarios.FaultHang || k == scenarios.FaultHealthHang || k == scenarios.FaultHealthError || k == scenarios.FaultSocket) {
			return m.Interval + m.Timeout
		}
		return 0
	}
	d := m.RestartDelay
	if k == scenarios.FaultStart && f.When == "failed" && m.MaxRestarts > 0 {
		return time.Duration(m.MaxRestarts+1) * (d + a.inj.CrashMinAge)
	}
	switch k {
	case scenarios.FaultKill, scenarios.FaultExit, scenarios.FaultStart, scenarios.FaultReload:
		return d
	case scenarios.FaultHang, scenarios.FaultHealthHang, scenarios.FaultSocket:
		if m.HasCheck {
			return m.Interval + m.Timeout + d
		}
		return d
	case scenarios.FaultHealthError:
		if m.HasCheck {
			return m.Interval + d
		}
		return d
	case scenarios.FaultCrashLoop:
		n := m.MaxRestarts
		if n <= 0 {
			n = 3
		}
		return time.Duration(n+1) * (d + a.inj.CrashMinAge)
	case scenarios.FaultSupervisor:
		return d + time.Second
	}
	return 0
}

// observeWindow is how long to observe after the last fault (nil: none
// was injected): the scenario's observe_ms, else the expected recovery
// plus slack plus the quiet window.
func (a *attempt) observeWindow(last *scenarios.Fault) time.Duration {
	if a.t.sc.ObserveMs > 0 {
		return ScaleDuration(time.Duration(a.t.sc.ObserveMs)*time.Millisecond, a.r.TimeScale)
	}
	var exp time.Duration
	if last != nil {
		exp = a.expectedRecovery(*last)
	} else {
		// No fault: the scenario watches the service on its own (a crash
		// loop, a oneshot); give it room for its whole restart budget.
		m := a.model
		exp = time.Duration(max(m.MaxRestarts, 1)+1) * (m.RestartDelay + m.Interval + m.Timeout)
	}
	return exp + a.params.Slack(exp) + a.params.QuietWindow(a.model)
}

// physicalMin is the least wall time the scenario needs even with an
// infinitely fast harness: its scaled delays and durations of faults, the
// monkey's run, and the observation window.
func (a *attempt) physicalMin() time.Duration {
	var d time.Duration
	var last *scenarios.Fault
	for i, f := range a.t.sc.Faults {
		d += ScaleDuration(time.Duration(f.DelayMs)*time.Millisecond, a.r.TimeScale)
		if f.Kind == scenarios.FaultMonkey {
			d += ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
		}
		last = &a.t.sc.Faults[i]
	}
	return d + a.observeWindow(last)
}

// agentSpec builds the watch spec of a setup.
func (r *Runner) agentSpec(st Setup, sc scenarios.Scenario, p oracle.Params) agent.Spec {
	spec := agent.Spec{ZinitCLI: r.ZinitCLI, ProcPeriodMs: float64(r.ProcPeriod) / float64(time.Millisecond)}
	for _, j := range st.Jobs {
		if j.Trigger == zinit.TriggerStop {
			continue
		}
		job := j.Name
		if st.Legacy[j.Service] {
			job = "" // legacy services have no job names the oracle knows
		}
		spec.Jobs = append(spec.Jobs, agent.Job{Service: j.Service, Job: job, Trigger: j.Trigger.String(), Exec: j.Exec})
	}
	a := &attempt{r: r, t: task{sc: sc}, setup: st}
	watched := a.watched()
	spec.Status = watched
	for _, svc := range watched {
		if i := slices.IndexFunc(st.Probes, func(p agent.Probe) bool { return p.Service == svc }); i >= 0 {
			spec.Probes = append(spec.Probes, st.Probes[i])
		} else if pr, ok := DeriveProbe(svc, st.Jobs); ok {
			spec.Probes = append(spec.Probes, pr)
		}
	}
	// Probe and status periods follow the time scale, within bounds the
	// container can afford.
	scaleMs := func(d time.Duration, lo, hi time.Duration) float64 {
		s := ScaleDuration(d, r.TimeScale*10)
		s = min(max(s, lo), hi)
		return float64(s) / float64(time.Millisecond)
	}
	spec.ProbePeriodMs = scaleMs(100*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond)
	spec.StatusPeriodMs = scaleMs(100*time.Millisecond, 25*time.Millisecond, 100*time.Millisecond)
	spec.ProbeTimeoutMs = float64(max(p.SlackMin, 100*time.Millisecond)) / float64(time.Millisecond)
	if m := oracle.JobModelFrom(sc.Target, st.Jobs, st.Legacy[sc.Target], st.Oneshot[sc.Target]); m.HasCheck && m.Timeout > 0 {
		// A hang must be told from a slow answer: probe with the check's timeout.
		spec.ProbeTimeoutMs = float64(min(max(m.Timeout, 100*time.Millisecond), time.Second)) / float64(time.Millisecond)
	}
	spec.MaxDurationMs = float64(2 * time.Hour / time.Millisecond)
	return spec
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func containerNameFor(runID string, t task) string {
	return fmt.Sprintf("%s-%s-%s-%d", runID, unsafeName.ReplaceAllString(t.sc.Name, "_"), t.config, t.attempt)
}

// forensics writes the bundle of a non-passing attempt under OutDir and
// returns its path relative to OutDir.
func (a *attempt) forensics(ctx context.Context, res scenarios.ScenarioResult) (string, error) {
	rel := filepath.Join("forensics", fmt.Sprintf("%s_%s_%d", unsafeName.ReplaceAllString(a.t.sc.Name, "_"), a.t.config, a.t.attempt))
	dir := filepath.Join(a.r.OutDir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rel, err
	}
	var errs []error
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	tl, _ := json.MarshalIndent(res.Timeline, "", "  ")
	write("timeline.json", tl)
	judged, _ := json.MarshalIndent(struct {
		Verdict  scenarios.Verdict          `json:"verdict"`
		Reason   string                     `json:"reason"`
		Checks   []scenarios.InvariantCheck `json:"checks"`
		Recovery scenarios.Recovery         `json:"recovery"`
		Policy   *scenarios.ServicePolicy   `json:"policy"`
		Services []scenarios.ServicePolicy  `json:"services"`
	}{res.Verdict, res.Reason, res.Checks, res.Recovery, res.Policy, a.setup.Policies}, "", "  ")
	write("judgement.json", judged)
	write("scenario.yaml", []byte(a.t.sc.Source))
	write("seed.txt", []byte(fmt.Sprintf("run seed %d\nattempt seed %d\nrun id %s\ncontainer %s\n",
		a.r.Seed, a.t.seed, a.r.RunID, containerNameOf(a.c))))
	if a.steadyList != nil {
		write("zinit-list-steady.json", a.steadyList)
	}
	if a.c == nil {
		return rel, errors.Join(errs...)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	capture := func(name string, argv ...string) {
		res, err := a.c.Exec(fctx, argv, nil)
		if err != nil {
			write(name, []byte("error: "+err.Error()+"\n"))
			return
		}
		b := res.Stdout
		if len(res.Stderr) > 0 {
			b = append(append(b, "\n--- stderr\n"...), res.Stderr...)
		}
		write(name, b)
	}
	capture("zinit-list-end.json", a.r.ZinitCLI, "list", "--json")
	capture("ps.txt", "ps", "-eo", "pid,ppid,pgid,stat,etimes,args")
	for _, svc := range a.watched() {
		capture("zinit-logs-"+unsafeName.ReplaceAllString(svc, "_")+".txt", a.r.ZinitCLI, "logs", svc)
	}
	if logs, err := a.c.Logs(fctx); err == nil {
		write("container.log", logs)
	} else {
		write("container.log", []byte("error: "+err.Error()+"\n"))
	}
	return rel, errors.Join(errs...)
}

func containerNameOf(c runtime.Container) string {
	if c == nil {
		return "(none)"
	}
	return c.Name()
}
