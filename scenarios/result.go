package scenarios

import (
	"fmt"
	"time"
)

// ResultSchemaVersion is bumped on any incompatible change of Result's JSON.
// Version 3 keeps a compact timeline per scenario (CompactTimeline) where
// version 2 kept the full event stream.
const ResultSchemaVersion = 3

// OldestResultSchemaVersion is the oldest version DecodeResult still reads:
// a version 2 result differs only in holding full timelines, which every
// reader takes as they are.
const OldestResultSchemaVersion = 2

// Verdict is the outcome of a scenario or of one invariant check.
type Verdict int

const (
	VerdictPass         Verdict = iota // every applicable invariant held
	VerdictFail                        // an invariant was violated
	VerdictInconclusive                // a fault's effect was never seen, or evidence too thin
	VerdictError                       // the harness or the infrastructure broke
	VerdictInfo                        // informational scenario: observed, not judged
)

var verdictNames = [...]string{"pass", "fail", "inconclusive", "error", "info"}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// ParseVerdict reads a verdict's name.
func ParseVerdict(s string) (Verdict, error) {
	for i, n := range verdictNames {
		if n == s {
			return Verdict(i), nil
		}
	}
	return 0, fmt.Errorf("unknown verdict %q", s)
}

func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }
func (v *Verdict) UnmarshalText(b []byte) error {
	x, err := ParseVerdict(string(b))
	*v = x
	return err
}

// Worse orders verdicts for aggregation: error > fail > inconclusive > pass/info.
func Worse(a, b Verdict) Verdict {
	rank := func(v Verdict) int {
		switch v {
		case VerdictError:
			return 4
		case VerdictFail:
			return 3
		case VerdictInconclusive:
			return 2
		case VerdictPass:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Result is the one source of truth of a run; every report renders it.
type Result struct {
	SchemaVersion  int              `json:"schema_version"`
	Tool           string           `json:"tool"`            // "zchaos <version>"
	RunID          string           `json:"run_id"`          // also the container label value
	StartedAt      time.Time        `json:"started_at"`      // wall clock, for people
	DurationMs     int64            `json:"duration_ms"`     // wall time of the whole run
	Image          string           `json:"image"`           // image reference the scenarios ran on
	TimeScale      float64          `json:"time_scale"`      // 1 = production timings
	Seed           int64            `json:"seed"`            // seed of every random choice
	Verdict        Verdict          `json:"verdict"`         // worst verdict of the judged (non-baseline) attempts
	Decision       Decision         `json:"decision"`        // promote, block or inconclusive (Result.Decide)
	DecisionReason string           `json:"decision_reason"` // the decision in one sentence
	Require        int              `json:"require"`         // passes needed per scenario; 0: every attempt
	Params         OracleParams     `json:"oracle_params"`   // pinned parameters the oracle used
	Services       []ServicePolicy  `json:"services"`        // applied policy and probe per service
	Ledger         []LedgerEntry    `json:"ledger"`          // migrator fidelity ledger, if migrated
	Scenarios      []ScenarioResult `json:"scenarios"`       // one per scenario × config × attempt
	Diff           []BehaviourDiff  `json:"behaviour_diff"`  // legacy vs migrated, with --baseline
	FirstPassRate  *float64         `json:"first_pass_rate"` // with repeats: share passing first time
	// Conformance and ProbeAudit judge an image as built (--as-built): its
	// declared jobs against the policy, and each check's own exec run with
	// its service healthy, hung and without its socket.
	Conformance []Finding `json:"conformance,omitempty"`
	// Calibration is how --time-scale auto chose TimeScale (nil: stated).
	Calibration *Calibration `json:"calibration,omitempty"`
	ProbeAudit  []ProbeAudit `json:"probe_audit,omitempty"`
	// Plan fingerprints what the run was asked to do before any sharding
	// (PlanDigest: every scenario × config × attempt and its scenario's
	// source); PlanAttempts counts those attempts. Shards of one run agree
	// on both.
	Plan         string `json:"plan,omitempty"`
	PlanAttempts int    `json:"plan_attempts,omitempty"`
	// Shard is the part of the plan this result holds (--shard i/n); nil
	// for a whole run and for a merged one.
	Shard *Shard `json:"shard,omitempty"`
	// MergedFrom lists the shard results `zchaos report --merge` joined
	// into this one, in shard order.
	MergedFrom []MergedShard `json:"merged_from,omitempty"`
}

// MergedShard is one shard result a merged result was made from.
type MergedShard struct {
	Shard      Shard     `json:"shard"`
	RunID      string    `json:"run_id"`
	StartedAt  time.Time `json:"started_at"`
	DurationMs int64     `json:"duration_ms"`
	Attempts   int       `json:"attempts"`
}

// Calibration is the machine's timer lateness measured before the run and
// the time scale it led to.
type Calibration struct {
	Load   Load    `json:"load"`
	Scale  float64 `json:"scale"`
	Reason string  `json:"reason"`
}

// Finding is one remark about an image as built: a rule of the policy or
// of the job model that a declared service breaks.
type Finding struct {
	Service  string `json:"service"`
	Severity string `json:"severity"` // error (blocks), warning, info
	Code     string `json:"code"`     // the migrator's lint code, e.g. no-restart, health-always-passes
	Message  string `json:"message"`
	Where    string `json:"where,omitempty"` // file:line of a legacy file, or the job
}

// Finding severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// ProbeAudit is the audit of one check job: its exec run inside the
// container with its service healthy (it must pass), hung by SIGSTOP (it
// must fail, else it is blind to a hang) and without its socket (it must
// fail), each run bounded by the check's timeout.
type ProbeAudit struct {
	Service    string     `json:"service"`
	Job        string     `json:"job"`
	Exec       string     `json:"exec"`
	TimeoutMs  int64      `json:"timeout_ms"`
	Runs       []ProbeRun `json:"runs"`
	Verdict    Verdict    `json:"verdict"` // pass, fail (blind, or failing a healthy service) or inconclusive (a state could not be made)
	Reason     string     `json:"reason"`
	DurationMs float64    `json:"duration_ms"` // the audit's wall time
}

// ProbeRun is one run of a check in one state of its service.
type ProbeRun struct {
	State      string  `json:"state"` // healthy, hung, socket-gone
	Passed     bool    `json:"passed"`
	TimedOut   bool    `json:"timed_out,omitempty"`
	DurationMs float64 `json:"duration_ms"`
	Output     string  `json:"output,omitempty"`
	Skipped    string  `json:"skipped,omitempty"` // why the state could not be made
}

// OracleParams are the pinned model parameters the oracle assumed.
type OracleParams struct {
	FailedChecks  int     `json:"failed_checks"`   // F
	StopTimeoutMs int64   `json:"stop_timeout_ms"` // S
	SlackMinMs    int64   `json:"slack_min_ms"`    // ε floor
	SlackFraction float64 `json:"slack_fraction"`  // ε = max(floor, fraction × expected)
	CounterResets bool    `json:"counter_resets"`  // whether a healthy run resets the restart counter
}

// ServicePolicy is a service's applied job model, as the reports show it.
type ServicePolicy struct {
	Service        string `json:"service"`
	Config         string `json:"config"` // "migrated" or "legacy"
	Oneshot        bool   `json:"oneshot"`
	Restart        string `json:"restart"` // always, on-failure, never
	RestartDelayMs int64  `json:"restart_delay_ms"`
	MaxRestarts    int    `json:"max_restarts"`
	IntervalMs     int64  `json:"interval_ms"` // 0: no check
	TimeoutMs      int64  `json:"timeout_ms"`
	Probe          string `json:"probe"`        // human description: "server.health over /root/hero/var/sockets/x.sock"
	ProbeSource    string `json:"probe_source"` // where the probe target came from
}

// LedgerEntry is one line of the migrator's fidelity ledger.
type LedgerEntry struct {
	Service  string `json:"service"`
	Field    string `json:"field"`
	Fidelity string `json:"fidelity"` // exact, approximated, dropped, behaviour-change
	Detail   string `json:"detail"`
}

// BehaviourDiff contrasts a scenario's outcome on legacy and migrated configs.
type BehaviourDiff struct {
	Scenario string `json:"scenario"`
	Service  string `json:"service"`
	Legacy   string `json:"legacy"`   // e.g. "never restarted"
	Migrated string `json:"migrated"` // e.g. "restarted after 5.0 s"
}

// ScenarioResult is one scenario run against one config.
type ScenarioResult struct {
	Scenario      string           `json:"scenario"`
	Description   string           `json:"description"`
	Tags          []string         `json:"tags"`
	Config        string           `json:"config"`   // "migrated" or "legacy"
	Baseline      bool             `json:"baseline"` // a legacy attempt run for contrast: expected to fail, never decides
	Service       string           `json:"service"`  // service under test; "" for fleet-wide
	Attempt       int              `json:"attempt"`  // 1-based
	Seed          int64            `json:"seed"`
	Verdict       Verdict          `json:"verdict"`
	Reason        string           `json:"reason"`
	Checks        []InvariantCheck `json:"checks"`
	Recovery      Recovery         `json:"recovery"`
	Policy        *ServicePolicy   `json:"policy"`
	StartedAt     time.Time        `json:"started_at"`
	DurationMs    int64            `json:"duration_ms"`
	PhysicalMinMs int64            `json:"physical_min_ms"` // least possible wall time of the scenario
	Load          *Load            `json:"load"`            // the machine's timer lateness during the attempt; null: not measured
	Timeline      []Event          `json:"timeline"`        // compact (CompactTimeline) since schema version 3
	Forensics     string           `json:"forensics"`       // bundle dir for a non-pass, relative to the out dir
	// RawEvents is the file holding the attempt's full event stream (gzipped
	// JSON lines, one event a line), relative to the out dir; Timeline is
	// its compaction (CompactTimeline). "" when none was written.
	RawEvents string `json:"raw_events,omitempty"`
}

// InvariantCheck is one invariant judged on one scenario.
type InvariantCheck struct {
	ID       string  `json:"id"` // R1…C1 of invariants.md
	Property string  `json:"property"`
	Verdict  Verdict `json:"verdict"`
	Expected string  `json:"expected"`
	Observed string  `json:"observed"`
	Reason   string  `json:"reason"`
	// MachineLateMs is the worst timer lateness the canary measured in the
	// windows this check judged against an upper bound (nil: none judged).
	MachineLateMs *float64 `json:"machine_late_ms,omitempty"`
}

// Recovery holds the recovery figures; nil fields were not observed.
type Recovery struct {
	Detect  *Measure `json:"detect"`  // fault → supervisor acts
	Restart *Measure `json:"restart"` // fault → new pid
	Healthy *Measure `json:"healthy"` // fault → first passing probe
}

// Load is the machine's timer lateness as the agent's canary measured it
// over an attempt (cyclictest's figure): P50 of the windows' medians, P99
// and Max of their worst ticks.
type Load struct {
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	Windows int     `json:"windows"`
}

// Measure is a duration with its measurement error.
type Measure struct {
	Ms      float64 `json:"ms"`
	ErrorMs float64 `json:"error_ms"`
}

// EventKind names what an Event records.
type EventKind string

const (
	EventSpawn      EventKind = "spawn"       // a process of a job appeared
	EventExit       EventKind = "exit"        // a process of a job is gone
	EventCheckSpawn EventKind = "check_spawn" // a check job's process appeared
	EventCheckExit  EventKind = "check_exit"  // a check job's process is gone
	EventProbe      EventKind = "probe"       // the agent's own health probe of a service
	EventStatus     EventKind = "status"      // a zinit status snapshot of one service
	EventFault      EventKind = "fault"       // a fault was injected
	EventEffect     EventKind = "effect"      // the fault's effect was seen (or not: OK=false)
	EventRevert     EventKind = "revert"      // a reversible fault was undone
	EventZombie     EventKind = "zombie"      // a zombie process was seen
	EventStray      EventKind = "stray"       // a process of a dead incarnation's group remained
	EventAction     EventKind = "action"      // the harness did something (zinit start/stop, ...)
	EventAgentStart EventKind = "agent_start" // first event of an agent stream
	EventCanary     EventKind = "canary"      // timer lateness over a window ending at TNs, DurNs long
	EventHole       EventKind = "hole"        // execs of a service's binary the agent never saw as processes
)

// Event is one observation, timestamped where it happened: TNs is
// nanoseconds of the container's CLOCK_MONOTONIC (the kernel's, so every
// process in the container, the agent and the fault injector alike, shares
// it). The runner makes TNs relative to the scenario's start before it
// stores a result; ErrNs is the measurement error of TNs.
type Event struct {
	TNs      int64     `json:"t_ns"`
	Kind     EventKind `json:"kind"`
	Service  string    `json:"service,omitempty"`
	Job      string    `json:"job,omitempty"`
	PID      int       `json:"pid,omitempty"`
	PGID     int       `json:"pgid,omitempty"`
	Cmdline  string    `json:"cmdline,omitempty"`
	Code     *int      `json:"code,omitempty"`
	Signal   string    `json:"signal,omitempty"`
	OK       *bool     `json:"ok,omitempty"`
	State    string    `json:"state,omitempty"`    // status: zinit state
	Restarts *int      `json:"restarts,omitempty"` // status: zinit's restart count
	Reason   string    `json:"reason,omitempty"`
	Fault    string    `json:"fault,omitempty"`  // fault/effect/revert: the fault's name
	Detail   string    `json:"detail,omitempty"` // for people only: no reader parses it
	DurNs    int64     `json:"dur_ns,omitempty"` // probe: how long it took; check_exit from last_check: the run's length
	ErrNs    int64     `json:"err_ns,omitempty"` // measurement error of TNs (poll period)

	// Machine data of particular kinds (all optional).

	Source        EventSource    `json:"source,omitempty"`           // who reported it, when not the agent's own sighting
	LastExitAtMs  int64          `json:"last_exit_at_ms,omitempty"`  // status: zinit's last_exit.at_ms, which names the last exit
	LastCheckAtMs int64          `json:"last_check_at_ms,omitempty"` // check_exit from last_check: zinit's at_ms of the run
	ZombieMs      int64          `json:"zombie_ms,omitempty"`        // zombie: how long it had been one when reported
	Mechanism     FaultMechanism `json:"mechanism,omitempty"`        // fault: how a health or exit knob was turned
	Control       string         `json:"control,omitempty"`          // fault with Mechanism control: the control file written
	TargetStart   uint64         `json:"target_start,omitempty"`     // fault: start time (clock ticks since boot) of the process PID named, so a reused pid is told apart
	Missed        int            `json:"missed,omitempty"`           // hole: how many execs went unseen
	Refused       bool           `json:"refused,omitempty"`          // effect: the action reached the supervisor, which refused it (its CLI answered an error)
	Socket        string         `json:"socket,omitempty"`           // fault/revert with Mechanism interpose: the service's socket path the interposer took over
	Aside         string         `json:"aside,omitempty"`            // fault with Mechanism interpose: where the service's own socket was kept meanwhile
	SocketIno     uint64         `json:"socket_ino,omitempty"`       // fault with Mechanism interpose: the inode of the interposer's socket at Socket, so a revert tells it from a socket the service bound since
	HelperPID     int            `json:"helper_pid,omitempty"`       // fault/revert: the detached helper the fault left running (the interposer)
	HelperStart   uint64         `json:"helper_start,omitempty"`     // fault: the helper's start time (clock ticks since boot), so a reused pid is told apart
	LateMaxNs     int64          `json:"late_max_ns,omitempty"`      // canary: the latest tick of the window, how late it fired
	LateP50Ns     int64          `json:"late_p50_ns,omitempty"`      // canary: the window's median lateness
	Ticks         int            `json:"ticks,omitempty"`            // canary: ticks in the window
	// Folded is how many events of the full stream a compact timeline left
	// out in this one's place (CompactTimeline): the probes or status
	// reports saying the same since the previous one kept, or the canary
	// windows merged into this one.
	Folded int `json:"folded,omitempty"`
}

// EventSource says who reported an event. The zero value is the agent's
// own sighting (a process it saw, a probe it made, a status it read, a
// fault it injected) or the harness's action.
type EventSource string

const (
	SourceAgent EventSource = ""
	// SourceZinitLastCheck marks a check_exit derived from a check job's
	// last_check in zinit's status (PID 0 as the agent sends it; the
	// runner merges it into the run the agent saw, or makes a run of its
	// own of it with a negative PID, see scenarios/timeline.Merge).
	SourceZinitLastCheck EventSource = "zinit-last-check"
)

func (s EventSource) String() string {
	if s == SourceAgent {
		return "agent"
	}
	return string(s)
}

// FaultMechanism is how the agent turned a service's knob for a fault.
type FaultMechanism string

const (
	MechanismNone    FaultMechanism = ""
	MechanismControl FaultMechanism = "control" // wrote a command into herosim's control file (Control)
	MechanismSignal  FaultMechanism = "signal"  // signalled the process PID (started at TargetStart)
	// MechanismInterpose: a detached interposer (HelperPID) took over the
	// service's Unix socket (Socket; the service's own kept at Aside) and
	// answers for it.
	MechanismInterpose FaultMechanism = "interpose"
)

func (m FaultMechanism) String() string {
	if m == MechanismNone {
		return "none"
	}
	return string(m)
}
