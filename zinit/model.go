package zinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"time"
)

// Pinned values of the job model. Each is named so that the supervisor, the
// migrator and the harness's oracle agree, and so the oracle can take a
// different value when it judges a zinit whose answer differs.
const (
	DefaultSocket    = "/run/zinit.sock" // [0.3] overridden by --socket or ZINIT_SOCKET
	DefaultConfigDir = "/etc/zinit"      // [0.3] overridden by --config-dir or ZINIT_CONFIG_DIR
	DefaultStateDir  = "/var/lib/zinit"  // [pin] overridden by --state-dir or ZINIT_STATE_DIR

	DefaultRestartDelay    = 1000 * time.Millisecond // [pin] restart-delay when not given
	DefaultMaxRestarts     = 0                       // [pin] 0 means unlimited
	StopTimeout            = 10 * time.Second        // [pin] SIGTERM → SIGKILL on zinit stop
	StopJobTimeout         = 10 * time.Second        // [pin] default bound of a stop-trigger job
	ShutdownTimeout        = 30 * time.Second        // daemon shutdown stops everything within this
	FailedChecksBeforeKill = 1                       // [pin] F: one failed check run is enough

	MaxNameLen = 128
)

// Reasons a service is in StateFailed.
const (
	ReasonRestartLimit = "restart_limit" // max-restarts exhausted
	ReasonSpawnError   = "spawn_error"   // the exec could not be spawned
)

// Trigger says when a job runs.
type Trigger int

const (
	TriggerStart Trigger = iota + 1 // the service's main process
	TriggerStop                     // runs on zinit stop, before SIGTERM
	TriggerCheck                    // periodic health probe
)

func (t Trigger) String() string {
	switch t {
	case TriggerStart:
		return "start"
	case TriggerStop:
		return "stop"
	case TriggerCheck:
		return "check"
	}
	return fmt.Sprintf("trigger(%d)", int(t))
}

// ParseTrigger reads the CLI spelling of a trigger.
func ParseTrigger(s string) (Trigger, error) {
	switch s {
	case "start":
		return TriggerStart, nil
	case "stop":
		return TriggerStop, nil
	case "check":
		return TriggerCheck, nil
	}
	return 0, fmt.Errorf("invalid trigger %q: want start, stop or check", s)
}

func (t Trigger) MarshalText() ([]byte, error) { return []byte(t.String()), nil }
func (t *Trigger) UnmarshalText(b []byte) error {
	v, err := ParseTrigger(string(b))
	*t = v
	return err
}

// RestartPolicy says whether a start job is restarted after it exits.
// The zero value is RestartNever, the pinned default.
type RestartPolicy int

const (
	RestartNever     RestartPolicy = iota // no restart
	RestartOnFailure                      // restart after exit != 0 or a signal, not after a stop
	RestartAlways                         // restart after any exit not caused by a stop
)

func (p RestartPolicy) String() string {
	switch p {
	case RestartNever:
		return "never"
	case RestartOnFailure:
		return "on-failure"
	case RestartAlways:
		return "always"
	}
	return fmt.Sprintf("restart(%d)", int(p))
}

// ParseRestartPolicy reads the CLI spelling of a restart policy.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	switch s {
	case "never":
		return RestartNever, nil
	case "on-failure":
		return RestartOnFailure, nil
	case "always":
		return RestartAlways, nil
	}
	return 0, fmt.Errorf("invalid restart policy %q: want always, on-failure or never", s)
}

func (p RestartPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
func (p *RestartPolicy) UnmarshalText(b []byte) error {
	v, err := ParseRestartPolicy(string(b))
	*p = v
	return err
}

// ShouldRestart is the policy matrix (invariant R2): whether an exit that
// was not caused by a stop request is followed by a restart. failed is true
// for a non-zero exit code, a death by signal, or a kill by a failed check.
func (p RestartPolicy) ShouldRestart(failed bool) bool {
	switch p {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return failed
	}
	return false
}

// Service is a supervised unit that owns jobs.
type Service struct {
	Name    string   `json:"name"`
	After   []string `json:"after,omitempty"`
	Persist bool     `json:"persist,omitempty"`
}

// Validate checks the service against the spec's rules.
func (s Service) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	for _, a := range s.After {
		if err := ValidateName(a); err != nil {
			return fmt.Errorf("after: %w", err)
		}
		if a == s.Name {
			return fmt.Errorf("service %q cannot start after itself", s.Name)
		}
	}
	return nil
}

// Job is one process a service runs: its main process (start), a stop hook
// (stop) or a periodic health probe (check). A zero duration or count means
// "not given": the daemon applies the pinned default (see the Effective
// methods).
type Job struct {
	Service      string            `json:"service"`
	Name         string            `json:"name"`
	Exec         string            `json:"exec"`
	Trigger      Trigger           `json:"trigger"`
	Env          map[string]string `json:"env,omitempty"`
	Restart      RestartPolicy     `json:"restart"`
	RestartDelay time.Duration     `json:"-"`
	MaxRestarts  int               `json:"max_restarts,omitempty"`
	Interval     time.Duration     `json:"-"`
	Timeout      time.Duration     `json:"-"`
	Persist      bool              `json:"persist,omitempty"`
}

// EffectiveRestartDelay is d: the given restart delay or the default.
func (j Job) EffectiveRestartDelay() time.Duration {
	if j.RestartDelay > 0 {
		return j.RestartDelay
	}
	return DefaultRestartDelay
}

// EffectiveTimeout is T: the given timeout, else the interval for a check
// job, else StopJobTimeout for a stop job, else zero (no bound).
func (j Job) EffectiveTimeout() time.Duration {
	switch {
	case j.Timeout > 0:
		return j.Timeout
	case j.Trigger == TriggerCheck:
		return j.Interval
	case j.Trigger == TriggerStop:
		return StopJobTimeout
	}
	return 0
}

// EnvList returns the env as sorted KEY=VALUE pairs.
func (j Job) EnvList() []string {
	out := make([]string, 0, len(j.Env))
	for k, v := range j.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// jobWire is a Job on the wire. The durations are pointers so that a 0
// given explicitly is told from an absent value: absent means "not given"
// (the pinned default applies), an explicit 0 is rejected as the CLI
// rejects --restart-delay 0.
type jobWire struct {
	Service        string            `json:"service"`
	Name           string            `json:"name"`
	Exec           string            `json:"exec"`
	Trigger        Trigger           `json:"trigger"`
	Env            map[string]string `json:"env,omitempty"`
	Restart        RestartPolicy     `json:"restart"`
	RestartDelayMs *int64            `json:"restart_delay_ms,omitempty"`
	MaxRestarts    int               `json:"max_restarts,omitempty"`
	IntervalMs     *int64            `json:"interval_ms,omitempty"`
	TimeoutMs      *int64            `json:"timeout_ms,omitempty"`
	Persist        bool              `json:"persist,omitempty"`
}

// maxDurationMs is the longest duration, in ms, a time.Duration holds.
const maxDurationMs = math.MaxInt64 / int64(time.Millisecond)

// msField is d in whole milliseconds, nil (absent) when d is not given.
func msField(d time.Duration) *int64 {
	if ms := d.Milliseconds(); ms != 0 {
		return &ms
	}
	return nil
}

// MarshalJSON renders durations as whole milliseconds, as the CLI does; a
// duration not given is left out.
func (j Job) MarshalJSON() ([]byte, error) {
	return json.Marshal(jobWire{
		Service: j.Service, Name: j.Name, Exec: j.Exec, Trigger: j.Trigger, Env: j.Env,
		Restart: j.Restart, RestartDelayMs: msField(j.RestartDelay), MaxRestarts: j.MaxRestarts,
		IntervalMs: msField(j.Interval), TimeoutMs: msField(j.Timeout), Persist: j.Persist,
	})
}

// UnmarshalJSON reads the millisecond form written by MarshalJSON. A
// duration given as 0 is an error wrapping ErrInvalid: 0 has one meaning,
// "must be > 0", on the command line and on the wire alike; leave the field
// out for the default.
func (j *Job) UnmarshalJSON(b []byte) error {
	var w jobWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	durations := []struct {
		key string
		ms  *int64
		d   *time.Duration
	}{{"restart_delay_ms", w.RestartDelayMs, &j.RestartDelay}, {"interval_ms", w.IntervalMs, &j.Interval}, {"timeout_ms", w.TimeoutMs, &j.Timeout}}
	*j = Job{
		Service: w.Service, Name: w.Name, Exec: w.Exec, Trigger: w.Trigger, Env: w.Env,
		Restart: w.Restart, MaxRestarts: w.MaxRestarts, Persist: w.Persist,
	}
	for _, f := range durations {
		if f.ms == nil {
			continue
		}
		switch ms := *f.ms; {
		case ms == 0:
			return invalidf("%s 0: must be > 0 (leave it out for the default)", f.key)
		case ms > maxDurationMs || ms < -maxDurationMs:
			return invalidf("%s %d: must be <= %d", f.key, ms, maxDurationMs)
		}
		*f.d = time.Duration(*f.ms) * time.Millisecond
	}
	return nil
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// ValidateName checks a service or job name: 1–128 letters, digits, '.', '_', '-'.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return invalidf("name %q: want 1-%d letters, digits, '.', '_' or '-'", name, MaxNameLen)
	}
	return nil
}

// Validate checks the job against the spec's rules: names, an exec, flags
// that fit the trigger, positive numbers, env keys.
func (j Job) Validate() error {
	if err := ValidateName(j.Service); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := ValidateName(j.Name); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	if j.Exec == "" {
		return invalidf("job %s/%s: --exec is required", j.Service, j.Name)
	}
	switch j.Trigger {
	case TriggerStart, TriggerStop, TriggerCheck:
	default:
		return invalidf("job %s/%s: --trigger is required (start, stop or check)", j.Service, j.Name)
	}
	if j.RestartDelay < 0 || j.Interval < 0 || j.Timeout < 0 || j.MaxRestarts < 0 {
		return invalidf("job %s/%s: durations and counts must be > 0", j.Service, j.Name)
	}
	if j.Trigger != TriggerStart && (j.Restart != RestartNever || j.RestartDelay != 0 || j.MaxRestarts != 0) {
		return invalidf("job %s/%s: --restart, --restart-delay and --max-restarts only fit --trigger start", j.Service, j.Name)
	}
	if j.Trigger == TriggerCheck && j.Interval == 0 {
		return invalidf("job %s/%s: --interval-ms is required with --trigger check", j.Service, j.Name)
	}
	if j.Trigger != TriggerCheck && j.Interval != 0 {
		return invalidf("job %s/%s: --interval-ms only fits --trigger check", j.Service, j.Name)
	}
	if j.Trigger == TriggerStart && j.Timeout != 0 {
		return invalidf("job %s/%s: --timeout-ms only fits --trigger check or stop", j.Service, j.Name)
	}
	for k := range j.Env {
		if !envRE.MatchString(k) {
			return invalidf("job %s/%s: env key %q is not a valid variable name", j.Service, j.Name, k)
		}
	}
	return nil
}
