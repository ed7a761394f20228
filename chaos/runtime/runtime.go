package runtime

import (
	"context"
	"io"
	"syscall"
	"time"
)

// LabelRun is the label every container of a run carries; its value is the
// run ID. LabelTool marks every container zchaos ever made, for cleanup.
const (
	LabelTool = "dev.zchaos"
	LabelRun  = "dev.zchaos.run"
)

// StartOptions describe a container to start. The runtime always adds the
// tool and run labels, no network, and no extra privileges.
type StartOptions struct {
	Image string            // image reference
	Name  string            // container name; the runtime makes one if empty
	RunID string            // value of LabelRun
	Env   []string          // KEY=VALUE
	Cmd   []string          // overrides the image's command (nil: image default)
	Files map[string][]byte // files to place before start (path → content), mode 0755
	Links map[string]string // symlinks to place before start (path → target), both in-container paths
	// DeadMan is the container's dead-man switch (none when its Argv is
	// empty); see DeadMan.
	DeadMan DeadMan
}

// DeadMan is a process the runtime runs inside a container right after it
// starts (and again after a Restart), whose standard input is a stream only
// this process holds: a Docker exec's attach, a local pipe. When this
// process dies, however it dies, the stream ends and the switch stops the
// container's init; a Docker container is created with auto-remove, so it
// disappears. Start returns once the switch printed Armed on its stdout.
// Remove ends the switch with its container; Keep writes Disarm to it
// first, so a container kept on purpose stays. (chaos/agent's
// `zchaos agent deadman` is the switch.)
type DeadMan struct {
	Argv   []string // the switch's command line, in-container paths
	Disarm string   // written to the switch before its stream is closed on purpose
	Armed  string   // the switch prints this on its stdout once it holds the stream
}

// ExecResult is the outcome of a command run inside a container.
type ExecResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runtime starts containers (or, for the local runtime, process trees that
// behave like them). Implementations: Docker through dockertest, and local
// processes.
type Runtime interface {
	// Start starts a container and returns once it is running. The caller
	// owns the container and must Remove it.
	Start(ctx context.Context, opts StartOptions) (Container, error)
	// Cleanup removes every container labelled LabelTool (and, if runID is
	// not empty, only those of that run) and returns their names.
	Cleanup(ctx context.Context, runID string) ([]string, error)
	// RemoveAll removes every container this runtime started that is still
	// there. It runs even when ctx is cancelled (fresh deadline), so the
	// runner defers it to purge on exit and on SIGINT/SIGTERM. See Tracker.
	RemoveAll(ctx context.Context) error
	// Name is "docker" or "local".
	Name() string
}

// Container is one running container. Every method honours ctx.
type Container interface {
	ID() string
	Name() string
	// Exec runs argv and waits for it.
	Exec(ctx context.Context, argv []string, stdin io.Reader) (ExecResult, error)
	// Stream runs argv and returns its stdout as it comes; the process ends
	// when ctx is cancelled or it exits. Closing the reader releases it.
	Stream(ctx context.Context, argv []string) (io.ReadCloser, error)
	// CopyIn writes files (path → content, mode 0755) into the container.
	CopyIn(ctx context.Context, files map[string][]byte) error
	// Signal sends sig to the container's PID 1.
	Signal(ctx context.Context, sig syscall.Signal) error
	// Restart stops PID 1 (SIGTERM, then SIGKILL after timeout) and starts
	// the container again with the same filesystem.
	Restart(ctx context.Context, timeout time.Duration) error
	// Logs returns PID 1's combined output so far.
	Logs(ctx context.Context) ([]byte, error)
	// Remove kills and removes the container. It is idempotent.
	Remove(ctx context.Context) error
	// Keep disarms the container's dead-man switch and forgets the
	// container, so it outlives this process and RemoveAll: a container
	// kept for forensics. `zchaos cleanup` removes it.
	Keep(ctx context.Context) error
}
