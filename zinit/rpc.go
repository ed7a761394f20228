package zinit

import (
	"errors"
	"fmt"
)

// JSON-RPC 2.0 methods of the daemon. One request per line, named params.
const (
	MethodServiceAdd     = "service.add"     // ServiceAddParams → null
	MethodServiceRemove  = "service.remove"  // NameParams → null
	MethodJobAdd         = "job.add"         // Job → JobAddResult
	MethodJobRemove      = "job.remove"      // JobRefParams → null
	MethodServiceList    = "service.list"    // {} → []ServiceStatus
	MethodServiceStatus  = "service.status"  // NameParams → ServiceStatus
	MethodServiceStart   = "service.start"   // NameParams → null
	MethodServiceStop    = "service.stop"    // NameParams → null (returns once stopped)
	MethodServiceRestart = "service.restart" // NameParams → null
	MethodServiceKill    = "service.kill"    // KillParams → null
	MethodLogsGet        = "logs.get"        // LogsParams → LogsResult
	MethodSystemReload   = "system.reload"   // {} → ReloadResult
	MethodSystemShutdown = "system.shutdown" // {} → null
	MethodSystemPing     = "system.ping"     // {} → PingResult
	MethodRPCDiscover    = "rpc.discover"    // {} → DiscoverResult
	MethodSystemStatus   = "system.status"   // {} → SystemStatus
	MethodPersistResume  = "persist.resume"  // {} → SystemStatus
)

// Methods lists every method, in the order rpc.discover reports them.
var Methods = []string{
	MethodServiceAdd, MethodServiceRemove, MethodJobAdd, MethodJobRemove,
	MethodServiceList, MethodServiceStatus, MethodServiceStart, MethodServiceStop,
	MethodServiceRestart, MethodServiceKill, MethodLogsGet, MethodSystemReload,
	MethodSystemShutdown, MethodSystemPing, MethodRPCDiscover,
	MethodSystemStatus, MethodPersistResume,
}

// JSON-RPC error codes of the daemon.
const (
	CodeNotFound      = -32000
	CodeAlreadyExists = -32001
	CodeReadOnly      = -32002 // persistence is read-only (see SystemStatus)
	CodeInvalidParams = -32602
	CodeInternal      = -32603
	CodeMethodMissing = -32601
	CodeParseError    = -32700
)

// Sentinel errors; an *RPCError with the matching code Is one of them.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrReadOnly: persistence is read-only since the daemon could not
	// read its state file; a change that must be persisted is refused
	// until persist.resume.
	ErrReadOnly = errors.New("persistence is read-only")
)

// RPCError is an error answered by the daemon.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("zinit: %s (code %d)", e.Message, e.Code) }

// Is maps error codes to the sentinels, so callers use errors.Is.
func (e *RPCError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrAlreadyExists:
		return e.Code == CodeAlreadyExists
	case ErrReadOnly:
		return e.Code == CodeReadOnly
	case ErrInvalid:
		return e.Code == CodeInvalidParams
	}
	return false
}

// ServiceAddParams are the params of service.add.
type ServiceAddParams = Service

// NameParams name one service.
type NameParams struct {
	Name string `json:"name"`
}

// Validate checks the name (an error wrapping ErrInvalid).
func (p NameParams) Validate() error { return ValidateName(p.Name) }

// JobRefParams name one job of a service.
type JobRefParams struct {
	Service string `json:"service"`
	Name    string `json:"name"`
}

// Validate checks both names (an error wrapping ErrInvalid).
func (p JobRefParams) Validate() error {
	if err := ValidateName(p.Service); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := ValidateName(p.Name); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	return nil
}

// KillParams send a signal (a name such as "SIGTERM" or "TERM", or a number)
// to the start job's process group.
type KillParams struct {
	Name   string `json:"name"`
	Signal string `json:"signal"`
}

// Validate checks the name and that a signal is given (an error wrapping
// ErrInvalid); the signal itself is parsed by the daemon.
func (p KillParams) Validate() error {
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	if p.Signal == "" {
		return invalidf("signal is required")
	}
	return nil
}

// LogsParams ask for the last Lines lines (0: all kept) of a service's output.
type LogsParams struct {
	Name  string `json:"name"`
	Lines int    `json:"lines,omitempty"`
}

// Validate checks the name and that lines is not negative (an error
// wrapping ErrInvalid).
func (p LogsParams) Validate() error {
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	if p.Lines < 0 {
		return invalidf("lines %d: must be >= 0", p.Lines)
	}
	return nil
}

// LogsResult is the tail of a service's captured stdout and stderr. MonoNs,
// when the daemon records it (the reference zinit does), holds for each
// line the CLOCK_MONOTONIC instant in nanoseconds it was captured.
type LogsResult struct {
	Lines  []string `json:"lines"`
	MonoNs []int64  `json:"mono_ns,omitempty"`
}

// JobAddResult carries a warning when the job was accepted without effect
// (a job added to a legacy TOML service).
type JobAddResult struct {
	Warning string `json:"warning,omitempty"`
}

// ReloadResult says what a reload of the config dir did. Skipped lists the
// files it could not use (their services, if any, are left as they were).
type ReloadResult struct {
	Started   []string      `json:"started"`
	Stopped   []string      `json:"stopped"`
	Restarted []string      `json:"restarted"`
	Skipped   []SkippedFile `json:"skipped"`
}

// SkippedFile is a config file the daemon could not use, and why.
type SkippedFile struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"` // 1-based; 0 when the file as a whole is concerned
	Reason string `json:"reason"`
}

// String is "file:line: reason" (no ":line" for the file as a whole).
func (s SkippedFile) String() string {
	return (&ConfigError{File: s.File, Line: s.Line, Err: errors.New(s.Reason)}).Error()
}

// PingResult identifies the daemon. Degraded is true when something needs
// an operator (system.status says what).
type PingResult struct {
	Version  string `json:"version"`
	PID      int    `json:"pid"`
	Degraded bool   `json:"degraded,omitempty"`
}

// SystemStatus is the daemon's own state (system.status). Degraded is true
// when persistence is read-only; Problems says why, one line each.
type SystemStatus struct {
	Version       string        `json:"version"`
	PID           int           `json:"pid"`
	Degraded      bool          `json:"degraded"`
	Problems      []string      `json:"problems"`
	Persistence   PersistStatus `json:"persistence"`
	ConfigSkipped []SkippedFile `json:"config_skipped"` // by the last read of the config dir (boot or reload)
}

// Persistence modes.
const (
	PersistOff      = "off"       // no state dir
	PersistOK       = "ok"        // changes marked --persist are written
	PersistReadOnly = "read-only" // the state file could not be read at boot: nothing is written until persist.resume
)

// PersistStatus says whether persisted changes are written, and what the
// daemon could not restore from its state file at boot. MovedTo is where
// an unusable state file was moved aside ("" if it could not be).
type PersistStatus struct {
	Mode        string         `json:"mode"`
	File        string         `json:"file,omitempty"`
	MovedTo     string         `json:"moved_to,omitempty"`
	Restored    []string       `json:"restored"`
	NotRestored []StateProblem `json:"not_restored"`
}

// StateProblem is one part of the state file that could not be restored:
// the file as a whole ("file"), an entry ("services[2] \"name\"") or a job
// ("name/job").
type StateProblem struct {
	Entry  string `json:"entry"`
	Reason string `json:"reason"`
}

// DiscoverResult lists the methods the daemon serves.
type DiscoverResult struct {
	Methods []string `json:"methods"`
}

// Version is the version the reference supervisor reports.
const Version = "0.4.0-zchaos"
