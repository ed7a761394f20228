package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// recheckWindow is how long a new process that matches no job is
// re-read: between fork and exec a child still shows its parent's cmdline.
const recheckWindow = 50 * time.Millisecond

// fullScanPeriod is how often every known process's stat is re-read (for
// zombies, strays and pid reuse); job leaders whose exit cannot wake the
// scanner (no pidfd) are re-read every step.
const fullScanPeriod = 100 * time.Millisecond

// splitCmdline splits /proc/<pid>/cmdline (NUL-separated) into argv.
func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "busybox": true}

// execMatcher decides whether a process's argv is a job's exec: either
// `sh -c <exec>` (how zinit runs it) or the exec itself after the shell
// exec'd it (or a supervisor that runs it directly).
type execMatcher struct {
	exec  string
	words []string
}

func newExecMatcher(exec string) execMatcher {
	m := execMatcher{exec: strings.TrimSpace(exec)}
	if w, complete := zinit.SplitWords(m.exec); complete {
		m.words = w
	}
	// `exec foo` in the shell replaces the shell with foo.
	if len(m.words) > 1 && m.words[0] == "exec" {
		m.words = m.words[1:]
	}
	return m
}

func (m execMatcher) match(argv []string) bool {
	if len(argv) == 0 || m.exec == "" {
		return false
	}
	if len(argv) >= 3 && shells[filepath.Base(argv[0])] && argv[1] == "-c" && strings.TrimSpace(argv[2]) == m.exec {
		return true
	}
	if strings.Join(argv, " ") == m.exec {
		return true
	}
	if len(m.words) != len(argv) {
		return false
	}
	for i := range argv {
		if argv[i] != m.words[i] {
			// The first word may be resolved through PATH by the shell.
			if i == 0 && !strings.Contains(m.words[0], "/") && filepath.Base(argv[0]) == m.words[0] {
				continue
			}
			return false
		}
	}
	return true
}

// procInfo is what the scanner knows of one live process.
type procInfo struct {
	pid          int
	st           procfs.Stat
	cmdline      string
	argv         []string
	gen          uint64
	firstSeen    int64 // mono ns of the poll that first saw it
	seenAlive    int64 // mono ns of the last poll that read it alive (not a zombie)
	bornAt       int64 // mono ns by which it had started (its spawn event's TNs)
	bornErr      int64 // how long before bornAt it may have started (its spawn event's ErrNs)
	job          int   // index in jobs; -1 when none
	incarnation  bool  // leader of a job's incarnation
	exited       bool  // exit already reported (seen as a zombie)
	recheckUntil int64
	zombieSince  int64
	zombieErr    int64 // how long before zombieSince it may have become one
	zombieNext   int64 // the age at which it is reported next (0: zombieAfter)
	straySent    bool
	foreign      bool // outside the scanner's scope: never matched nor reported
}

type deadGroup struct {
	at  int64 // mono ns of the leader's exit
	job int
	pid int
}

// procScanner turns successive /proc listings into spawn/exit, zombie and
// stray events. It is not safe for concurrent use; step is called by one
// loop (or by tests directly).
type procScanner struct {
	root        string
	jobs        []Job
	matchers    []execMatcher
	procs       map[int]*procInfo
	dead        map[int]deadGroup // pgid → its leader's death
	gen         uint64
	last        int64 // mono ns of the previous step
	lastFull    int64
	zombieAfter int64
	strayAfter  int64
	bootOffset  int64 // CLOCK_BOOTTIME − CLOCK_MONOTONIC, for starttime
	self        int
	buf         []byte
	period      time.Duration
	dirBuf      []byte
	pids        []int
	scope       string     // Spec.Scope
	exits       *exitWaker // nil: exits are seen by the scan only
	// after reads the clock again after a read of the tree (nil: tests'
	// fake trees, where reading takes no time): what a read found held
	// at some moment of [now, after()], and a machine that stalls in
	// between must not date a process seen at its end by the step's start.
	after  Mono
	spawns *spawnCounter // nil: no hole detection
}

func newProcScanner(spec Spec) *procScanner {
	s := &procScanner{
		root:        spec.procRoot(),
		jobs:        spec.Jobs,
		procs:       map[int]*procInfo{},
		dead:        map[int]deadGroup{},
		zombieAfter: int64(spec.zombieAfter()),
		strayAfter:  int64(spec.strayAfter()),
		self:        os.Getpid(),
		buf:         make([]byte, 4096),
		period:      spec.ProcPeriod(),
		scope:       spec.Scope,
	}
	for _, j := range spec.Jobs {
		s.matchers = append(s.matchers, newExecMatcher(j.Exec))
	}
	if spec.Proc == "" {
		var b, m unix.Timespec
		if unix.ClockGettime(unix.CLOCK_BOOTTIME, &b) == nil && unix.ClockGettime(unix.CLOCK_MONOTONIC, &m) == nil {
			s.bootOffset = b.Nano() - m.Nano()
		}
	}
	return s
}

// loop steps the scanner every period until ctx ends, and at once (plus
// a few quick follow-ups) whenever a watched executable is opened for
// exec, so that processes living only a few milliseconds (a crash loop)
// are still seen, or a watched process exits (s.exits, when set, signals
// wake; the caller runs it).
func (s *procScanner) loop(ctx context.Context, clk clock.WithTicker, mono Mono, wake chan struct{}, emit func(scenarios.Event)) {
	t := clk.NewTicker(s.period)
	defer t.Stop()
	s.after = mono
	if w, err := newExecWatcher(s.execPaths()); err == nil {
		done := make(chan struct{})
		go func() { defer close(done); w.run(wake) }()
		defer func() { w.close(); <-done }()
	}
	if c, err := newSpawnCounter(s.jobs, s.matchers, mono); err == nil && c != nil {
		s.spawns = c
		done := make(chan struct{})
		go func() { defer close(done); c.run() }()
		defer func() { c.close(); <-done; s.spawns = nil }()
	}
	followUps := 0
	var follow <-chan time.Time
	for {
		now := mono()
		for _, e := range s.step(now) {
			emit(e)
		}
		for _, e := range s.spawns.holes(s.jobs, now) {
			emit(e)
		}
		if followUps > 0 {
			followUps--
			follow = clk.After(followUpPeriod)
		} else {
			follow = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-wake:
			followUps = followUpSteps
		case <-follow:
		}
	}
}

// After an exec is seen, the scanner looks again this many times, this
// often: the new process may still show its parent's cmdline at first.
const (
	followUpSteps  = 4
	followUpPeriod = 500 * time.Microsecond
)

// execPaths are the executables whose exec wakes the scanner: each job's
// first word (resolved through PATH) and the shells that run execs.
func (s *procScanner) execPaths() []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add("/bin/sh")
	for _, m := range s.matchers {
		// The first word of each command of a pipeline or list: a check
		// like `echo … | socat …` execs socat, and by then its shell shows
		// the job's cmdline.
		first := true
		for _, w := range m.words {
			switch w {
			case "|", "||", "&&", ";", "&":
				first = true
				continue
			}
			if !first {
				continue
			}
			first = false
			if strings.Contains(w, "/") {
				add(w)
				continue
			}
			for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
				p := filepath.Join(dir, w)
				if st, err := os.Stat(p); err == nil && !st.IsDir() {
					add(p)
					break
				}
			}
		}
	}
	return out
}

// execWatcher reports opens (an exec opens its file) of executables through
// inotify.
type execWatcher struct {
	f *os.File
}

func newExecWatcher(paths []string) (*execWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range paths {
		if _, err := unix.InotifyAddWatch(fd, p, unix.IN_OPEN); err == nil {
			n++
		}
	}
	if n == 0 {
		unix.Close(fd)
		return nil, errors.New("nothing to watch")
	}
	// A non-blocking fd in an os.File uses the runtime poller: Close
	// interrupts a pending Read.
	return &execWatcher{f: os.NewFile(uintptr(fd), "inotify")}, nil
}

// run signals wake (without blocking) for every batch of events until the
// watcher is closed.
func (w *execWatcher) run(wake chan<- struct{}) {
	buf := make([]byte, 4096)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func (w *execWatcher) close() { _ = w.f.Close() }

// readFile reads a small /proc file into the scanner's buffer.
func (s *procScanner) readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(s.buf) {
			s.buf = append(s.buf, make([]byte, len(s.buf))...)
		}
		m, err := unix.Read(fd, s.buf[n:])
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return s.buf[:n], nil
}

func (s *procScanner) readStat(pid int) (procfs.Stat, error) {
	b, err := s.readFile(s.root + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procfs.Stat{}, err
	}
	return procfs.ParseStat(b)
}

func (s *procScanner) readCmdline(pid int) []string {
	b, err := s.readFile(s.root + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return splitCmdline(b)
}

// listPids returns the numeric entries of the proc root. It reads the
// directory with getdents into a reused buffer: this runs every poll.
func (s *procScanner) listPids() ([]int, error) {
	fd, err := unix.Open(s.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if s.dirBuf == nil {
		s.dirBuf = make([]byte, 32<<10)
	}
	pids := s.pids[:0]
	for {
		n, err := unix.Getdents(fd, s.dirBuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		// linux_dirent64: ino u64, off i64, reclen u16, type u8, name NUL-terminated.
		for off := 0; off < n; {
			b := s.dirBuf[off:n]
			reclen := int(b[16]) | int(b[17])<<8
			if reclen == 0 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			pid, ok := 0, len(name) > 0 && name[0] >= '1' && name[0] <= '9'
			for _, c := range name {
				if c == 0 {
					break
				}
				if c < '0' || c > '9' {
					ok = false
					break
				}
				pid = pid*10 + int(c-'0')
			}
			if ok {
				pids = append(pids, pid)
			}
			off += reclen
		}
	}
	s.pids = pids
	return pids, nil
}

// match finds the job a process runs, or -1.
func (s *procScanner) match(argv []string) int {
	for i, m := range s.matchers {
		if m.match(argv) {
			return i
		}
	}
	return -1
}

func (s *procScanner) jobEvent(kind scenarios.EventKind, p *procInfo, t, errNs int64) scenarios.Event {
	j := s.jobs[p.job]
	if j.Trigger == "check" {
		switch kind {
		case scenarios.EventSpawn:
			kind = scenarios.EventCheckSpawn
		case scenarios.EventExit:
			kind = scenarios.EventCheckExit
		}
	}
	switch kind {
	case scenarios.EventSpawn, scenarios.EventCheckSpawn:
		s.exits.watch(p.pid, p.seenAlive)
		if kind == scenarios.EventSpawn {
			s.spawns.saw(p.job, t-errNs)
		}
	case scenarios.EventExit, scenarios.EventCheckExit:
		if sp, ok := s.exits.exited(p.pid); ok && sp.hi >= t-errNs && sp.lo <= t {
			// Its pidfd fired: the exit lies in the waker's span too.
			lo, hi := max(sp.lo, t-errNs), min(sp.hi, t)
			t, errNs = hi, hi-lo
		}
		s.exits.forget(p.pid)
	}
	return scenarios.Event{TNs: t, ErrNs: errNs, Kind: kind, Service: j.Service, Job: j.Job,
		PID: p.pid, PGID: p.st.PGID, Cmdline: p.cmdline}
}

// refreshParent re-reads p's parent when it matched no job yet: a child
// that matches a job proves its parent has exec'd, and a parent first
// seen before its exec (still showing its own parent's cmdline) must be
// recognised before the child, or the child would pass for the
// incarnation's leader. It returns the parent's spawn when it is one.
func (s *procScanner) refreshParent(p *procInfo) []scenarios.Event {
	parent, ok := s.procs[p.st.PPID]
	if !ok || parent.job >= 0 || parent.exited || p.st.PGID == p.pid {
		return nil
	}
	st, err := s.readStat(parent.pid)
	if err != nil || st.Start != parent.st.Start {
		return nil
	}
	parent.st = st
	parent.argv = s.readCmdline(parent.pid)
	parent.cmdline = strings.Join(parent.argv, " ")
	if s.classify(parent) {
		return []scenarios.Event{s.jobEvent(scenarios.EventSpawn, parent, parent.bornAt, parent.bornErr)}
	}
	return nil
}

// classify matches a process to a job; it reports whether it is the leader
// of a new incarnation.
func (s *procScanner) classify(p *procInfo) bool {
	p.job = s.match(p.argv)
	if p.job < 0 {
		return false
	}
	if p.st.PGID == p.pid {
		p.incarnation = true
	} else if parent, ok := s.procs[p.st.PPID]; !ok || parent.job != p.job {
		// A supervisor that does not make process groups: the topmost
		// matching process is the incarnation.
		p.incarnation = true
	}
	return p.incarnation
}

// since is the clock after a read that began at now.
func (s *procScanner) since(now int64) int64 {
	if s.after == nil {
		return now
	}
	return max(now, s.after())
}

// startBounds dates a process's start, known from the scan to lie in
// [lo, hi] (the previous step and the one that first saw it; lo = 0 at
// the first step), more closely with its starttime: the kernel's
// start_boottime truncated to a USER_HZ tick, so the start lies in
// [tick, tick+1) on CLOCK_BOOTTIME, mapped to CLOCK_MONOTONIC through
// bootOffset. The result is the span's end and length (an event's TNs
// and ErrNs): at most one tick (10 ms) whatever the scan's period, which
// is what lets the scan run slowly. A fake proc tree leaves the scan's
// own span; a starttime that contradicts it widens the span to both.
func (s *procScanner) startBounds(start uint64, lo, hi int64) (int64, int64) {
	if s.bootOffset == 0 && s.root != "/proc" {
		return hi, hi - lo
	}
	const tick = int64(time.Second) / procfs.ClockTicksPerSecond
	from := int64(start)*tick - s.bootOffset
	if from <= 0 {
		return hi, hi - lo
	}
	if from > hi || from+tick < lo {
		// The two disagree (a clock mapped wrong, or a read dated
		// wrong): claim only what covers both.
		lo, hi = min(lo, from), max(hi, from+tick)
		return hi, hi - lo
	}
	lo, hi = max(lo, from), min(hi, from+tick)
	return hi, hi - lo
}

// step takes one look at the proc tree at mono time now and returns what
// changed since the previous step.
func (s *procScanner) step(now int64) []scenarios.Event {
	var out []scenarios.Event
	first := s.last == 0
	errNs := now - s.last
	if first {
		errNs = 0
	}
	s.gen++
	pids, err := s.listPids()
	if err != nil {
		return nil
	}
	// Every listed process was there when the listing ended.
	listed := s.since(now)
	full := first || now-s.lastFull >= int64(fullScanPeriod)
	if full {
		s.lastFull = now
	}
	for _, pid := range pids {
		if pid == s.self {
			continue
		}
		p, known := s.procs[pid]
		if known {
			p.gen = s.gen
			recheck := p.job < 0 && p.recheckUntil > now
			// A live job leader is re-read every step unless its pidfd
			// will wake the scanner when it exits.
			leader := p.incarnation && !s.exits.quiet(pid)
			if !recheck && !leader && !full {
				continue
			}
			st, err := s.readStat(pid)
			if err != nil {
				continue // gone: handled below next step
			}
			if st.Start != p.st.Start {
				// The pid was reused: the old process is gone.
				out = append(out, s.vanish(p, s.since(now))...)
				delete(s.procs, pid)
				known = false
			} else {
				// A process first seen before its exec (showing its
				// parent's cmdline) that exec'd after the recheck window
				// (a loaded machine): its comm changed, read it again.
				execd := p.job < 0 && st.Comm != p.st.Comm
				p.st = st
				if st.State != 'Z' {
					p.seenAlive = now
				}
				if recheck || execd {
					p.argv = s.readCmdline(pid)
					p.cmdline = strings.Join(p.argv, " ")
					if p.foreign {
						// Seen before its exec, it may have become a
						// container's zinit or joined its tree since.
						if p.foreign = !s.inScope(p); p.foreign {
							continue
						}
					}
					if s.match(p.argv) >= 0 {
						out = append(out, s.refreshParent(p)...)
					}
					if s.classify(p) {
						out = append(out, s.jobEvent(scenarios.EventSpawn, p, p.bornAt, p.bornErr))
					}
				}
				out = append(out, s.observeState(p, now)...)
				continue
			}
		}
		st, err := s.readStat(pid)
		if err != nil {
			continue
		}
		p = &procInfo{pid: pid, st: st, gen: s.gen, firstSeen: now, job: -1}
		if first {
			p.bornAt, p.bornErr = s.startBounds(st.Start, 0, listed)
		} else {
			p.bornAt, p.bornErr = s.startBounds(st.Start, now-errNs, listed)
		}
		p.seenAlive = now
		if st.State == 'Z' {
			p.seenAlive = p.bornAt - p.bornErr // it can have ended no sooner than it began
		}
		p.argv = s.readCmdline(pid)
		p.cmdline = strings.Join(p.argv, " ")
		s.procs[pid] = p
		if p.foreign = !s.inScope(p); p.foreign {
			if !first {
				p.recheckUntil = now + int64(recheckWindow)
			}
			continue
		}
		if s.match(p.argv) >= 0 {
			out = append(out, s.refreshParent(p)...)
		}
		if s.classify(p) {
			ev := s.jobEvent(scenarios.EventSpawn, p, p.bornAt, p.bornErr)
			if first {
				ev.Detail = "present at agent start"
			}
			out = append(out, ev)
		} else if p.job < 0 && !first {
			p.recheckUntil = now + int64(recheckWindow)
		}
		out = append(out, s.observeState(p, now)...)
	}
	for pid, p := range s.procs {
		if p.gen != s.gen {
			out = append(out, s.vanish(p, listed)...)
			delete(s.procs, pid)
		}
	}
	if full {
		out = append(out, s.strays(now)...)
	}
	s.last = now
	return out
}

// inScope says whether p belongs to the scanner's scope: always without
// one; else p is the `zinit init` serving the scope socket, or descends
// from it, or shares a process group with a process in scope (a group
// member reparented after its leader died). Ancestors not yet known are
// read from the proc root.
func (s *procScanner) inScope(p *procInfo) bool {
	if s.scope == "" {
		return true
	}
	if s.isScopeInit(p.argv) {
		return true
	}
	if g, ok := s.procs[p.st.PGID]; ok && g != p && !g.foreign && g.st.PGID == p.st.PGID {
		return true
	}
	for pid, depth := p.st.PPID, 0; pid > 1 && depth < 64; depth++ {
		if a, ok := s.procs[pid]; ok && a != p {
			return !a.foreign || s.isScopeInit(a.argv)
		}
		argv := s.readCmdline(pid)
		if s.isScopeInit(argv) {
			return true
		}
		st, err := s.readStat(pid)
		if err != nil {
			return false
		}
		pid = st.PPID
	}
	return false
}

// isScopeInit says whether argv is `zinit init ... --socket <scope>`.
func (s *procScanner) isScopeInit(argv []string) bool {
	if len(argv) < 2 || argv[1] != "init" {
		return false
	}
	for i := 2; i+1 < len(argv); i++ {
		if argv[i] == "--socket" && argv[i+1] == s.scope {
			return true
		}
	}
	return false
}

// observeState handles a process's state: a job leader seen as a zombie
// has exited (its exit code is readable until it is reaped); any zombie
// older than zombieAfter is reported, and again each time its age doubles.
func (s *procScanner) observeState(p *procInfo, now int64) []scenarios.Event {
	var out []scenarios.Event
	if p.st.State != 'Z' || p.foreign {
		return nil
	}
	// It ended after the last poll that read it alive, and before its
	// stat was read just now.
	now = s.since(now)
	errNs := now - p.seenAlive
	if p.incarnation && !p.exited {
		p.exited = true
		ev := s.jobEvent(scenarios.EventExit, p, now, errNs)
		setWaitStatus(&ev, p.st.ExitCode)
		out = append(out, ev)
		s.dead[p.st.PGID] = deadGroup{at: now, job: p.job, pid: p.pid}
	}
	if p.zombieSince == 0 {
		p.zombieSince, p.zombieErr = now, errNs
	}
	if p.zombieNext == 0 {
		p.zombieNext = s.zombieAfter
	}
	// Reported at zombieAfter, then each time its age doubles while it
	// lingers: a zombie never reaped shows an age that grows past any
	// lateness a loaded machine could explain.
	if now-p.zombieSince >= p.zombieNext {
		p.zombieNext = 2 * (now - p.zombieSince)
		out = append(out, scenarios.Event{TNs: now, ErrNs: p.zombieErr, Kind: scenarios.EventZombie, PID: p.pid,
			PGID: p.st.PGID, Cmdline: p.cmdline, ZombieMs: (now - p.zombieSince) / 1e6,
			Detail: fmt.Sprintf("ppid=%d zombie for %d ms", p.st.PPID, (now-p.zombieSince)/1e6)})
	}
	return out
}

// setWaitStatus fills an exit event's code or signal from a wait status.
func setWaitStatus(ev *scenarios.Event, ws int) {
	if ws < 0 {
		return
	}
	w := unix.WaitStatus(ws)
	switch {
	case w.Exited():
		c := w.ExitStatus()
		ev.Code = &c
	case w.Signaled():
		ev.Signal = unix.SignalName(w.Signal())
		if ev.Signal == "" {
			ev.Signal = strconv.Itoa(int(w.Signal()))
		}
	}
}

// vanish reports the exit of a job leader found gone at now: it ended
// after the last poll that read it alive.
func (s *procScanner) vanish(p *procInfo, now int64) []scenarios.Event {
	if !p.incarnation || p.exited {
		return nil
	}
	p.exited = true
	s.dead[p.st.PGID] = deadGroup{at: now, job: p.job, pid: p.pid}
	return []scenarios.Event{s.jobEvent(scenarios.EventExit, p, now, now-p.seenAlive)}
}

// strays reports, once each, processes still in a dead incarnation's
// process group strayAfter after its leader died.
func (s *procScanner) strays(now int64) []scenarios.Event {
	var out []scenarios.Event
	for pgid, d := range s.dead {
		members := 0
		for _, p := range s.procs {
			if p.st.PGID != pgid || p.pid == d.pid || p.foreign {
				continue
			}
			members++
			if !p.straySent && now-d.at >= s.strayAfter {
				p.straySent = true
				j := s.jobs[d.job]
				out = append(out, scenarios.Event{TNs: now, ErrNs: int64(fullScanPeriod), Kind: scenarios.EventStray,
					Service: j.Service, Job: j.Job, PID: p.pid, PGID: pgid, Cmdline: p.cmdline,
					Detail: fmt.Sprintf("leader pid %d died %d ms ago", d.pid, (now-d.at)/1e6)})
			}
		}
		if members == 0 && now-d.at >= s.strayAfter {
			delete(s.dead, pgid)
		}
	}
	return out
}
