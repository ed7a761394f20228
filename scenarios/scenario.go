package scenarios

import "go.yaml.in/yaml/v3"

// Scenario is one experiment: which services run, the steady state to reach,
// the faults to inject in order, and what each config is expected to show.
// It is decoded strictly from YAML (unknown fields rejected); durations are
// milliseconds at time scale 1 and are scaled by the runner.
type Scenario struct {
	Name        string     `yaml:"name" json:"name"`
	Description string     `yaml:"description" json:"description"`
	Tags        []string   `yaml:"tags,omitempty" json:"tags,omitempty"` // "gate" marks the gate suite
	Services    ServiceSet `yaml:"services" json:"services"`
	Target      string     `yaml:"-" json:"target,omitempty"` // service under test ("" = fleet-wide, or not chosen yet)
	// Targets is the `target` field as written: a service name, or a
	// selector that picks the targets among the services present
	// (ExpandTargets). A plain name is copied to Target when decoded.
	Targets *TargetSpec `yaml:"target,omitempty" json:"target_spec,omitempty"`
	Steady  SteadyState `yaml:"steady_state" json:"steady_state"`
	Faults  []Fault     `yaml:"faults" json:"faults"`
	Expect  Expectation `yaml:"expect" json:"expect"`
	// ObserveMs bounds the scenario after the last fault; 0 lets the runner
	// derive it from the policy (the expected end plus the quiet window).
	ObserveMs int64 `yaml:"observe_ms,omitempty" json:"observe_ms,omitempty"`
	// Source is the YAML the scenario was decoded from, kept for reports.
	Source string `yaml:"-" json:"-"`
	File   string `yaml:"-" json:"-"`
}

// TargetSpec is a scenario's `target`. Written as a plain string it names
// the service under test; written as a mapping it selects targets among
// the services present (the built-in fleet, a config dir, an image as
// built), so one catalogue serves them all:
//
//	target: {prefer: [user.hero_embedder_server], probe: socket, alone: true}
//	target: {each: true, probe: socket}
type TargetSpec struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Prefer names services taken first, in order, when present.
	Prefer []string `yaml:"prefer,omitempty" json:"prefer,omitempty"`
	// Probe keeps the services whose health can be probed this way:
	// socket, http, or any (default: any, oneshots excluded).
	Probe string `yaml:"probe,omitempty" json:"probe,omitempty"`
	// Sample is how many targets to pick (default 1), seeded.
	Sample int `yaml:"sample,omitempty" json:"sample,omitempty"`
	// Each picks every matching service.
	Each bool `yaml:"each,omitempty" json:"each,omitempty"`
	// Alone runs the target with only what it needs (its --after
	// dependencies), not the whole fleet, where the config allows it.
	Alone bool `yaml:"alone,omitempty" json:"alone,omitempty"`
}

// UnmarshalYAML reads a plain name or a selector mapping.
func (t *TargetSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = TargetSpec{Name: n.Value}
		return nil
	}
	type plain TargetSpec
	return n.Decode((*plain)(t))
}

// Selects reports whether the spec picks targets rather than naming one.
func (t *TargetSpec) Selects() bool { return t != nil && t.Name == "" }

// ServiceSet says where the scenario's services come from: the hero fleet
// (or another legacy config dir) through the migrator, or jobs declared here.
type ServiceSet struct {
	// From is "fleet" (the built-in fixture) or a config dir path. Empty when
	// Declared is used.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	// Select limits the fleet to these services (and what they need); empty = all.
	Select []string `yaml:"select,omitempty" json:"select,omitempty"`
	// Declared services bypass the migrator: any check command can be put
	// under test this way.
	Declared []DeclaredService `yaml:"declared,omitempty" json:"declared,omitempty"`
	// Configs lists the configs this scenario runs on: "migrated", "legacy"
	// (default: both for fleet services, "migrated" only for declared ones).
	Configs []string `yaml:"configs,omitempty" json:"configs,omitempty"`
}

// DeclaredService is a service given directly in the job model.
type DeclaredService struct {
	Name    string        `yaml:"name" json:"name"`
	After   []string      `yaml:"after,omitempty" json:"after,omitempty"`
	Persist bool          `yaml:"persist,omitempty" json:"persist,omitempty"`
	Jobs    []DeclaredJob `yaml:"jobs" json:"jobs"`
}

// DeclaredJob mirrors the zinit add job flags.
type DeclaredJob struct {
	Name           string            `yaml:"name" json:"name"`
	Exec           string            `yaml:"exec" json:"exec"`
	Trigger        string            `yaml:"trigger" json:"trigger"`
	Restart        string            `yaml:"restart,omitempty" json:"restart,omitempty"`
	RestartDelayMs int64             `yaml:"restart_delay_ms,omitempty" json:"restart_delay_ms,omitempty"`
	MaxRestarts    int               `yaml:"max_restarts,omitempty" json:"max_restarts,omitempty"`
	IntervalMs     int64             `yaml:"interval_ms,omitempty" json:"interval_ms,omitempty"`
	TimeoutMs      int64             `yaml:"timeout_ms,omitempty" json:"timeout_ms,omitempty"`
	Env            map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Persist        bool              `yaml:"persist,omitempty" json:"persist,omitempty"`
}

// SteadyState is what must hold before the first fault.
type SteadyState struct {
	Running   bool  `yaml:"running" json:"running"`                           // target's start job has a pid
	Healthy   bool  `yaml:"healthy" json:"healthy"`                           // the agent's probe passes
	TimeoutMs int64 `yaml:"timeout_ms,omitempty" json:"timeout_ms,omitempty"` // 0: derived
}

// FaultKind names a fault the harness can inject.
type FaultKind string

const (
	FaultKill        FaultKind = "kill"         // send Signal (default SIGKILL) to the target's process group
	FaultHang        FaultKind = "hang"         // SIGSTOP the target's process group (always undone)
	FaultHealthHang  FaultKind = "health-hang"  // herosim: health endpoint stops answering
	FaultHealthError FaultKind = "health-error" // herosim: health endpoint answers a JSON-RPC error
	FaultSocket      FaultKind = "remove-socket"
	FaultCrashLoop   FaultKind = "crash-loop"         // make every start crash at once
	FaultSupervisor  FaultKind = "supervisor-restart" // restart zinit itself (the container's PID 1)
	FaultReload      FaultKind = "reload"             // zinit reload
	FaultStop        FaultKind = "stop"               // zinit stop <target>
	FaultStart       FaultKind = "start"              // zinit start <target>
	FaultExit        FaultKind = "exit"               // make the target exit with Code
	FaultMonkey      FaultKind = "monkey"             // kill random fleet services for DurationMs
)

// Fault is one step of a scenario.
type Fault struct {
	Kind   FaultKind `yaml:"kind" json:"kind"`
	Signal string    `yaml:"signal,omitempty" json:"signal,omitempty"`
	Code   int       `yaml:"code,omitempty" json:"code,omitempty"`
	// When: "running" (the target runs), "healthy", "restarting" (during the
	// restart delay), "failed" (the target gave up), "now" (right after the
	// previous step). DelayMs waits after that condition.
	When    string `yaml:"when,omitempty" json:"when,omitempty"`
	DelayMs int64  `yaml:"delay_ms,omitempty" json:"delay_ms,omitempty"`
	// DurationMs: how long a reversible fault stays (0: until the scenario
	// ends); for monkey, how long it kills.
	DurationMs int64 `yaml:"duration_ms,omitempty" json:"duration_ms,omitempty"`
	// IntervalMs: for monkey, the mean time between kills.
	IntervalMs int64 `yaml:"interval_ms,omitempty" json:"interval_ms,omitempty"`
}

// Expectation says what each config must show. Invariants lists the ids of
// invariants.md the oracle judges (empty: every one that applies). Recover
// requires the target to be running and healthy again after the faults;
// Outcome per config is the verdict expected there ("pass" or "fail"): the
// gate requires the migrated config to match it, and a baseline run reports
// the legacy one.
type Expectation struct {
	Invariants []string          `yaml:"invariants,omitempty" json:"invariants,omitempty"`
	Recover    bool              `yaml:"recover" json:"recover"`
	Outcome    map[string]string `yaml:"outcome,omitempty" json:"outcome,omitempty"` // config → pass|fail|info
	Info       bool              `yaml:"info,omitempty" json:"info,omitempty"`       // observed, not judged
}
