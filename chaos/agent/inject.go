package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// InjectOptions describe one fault performed inside the container by
// `zchaos agent inject`.
type InjectOptions struct {
	Kind    scenarios.FaultKind
	Service string
	Signal  string // kill: signal name (default SIGKILL)
	Code    int    // exit: the exit code
	Spec    Spec
	// Revert undoes a reversible fault (hang, health-hang, health-error,
	// crash-loop); PGID, PID and Start name what the fault touched.
	Revert bool
	PGID   int
	PID    int
	Start  uint64
	// Control is the control file a health fault wrote (revert removes it).
	Control string
	// Interposer is the interposition a health fault left (revert ends the
	// interposer and restores the socket).
	Interposer InterposerRef
	// AfterRestart: for supervisor-restart, wait until the supervisor
	// answers again and report the effect (the restart itself is done by
	// the runtime).
	AfterRestart bool
	// EffectTimeout bounds the effect probe (default 3 s).
	EffectTimeout time.Duration
	// CrashMinAge: crash-loop kills a new incarnation once it is this old,
	// so the watching agent sees every spawn (default 25 ms).
	CrashMinAge time.Duration
	// PidFileDir holds crash-loop killers' pid files and interposers' logs
	// (default /run/zchaos).
	PidFileDir string
}

// InjectEnv are the injectables of RunInject.
type InjectEnv struct {
	Mono  Mono
	Clock clock.Clock // paces the effect probe's polls (default: real)
	Exec  func(ctx context.Context, argv []string) ([]byte, error)
	// Self is argv prefix that runs this binary's agent (default: the
	// running executable); crash-loop starts `Self agent crashloop ...`.
	Self []string
}

// self is the argv prefix that runs this binary's agent.
func (env InjectEnv) self() ([]string, error) {
	if len(env.Self) > 0 {
		return env.Self, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe}, nil
}

// InterposerRef names an interposition: the detached interposer (PID,
// started at Start) and the socket it took over (Socket, its own socket's
// inode Ino; the service's kept at Aside).
type InterposerRef struct {
	PID           int
	Start         uint64
	Socket, Aside string
	Ino           uint64
}

// ErrUnsupportedFault is returned for a fault the target offers no way to
// perform (the effect event then says so too).
var ErrUnsupportedFault = errors.New("unsupported fault")

// ExitUnsupported is `zchaos agent inject`'s exit code for
// ErrUnsupportedFault: the fault has no mechanism for this service.
const ExitUnsupported = 5

// target is a job incarnation found in /proc.
type target struct {
	leader  *procInfo
	members []*procInfo // every process of the leader's group, leader included
}

// findTarget finds the running incarnation of a service's start job, by
// matching /proc against the spec's jobs, else by asking zinit for the pid.
func findTarget(ctx context.Context, spec Spec, service string, env InjectEnv) (target, error) {
	var jobs []Job
	for _, j := range spec.Jobs {
		if j.Service == service && (j.Trigger == "start" || j.Trigger == "") {
			jobs = append(jobs, j)
		}
	}
	s := newProcScanner(Spec{Jobs: jobs, Proc: spec.Proc, Scope: spec.Scope})
	s.step(env.Mono())
	var t target
	for _, p := range s.procs {
		if p.incarnation && p.st.State != 'Z' {
			t.leader = p
			break
		}
	}
	if t.leader == nil {
		b, err := env.Exec(ctx, []string{spec.zinitCLI(), "status", service, "--json"})
		if err != nil {
			return t, fmt.Errorf("target %s not found: %w", service, err)
		}
		var st looseStatus
		if err := json.Unmarshal(b, &st); err != nil || st.PID == nil || *st.PID <= 0 {
			return t, fmt.Errorf("target %s not running", service)
		}
		p, ok := s.procs[*st.PID]
		if !ok {
			return t, fmt.Errorf("target %s: pid %d not found", service, *st.PID)
		}
		t.leader = p
	}
	for _, p := range s.procs {
		if p.st.PGID == t.leader.st.PGID && p.st.State != 'Z' {
			t.members = append(t.members, p)
		}
	}
	return t, nil
}

// workers are the group's members that are not shells: the processes a
// per-process knob (signal) is meant for.
func (t target) workers() []*procInfo {
	var out []*procInfo
	for _, p := range t.members {
		if len(p.argv) > 0 && !shells[filepath.Base(p.argv[0])] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, t.leader)
	}
	return out
}

// flagValue returns the value of --name (or --name=v) in argv.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// probeFor returns how to probe service: the spec's probe, else what its
// processes' command lines name (zinit.DetectProbe: --socket, --http-port).
func probeFor(spec Spec, service string, t target) Probe {
	for _, p := range spec.Probes {
		if p.Service == service {
			return p
		}
	}
	for _, m := range t.members {
		pt, _ := zinit.DetectProbe(zinit.CommandLine(m.argv))
		switch {
		case pt.Socket != "":
			return Probe{Service: service, Socket: pt.Socket}
		case pt.HTTPPort != 0:
			return Probe{Service: service, HTTPPort: pt.HTTPPort}
		}
	}
	return Probe{Service: service}
}

// injector performs one inject command.
type injector struct {
	opts InjectOptions
	env  InjectEnv
	out  io.Writer
}

func (in *injector) emit(ev scenarios.Event) error {
	ev.Fault = string(in.opts.Kind)
	if ev.Service == "" {
		ev.Service = in.opts.Service
	}
	return WriteEvent(in.out, ev)
}

// effect emits the effect event: ok, when it was seen (or given up).
func (in *injector) effect(ok bool, detail string) error {
	return in.emit(scenarios.Event{TNs: in.env.Mono(), Kind: scenarios.EventEffect, OK: &ok, Detail: detail})
}

// pollFor checks cond every millisecond (zinit.PollUntil on env.Clock)
// until it holds or the effect timeout passes on env.Mono. It reports
// whether cond held, and the last detail.
func (in *injector) pollFor(ctx context.Context, cond func() (bool, string)) (bool, string) {
	deadline := in.env.Mono() + int64(in.opts.EffectTimeout)
	var ok bool
	var d string
	err := zinit.PollUntil(ctx, in.env.Clock, time.Millisecond, func(context.Context) (bool, error) {
		ok, d = cond()
		return ok || in.env.Mono() >= deadline, nil
	})
	if err != nil {
		return false, "cancelled: " + d
	}
	return ok, d
}

// procGone reports whether process pid (with starttime start) no longer
// runs: absent, reused, or a zombie.
func procGone(root string, pid int, start uint64) bool {
	st, err := procfs.ReadStat(root, pid)
	return err != nil || st.Start != start || st.State == 'Z'
}

// procState is pid's state letter, 0 when it cannot be read.
func procState(root string, pid int) byte {
	st, err := procfs.ReadStat(root, pid)
	if err != nil {
		return 0
	}
	return st.State
}

// RunInject performs one fault (or its revert) and writes its events as
// JSON lines on out: the fault event, timestamped right at the injection,
// then the effect event after the effect probe (or a revert event). It
// blocks until the effect is seen or EffectTimeout passes.
func RunInject(ctx context.Context, opts InjectOptions, out io.Writer, env InjectEnv) error {
	if env.Mono == nil {
		env.Mono = MonoNow
	}
	if env.Exec == nil {
		env.Exec = execOutput
	}
	if env.Clock == nil {
		env.Clock = clock.RealClock{}
	}
	if opts.EffectTimeout <= 0 {
		opts.EffectTimeout = 3 * time.Second
	}
	if opts.CrashMinAge <= 0 {
		opts.CrashMinAge = 25 * time.Millisecond
	}
	if opts.PidFileDir == "" {
		opts.PidFileDir = "/run/zchaos"
	}
	in := &injector{opts: opts, env: env, out: out}
	if opts.Revert {
		return in.revert(ctx)
	}
	switch opts.Kind {
	case scenarios.FaultReload:
		return in.cli(ctx, "reload")
	case scenarios.FaultStop:
		return in.cli(ctx, "stop", opts.Service)
	case scenarios.FaultStart:
		return in.cli(ctx, "start", opts.Service)
	case scenarios.FaultSupervisor:
		return in.supervisor(ctx)
	}
	t, err := findTarget(ctx, opts.Spec, opts.Service, env)
	if err != nil {
		_ = in.emit(scenarios.Event{TNs: env.Mono(), Kind: scenarios.EventFault, Detail: err.Error()})
		_ = in.effect(false, err.Error())
		return nil
	}
	root := opts.Spec.procRoot()
	ld := t.leader
	base := scenarios.Event{Kind: scenarios.EventFault, PID: ld.pid, PGID: ld.st.PGID, Cmdline: ld.cmdline}
	switch opts.Kind {
	case scenarios.FaultKill:
		sig := unix.SIGKILL // no signal given
		if opts.Signal != "" {
			var err error
			if sig, err = zinit.ParseSignal(opts.Signal); err != nil {
				return err
			}
		}
		base.Signal = zinit.SignalName(sig)
		base.TNs = env.Mono()
		kerr := unix.Kill(-ld.st.PGID, sig)
		return in.afterGroupSignal(ctx, base, kerr, func() (bool, string) {
			return procGone(root, ld.pid, ld.st.Start), "pid " + strconv.Itoa(ld.pid)
		})
	case scenarios.FaultHang:
		base.Signal = "SIGSTOP"
		base.TargetStart = ld.st.Start
		base.Detail = fmt.Sprintf("start=%d", ld.st.Start)
		base.TNs = env.Mono()
		kerr := unix.Kill(-ld.st.PGID, unix.SIGSTOP)
		return in.afterGroupSignal(ctx, base, kerr, func() (bool, string) {
			s := procState(root, ld.pid)
			return s == 'T' || s == 't', fmt.Sprintf("pid %d state %q", ld.pid, s)
		})
	case scenarios.FaultHealthHang, scenarios.FaultHealthError:
		return in.health(ctx, t, base)
	case scenarios.FaultSocket:
		p := probeFor(opts.Spec, opts.Service, t)
		if p.Socket == "" {
			return in.unsupported(base, "no socket known for "+opts.Service)
		}
		base.Detail = p.Socket
		base.TNs = env.Mono()
		rerr := os.Remove(p.Socket)
		if err := in.emit(base); err != nil {
			return err
		}
		if rerr != nil && !os.IsNotExist(rerr) {
			return in.effect(false, rerr.Error())
		}
		ok, d := in.pollFor(ctx, func() (bool, string) {
			_, err := os.Lstat(p.Socket)
			return os.IsNotExist(err), p.Socket
		})
		return in.effect(ok, d)
	case scenarios.FaultCrashLoop:
		return in.crashLoop(ctx, t, base)
	case scenarios.FaultExit:
		return in.exit(ctx, t, base)
	}
	return fmt.Errorf("fault %q: %w", opts.Kind, ErrUnsupportedFault)
}

// exit makes the target exit with opts.Code. Code 0 is SIGTERM to the
// group's workers (a service's clean exit, for any service); another code
// needs a knob: herosim's control file, where "exit N" is obeyed within
// 50 ms with no signal involved. The effect is the leader gone.
func (in *injector) exit(ctx context.Context, t target, base scenarios.Event) error {
	root := in.opts.Spec.procRoot()
	ld := t.leader
	code := in.opts.Code
	base.Code = &code
	gone := func() (bool, string) {
		return procGone(root, ld.pid, ld.st.Start), "pid " + strconv.Itoa(ld.pid)
	}
	if code == 0 {
		base.Signal = "SIGTERM"
		base.TNs = in.env.Mono()
		var errs []error
		for _, w := range t.workers() {
			errs = append(errs, unix.Kill(w.pid, unix.SIGTERM))
		}
		return in.afterGroupSignal(ctx, base, errors.Join(errs...), gone)
	}
	control := controlFile(root, t)
	if control == "" {
		return in.unsupported(base, fmt.Sprintf("no knob makes %s exit with code %d (no herosim control file)", in.opts.Service, code))
	}
	base.Mechanism, base.Control = scenarios.MechanismControl, control
	base.Detail = "mechanism=control file=" + control
	base.TNs = in.env.Mono()
	werr := os.MkdirAll(filepath.Dir(control), 0o755)
	if werr == nil {
		werr = os.WriteFile(control, []byte(fmt.Sprintf("exit %d\n", code)), 0o644)
	}
	if werr != nil {
		base.Detail += " error: " + werr.Error()
	}
	if err := in.emit(base); err != nil {
		return err
	}
	if werr != nil {
		return in.effect(false, werr.Error())
	}
	ok, d := in.pollFor(ctx, gone)
	if !ok {
		// Not obeyed: take the command back so no later start obeys it.
		_ = os.Remove(control)
	}
	return in.effect(ok, d)
}

// unsupported reports a fault the target offers no way to perform: the
// fault and a failed effect event saying why, and ErrUnsupportedFault.
func (in *injector) unsupported(base scenarios.Event, why string) error {
	base.TNs = in.env.Mono()
	base.Detail = why
	_ = in.emit(base)
	_ = in.effect(false, why)
	return fmt.Errorf("%s: %s: %w", in.opts.Kind, why, ErrUnsupportedFault)
}

func (in *injector) afterGroupSignal(ctx context.Context, fault scenarios.Event, kerr error, cond func() (bool, string)) error {
	if kerr != nil {
		fault.Detail = strings.TrimSpace(fault.Detail + " signal: " + kerr.Error())
	}
	if err := in.emit(fault); err != nil {
		return err
	}
	if kerr != nil {
		return in.effect(false, kerr.Error())
	}
	ok, d := in.pollFor(ctx, cond)
	return in.effect(ok, d)
}

// health makes the target's health endpoint hang or answer errors. A
// herosim has knobs: its control file when it has one (--control, or
// HEROSIM_CONTROL_DIR), else SIGUSR1 (hang) / SIGUSR2 (error), which
// toggle its mode; the signals go only to a process whose executable is
// herosim, since they would end most other services. Any other service
// that answers on a Unix socket gets an interposer in front of the socket
// (interpose). The effect probe calls server.health through the socket
// until it times out (hang) or answers an error.
func (in *injector) health(ctx context.Context, t target, base scenarios.Event) error {
	knob, mode, sig, want := "hang", InterposeHang, unix.SIGUSR1, ProbeTimeout
	if in.opts.Kind == scenarios.FaultHealthError {
		knob, mode, sig, want = "error", InterposeError, unix.SIGUSR2, ProbeFailed
	}
	root := in.opts.Spec.procRoot()
	p := probeFor(in.opts.Spec, in.opts.Service, t)
	var ierr error
	if control := controlFile(root, t); control != "" {
		base.Mechanism, base.Control = scenarios.MechanismControl, control
		base.Detail = "mechanism=control file=" + control
		base.TNs = in.env.Mono()
		if err := os.MkdirAll(filepath.Dir(control), 0o755); err != nil {
			ierr = err
		} else {
			ierr = os.WriteFile(control, []byte(knob+"\n"), 0o644)
		}
	} else if w := herosimWorker(root, t); w != nil {
		base.PID, base.TargetStart = w.pid, w.st.Start
		base.Mechanism = scenarios.MechanismSignal
		base.Signal = zinit.SignalName(sig)
		base.Detail = fmt.Sprintf("mechanism=signal pid=%d start=%d", w.pid, w.st.Start)
		base.TNs = in.env.Mono()
		ierr = unix.Kill(w.pid, sig)
	} else {
		switch {
		case p.Socket == "" && p.HTTPPort > 0:
			return in.unsupported(base, fmt.Sprintf("%s answers HTTP only (port %d) and is not herosim: "+
				"health faults need a Unix socket to interpose on", in.opts.Service, p.HTTPPort))
		case p.Socket == "":
			return in.unsupported(base, fmt.Sprintf("no socket known for %s and it is not herosim: "+
				"health faults need a Unix socket to interpose on", in.opts.Service))
		}
		ierr = in.interpose(ctx, &base, p.Socket, mode)
	}
	if ierr != nil {
		base.Detail += " error: " + ierr.Error()
	}
	if err := in.emit(base); err != nil {
		return err
	}
	if ierr != nil {
		return in.effect(false, ierr.Error())
	}
	timeout := min(max(in.opts.Spec.ProbeTimeout(), 100*time.Millisecond), in.opts.EffectTimeout)
	ok, d := in.pollFor(ctx, func() (bool, string) {
		out, detail := ProbeOnce(ctx, p, timeout)
		return out == want, out.String() + ": " + detail
	})
	return in.effect(ok, d)
}

// interpose puts an interposer in front of socket and fills the fault
// event: the typed fields the revert needs, and the takeover's time.
func (in *injector) interpose(ctx context.Context, base *scenarios.Event, socket string, mode InterposeMode) error {
	base.Mechanism, base.Socket = scenarios.MechanismInterpose, socket
	ref, err := in.startInterposer(ctx, socket, mode)
	if err != nil {
		base.Detail = "mechanism=interpose socket=" + socket
		base.TNs = in.env.Mono()
		return err
	}
	base.Aside, base.SocketIno, base.HelperPID, base.HelperStart = ref.Aside, ref.Ino, ref.PID, ref.Start
	base.Detail = fmt.Sprintf("mechanism=interpose socket=%s mode=%s interposer pid=%d", socket, mode, ref.PID)
	base.TNs = ref.at // the takeover, on the container's CLOCK_MONOTONIC
	return nil
}

// interposeReadyTimeout bounds the wait for a started interposer's
// takeover.
const interposeReadyTimeout = 10 * time.Second

// interposerStarted is a running interposer, and when it took over.
type interposerStarted struct {
	InterposerRef
	at int64
}

// startInterposer starts a detached `zchaos agent interpose` in front of
// socket, in a session of its own so it outlives this exec, and waits
// until it reports on its ready pipe that it took over. Its stderr goes to
// PidFileDir/interpose-<service>.log. One that reports no takeover in time
// (or when ctx ends) is killed, and whatever it did to the paths undone.
func (in *injector) startInterposer(ctx context.Context, socket string, mode InterposeMode) (interposerStarted, error) {
	self, err := in.env.self()
	if err != nil {
		return interposerStarted{}, fmt.Errorf("interposer: %w", err)
	}
	if err := os.MkdirAll(in.opts.PidFileDir, 0o755); err != nil {
		return interposerStarted{}, fmt.Errorf("interposer: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(in.opts.PidFileDir, "interpose-"+in.opts.Service+".log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return interposerStarted{}, fmt.Errorf("interposer: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return interposerStarted{}, fmt.Errorf("interposer: %w", err)
	}
	defer r.Close()
	aside := socket + AsideSuffix
	argv := append(append([]string(nil), self...), "agent", "interpose", "--socket", socket, "--aside", aside,
		"--mode", mode.String(), "--ready-fd", "3")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close() // the child holds the only writer: its exit is EOF here
	if err != nil {
		return interposerStarted{}, fmt.Errorf("start interposer: %w", err)
	}
	type answer struct {
		line []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() { // owner: startInterposer; ends at the child's line, close or exit
		line, err := bufio.NewReader(r).ReadBytes('\n')
		got <- answer{line, err}
	}()
	timer := in.env.Clock.NewTimer(interposeReadyTimeout)
	defer timer.Stop()
	var msg interposeReady
	answered := false
	select {
	case a := <-got:
		answered = true
		switch {
		case len(a.line) == 0:
			err = fmt.Errorf("interposer ended before it took over: %w (see %s)", a.err, logf.Name())
		case json.Unmarshal(a.line, &msg) != nil:
			err = fmt.Errorf("interposer: bad ready line %q", abbrev(a.line))
		case msg.Error != "":
			err = errors.New(msg.Error)
		}
	case <-ctx.Done():
		err = fmt.Errorf("interposer: %w", ctx.Err())
	case <-timer.C():
		err = fmt.Errorf("interposer did not take over within %s", interposeReadyTimeout)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !answered {
			<-got
			abandonTakeover(socket, aside)
		}
		return interposerStarted{}, err
	}
	pid := cmd.Process.Pid
	st, serr := procfs.ReadStat("/proc", pid)
	_ = cmd.Process.Release()
	if serr != nil {
		return interposerStarted{}, fmt.Errorf("interposer pid %d: %w", pid, serr)
	}
	return interposerStarted{InterposerRef{PID: pid, Start: st.Start, Socket: socket, Aside: aside, Ino: msg.Ino}, msg.AtNs}, nil
}

// herosimWorker is the target's first worker whose executable is herosim
// (/proc/<pid>/exe resolves to a file named herosim: the binary itself, or
// a hero name linked to it), nil when none is.
func herosimWorker(root string, t target) *procInfo {
	for _, w := range t.workers() {
		exe, err := os.Readlink(root + "/" + strconv.Itoa(w.pid) + "/exe")
		if err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "herosim" {
			return w
		}
	}
	return nil
}

// controlFile is the herosim control file of the target's group: --control,
// else HEROSIM_CONTROL_DIR/<--name>; "" when it has none.
func controlFile(root string, t target) string {
	for _, m := range t.workers() {
		if c := flagValue(m.argv, "--control"); c != "" {
			return c
		}
		if dir := procEnv(root, m.pid, "HEROSIM_CONTROL_DIR"); dir != "" {
			if name := flagValue(m.argv, "--name"); name != "" {
				return filepath.Join(dir, name)
			}
		}
	}
	return ""
}

// procEnv reads one variable of a process's environment.
func procEnv(root string, pid int, key string) string {
	b, err := os.ReadFile(root + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// crashLoop starts a detached killer that SIGKILLs every new incarnation
// of the service once it is CrashMinAge old, then kills the current one:
// every start now crashes at once, whatever the service is. The revert
// stops the killer.
func (in *injector) crashLoop(ctx context.Context, t target, base scenarios.Event) error {
	pidfile := filepath.Join(in.opts.PidFileDir, "crashloop-"+in.opts.Service+".pid")
	self, err := in.env.self()
	if err != nil {
		return fmt.Errorf("crash-loop: %w", err)
	}
	specFile := filepath.Join(in.opts.PidFileDir, "crashloop-"+in.opts.Service+".json")
	if err := os.MkdirAll(in.opts.PidFileDir, 0o755); err != nil {
		return fmt.Errorf("crash-loop: %w", err)
	}
	b, err := json.Marshal(in.opts.Spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(specFile, b, 0o644); err != nil {
		return fmt.Errorf("crash-loop: %w", err)
	}
	argv := append(append([]string(nil), self...), "agent", "crashloop", "--service", in.opts.Service,
		"--spec", specFile, "--pidfile", pidfile, "--min-age-ms", strconv.FormatInt(in.opts.CrashMinAge.Milliseconds(), 10))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("crash-loop: start killer: %w", err)
	}
	_ = cmd.Process.Release()
	ld := t.leader
	base.Signal = "SIGKILL"
	base.Detail = "killer=" + pidfile
	base.TNs = in.env.Mono()
	kerr := unix.Kill(-ld.st.PGID, unix.SIGKILL)
	return in.afterGroupSignal(ctx, base, kerr, func() (bool, string) {
		return procGone(in.opts.Spec.procRoot(), ld.pid, ld.st.Start), "pid " + strconv.Itoa(ld.pid)
	})
}

// CrashLoop is the detached killer behind the crash-loop fault: it
// SIGKILLs the group of every incarnation of service once it is minAge
// old, until ctx ends. It writes its pid to pidfile and removes it on exit.
func CrashLoop(ctx context.Context, spec Spec, service, pidfile string, minAge time.Duration, mono Mono) error {
	if mono == nil {
		mono = MonoNow
	}
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("crashloop: %w", err)
	}
	defer os.Remove(pidfile)
	var jobs []Job
	for _, j := range spec.Jobs {
		if j.Service == service && (j.Trigger == "start" || j.Trigger == "") {
			jobs = append(jobs, j)
		}
	}
	s := newProcScanner(Spec{Jobs: jobs, Proc: spec.Proc, Scope: spec.Scope})
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		now := mono()
		s.step(now)
		for _, p := range s.procs {
			if p.incarnation && !p.exited && p.st.State != 'Z' && now-p.firstSeen >= int64(minAge) {
				_ = unix.Kill(-p.st.PGID, unix.SIGKILL)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// cli runs a zinit CLI command as the fault; its effect is the command's
// success.
func (in *injector) cli(ctx context.Context, args ...string) error {
	argv := append([]string{in.opts.Spec.zinitCLI()}, args...)
	fault := scenarios.Event{TNs: in.env.Mono(), Kind: scenarios.EventFault, Detail: strings.Join(argv, " ")}
	_, err := in.env.Exec(ctx, argv)
	if werr := in.emit(fault); werr != nil {
		return werr
	}
	var refused *exec.ExitError
	switch {
	case errors.As(err, &refused):
		// The command reached the supervisor, which answered an error: the
		// action took place, the refusal is the supervisor's to answer for.
		ok := true
		return in.emit(scenarios.Event{TNs: in.env.Mono(), Kind: scenarios.EventEffect, OK: &ok, Refused: true,
			Detail: "zinit refused: " + err.Error()})
	case err != nil:
		return in.effect(false, err.Error())
	}
	return in.effect(true, "exit 0")
}

// supervisor marks a supervisor restart (the runtime restarts PID 1), or,
// with AfterRestart, waits until the supervisor answers again.
func (in *injector) supervisor(ctx context.Context) error {
	if !in.opts.AfterRestart {
		return in.emit(scenarios.Event{TNs: in.env.Mono(), Kind: scenarios.EventFault, Detail: "restart PID 1"})
	}
	// This runs in the restarted container: PID 1 was replaced, the
	// harness's action took place. Whether the supervisor comes back is
	// its own doing, judged from what follows (recover, C1): said here.
	argv := []string{in.opts.Spec.zinitCLI(), "list", "--json"}
	ok, d := in.pollFor(ctx, func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := in.env.Exec(cctx, argv)
		if err != nil {
			return false, err.Error()
		}
		return true, "supervisor answers"
	})
	if !ok {
		d = "PID 1 replaced, but the supervisor did not answer: " + d
	}
	return in.effect(true, d)
}

// revert undoes a reversible fault and writes a revert event.
func (in *injector) revert(ctx context.Context) error {
	ev := scenarios.Event{Kind: scenarios.EventRevert}
	var err error
	switch in.opts.Kind {
	case scenarios.FaultHang:
		// Continue the group that was stopped, and the current incarnation
		// in case it is a process the group spawned since.
		ev.PGID = in.opts.PGID
		ev.TNs = in.env.Mono()
		var errs []error
		if in.opts.PGID > 0 {
			if e := unix.Kill(-in.opts.PGID, unix.SIGCONT); e != nil && !errors.Is(e, unix.ESRCH) {
				errs = append(errs, e)
			}
		}
		if t, e := findTarget(ctx, in.opts.Spec, in.opts.Service, in.env); e == nil && t.leader.st.PGID != in.opts.PGID {
			_ = unix.Kill(-t.leader.st.PGID, unix.SIGCONT)
		}
		err = errors.Join(errs...)
		ev.Signal = "SIGCONT"
	case scenarios.FaultHealthHang, scenarios.FaultHealthError:
		ev.TNs = in.env.Mono()
		err = in.revertHealth(ctx, &ev)
	case scenarios.FaultCrashLoop:
		pidfile := filepath.Join(in.opts.PidFileDir, "crashloop-"+in.opts.Service+".pid")
		ev.TNs = in.env.Mono()
		b, rerr := os.ReadFile(pidfile)
		if rerr != nil {
			ev.Detail = "killer already gone"
			break
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 {
			if e := unix.Kill(pid, unix.SIGTERM); e != nil && !errors.Is(e, unix.ESRCH) {
				err = e
			}
			ev.PID = pid
			ev.Detail = "killer stopped"
		}
	default:
		return fmt.Errorf("revert %q: %w", in.opts.Kind, ErrUnsupportedFault)
	}
	ok := err == nil
	ev.OK = &ok
	if err != nil {
		ev.Detail = strings.TrimSpace(ev.Detail + " " + err.Error())
	}
	return in.emit(ev)
}

// revertHealth undoes a health knob: removes the control file; or ends
// the interposer and restores the socket; or toggles the signal again,
// only if the very process that was toggled still runs (a new incarnation
// starts healthy and must not be toggled).
func (in *injector) revertHealth(ctx context.Context, ev *scenarios.Event) error {
	if in.opts.Interposer.Socket != "" {
		return in.revertInterposer(ctx, ev)
	}
	if file := in.opts.Control; file != "" {
		ev.Detail = "removed " + file
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if in.opts.PID <= 0 {
		return errors.New("revert: no pid given")
	}
	if procGone(in.opts.Spec.procRoot(), in.opts.PID, in.opts.Start) {
		ev.Detail = fmt.Sprintf("pid %d gone: nothing to undo", in.opts.PID)
		return nil
	}
	sig := unix.SIGUSR1
	if in.opts.Kind == scenarios.FaultHealthError {
		sig = unix.SIGUSR2
	}
	ev.PID = in.opts.PID
	ev.Signal = zinit.SignalName(sig)
	return unix.Kill(in.opts.PID, sig)
}

// revertInterposer restores the socket an interposer took over first
// (RestoreSocket renames the service's back atomically, so clients find
// the service again at once; a socket the service bound anew is kept),
// then ends the interposer, which may be gone already.
func (in *injector) revertInterposer(ctx context.Context, ev *scenarios.Event) error {
	ref := in.opts.Interposer
	ev.Mechanism, ev.Socket, ev.HelperPID = scenarios.MechanismInterpose, ref.Socket, ref.PID
	did, rerr := RestoreSocket(ref.Socket, ref.Aside, ref.Ino)
	ended, serr := in.endHelper(ctx, ref.PID, ref.Start)
	ev.Detail = strings.TrimPrefix(did+"; "+ended, "; ")
	return errors.Join(rerr, serr)
}

// endHelper ends a detached helper (pid, started at start): SIGTERM, then
// SIGKILL if it is still there after 2 s. It returns what it did.
func (in *injector) endHelper(ctx context.Context, pid int, start uint64) (string, error) {
	if pid <= 0 {
		return "", errors.New("no helper pid given")
	}
	gone := func(within time.Duration) bool {
		cctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		return zinit.PollUntil(cctx, in.env.Clock, 5*time.Millisecond, func(context.Context) (bool, error) {
			return procGone("/proc", pid, start), nil
		}) == nil
	}
	if procGone("/proc", pid, start) {
		return fmt.Sprintf("helper pid %d already gone", pid), nil
	}
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return "", fmt.Errorf("helper pid %d: %w", pid, err)
		}
		if gone(2 * time.Second) {
			return fmt.Sprintf("helper pid %d ended by %s", pid, zinit.SignalName(sig)), nil
		}
	}
	return "", fmt.Errorf("helper pid %d still runs after SIGKILL", pid)
}
