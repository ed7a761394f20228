package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/scenarios"
)

// newAgentCmd is the in-container agent: watch, inject, crashloop, deadman,
// interpose, now, probe-audit, calibrate.
// It is run by the harness inside a container, not by people.
func newAgentCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "agent",
		Short:  "The in-container agent the harness runs (watch, inject)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newAgentWatchCmd(f), newAgentInjectCmd(f), newAgentCrashLoopCmd(f), newAgentInterposeCmd(f),
		newAgentNowCmd(f), newAgentProbeAuditCmd(f), newAgentCalibrateCmd(f), newAgentDeadmanCmd(f),
		newAgentReapCmd(f))
	return cmd
}

// agentContext ends on SIGTERM/SIGINT (and on stdin EOF when asked).
func agentContext(parent context.Context, in io.Reader, exitOnEOF bool) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if !exitOnEOF || in == nil {
		return ctx, stop
	}
	ctx, cancel := context.WithCancel(ctx)
	// The reader goroutine ends at EOF or with the process (a blocking read
	// of stdin cannot be interrupted portably); it only cancels.
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	return ctx, func() { cancel(); stop() }
}

type agentWatchOptions struct {
	spec      string
	exitOnEOF bool
	pidfile   string
	period    time.Duration
	profile   string
}

func newAgentWatchCmd(f *Factory) *cobra.Command {
	var o agentWatchOptions
	cmd := &cobra.Command{
		Use:   "watch --spec FILE",
		Short: "Stream JSON-line events: job processes, probes, zinit status",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgentWatch(cmd.Context(), f, o)
		},
	}
	cmd.Flags().StringVar(&o.spec, "spec", agent.SpecPath, "watch spec (JSON)")
	cmd.Flags().BoolVar(&o.exitOnEOF, "exit-on-eof", false, "also exit when stdin reaches EOF")
	cmd.Flags().StringVar(&o.pidfile, "pidfile", "", "write the agent's pid here")
	cmd.Flags().DurationVar(&o.period, "proc-period", 0, "override the spec's /proc poll period")
	cmd.Flags().StringVar(&o.profile, "cpuprofile", "", "write a CPU profile (pprof) of the watch here")
	return cmd
}

func runAgentWatch(ctx context.Context, f *Factory, o agentWatchOptions) error {
	spec, err := agent.ReadSpec(o.spec)
	if err != nil {
		return &usageError{err: err}
	}
	if o.period > 0 {
		spec.ProcPeriodMs = float64(o.period) / float64(time.Millisecond)
	}
	if o.pidfile != "" {
		if err := os.WriteFile(o.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(o.pidfile)
	}
	if o.profile != "" {
		pf, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := agentContext(ctx, f.IO.In, o.exitOnEOF)
	defer stop()
	return agent.Watch(ctx, spec, f.IO.Out, agent.WatchOptions{})
}

type agentInjectOptions struct {
	kind, service, signal, spec, control string
	code, pid, pgid                      int
	start                                uint64
	revert, afterRestart                 bool
	effectTimeoutMs, crashMinAgeMs       int64
	interposer                           agent.InterposerRef
}

func newAgentInjectCmd(f *Factory) *cobra.Command {
	var o agentInjectOptions
	cmd := &cobra.Command{
		Use:   "inject --kind K --service S",
		Short: "Perform one fault and print its fault and effect events",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgentInject(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.kind, "kind", "", "fault kind (kill, hang, health-hang, health-error, remove-socket, crash-loop, supervisor-restart, reload, stop, start, exit)")
	fl.StringVar(&o.service, "service", "", "target service")
	fl.StringVar(&o.signal, "signal", "", "kill: the signal (default SIGKILL)")
	fl.IntVar(&o.code, "code", 0, "exit: the exit code")
	fl.StringVar(&o.spec, "spec", "", "watch spec (jobs, probes, zinit CLI)")
	fl.BoolVar(&o.revert, "revert", false, "undo the fault")
	fl.IntVar(&o.pgid, "pgid", 0, "revert hang: the stopped process group")
	fl.IntVar(&o.pid, "pid", 0, "revert health fault: the toggled process")
	fl.Uint64Var(&o.start, "start", 0, "revert health fault: the toggled process's start time (ticks)")
	fl.StringVar(&o.control, "control", "", "revert health fault: the control file written")
	fl.StringVar(&o.interposer.Socket, "socket", "", "revert interposed health fault: the socket taken over")
	fl.StringVar(&o.interposer.Aside, "aside", "", "revert interposed health fault: where the service's socket was kept")
	fl.Uint64Var(&o.interposer.Ino, "socket-ino", 0, "revert interposed health fault: the interposer's socket inode")
	fl.IntVar(&o.interposer.PID, "helper-pid", 0, "revert interposed health fault: the interposer's pid")
	fl.Uint64Var(&o.interposer.Start, "helper-start", 0, "revert interposed health fault: the interposer's start time (ticks)")
	fl.BoolVar(&o.afterRestart, "after-restart", false, "supervisor-restart: wait until the supervisor answers")
	fl.Int64Var(&o.effectTimeoutMs, "effect-timeout-ms", 3000, "bound of the effect probe")
	fl.Int64Var(&o.crashMinAgeMs, "crash-min-age-ms", 25, "crash-loop: kill incarnations this old")
	return cmd
}

func runAgentInject(ctx context.Context, f *Factory, o agentInjectOptions) error {
	if o.kind == "" {
		return usageErrorf("--kind is required")
	}
	kind := scenarios.FaultKind(o.kind)
	if kind.NeedsTarget() && o.service == "" && !o.revert {
		return usageErrorf("--service is required for %s", o.kind)
	}
	var spec agent.Spec
	if o.spec != "" {
		var err error
		if spec, err = agent.ReadSpec(o.spec); err != nil {
			return &usageError{err: err}
		}
	}
	err := agent.RunInject(ctx, agent.InjectOptions{
		Kind: kind, Service: o.service, Signal: o.signal, Code: o.code, Spec: spec,
		Revert: o.revert, PGID: o.pgid, PID: o.pid, Start: o.start, Control: o.control, Interposer: o.interposer,
		AfterRestart: o.afterRestart, EffectTimeout: time.Duration(o.effectTimeoutMs) * time.Millisecond,
		CrashMinAge: time.Duration(o.crashMinAgeMs) * time.Millisecond,
	}, f.IO.Out, agent.InjectEnv{})
	if errors.Is(err, agent.ErrUnsupportedFault) {
		return &exitError{code: agent.ExitUnsupported, err: err}
	}
	return err
}

func newAgentCrashLoopCmd(f *Factory) *cobra.Command {
	var service, spec, pidfile string
	var minAgeMs int64
	cmd := &cobra.Command{
		Use:    "crashloop --service S --spec FILE --pidfile FILE",
		Short:  "Kill every new incarnation of a service (the crash-loop fault's killer)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := agent.ReadSpec(spec)
			if err != nil {
				return &usageError{err: err}
			}
			ctx, stop := agentContext(cmd.Context(), nil, false)
			defer stop()
			return agent.CrashLoop(ctx, s, service, pidfile, time.Duration(minAgeMs)*time.Millisecond, nil)
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "target service")
	cmd.Flags().StringVar(&spec, "spec", "", "watch spec")
	cmd.Flags().StringVar(&pidfile, "pidfile", "", "pid file")
	cmd.Flags().Int64Var(&minAgeMs, "min-age-ms", 25, "kill incarnations this old")
	return cmd
}

type agentInterposeOptions struct {
	socket, aside, mode string
	readyFD             int
}

func newAgentInterposeCmd(f *Factory) *cobra.Command {
	var o agentInterposeOptions
	cmd := &cobra.Command{
		Use:    "interpose --socket S --mode hang|error|close|forward",
		Short:  "Take over a service's Unix socket and answer for it (an interposed health fault)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgentInterpose(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.socket, "socket", "", "the service's socket")
	fl.StringVar(&o.aside, "aside", "", "where the service's socket is kept meanwhile (default SOCKET"+agent.AsideSuffix+")")
	fl.StringVar(&o.mode, "mode", "", "hang, error, close or forward")
	fl.IntVar(&o.readyFD, "ready-fd", 0, "file descriptor to report the takeover on (one JSON line)")
	return cmd
}

func runAgentInterpose(ctx context.Context, o agentInterposeOptions) error {
	if o.socket == "" {
		return usageErrorf("--socket is required")
	}
	mode, err := agent.ParseInterposeMode(o.mode)
	if err != nil {
		return &usageError{err: err}
	}
	if o.aside == "" {
		o.aside = o.socket + agent.AsideSuffix
	}
	var ready io.WriteCloser = nopWriteCloser{io.Discard}
	if o.readyFD > 0 {
		ready = os.NewFile(uintptr(o.readyFD), "ready")
	}
	ctx, stop := agentContext(ctx, nil, false)
	defer stop()
	return agent.RunInterposer(ctx, o.socket, o.aside, mode, ready)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func newAgentNowCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "now",
		Short: "Print CLOCK_MONOTONIC in nanoseconds",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(f.IO.Out, agent.MonoNow())
			return err
		},
	}
}

func newAgentProbeAuditCmd(f *Factory) *cobra.Command {
	var o agent.AuditOptions
	var spec string
	var timeoutMs int64
	cmd := &cobra.Command{
		Use:   "probe-audit --spec FILE --service S --exec CMD --timeout-ms T",
		Short: "Run a check's exec with its service healthy, hung and without its socket; print the runs (JSON)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Service == "" || o.Exec == "" {
				return usageErrorf("--service and --exec are required")
			}
			s, err := agent.ReadSpec(spec)
			if err != nil {
				return &usageError{err: err}
			}
			o.Spec, o.Timeout = s, time.Duration(timeoutMs)*time.Millisecond
			ctx, stop := agentContext(cmd.Context(), nil, false)
			defer stop()
			runs, err := agent.RunAudit(ctx, o, agent.InjectEnv{})
			if err != nil {
				return err
			}
			return json.NewEncoder(f.IO.Out).Encode(runs)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&spec, "spec", "", "watch spec (the service's jobs and probe)")
	fl.StringVar(&o.Service, "service", "", "the service whose check is audited")
	fl.StringVar(&o.Exec, "exec", "", "the check job's exec")
	fl.StringToStringVar(&o.Env, "env", nil, "the check job's env (KEY=VALUE, repeatable)")
	fl.Int64Var(&timeoutMs, "timeout-ms", 30000, "the check job's timeout")
	return cmd
}

func newAgentCalibrateCmd(f *Factory) *cobra.Command {
	var ms int64
	cmd := &cobra.Command{
		Use:   "calibrate --duration-ms N",
		Short: "Measure the machine's timer lateness with the canary alone; print it (JSON)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ms <= 0 {
				return usageErrorf("--duration-ms %d: must be > 0", ms)
			}
			load := agent.Calibrate(cmd.Context(), time.Duration(ms)*time.Millisecond)
			if load == nil {
				return errors.New("calibrate: no canary window completed")
			}
			return json.NewEncoder(f.IO.Out).Encode(load)
		},
	}
	cmd.Flags().Int64Var(&ms, "duration-ms", 3000, "how long to measure")
	return cmd
}
