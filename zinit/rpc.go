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
)

// Methods lists every method, in the order rpc.discover reports them.
var Methods = []string{
	MethodServiceAdd, MethodServiceRemove, MethodJobAdd, MethodJobRemove,
	MethodServiceList, MethodServiceStatus, MethodServiceStart, MethodServiceStop,
	MethodServiceRestart, MethodServiceKill, MethodLogsGet, MethodSystemReload,
	MethodSystemShutdown, MethodSystemPing, MethodRPCDiscover,
}

// JSON-RPC error codes of the daemon.
const (
	CodeNotFound      = -32000
	CodeAlreadyExists = -32001
	CodeInvalidParams = -32602
	CodeInternal      = -32603
	CodeMethodMissing = -32601
	CodeParseError    = -32700
)

// Sentinel errors; an *RPCError with the matching code Is one of them.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
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

// JobRefParams name one job of a service.
type JobRefParams struct {
	Service string `json:"service"`
	Name    string `json:"name"`
}

// KillParams send a signal (a name such as "SIGTERM" or "TERM", or a number)
// to the start job's process group.
type KillParams struct {
	Name   string `json:"name"`
	Signal string `json:"signal"`
}

// LogsParams ask for the last Lines lines (0: all kept) of a service's output.
type LogsParams struct {
	Name  string `json:"name"`
	Lines int    `json:"lines,omitempty"`
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

// ReloadResult says what a reload of the config dir did.
type ReloadResult struct {
	Started   []string `json:"started"`
	Stopped   []string `json:"stopped"`
	Restarted []string `json:"restarted"`
}

// PingResult identifies the daemon.
type PingResult struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
}

// DiscoverResult lists the methods the daemon serves.
type DiscoverResult struct {
	Methods []string `json:"methods"`
}

// Version is the version the reference supervisor reports.
const Version = "0.4.0-zchaos"
