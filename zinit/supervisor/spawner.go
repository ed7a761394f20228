package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// SpawnSpec is one process to spawn: `sh -c Exec` in its own process group.
type SpawnSpec struct {
	Exec   string            // run as sh -c Exec
	Env    []string          // the full environment (KEY=VALUE)
	Dir    string            // working directory; "" keeps the daemon's
	Output func(line string) // receives each line of stdout and stderr; may be nil. Called from another goroutine.
	// Stream identifies the output stream (one per job): every spawn with
	// the same Stream shares one pipe and one reader, created on first use
	// with that spawn's Output, until Release. nil: a pipe for this spawn only.
	Stream any
}

// Exit is how a spawned process ended, stamped when it was reaped.
type Exit struct {
	PID    int
	Code   int            // exit code; meaningful when Signal is 0
	Signal syscall.Signal // the signal that killed it, or 0
	At     time.Time      // when it was reaped; zero means "now" for the engine
}

// Spawner starts processes and signals their groups. Exits are delivered as
// events on Exits, never by a blocking wait, so the engine's loop never
// blocks on a child.
type Spawner interface {
	// Spawn starts the process; the pid is also its process group id.
	Spawn(spec SpawnSpec) (pid int, err error)
	// SignalGroup sends sig to the process group pgid; a group that is
	// already gone is not an error.
	SignalGroup(pgid int, sig syscall.Signal) error
	// Exits delivers the exit of every process Spawn started, once. A nil
	// channel is allowed (tests deliver exits by calling the engine).
	Exits() <-chan Exit
	// Release drops an output stream (its job is gone); its reader ends
	// once the last process writing to it has exited.
	Release(stream any)
}

// ProcSpawner is the real Spawner: it forks `sh -c exec` with Setpgid, its
// stdin on /dev/null and stdout+stderr on one pipe read line by line.
//
// It never calls wait on a single child from a goroutine: one reaper
// goroutine wakes on SIGCHLD and runs wait4 with WNOHANG until nothing is
// left. With ReapAll (the daemon is PID 1 or a child subreaper) it waits
// for any child, so orphans reparented to the daemon are reaped too and
// exits of its own processes are still mapped by pid; otherwise it waits
// only for the pids it spawned, so it never steals another child's status.
//
// Start starts the reaper; Close stops it and every output reader and
// waits for them. Spawn must not be called after Close.
type ProcSpawner struct {
	clk     clock.PassiveClock
	log     *slog.Logger
	reapAll bool
	sh      string

	exits chan Exit
	kick  chan struct{}
	stop  chan struct{}
	sigc  chan os.Signal
	wg    sync.WaitGroup

	mu      sync.Mutex
	devnull *os.File
	pids    map[int]struct{}
	pipes   map[*os.File]struct{} // read ends, for Close
	streams map[any]*os.File      // write ends of the shared per-job pipes
	closed  bool
	started bool
}

// NewProcSpawner makes a spawner that stamps exits with clk. With reapAll
// it reaps every child of the process (see ProcSpawner).
func NewProcSpawner(clk clock.PassiveClock, log *slog.Logger, reapAll bool) (*ProcSpawner, error) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		sh = "/bin/sh"
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	devnull.Fd() // puts it in blocking mode once, before any fork
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProcSpawner{
		clk: clk, log: log, reapAll: reapAll, sh: sh,
		exits: make(chan Exit, 4096), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		sigc: make(chan os.Signal, 1), devnull: devnull,
		pids: map[int]struct{}{}, pipes: map[*os.File]struct{}{}, streams: map[any]*os.File{},
	}, nil
}

// Start starts the reaper goroutine. It returns at once.
func (p *ProcSpawner) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	signal.Notify(p.sigc, syscall.SIGCHLD)
	p.wg.Add(1)
	go p.reaper()
}

// Exits implements Spawner.
func (p *ProcSpawner) Exits() <-chan Exit { return p.exits }

// Spawn implements Spawner.
func (p *ProcSpawner) Spawn(spec SpawnSpec) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("spawner closed")
	}
	w, err := p.streamLocked(spec.Stream, spec.Output)
	if err != nil {
		return 0, fmt.Errorf("spawn %q: pipe: %w", spec.Exec, err)
	}
	if spec.Stream == nil {
		defer w.Close() // the child holds the only write end left
	}
	attr := &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: []uintptr{p.devnull.Fd(), w.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	pid, err := syscall.ForkExec(p.sh, []string{"sh", "-c", spec.Exec}, attr)
	if err != nil {
		return 0, fmt.Errorf("spawn sh -c %q: %w", spec.Exec, err)
	}
	p.pids[pid] = struct{}{}
	// A child that exited before its pid was registered sent its SIGCHLD
	// too early for a pid-scoped wait: look again.
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return pid, nil
}

// streamLocked returns the write end of the stream's pipe, creating the
// pipe and its reader on first use. Forking with one long-lived pipe per
// job rather than one per run halves the daemon's cost of a check run.
func (p *ProcSpawner) streamLocked(key any, out func(string)) (*os.File, error) {
	if key != nil {
		if w, ok := p.streams[key]; ok {
			return w, nil
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	w.Fd() // blocking mode, once: it is only ever handed to children
	p.pipes[r] = struct{}{}
	p.wg.Add(1)
	go p.readLines(r, out)
	if key != nil {
		p.streams[key] = w
	}
	return w, nil
}

// Release implements Spawner.
func (p *ProcSpawner) Release(key any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.streams[key]; ok {
		delete(p.streams, key)
		w.Close()
	}
}

// SignalGroup implements Spawner.
func (p *ProcSpawner) SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	if err := unix.Kill(-pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pgid, err)
	}
	return nil
}

// Close stops the reaper, closes every output pipe and waits for the
// goroutines. Processes still running are left alone (the engine stops
// them first). It is idempotent.
func (p *ProcSpawner) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	for k, w := range p.streams {
		w.Close()
		delete(p.streams, k)
	}
	for f := range p.pipes {
		f.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	signal.Stop(p.sigc)
	return p.devnull.Close()
}

func (p *ProcSpawner) reaper() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.sigc:
		case <-p.kick:
		}
		if !p.reapOnce() {
			return
		}
	}
}

// reapOnce collects every exited child it may; it returns false when the
// spawner is closing and an exit could not be delivered.
func (p *ProcSpawner) reapOnce() bool {
	if p.reapAll {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				return true
			}
			if !p.deliver(pid, ws) {
				return false
			}
		}
	}
	p.mu.Lock()
	pids := make([]int, 0, len(p.pids))
	for pid := range p.pids {
		pids = append(pids, pid)
	}
	p.mu.Unlock()
	for _, pid := range pids {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		for errors.Is(err, unix.EINTR) {
			got, err = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		if err != nil || got != pid {
			continue
		}
		if !p.deliver(pid, ws) {
			return false
		}
	}
	return true
}

func (p *ProcSpawner) deliver(pid int, ws unix.WaitStatus) bool {
	if !ws.Exited() && !ws.Signaled() {
		return true // stopped/continued: not an exit
	}
	at := p.clk.Now()
	p.mu.Lock()
	_, ours := p.pids[pid]
	delete(p.pids, pid)
	p.mu.Unlock()
	if !ours {
		p.log.Debug("reaped an orphan", "pid", pid)
		return true
	}
	x := Exit{PID: pid, At: at}
	if ws.Signaled() {
		x.Signal = ws.Signal()
	} else {
		x.Code = ws.ExitStatus()
	}
	select {
	case p.exits <- x:
		return true
	case <-p.stop:
		return false
	}
}

// maxLogLine bounds one captured line; a longer one is split.
const maxLogLine = 4096

func (p *ProcSpawner) readLines(r *os.File, out func(string)) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.pipes, r)
		p.mu.Unlock()
		r.Close()
	}()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && out != nil {
			n := len(line)
			if line[n-1] == '\n' {
				n--
			}
			out(string(line[:n]))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
