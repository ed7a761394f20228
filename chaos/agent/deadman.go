package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/zinit"
)

// The dead-man switch (`zchaos agent deadman`) is what makes a container
// go away when the harness that started it dies, however it dies (SIGKILL,
// an OOM kill, `go test -timeout`): the runtime runs it in every container
// right after the start, its standard input a pipe (the exec's attach, for
// Docker) that only the harness holds. When the harness dies, the kernel
// closes the pipe and the switch reads end of file. It waits DeadmanGrace,
// then stops the container's init in order: SIGTERM, and after
// DeadmanStopTimeout everything else by SIGKILL. A Docker container is
// created with auto-remove, so it disappears once its init exits. No extra
// container and no network are needed.
//
// The harness ends the switch on purpose in two ways: by removing the
// container (the switch dies with it), or by keeping the container (it
// writes DeadmanDisarm, and the switch exits without acting).
const (
	// DeadmanGrace is how long the switch waits after the harness's stream
	// ended before it acts: an orderly removal in progress wins the race.
	DeadmanGrace = 3 * time.Second
	// DeadmanStopTimeout is how long the switch waits after SIGTERM before
	// it kills what is left, and again after that.
	DeadmanStopTimeout = 5 * time.Second
	// DeadmanDisarm is the line the harness writes before it closes the
	// stream on purpose (a container kept for forensics).
	DeadmanDisarm = "disarm\n"
	// DeadmanArmed is the line the switch prints once it reads its stream.
	DeadmanArmed = "armed\n"
)

// DeadmanArgv is the command a runtime runs as a container's dead-man
// switch (the agent at Path).
func DeadmanArgv() []string { return []string{Path, "agent", "deadman"} }

// DeadmanOutcome is how a dead-man switch ended.
type DeadmanOutcome int

const (
	// DeadmanDisarmed: the harness kept the container on purpose.
	DeadmanDisarmed DeadmanOutcome = iota
	// DeadmanCancelled: the switch was told to stop (SIGTERM) before it
	// acted.
	DeadmanCancelled
	// DeadmanFired: the harness's stream ended and the switch stopped the
	// container.
	DeadmanFired
)

func (o DeadmanOutcome) String() string {
	switch o {
	case DeadmanDisarmed:
		return "disarmed"
	case DeadmanCancelled:
		return "cancelled"
	case DeadmanFired:
		return "fired"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Stopper ends a container: its init first, in order, then by force.
type Stopper interface {
	// Term asks the container's init to stop (SIGTERM).
	Term() error
	// Kill ends every process of the container but the caller (SIGKILL).
	Kill() error
	// Alive says whether anything the switch must end still runs.
	Alive() bool
	// String names what is stopped, for the log.
	String() string
}

// DeadmanOptions are the switch's timings and injectables.
type DeadmanOptions struct {
	Grace       time.Duration // default DeadmanGrace
	StopTimeout time.Duration // default DeadmanStopTimeout
	Poll        time.Duration // how often Alive is asked while waiting (default 50 ms)
	Clock       clock.Clock   // default real
	Stopper     Stopper       // required
	Log         io.Writer     // one line per step (default: discarded)
	// Armed, when set, gets DeadmanArmed once the switch reads its stream.
	Armed io.Writer
}

// errDisarmed ends the stream reader when the harness disarms the switch.
var errDisarmed = errors.New("disarmed")

// RunDeadman holds the harness's stream in until it ends, then acts: it
// returns DeadmanDisarmed when the harness wrote DeadmanDisarm first,
// DeadmanCancelled when ctx ended first (also during the grace period), and
// DeadmanFired once it stopped the container (an error if the container
// still runs after SIGKILL). Lines other than DeadmanDisarm are ignored.
// Once it fires it finishes, whatever ctx does. It blocks; the goroutine
// reading in ends when in does (a read of stdin cannot be interrupted).
func RunDeadman(ctx context.Context, in io.Reader, o DeadmanOptions) (DeadmanOutcome, error) {
	if o.Stopper == nil {
		return DeadmanCancelled, errors.New("deadman: no stopper")
	}
	if o.Grace <= 0 {
		o.Grace = DeadmanGrace
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DeadmanStopTimeout
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ended := make(chan error, 1)
	go func() { ended <- readStream(in) }()
	if o.Armed != nil {
		_, _ = io.WriteString(o.Armed, DeadmanArmed)
	}
	var why error
	select {
	case <-ctx.Done():
		return DeadmanCancelled, nil
	case why = <-ended:
	}
	if errors.Is(why, errDisarmed) {
		fmt.Fprintln(o.Log, "zchaos agent deadman: disarmed by the harness: the container is kept")
		return DeadmanDisarmed, nil
	}
	grace := o.Clock.NewTimer(o.Grace)
	defer grace.Stop()
	select {
	case <-ctx.Done():
		return DeadmanCancelled, nil
	case <-grace.C():
	}
	fmt.Fprintf(o.Log, "zchaos agent deadman: the harness's stream ended (%v) %v ago: stopping %s (SIGTERM)\n", why, o.Grace, o.Stopper)
	// From here on the switch finishes: the harness is gone.
	fctx := context.WithoutCancel(ctx)
	if err := o.Stopper.Term(); err != nil {
		fmt.Fprintf(o.Log, "zchaos agent deadman: SIGTERM: %v\n", err)
	}
	if waitGone(fctx, o) {
		return DeadmanFired, nil
	}
	fmt.Fprintf(o.Log, "zchaos agent deadman: %s still running %v after SIGTERM: SIGKILL\n", o.Stopper, o.StopTimeout)
	if err := o.Stopper.Kill(); err != nil {
		fmt.Fprintf(o.Log, "zchaos agent deadman: SIGKILL: %v\n", err)
	}
	if waitGone(fctx, o) {
		return DeadmanFired, nil
	}
	return DeadmanFired, fmt.Errorf("deadman: %s still running %v after SIGKILL", o.Stopper, o.StopTimeout)
}

// readStream reads the harness's stream until it ends (its error, io.EOF
// at end of file) or brings DeadmanDisarm (errDisarmed).
func readStream(in io.Reader) error {
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if line == DeadmanDisarm {
			return errDisarmed
		}
		if err != nil {
			return err
		}
	}
}

// waitGone polls the stopper until nothing is alive (true) or
// o.StopTimeout passes on o.Clock (false).
func waitGone(ctx context.Context, o DeadmanOptions) bool {
	start := o.Clock.Now()
	errTimeout := errors.New("timeout")
	err := zinit.PollUntil(ctx, o.Clock, o.Poll, func(context.Context) (bool, error) {
		if !o.Stopper.Alive() {
			return true, nil
		}
		if o.Clock.Since(start) >= o.StopTimeout {
			return false, errTimeout
		}
		return false, nil
	})
	return err == nil
}

// initialPIDNamespace is the inode of the host's own pid namespace
// (PROC_PID_INIT_INO in the kernel).
const initialPIDNamespace = 0xEFFFFFFC

// NewStopper returns the stopper of the container the switch runs in.
// Inside a local-runtime container (ZCHAOS_LOCAL_ROOT set) it is the
// container's process tree on this host (see LocalStopper). Otherwise it is
// PID 1 of the switch's own pid namespace, which must not be the host's:
// the switch refuses to signal the host's init.
func NewStopper() (Stopper, error) {
	if root := os.Getenv("ZCHAOS_LOCAL_ROOT"); root != "" {
		sock := os.Getenv("ZINIT_SOCKET")
		if sock == "" {
			sock = root + zinit.DefaultSocket
		}
		return &LocalStopper{Proc: "/proc", Root: root, Socket: sock, Self: os.Getpid()}, nil
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return nil, fmt.Errorf("deadman: pid namespace: %w", err)
	}
	if st.Ino == initialPIDNamespace {
		return nil, errors.New("deadman: not in a container (this is the host's pid namespace): refusing to stop its init")
	}
	return initStopper{}, nil
}

// initStopper stops PID 1 of the switch's pid namespace: a container's
// init. The kernel drops a SIGKILL sent to a namespace's init from inside
// it, so Kill ends every other process (kill(-1)), which lets an init
// waiting on its children finish its shutdown.
type initStopper struct{}

func (initStopper) Term() error { return unix.Kill(1, unix.SIGTERM) }
func (initStopper) Kill() error {
	err := unix.Kill(-1, unix.SIGKILL) // every process but init and the caller
	_ = unix.Kill(1, unix.SIGKILL)     // dropped inside a pid namespace; kept for clarity of intent
	return err
}
func (initStopper) Alive() bool    { return unix.Kill(1, 0) == nil }
func (initStopper) String() string { return "the container's init (pid 1)" }

// LocalStopper stops a local-runtime container: every process whose
// environment names its root (ZCHAOS_LOCAL_ROOT=Root), which is every
// process the runtime started in it, and their descendants. Term sends
// SIGTERM to its `zinit init --socket Socket` (which stops its services
// in order) and to the processes outside zinit's tree (watching agents,
// detached fault helpers); Kill sends SIGKILL to each process left and its
// process group.
type LocalStopper struct {
	Proc   string // proc root (default /proc)
	Root   string // the container's root directory
	Socket string // its zinit's socket
	Self   int    // the switch's pid, never signalled
}

func (s *LocalStopper) String() string { return "the local container at " + s.Root }

type localProc struct {
	pid, ppid, pgid int
	argv            []string
}

// procs lists the container's processes (environment match) and their
// descendants, but not the switch.
func (s *LocalStopper) procs() []localProc {
	proc := s.Proc
	if proc == "" {
		proc = "/proc"
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	want := []byte("ZCHAOS_LOCAL_ROOT=" + s.Root + "\x00")
	all := map[int]localProc{}
	var mine []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == s.Self {
			continue
		}
		st, err := procfs.ReadStat(proc, pid)
		if err != nil || st.State == 'Z' {
			continue
		}
		p := localProc{pid: pid, ppid: st.PPID, pgid: st.PGID}
		all[pid] = p
		env, err := os.ReadFile(proc + "/" + e.Name() + "/environ")
		if err == nil && (bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			mine = append(mine, pid)
		}
	}
	in := map[int]bool{}
	for _, pid := range mine {
		in[pid] = true
	}
	for changed := true; changed; { // descendants, whatever their environment
		changed = false
		for pid, p := range all {
			if !in[pid] && in[p.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	var out []localProc
	for pid := range in {
		p := all[pid]
		if b, err := os.ReadFile(proc + "/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
			p.argv = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b localProc) int { return a.pid - b.pid })
	return out
}

// isInit says whether argv is `zinit init … --socket s …`.
func isLocalInit(argv []string, socket string) bool {
	i := slices.Index(argv, "--socket")
	return slices.Contains(argv, "init") && i >= 0 && i+1 < len(argv) && argv[i+1] == socket
}

// Term sends SIGTERM to the container's zinit and to the processes
// outside its tree.
func (s *LocalStopper) Term() error {
	ps := s.procs()
	byPid := map[int]localProc{}
	for _, p := range ps {
		byPid[p.pid] = p
	}
	underInit := func(p localProc) bool {
		for seen := 0; seen < 64; seen++ {
			q, ok := byPid[p.ppid]
			if !ok {
				return false
			}
			if isLocalInit(q.argv, s.Socket) {
				return true
			}
			p = q
		}
		return false
	}
	var errs []error
	for _, p := range ps {
		if isLocalInit(p.argv, s.Socket) || !underInit(p) {
			if err := unix.Kill(p.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Kill sends SIGKILL to every process left and to its process group
// (unless the group is the switch's own).
func (s *LocalStopper) Kill() error {
	self := unix.Getpgrp()
	var errs []error
	for _, p := range s.procs() {
		if p.pgid > 1 && p.pgid != self {
			_ = unix.Kill(-p.pgid, unix.SIGKILL)
		}
		if err := unix.Kill(p.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Alive says whether any process of the container is left.
func (s *LocalStopper) Alive() bool { return len(s.procs()) > 0 }

// Pids lists the container's processes (for tests and the log).
func (s *LocalStopper) Pids() []int {
	var out []int
	for _, p := range s.procs() {
		out = append(out, p.pid)
	}
	return out
}
