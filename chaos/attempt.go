package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// attempt is the live state of one task.
type attempt struct {
	r          *Runner
	t          task
	setup      Setup
	model      oracle.JobModel
	params     oracle.Params
	c          runtime.Container
	obs        *observer
	faults     FaultClient
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
	phase      Phase        // where the attempt is (set by progress)
	t0Ns       atomic.Int64 // the scenario's time origin on the container's CLOCK_MONOTONIC, once rebased
}

type pendingRevert struct {
	fault  scenarios.FaultKind
	revert Revert
}

// crashMinAge is how old an incarnation a crash loop kills must be: old
// enough that the agent has seen it (an exec wakes its scanner at once;
// the scan's own period, 20 ms by default, covers one that does not, hence
// twice the period when that is longer).
const crashMinAge = 50 * time.Millisecond

func (a *attempt) progress(p Phase) {
	a.phase = p
	if a.r.Progress == nil {
		return
	}
	a.r.Progress(ProgressEvent{Scenario: a.t.sc.Name, Config: a.t.config, Attempt: a.t.attempt, Phase: p,
		Elapsed: a.r.Clock.Since(a.start), Expected: a.expect, Total: a.r.total})
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
				Elapsed: r.Clock.Since(a.start), Expected: a.expect, Verdict: res.Verdict, Reason: res.Reason, Total: r.total})
		}
	}()

	// Setup.
	var err error
	if t.sc.Targets.Selects() && t.sc.Target == "" {
		fail(scenarios.VerdictError, "setup: the target selector was never resolved (scenarios.ExpandTargets)")
		return res, Setup{}
	}
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
	a.faults = FaultClient{Agent: agent.Path, SpecPath: agent.SpecPath, EffectTimeout: a.effectTimeout(),
		CrashMinAge: max(crashMinAge, 2*a.spec.ProcPeriod())}
	a.expect = a.physicalMin()
	res.PhysicalMinMs = a.expect.Milliseconds()
	if r.Runtime == nil {
		fail(scenarios.VerdictError, "no runtime")
		return res, setup
	}

	// Container. From here on the attempt runs under its wall deadline.
	runCtx := ctx
	deadline := a.deadline()
	ctx, cancel := context.WithTimeout(runCtx, deadline)
	defer cancel()
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
		Links: standInLinks(r.StandIn, a.setup.Jobs), Name: containerNameFor(r.RunID, t), DeadMan: DeadMan()})
	if err != nil {
		fail(scenarios.VerdictError, "start container: %v", err)
		return res, setup
	}
	a.c = c
	keep := false
	defer func() {
		if keep {
			// Kept for forensics: disarm its dead-man switch, so it
			// outlives the run; `zchaos cleanup` removes it.
			if err := c.Keep(context.WithoutCancel(ctx)); err != nil {
				res.Reason += " (keep: " + err.Error() + ")"
			}
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := c.Remove(rctx); err != nil && res.Verdict == scenarios.VerdictPass {
			res.Verdict, res.Reason = scenarios.VerdictError, "remove container: "+err.Error()
		}
	}()

	verdict, reason, evs, end := a.execute(ctx)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && runCtx.Err() == nil:
		verdict, reason = scenarios.VerdictError, fmt.Sprintf("attempt stopped at its deadline of %s in phase %s (expected about %s): %s",
			deadline.Round(100*time.Millisecond), a.phase, a.expect.Round(100*time.Millisecond), reason)
	case ctx.Err() != nil && verdict != scenarios.VerdictError:
		verdict, reason = scenarios.VerdictError, "cancelled: "+ctx.Err().Error()
	}
	res.Timeline = evs
	res.Load = scenarios.LoadOf(evs)
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
	// The result keeps the compact timeline; the full stream goes to the
	// attempt's forensics directory (a non-pass's bundle also holds the
	// compact one as timeline.json).
	if r.OutDir != "" && len(res.Timeline) > 0 {
		raw, err := a.writeRawEvents(res.Timeline)
		if err != nil {
			res.Reason += " (raw events not kept: " + err.Error() + ")"
		}
		res.RawEvents = raw
	}
	res.Timeline = scenarios.CompactTimeline(res.Timeline)
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
	if evs, err := a.obs.snapshot0(); err == nil {
		a.t0Ns.Store(a.zero(evs))
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
	steadyTimeout := a.steadyTimeout()
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
			if err := a.sleep(ctx, zinit.ScaleDuration(time.Duration(f.DelayMs)*time.Millisecond, r.TimeScale)); err != nil {
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

// heroBinRE finds the hero binaries an exec line names.
var heroBinRE = regexp.MustCompile(regexp.QuoteMeta(runtime.ImageHeroBinDir) + `/([A-Za-z0-9_.+-]+)`)

// standInLinks links every hero binary the jobs' execs name to standIn
// (none when standIn is empty).
func standInLinks(standIn string, jobs []zinit.Job) map[string]string {
	if standIn == "" {
		return nil
	}
	links := map[string]string{}
	for _, j := range jobs {
		for _, m := range heroBinRE.FindAllStringSubmatch(j.Exec, -1) {
			links[runtime.ImageHeroBinDir+"/"+m[1]] = standIn
		}
	}
	return links
}
