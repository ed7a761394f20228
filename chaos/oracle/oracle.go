package oracle

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
	observed "github.com/zchaos/zchaos/scenarios/timeline"
	"github.com/zchaos/zchaos/zinit"
)

// The oracle is a pure function: Judge reads a scenario, the applied job
// model and an observed event timeline, and says which invariants of
// invariants.md held. It reads no clock, no environment and does no I/O.
//
// Contract with the agent that produces the timeline (all on one monotonic
// clock, relative to the scenario's start):
//   - spawn/exit with Job == the start job's name (any job name when the
//     model has none, as for legacy services) are the service's main
//     processes, paired by PID; exit carries Code or Signal ("SIGKILL") when
//     known.
//   - check_spawn/check_exit are check-job processes, paired by PID;
//     check_exit carries Code or Signal when known, and OK when the
//     supervisor reported the run (a run only the supervisor reported, too
//     short for the agent to see, comes as a pair with a negative PID and
//     the error of that report's dating).
//   - fault is followed by an effect of the same Fault name with OK=true once
//     the effect was seen (OK=false with Detail when the probe gave up), and
//     by a revert for reversible faults.
//   - action with Detail start/stop/restart marks the harness driving zinit;
//     a fault of kind start/stop counts as the same request.
//   - status carries zinit's State, Restarts and Reason; probe carries OK.
//   - zombie is a zombie seen (PID; DurNs, else ZombieMs, when set, how long
//     it has been one); stray is a process of a dead incarnation's group
//     still present.

// Params are the pinned model parameters and tolerances the oracle
// assumes. They are parameters, not constants, so the same scenarios can
// judge a zinit whose answers differ.
type Params struct {
	FailedChecks  int           // F, pinned 1 (zinit.FailedChecksBeforeKill)
	StopTimeout   time.Duration // S (zinit.StopTimeout, scaled)
	SlackMin      time.Duration // ε floor, 250 ms at scale 1 (scaled, never below 50 ms)
	SlackFraction float64       // ε = max(SlackMin, SlackFraction × expected)
	Granularity   time.Duration // lower-bound tolerance, added to the events' ErrNs
	QuietMin      time.Duration // W floor, 5 s at scale 1 (scaled)
	CounterResets bool          // whether a long healthy run resets the restart counter (pinned false)
}

// LoadMargin is how far below an upper bound's excess the machine's
// measured timer lateness must stay for a late event to be a failure: a
// restart 141 ms late on a machine whose timers ran up to 210 ms late
// proves nothing; one 500 ms late where they ran 20 ms late does.
const LoadMargin = 2

// zombieLimit is P1's reaping bound. Reaping is physical, so it is not scaled.
const zombieLimit = time.Second

// DefaultParams returns the pinned parameters at the given time scale
// (1 = production timings; a value ≤ 0 is taken as 1), scaled with
// zinit.ScaleDuration like the job model they judge.
func DefaultParams(timeScale float64) Params {
	slack := zinit.ScaleDuration(250*time.Millisecond, timeScale)
	if slack < 50*time.Millisecond {
		slack = 50 * time.Millisecond
	}
	return Params{
		FailedChecks:  zinit.FailedChecksBeforeKill,
		StopTimeout:   zinit.ScaleDuration(zinit.StopTimeout, timeScale),
		SlackMin:      slack,
		SlackFraction: 0.3,
		Granularity:   observed.Granularity,
		QuietMin:      zinit.ScaleDuration(5*time.Second, timeScale),
		CounterResets: false,
	}
}

// Slack is ε for an expected duration: max(SlackMin, SlackFraction × expected).
func (p Params) Slack(expected time.Duration) time.Duration {
	e := time.Duration(p.SlackFraction * float64(expected))
	if e < p.SlackMin {
		return p.SlackMin
	}
	return e
}

// QuietWindow is W for a job: max(QuietMin, 3d, 3I). A negative claim ("no
// restart happens") needs W of observation after its expected end.
func (p Params) QuietWindow(m JobModel) time.Duration {
	w := p.QuietMin
	if 3*m.RestartDelay > w {
		w = 3 * m.RestartDelay
	}
	if m.HasCheck && 3*m.Interval > w {
		w = 3 * m.Interval
	}
	return w
}

// Result renders the parameters for the result JSON.
func (p Params) Result() scenarios.OracleParams {
	return scenarios.OracleParams{
		FailedChecks:  p.FailedChecks,
		StopTimeoutMs: p.StopTimeout.Milliseconds(),
		SlackMinMs:    p.SlackMin.Milliseconds(),
		SlackFraction: p.SlackFraction,
		CounterResets: p.CounterResets,
	}
}

// JobModel is the applied (already time-scaled) policy of the service under
// test. With an empty Service (a fleet-wide scenario) only fault effects,
// strays (S1), zombies (P1) and the recovery of nothing in particular can
// be judged: call Judge once per service, with its model, to judge each.
type JobModel struct {
	Service      string
	Legacy       bool // a legacy TOML service (policy from [lifecycle] or never)
	Oneshot      bool
	Restart      zinit.RestartPolicy
	RestartDelay time.Duration // d
	MaxRestarts  int           // N (0 = unlimited)
	HasCheck     bool
	Interval     time.Duration // I
	Timeout      time.Duration // T
	// StartJob and CheckJob name the jobs whose events are the service's
	// main and check processes; empty matches any job name.
	StartJob string
	CheckJob string
}

// JobModelFrom derives a service's model from its jobs (already scaled).
// The first start job gives the restart policy (default never, d = the
// pinned default), the first check job gives I and T. For a legacy service
// jobs should hold only the start job derived from its [lifecycle] table
// (none: restart never); check jobs are ignored, because jobs added to a
// legacy service change nothing, and StartJob stays empty since the agent
// cannot know a job name for it. A oneshot service is never restarted.
func JobModelFrom(svc string, jobs []zinit.Job, legacy, oneshot bool) JobModel {
	m := JobModel{Service: svc, Legacy: legacy, Oneshot: oneshot, RestartDelay: zinit.DefaultRestartDelay}
	haveStart := false
	for _, j := range jobs {
		if j.Service != "" && j.Service != svc {
			continue
		}
		switch j.Trigger {
		case zinit.TriggerStart:
			if haveStart {
				continue
			}
			haveStart = true
			if !legacy {
				m.StartJob = j.Name
			}
			m.Restart = j.Restart
			m.RestartDelay = j.EffectiveRestartDelay()
			m.MaxRestarts = j.MaxRestarts
		case zinit.TriggerCheck:
			if legacy || m.HasCheck {
				continue
			}
			m.HasCheck = true
			m.CheckJob = j.Name
			m.Interval = j.Interval
			m.Timeout = j.EffectiveTimeout()
		}
	}
	if oneshot {
		m.Restart = zinit.RestartNever
	}
	return m
}

// JudgeInput is everything Judge looks at.
type JudgeInput struct {
	Scenario scenarios.Scenario
	Config   string            // "migrated" | "legacy"
	Model    JobModel          // the applied policy of the service under test
	Events   []scenarios.Event // sorted by TNs, relative to scenario start
	Params   Params
	End      time.Duration // TNs at which observation stopped
}

// Judgement is the oracle's answer for one scenario on one config.
type Judgement struct {
	Verdict  scenarios.Verdict
	Reason   string                     // one line a person reads: why
	Checks   []scenarios.InvariantCheck // one per invariant judged, in table order, then recover, then effect
	Recovery scenarios.Recovery         // detect / restart / healthy, each with its error bar
	Load     *scenarios.Load            // the machine's timer lateness over the attempt (nil: no canary)
}

// Check IDs beyond the invariants table.
const (
	CheckRecover = "recover" // Expect.Recover
	CheckEffect  = "effect"  // every fault's effect was seen
)

type judgeFunc func(t *timeline) (c scenarios.InvariantCheck, applies bool, why string)

type invariant struct {
	id       string
	property string
	judge    judgeFunc
}

// invariants lists the table of invariants.md in order.
func invariants() []invariant {
	return []invariant{
		{"R1", "restart delay is a floor", judgeR1},
		{"R2", "policy matrix", judgeR2},
		{"R3", "a stop is not a failure", judgeR3},
		{"R4", "stop cancels a pending restart", judgeR4},
		{"R5", "the limit is exact", judgeR5},
		{"R6", "the terminal state is explicit", judgeR6},
		{"R7", "a manual start after the limit works", judgeR7},
		{"H1", "grace is respected", judgeH1},
		{"H2", "a hang is detected", judgeH2},
		{"H3", "a slow but healthy answer is not a failure", judgeH3},
		{"H4", "timed-out checks leave nothing behind", judgeH4},
		{"H5", "a check kill goes through the restart policy", judgeH5},
		{"H6", "each incarnation starts with fresh check state", judgeH6},
		{"S1", "no leaked descendants", judgeS1},
		{"P1", "zombie-free as PID 1", judgeP1},
		{"C1", "the supervisor's report agrees with what was observed", judgeC1},
	}
}

// InvariantIDs lists the ids Judge knows, in table order.
func InvariantIDs() []string {
	var out []string
	for _, inv := range invariants() {
		out = append(out, inv.id)
	}
	return out
}

// Judge judges an observed timeline against the job model and the
// invariants. It is pure and deterministic.
//
// Every applicable invariant (or, when Scenario.Expect.Invariants is not
// empty, exactly those listed) becomes one check; Expect.Recover adds the
// "recover" check; a fault whose effect was never seen adds a failing
// "effect" check and makes the verdict inconclusive whatever else was
// seen. The verdict is the worst of the checks; with Expect.Info it is
// info and the checks are informational.
func Judge(in JudgeInput) Judgement {
	t := buildTimeline(in)
	var checks []scenarios.InvariantCheck

	want := map[string]bool{}
	for _, id := range in.Scenario.Expect.Invariants {
		want[strings.ToUpper(strings.TrimSpace(id))] = true
	}
	t.explicit = want
	known := map[string]bool{}
	for _, inv := range invariants() {
		known[inv.id] = true
		explicit := want[inv.id]
		if len(want) > 0 && !explicit {
			continue
		}
		c, applies, why := inv.judge(t)
		c.ID, c.Property = inv.id, inv.property
		if !applies {
			if !explicit {
				continue
			}
			c.Verdict = scenarios.VerdictInconclusive
			c.Reason = "cannot be evaluated: " + why
			if c.Observed == "" {
				c.Observed = why
			}
		}
		checks = append(checks, c)
	}
	var unknown []string
	for id := range want {
		if !known[id] && id != strings.ToUpper(CheckRecover) {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(unknown)
	for _, id := range unknown {
		checks = append(checks, scenarios.InvariantCheck{
			ID: id, Property: "unknown invariant", Verdict: scenarios.VerdictInconclusive,
			Reason: fmt.Sprintf("cannot be evaluated: %s is not an invariant of invariants.md", id),
		})
	}
	var recoverCheck *scenarios.InvariantCheck
	if in.Scenario.Expect.Recover || want[strings.ToUpper(CheckRecover)] {
		c := judgeRecover(t)
		checks = append(checks, c)
		recoverCheck = &checks[len(checks)-1]
	}
	effect, effectsMissing := judgeEffects(t)
	if effect != nil {
		checks = append(checks, *effect)
	}

	j := Judgement{Checks: checks, Recovery: recoveryFigures(t), Load: scenarios.LoadOf(in.Events)}
	j.Verdict, j.Reason = verdictOf(checks, recoverCheck, effectsMissing, effect)
	if in.Scenario.Expect.Info && j.Verdict != scenarios.VerdictError && !effectsMissing {
		j.Verdict = scenarios.VerdictInfo
		j.Reason = "observed, not judged: " + infoReason(checks)
		for i := range j.Checks {
			c := &j.Checks[i]
			if c.Verdict != scenarios.VerdictPass && c.Verdict != scenarios.VerdictInfo {
				c.Reason = "would be " + c.Verdict.String() + ": " + c.Reason
			}
			c.Verdict = scenarios.VerdictInfo
		}
	}
	return j
}

// verdictOf folds the checks into the verdict and its one-line reason.
func verdictOf(checks []scenarios.InvariantCheck, recoverCheck *scenarios.InvariantCheck, effectsMissing bool, effect *scenarios.InvariantCheck) (scenarios.Verdict, string) {
	if len(checks) == 0 {
		return scenarios.VerdictInconclusive, "no invariant applies to what was observed"
	}
	v := scenarios.VerdictPass
	for _, c := range checks {
		v = scenarios.Worse(v, c.Verdict)
	}
	if effectsMissing && v != scenarios.VerdictError {
		return scenarios.VerdictInconclusive, effect.Reason
	}
	if v == scenarios.VerdictPass {
		if recoverCheck != nil {
			return v, recoverCheck.Reason
		}
		ids := make([]string, 0, len(checks))
		for _, c := range checks {
			if c.ID != CheckEffect {
				ids = append(ids, c.ID)
			}
		}
		return v, fmt.Sprintf("%d invariants held: %s", len(ids), strings.Join(ids, " "))
	}
	// The recover check is the headline: it is the before/after difference.
	if recoverCheck != nil && recoverCheck.Verdict == v {
		return v, recoverCheck.Reason
	}
	for _, c := range checks {
		if c.Verdict == v {
			return v, c.ID + ": " + c.Reason
		}
	}
	return v, ""
}

// infoReason summarises an informational scenario: the first check that
// would not pass, else the first check's observation.
func infoReason(checks []scenarios.InvariantCheck) string {
	for _, c := range checks {
		if c.Verdict != scenarios.VerdictPass {
			return c.ID + " would be " + c.Verdict.String() + ": " + c.Reason
		}
	}
	if len(checks) > 0 {
		return checks[0].ID + ": " + checks[0].Reason
	}
	return "nothing observed"
}

// fmtDur renders a duration for people: "251 ms", "4.52 s", "12.3 s".
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	ms := d.Round(time.Millisecond)
	switch {
	case ms < time.Second:
		return fmt.Sprintf("%d ms", ms.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func fmtNs(ns int64) string { return fmtDur(time.Duration(ns)) }
