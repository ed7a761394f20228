package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
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
	Total    int // attempts in the run
}

// Runner runs scenarios in containers and judges them. Its zero-valued
// optional fields take defaults. Run may be called once at a time.
type Runner struct {
	Runtime       runtime.Runtime
	Image         string
	Setup         SetupFunc // for fleet scenarios; declared ones use DeclaredSetup
	TimeScale     float64   // default 1
	Parallel      int       // attempts at once; 0: AutoParallel(TimeScale, 1)
	Repeat        int       // attempts per scenario × config (default 1)
	Seed          int64     // decides every random choice (the monkey's)
	OutDir        string    // forensics bundles go under OutDir/forensics ("" = none written)
	KeepOnFailure bool      // keep the containers of non-passing attempts
	Progress      func(ProgressEvent)
	Clock         clock.Clock // default real
	total         int         // attempts of the current Run, for ProgressEvent.Total

	// RunID labels the run's containers (default: random).
	RunID string
	// Tool is Result.Tool (default "zchaos").
	Tool string
	// AgentBinary, when set, is copied to agent.Path in every container (for
	// a user's image, which has no agent).
	AgentBinary []byte
	// ZinitCLI is the target's zinit CLI inside the container (default "zinit").
	ZinitCLI string
	// ProcPeriod is the agent's /proc poll period (default agent.DefaultProcPeriod).
	ProcPeriod time.Duration
	// SteadyTimeout bounds the steady-state wait when the scenario gives
	// none (default 30 s).
	SteadyTimeout time.Duration
	// StandIn, when set, is the in-container path of a multi-call stand-in
	// (herosim, in the reference image): every /root/hero/bin/<name> a
	// job's exec names becomes a link to it, so a hero installer's config
	// runs verbatim on the reference image. Empty for a user's image,
	// whose binaries are real.
	StandIn string
	// AttemptDeadline overrides the wall deadline every attempt derives from
	// its policy (0: derived; see attempt.deadline).
	AttemptDeadline time.Duration
	// Reproduce is the command line that reruns this run's scenarios with
	// its image and config (e.g. zchaos run --image I --config D); a
	// forensics bundle adds the scenario, seed, scale and config to it.
	// Empty: "zchaos run".
	Reproduce []string
	// Params overrides the oracle's parameters (default oracle.DefaultParams).
	Params *oracle.Params
	// Shard, when it splits the run (Count > 1), runs only the attempts
	// scenarios.Assign gives to Shard.Index; the result records the shard
	// and the digest of the whole plan, for report --merge.
	Shard scenarios.Shard
}

// task is one scenario × config × attempt.
type task struct {
	sc      scenarios.Scenario
	config  string
	attempt int
	seed    int64
	name    string // the scenario in container and forensics names (shortName)
}

// NewRunID makes a random run ID, the label value of a run's containers.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "zc-" + hex.EncodeToString(b[:])
}

// label is the task's scenario in container and forensics names.
func (t task) label() string {
	if t.name == "" {
		return t.sc.Name
	}
	return t.name
}

func (r *Runner) defaults() {
	if r.TimeScale <= 0 {
		r.TimeScale = 1
	}
	if r.Parallel <= 0 {
		r.Parallel = AutoParallel(r.TimeScale, 1)
	}
	if r.Repeat <= 0 {
		r.Repeat = 1
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.RunID == "" {
		r.RunID = NewRunID()
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

// AutoParallel is how many attempts run at once when none is asked for:
// base at fast time scales, where timings are short and two cores must
// keep them; more at slow scales, where attempts mostly wait on timers
// (at scale 1 the catalogue's wall time is then about its longest
// scenario's).
func AutoParallel(timeScale float64, base int) int {
	switch {
	case timeScale >= 0.5:
		return max(base, 8)
	case timeScale >= 0.25:
		return max(base, 4)
	}
	return max(base, 1)
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
		if sc.Supports(c) {
			out = append(out, c)
		}
	}
	return out
}

// scenarioKey names a scenario in seeds, container names and forensics:
// its name, and its target when a selector chose it (one scenario may then
// run on several targets).
func scenarioKey(sc scenarios.Scenario) string {
	if sc.Targets.Selects() && sc.Target != "" {
		return sc.Name + "@" + sc.Target
	}
	return sc.Name
}

// shortName tells apart the runs of one scenario on several targets in a
// few characters: the local runtime's socket paths, under the container's
// name, must stay short.
func shortName(sc scenarios.Scenario) string {
	h := fnv.New32a()
	h.Write([]byte(scenarioKey(sc)))
	return fmt.Sprintf("%s-%06x", sc.Name, h.Sum32()&0xffffff)
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
	}
	var tasks []task
	runs := map[string]int{}
	for _, sc := range scs {
		runs[sc.Name]++
	}
	for _, sc := range scs {
		name := sc.Name
		if runs[sc.Name] > 1 {
			name = shortName(sc)
		}
		for _, cfg := range ConfigsFor(sc, configs) {
			for a := 1; a <= r.Repeat; a++ {
				tasks = append(tasks, task{sc: sc, config: cfg, attempt: a, seed: AttemptSeed(r.Seed, scenarioKey(sc), cfg, a), name: name})
			}
		}
	}
	tasks = r.shard(&res, tasks)
	results := make([]scenarios.ScenarioResult, len(tasks))
	setups := make([]Setup, len(tasks))
	r.total = len(tasks)
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
	res.Decide(0)
	res.DurationMs = r.Clock.Since(started).Milliseconds()
	return res, ctx.Err()
}

// shard records the plan's digest in res and, when r.Shard splits the
// run, keeps only the tasks of r.Shard (in their order) and records it.
func (r *Runner) shard(res *scenarios.Result, tasks []task) []task {
	keys := make([]string, len(tasks))
	units := make(map[string]string, len(tasks))
	for i, t := range tasks {
		keys[i] = t.key()
		units[keys[i]] = t.sc.Source
	}
	res.Plan, res.PlanAttempts = scenarios.PlanDigest(units), len(tasks)
	if !r.Shard.Sharded() {
		return tasks
	}
	sh := r.Shard
	res.Shard = &sh
	owner := scenarios.Assign(keys, sh.Count)
	var mine []task
	for i, t := range tasks {
		if owner[i] == sh.Index {
			mine = append(mine, t)
		}
	}
	return mine
}

// key is the task's scenarios.UnitKey, the same as its result's Key.
func (t task) key() string { return scenarios.UnitKey(t.sc.Name, t.sc.Target, t.config, t.attempt) }

func (r *Runner) skipped(t task, err error) scenarios.ScenarioResult {
	return scenarios.ScenarioResult{Scenario: t.sc.Name, Description: t.sc.Description, Tags: t.sc.Tags,
		Config: t.config, Service: t.sc.Target, Attempt: t.attempt, Seed: t.seed, StartedAt: r.Clock.Now(),
		Verdict: scenarios.VerdictError, Reason: "not run: " + err.Error()}
}

// whenTimeout bounds the wait for a fault's moment.
func (a *attempt) whenTimeout() time.Duration { return a.params.WhenTimeout(a.model) }

// observeWindow is how long to observe after the last fault (nil: none
// was injected): the scenario's observe_ms, else the oracle's window.
func (a *attempt) observeWindow(last *scenarios.Fault) time.Duration {
	if a.t.sc.ObserveMs > 0 {
		return zinit.ScaleDuration(time.Duration(a.t.sc.ObserveMs)*time.Millisecond, a.r.TimeScale)
	}
	return a.params.ObserveWindow(a.model, last, a.faults.CrashMinAge)
}

// deadlineFactor multiplies the sum of an attempt's phase bounds into its
// wall deadline: room for a loaded machine, never for a hang.
const deadlineFactor = 2

// containerStartBudget bounds starting a container and attaching its agent.
const containerStartBudget = time.Minute

// deadline bounds the whole attempt, derived from its policy: the
// container's start and the steady-state bound, plus deadlineFactor times
// what the attempt is expected to take once steady (its physical minimum,
// which holds the observation and quiet windows, the expected wait for
// each fault's moment, and each fault's effect bound), plus the reverts.
// Past it the attempt is stopped, its container removed, and its verdict
// is error: a loaded machine gets room, a hang does not.
func (a *attempt) deadline() time.Duration {
	if a.r.AttemptDeadline > 0 {
		return a.r.AttemptDeadline
	}
	expected := a.physicalMin()
	for _, f := range a.t.sc.Faults {
		expected += a.expectedWhen(f) + 2*a.effectTimeout()
		if f.Kind == scenarios.FaultSupervisor {
			expected += containerStartBudget
		}
	}
	return containerStartBudget + a.steadyTimeout() + deadlineFactor*expected + RevertTimeout
}

// expectedWhen is how long the model says the wait for a fault's moment
// takes: a crash loop's whole run for `failed`, a check interval for
// `healthy`, nothing for the others.
func (a *attempt) expectedWhen(f scenarios.Fault) time.Duration {
	m := a.model
	switch when(f) {
	case "failed":
		return time.Duration(max(m.MaxRestarts, 1)+1) * (m.RestartDelay + a.faults.CrashMinAge)
	case "healthy":
		return m.Interval + time.Second
	}
	return 0
}

// steadyTimeout bounds the wait for the steady state.
func (a *attempt) steadyTimeout() time.Duration {
	if ms := a.t.sc.Steady.TimeoutMs; ms > 0 {
		return zinit.ScaleDuration(time.Duration(ms)*time.Millisecond, a.r.TimeScale)
	}
	return a.r.SteadyTimeout
}

// physicalMin is the least wall time the scenario needs even with an
// infinitely fast harness: its scaled delays and durations of faults, the
// monkey's run, and the observation window.
func (a *attempt) physicalMin() time.Duration {
	var d time.Duration
	var last *scenarios.Fault
	for i, f := range a.t.sc.Faults {
		d += zinit.ScaleDuration(time.Duration(f.DelayMs)*time.Millisecond, a.r.TimeScale)
		if f.Kind == scenarios.FaultMonkey {
			d += zinit.ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
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
		s := zinit.ScaleDuration(d, r.TimeScale*10)
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
