package zinit

import "fmt"

// State is a service's supervision state.
type State int

const (
	StateInactive   State = iota // not running, nothing pending
	StateBlocked                 // start requested, waiting for an --after dependency
	StateRunning                 // the start job's process is alive
	StateRestarting              // the start job exited; a restart is due after restart-delay
	StateStopping                // stop requested; SIGTERM sent, SIGKILL after StopTimeout
	StateFailed                  // gave up (restart limit, spawn error); sticky until start
)

var stateNames = [...]string{"inactive", "blocked", "running", "restarting", "stopping", "failed"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ParseState reads a state's name.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", name)
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	*s = v
	return err
}

// ServiceStatus is what `zinit status --json` prints and service.status
// returns. Absent values are null. Times are Unix milliseconds.
type ServiceStatus struct {
	Name        string      `json:"name"`
	State       State       `json:"state"`
	PID         *int        `json:"pid"`
	Restarts    int         `json:"restarts"`
	Reason      *string     `json:"reason"`
	LastExit    *ExitStatus `json:"last_exit"`
	StartedAtMs *int64      `json:"started_at_ms"`
	Legacy      bool        `json:"legacy"`
	Persist     bool        `json:"persist"`
	After       []string    `json:"after"`
	Jobs        []JobStatus `json:"jobs"`
}

// ExitStatus is how a process ended: a code, or a signal name such as "SIGKILL".
type ExitStatus struct {
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
	AtMs   int64   `json:"at_ms"`
}

// JobStatus is a job's declaration and its live state.
type JobStatus struct {
	Name           string            `json:"name"`
	Trigger        Trigger           `json:"trigger"`
	Exec           string            `json:"exec"`
	Env            map[string]string `json:"env"`
	Restart        *RestartPolicy    `json:"restart"`
	RestartDelayMs *int64            `json:"restart_delay_ms"`
	MaxRestarts    *int              `json:"max_restarts"`
	IntervalMs     *int64            `json:"interval_ms"`
	TimeoutMs      *int64            `json:"timeout_ms"`
	Persist        bool              `json:"persist"`
	PID            *int              `json:"pid"`
	Restarts       int               `json:"restarts"`
	LastCheck      *CheckResult      `json:"last_check"`
}

// CheckResult is the outcome of a check job's last run.
type CheckResult struct {
	OK         bool    `json:"ok"`
	AtMs       int64   `json:"at_ms"`
	DurationMs int64   `json:"duration_ms"`
	Error      *string `json:"error"`
	// PID is the run's process (a [pin] extension: it names the run, so an
	// observer that saw the run itself counts it once); absent when the
	// run could not be spawned.
	PID *int `json:"pid,omitempty"`
}
