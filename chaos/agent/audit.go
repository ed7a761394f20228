package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// The probe audit runs a check job's own exec inside the container, the
// way zinit runs it (sh -c in its own process group, the group SIGKILLed
// at the timeout, ZINIT_SERVICE and ZINIT_PID set), in three states of its
// service: healthy (it must pass), hung by SIGSTOP (it must fail: else it
// is blind to a hang), and, for a check that uses the service's socket,
// with that socket gone (it must fail). Every state is undone before the
// next one, even on cancel.

// Audit states.
const (
	AuditHealthy    = "healthy"     // the service as it runs
	AuditHung       = "hung"        // its process group SIGSTOPped
	AuditSocketGone = "socket-gone" // its Unix socket moved aside
)

// AuditOptions say which check to audit.
type AuditOptions struct {
	Spec    Spec
	Service string
	Exec    string            // the check job's exec
	Env     map[string]string // the check job's env
	Timeout time.Duration     // the check job's timeout
}

// AuditRun is one run of the check in one state.
type AuditRun struct {
	State      string  `json:"state"`
	Passed     bool    `json:"passed"`
	TimedOut   bool    `json:"timed_out,omitempty"`
	Code       *int    `json:"code,omitempty"`
	Signal     string  `json:"signal,omitempty"`
	DurationMs float64 `json:"duration_ms"`
	Output     string  `json:"output,omitempty"`  // the first line of its output
	Skipped    string  `json:"skipped,omitempty"` // why the state could not be made; the run did not happen
}

// auditSuffix is the sibling name a socket is moved to while it is "gone".
const auditSuffix = ".zchaos-audit"

// RunAudit runs the check in the three states and returns their runs. An
// error means the audit could not start (no such service running); a
// state it cannot make is a run with Skipped set.
func RunAudit(ctx context.Context, opts AuditOptions, env InjectEnv) ([]AuditRun, error) {
	if env.Clock == nil {
		env.Clock = clock.RealClock{}
	}
	if env.Mono == nil {
		env.Mono = MonoNow
	}
	if env.Exec == nil {
		env.Exec = execOutput
	}
	t, err := findTarget(ctx, opts.Spec, opts.Service, env)
	if err != nil {
		return nil, err
	}
	pid, pgid := t.leader.pid, t.leader.st.PGID
	runs := []AuditRun{runCheck(ctx, opts, pid, AuditHealthy)}

	// Hung: SIGSTOP the group, always SIGCONT it again.
	if err := unix.Kill(-pgid, unix.SIGSTOP); err != nil {
		runs = append(runs, AuditRun{State: AuditHung, Skipped: "SIGSTOP: " + err.Error()})
	} else {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		stopped := zinit.PollUntil(wctx, env.Clock, 5*time.Millisecond, func(context.Context) (bool, error) {
			return procState(opts.Spec.procRoot(), pid) == 'T', nil
		}) == nil
		cancel()
		run := runCheck(ctx, opts, pid, AuditHung)
		_ = unix.Kill(-pgid, unix.SIGCONT)
		if !stopped {
			run = AuditRun{State: AuditHung, Skipped: fmt.Sprintf("pid %d never showed state T", pid)}
		}
		runs = append(runs, run)
	}

	// Socket gone: move it aside, always move it back (unless the service
	// made a new one meanwhile).
	sock := probeFor(opts.Spec, opts.Service, t).Socket
	switch {
	case sock == "":
		runs = append(runs, AuditRun{State: AuditSocketGone, Skipped: "no Unix socket known for the service"})
		return runs, nil
	case !strings.Contains(opts.Exec, sock):
		return runs, nil // the check does not use the socket (HTTP): the state says nothing of it
	}
	aside := sock + auditSuffix
	if err := os.Rename(sock, aside); err != nil {
		runs = append(runs, AuditRun{State: AuditSocketGone, Skipped: "move the socket aside: " + err.Error()})
		return runs, nil
	}
	run := runCheck(ctx, opts, pid, AuditSocketGone)
	if _, err := os.Lstat(sock); errors.Is(err, os.ErrNotExist) {
		err = os.Rename(aside, sock)
		if err != nil {
			return append(runs, run), fmt.Errorf("restore socket %s: %w", sock, err)
		}
	} else {
		_ = os.Remove(aside) // the service bound a fresh one: keep it
	}
	return append(runs, run), nil
}

// runCheck runs the check's exec as zinit would, bounded by its timeout.
func runCheck(ctx context.Context, opts AuditOptions, servicePid int, state string) AuditRun {
	run := AuditRun{State: state}
	cmd := exec.Command("/bin/sh", "-c", opts.Exec)
	cmd.Env = os.Environ()
	for k, v := range opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "ZINIT_SERVICE="+opts.Service, "ZINIT_PID="+strconv.Itoa(servicePid))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		run.Skipped = "start the check: " + err.Error()
		return run
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		run.TimedOut = true
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		err = <-done
	case <-ctx.Done():
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		err = <-done
		run.Skipped = "cancelled: " + ctx.Err().Error()
	}
	run.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			run.Signal = zinit.SignalName(ws.Signal())
		} else {
			c := ws.ExitStatus()
			run.Code = &c
		}
	}
	run.Passed = err == nil && !run.TimedOut
	line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	run.Output = line
	return run
}
