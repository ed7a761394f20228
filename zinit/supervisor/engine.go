package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// Options configure an Engine.
type Options struct {
	Clock     clock.WithTicker // required: the engine reads time only from it
	Spawner   Spawner          // required
	Log       *slog.Logger     // nil discards
	ConfigDir string           // legacy TOML dir; "" disables legacy services
	StateDir  string           // persistence dir; "" disables persistence
	Env       []string         // base environment of every job; nil means os.Environ()
	Observe   func(Event)      // optional; called on the engine goroutine for every Event
}

// EventKind names an observable moment of supervision.
type EventKind int

const (
	EventSpawn      EventKind = iota + 1 // a start job was spawned; Due is when its restart was due (zero for an explicit start)
	EventExit                            // a start job's process exited (At: when it was reaped)
	EventCheckStart                      // a check run started; Due is when it was scheduled
	EventCheckEnd                        // a check run ended (OK tells how)
	EventState                           // a service changed state (State)
)

// Event is one observation of the engine, for tests, benchmarks and tracing.
type Event struct {
	Kind    EventKind
	Service string
	Job     string
	PID     int
	At      time.Time
	Due     time.Time
	State   zinit.State
	OK      bool
}

// Engine owns every service's state. All its methods, except Submit and
// Loop, must be called from one goroutine: the one running Loop, or a test
// driving it directly with a fake clock and a fake Spawner. Each public step
// method leaves the engine settled (blocked services whose dependencies are
// running are started, shutdown progresses).
type Engine struct {
	clock     clock.WithTicker
	sp        Spawner
	log       *slog.Logger
	configDir string
	stateDir  string
	env       []string
	observe   func(Event)

	services map[string]*service
	names    []string // sorted service names, for deterministic iteration
	procs    map[int]*proc
	timers   timerHeap
	timerSeq uint64

	shutdown *shutdownState

	persist       persistence
	writeState    func(path string, data []byte) error // writeAtomic; tests replace it
	configSkipped []zinit.SkippedFile                  // by the last read of the config dir

	reqs chan func()
	done chan struct{}
}

type procKind int

const (
	procStart procKind = iota + 1
	procCheck
	procStop
)

// proc is a live process the engine spawned, until it is reaped.
type proc struct {
	kind        procKind
	svc         *service
	job         *job
	incarnation uint64
}

type service struct {
	def    zinit.Service
	legacy *legacyDef
	jobs   []*job

	state       zinit.State
	reason      string
	used        int // automatic restarts since the last explicit start (the limit counter)
	total       int // automatic restarts ever: reported, never decreases
	pid         int
	incarnation uint64
	startedAt   time.Time
	restartAt   time.Time // when the pending/last restart was due
	lastExit    *zinit.ExitStatus
	checkKilled bool // the current incarnation was SIGKILLed by a failed check
	oneshotDone bool // a legacy oneshot exited 0: it satisfies --after

	restartTimer *timer
	stopTimer    *timer
	stopJobsLeft int
	waiters      []func() // run once the service is down (stop completed)
	removing     bool     // a remove is under way: left out of the state file
	removed      bool
	logs         *logRing
}

type job struct {
	def       zinit.Job
	pid       int // in-flight check or stop run, until reaped
	runStart  time.Time
	runTimer  *timer // check timeout, or stop-job timeout
	nextTimer *timer // next check run
	due       bool   // a check run came due while the previous run was still unreaped
	timedOut  bool   // the in-flight run was killed at its timeout
	counted   bool   // the in-flight stop run was already counted as ended
	lastCheck *zinit.CheckResult
	removing  bool // a remove is under way: left out of the state file
	removed   bool
}

type shutdownState struct {
	killed bool      // the deadline passed: everything was SIGKILLed
	giveUp time.Time // after this, stop waiting for reaping
}

// NewEngine makes an engine with no services. Call Boot to load legacy and
// persisted services, and Loop (or the step methods) to run it.
func NewEngine(o Options) *Engine {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	e := &Engine{
		clock: o.Clock, sp: o.Spawner, log: log, configDir: o.ConfigDir, stateDir: o.StateDir,
		env: env, observe: o.Observe, writeState: writeAtomic,
		services: map[string]*service{}, procs: map[int]*proc{},
		reqs: make(chan func()), done: make(chan struct{}),
	}
	if o.StateDir != "" {
		e.persist.file = filepath.Join(o.StateDir, StateFileName)
	}
	return e
}

// errShuttingDown is returned to requests that arrive during shutdown.
var errShuttingDown = errors.New("daemon is shutting down")

func (e *Engine) emit(ev Event) {
	if e.observe != nil {
		e.observe(ev)
	}
}

func (e *Engine) lookup(name string) (*service, error) {
	s, ok := e.services[name]
	if !ok {
		return nil, fmt.Errorf("service %q: %w", name, zinit.ErrNotFound)
	}
	return s, nil
}

func (e *Engine) insert(s *service) {
	e.services[s.def.Name] = s
	i := sort.SearchStrings(e.names, s.def.Name)
	e.names = append(e.names, "")
	copy(e.names[i+1:], e.names[i:])
	e.names[i] = s.def.Name
}

func (e *Engine) delete(s *service) {
	s.removed = true
	for _, j := range s.jobs {
		e.sp.Release(j)
	}
	delete(e.services, s.def.Name)
	i := sort.SearchStrings(e.names, s.def.Name)
	if i < len(e.names) && e.names[i] == s.def.Name {
		e.names = append(e.names[:i], e.names[i+1:]...)
	}
}

func newService(def zinit.Service) *service {
	def.After = append([]string(nil), def.After...)
	return &service{def: def, state: zinit.StateInactive, logs: newLogRing()}
}

func (s *service) startJob() *job {
	for _, j := range s.jobs {
		if j.def.Trigger == zinit.TriggerStart {
			return j
		}
	}
	return nil
}

func (s *service) job(name string) *job {
	for _, j := range s.jobs {
		if j.def.Name == name {
			return j
		}
	}
	return nil
}

func (s *service) down() bool {
	return s.state == zinit.StateInactive || s.state == zinit.StateFailed
}

func (s *service) hasTrigger(t zinit.Trigger) bool {
	for _, j := range s.jobs {
		if j.def.Trigger == t {
			return true
		}
	}
	return false
}

func (s *service) dir() string {
	if s.legacy != nil {
		return s.legacy.Dir
	}
	return ""
}

func (s *service) output(jobName string) func(string) {
	logs := s.logs
	prefix := "[" + jobName + "] "
	return func(line string) { logs.add(prefix + line) }
}

func (s *service) note(format string, a ...any) {
	s.logs.add("[zinit] " + fmt.Sprintf(format, a...))
}

// jobEnv is the daemon's env, then the job's, then extra.
func (e *Engine) jobEnv(j *job, extra ...string) []string {
	env := make([]string, 0, len(e.env)+len(j.def.Env)+len(extra))
	env = append(env, e.env...)
	env = append(env, j.def.EnvList()...)
	return append(env, extra...)
}

// apply runs one event through transition and performs its actions.
func (e *Engine) apply(s *service, ev event, now time.Time) {
	from := s.state
	to, acts, err := transition(from, ev, now)
	if err != nil {
		e.log.Error("state machine", "service", s.def.Name, "err", err)
		return
	}
	s.state = to
	if from == zinit.StateRunning && to != zinit.StateRunning {
		e.stopChecks(s)
	}
	if from != to {
		e.log.Info("state", "service", s.def.Name, "from", from, "to", to, "event", ev.kind)
		e.emit(Event{Kind: EventState, Service: s.def.Name, At: now, State: to})
	}
	for _, a := range acts {
		e.do(s, a, now)
	}
	stopped := s.down() || (from == zinit.StateStopping && ev.kind == evExit && mutant("stop-is-failure"))
	if stopped && len(s.waiters) > 0 {
		w := s.waiters
		s.waiters = nil
		for _, f := range w {
			f()
		}
	}
}

func (e *Engine) do(s *service, a action, now time.Time) {
	switch a.kind {
	case actSpawn:
		e.spawnStart(s, now)
	case actResetRestarts:
		if !mutant("start-keeps-budget") {
			s.used = 0
		}
		s.reason = ""
		s.restartAt = time.Time{}
	case actCountRestart:
		s.used++
		if !mutant("restarts-not-counted") {
			s.total++
		}
	case actScheduleRestart:
		s.restartAt = a.at
		s.restartTimer = e.schedule(a.at, func(now time.Time) {
			s.restartTimer = nil
			e.apply(s, event{kind: evRestartDue}, now)
		})
		s.note("restart due in %v", a.at.Sub(now))
	case actCancelRestart:
		s.restartTimer.cancel()
		s.restartTimer = nil
	case actRunStopJobs:
		e.runStopJobs(s, now)
	case actTerm:
		if s.pid != 0 {
			e.signal(s.pid, syscall.SIGTERM)
			e.signal(s.pid, syscall.SIGCONT) // a stopped group must be able to act on SIGTERM
		}
		s.stopTimer = e.schedule(a.at, func(now time.Time) {
			s.stopTimer = nil
			e.apply(s, event{kind: evStopTimeout}, now)
		})
	case actKill:
		if s.pid != 0 {
			e.signal(s.pid, syscall.SIGKILL)
		}
	case actCancelStopTimer:
		s.stopTimer.cancel()
		s.stopTimer = nil
	case actSetReason:
		s.reason = a.reason
		s.note("failed: %s", a.reason)
		if mutant("failed-not-sticky") && a.reason == zinit.ReasonRestartLimit {
			e.schedule(now.Add(s.startJob().def.EffectiveRestartDelay()), func(now time.Time) {
				if s.state == zinit.StateFailed {
					s.state, s.reason = zinit.StateInactive, ""
					e.emit(Event{Kind: EventState, Service: s.def.Name, At: now, State: s.state})
				}
			})
		}
	}
}

func (e *Engine) signal(pgid int, sig syscall.Signal) {
	if err := e.sp.SignalGroup(pgid, sig); err != nil {
		e.log.Warn("signal", "pgid", pgid, "signal", sig, "err", err)
	}
}

func (e *Engine) spawnStart(s *service, now time.Time) {
	j := s.startJob()
	if j == nil {
		e.apply(s, event{kind: evSpawnFailed}, now)
		return
	}
	prevStart := s.startedAt
	s.incarnation++
	s.checkKilled = false
	s.oneshotDone = false
	pid, err := e.sp.Spawn(SpawnSpec{Exec: j.def.Exec, Env: e.jobEnv(j), Dir: s.dir(), Output: s.output(j.def.Name), Stream: j})
	if err != nil {
		e.log.Error("spawn", "service", s.def.Name, "err", err)
		s.note("spawn failed: %v", err)
		e.apply(s, event{kind: evSpawnFailed}, now)
		return
	}
	now = e.clock.Now() // after the fork: the spawn time includes its cost
	s.pid = pid
	s.startedAt = now
	e.procs[pid] = &proc{kind: procStart, svc: s, job: j, incarnation: s.incarnation}
	s.note("%s spawned, pid %d", j.def.Name, pid)
	e.emit(Event{Kind: EventSpawn, Service: s.def.Name, Job: j.def.Name, PID: pid, At: now, Due: s.restartAt})
	for _, c := range s.jobs {
		if c.def.Trigger != zinit.TriggerCheck {
			continue
		}
		first := now.Add(c.def.Interval) // the grace period (H1), fresh for each incarnation (H6)
		switch {
		case mutant("no-grace"):
			first = now
		case mutant("check-state-carried") && !prevStart.IsZero():
			// The previous incarnation's schedule: its next tick after now.
			first = prevStart.Add((now.Sub(prevStart)/c.def.Interval + 1) * c.def.Interval)
		}
		e.scheduleCheck(s, c, first)
	}
}

// HandleExit processes the exit of a spawned process. Exits of pids the
// engine does not know are ignored.
func (e *Engine) HandleExit(x Exit) {
	if x.At.IsZero() {
		x.At = e.clock.Now()
	}
	p, ok := e.procs[x.PID]
	if !ok {
		return
	}
	delete(e.procs, x.PID)
	switch p.kind {
	case procStart:
		e.startExited(p, x)
	case procCheck:
		e.checkEnded(p, x)
	case procStop:
		e.stopRunEnded(p.svc, p.job, x.PID, x.At, true)
	}
	e.settle()
}

func exitStatus(x Exit) *zinit.ExitStatus {
	st := &zinit.ExitStatus{AtMs: x.At.UnixMilli()}
	if x.Signal != 0 {
		name := unix.SignalName(x.Signal)
		if name == "" {
			name = strconv.Itoa(int(x.Signal))
		}
		st.Signal = &name
	} else {
		code := x.Code
		st.Code = &code
	}
	return st
}

func describeExit(x Exit) string {
	if x.Signal != 0 {
		return "killed by " + unix.SignalName(x.Signal)
	}
	return "exit code " + strconv.Itoa(x.Code)
}

func (e *Engine) startExited(p *proc, x Exit) {
	s := p.svc
	if s.pid != x.PID {
		return
	}
	s.pid = 0
	// The leader is gone; nothing of its group may outlive it (S1).
	if !mutant("leader-exit-leaves-group") {
		e.signal(x.PID, syscall.SIGKILL)
	}
	s.lastExit = exitStatus(x)
	s.note("%s pid %d: %s", p.job.def.Name, x.PID, describeExit(x))
	e.emit(Event{Kind: EventExit, Service: s.def.Name, Job: p.job.def.Name, PID: x.PID, At: x.At})
	clean := x.Code == 0 && x.Signal == 0
	if s.checkKilled && mutant("check-kill-bypasses-policy") {
		e.spawnStart(s, x.At)
		return
	}
	j := p.job.def
	e.apply(s, event{
		kind:    evExit,
		failed:  !clean || s.checkKilled,
		oneshot: s.legacy != nil && s.legacy.Oneshot,
		policy:  j.Restart, used: s.used, max: j.MaxRestarts, delay: j.EffectiveRestartDelay(),
	}, x.At)
	if s.legacy != nil && s.legacy.Oneshot && clean && s.state == zinit.StateInactive {
		s.oneshotDone = true
	}
}

// --- checks ---

func (e *Engine) scheduleCheck(s *service, j *job, at time.Time) {
	inc := s.incarnation
	j.nextTimer = e.schedule(at, func(now time.Time) {
		j.nextTimer = nil
		e.runCheck(s, j, inc, at, now)
	})
}

func (e *Engine) runCheck(s *service, j *job, inc uint64, due, now time.Time) {
	if j.removed || s.state != zinit.StateRunning || s.incarnation != inc || s.pid == 0 || s.checkKilled {
		return
	}
	if j.pid != 0 {
		// At most one run in flight: the previous (killed) run is not reaped yet.
		j.due = true
		return
	}
	pid, err := e.sp.Spawn(SpawnSpec{
		Exec: j.def.Exec, Dir: s.dir(), Output: s.output(j.def.Name), Stream: j,
		Env: e.jobEnv(j, "ZINIT_SERVICE="+s.def.Name, "ZINIT_PID="+strconv.Itoa(s.pid)),
	})
	if err != nil {
		// Broken infrastructure, not a verdict on the service: record, retry later.
		msg := "spawn: " + err.Error()
		j.lastCheck = &zinit.CheckResult{OK: false, AtMs: now.UnixMilli(), Error: &msg}
		e.log.Error("check spawn", "service", s.def.Name, "job", j.def.Name, "err", err)
		e.scheduleCheck(s, j, now.Add(j.def.Interval))
		return
	}
	now = e.clock.Now() // after the fork
	j.pid, j.runStart, j.timedOut = pid, now, false
	e.procs[pid] = &proc{kind: procCheck, svc: s, job: j, incarnation: inc}
	timeout := j.def.EffectiveTimeout()
	j.runTimer = e.schedule(now.Add(timeout), func(now time.Time) {
		j.runTimer = nil
		e.checkTimedOut(s, j, inc, pid, timeout, now)
	})
	e.emit(Event{Kind: EventCheckStart, Service: s.def.Name, Job: j.def.Name, PID: pid, At: now, Due: due})
}

func (e *Engine) checkTimedOut(s *service, j *job, inc uint64, pid int, timeout time.Duration, now time.Time) {
	if j.pid != pid || mutant("check-timeout-ignored") {
		return
	}
	j.timedOut = true
	e.killCheck(pid) // the whole check group; reaped by the reaper
	if s.incarnation != inc || s.state != zinit.StateRunning || j.removed {
		return
	}
	msg := fmt.Sprintf("timed out after %v", timeout)
	j.lastCheck = &zinit.CheckResult{OK: false, AtMs: j.runStart.UnixMilli(), DurationMs: now.Sub(j.runStart).Milliseconds(), Error: &msg, PID: &pid}
	s.note("check %s: %s", j.def.Name, msg)
	e.emit(Event{Kind: EventCheckEnd, Service: s.def.Name, Job: j.def.Name, PID: pid, At: now})
	e.checkFailed(s, j, now)
}

func (e *Engine) checkEnded(p *proc, x Exit) {
	s, j := p.svc, p.job
	if j.pid == x.PID {
		j.pid = 0
		j.runTimer.cancel()
		j.runTimer = nil
	}
	if !mutant("check-group-left") {
		e.signal(x.PID, syscall.SIGKILL) // a run is over: nothing of its group stays behind (H4)
	}
	timedOut := j.timedOut
	j.timedOut = false
	current := !j.removed && !s.removed && p.incarnation == s.incarnation && s.state == zinit.StateRunning && !s.checkKilled
	if current && !timedOut {
		ok := x.Code == 0 && x.Signal == 0
		pid := x.PID
		res := &zinit.CheckResult{OK: ok, AtMs: j.runStart.UnixMilli(), DurationMs: x.At.Sub(j.runStart).Milliseconds(), PID: &pid}
		if !ok {
			msg := describeExit(x)
			res.Error = &msg
			s.note("check %s failed: %s", j.def.Name, msg)
		}
		j.lastCheck = res
		e.emit(Event{Kind: EventCheckEnd, Service: s.def.Name, Job: j.def.Name, PID: x.PID, At: x.At, OK: ok})
		if !ok {
			e.checkFailed(s, j, x.At)
			return
		}
		// The next run is interval after this one ended.
		e.scheduleCheck(s, j, x.At.Add(j.def.Interval))
		return
	}
	if j.due && !j.removed && s.state == zinit.StateRunning && !s.checkKilled {
		j.due = false
		e.runCheck(s, j, s.incarnation, x.At, x.At)
	}
}

func (e *Engine) checkFailed(s *service, j *job, now time.Time) {
	if s.state != zinit.StateRunning || s.pid == 0 || s.checkKilled {
		return
	}
	s.checkKilled = true
	s.note("check %s failed: SIGKILL to %s (pid %d)", j.def.Name, s.def.Name, s.pid)
	e.log.Warn("check failed", "service", s.def.Name, "job", j.def.Name, "pid", s.pid)
	e.apply(s, event{kind: evCheckFailed}, now)
}

// stopChecks ends the check history of an incarnation: timers are disarmed
// and an in-flight run is SIGKILLed (it stays tracked until reaped).
func (e *Engine) stopChecks(s *service) {
	for _, j := range s.jobs {
		if j.def.Trigger != zinit.TriggerCheck {
			continue
		}
		e.stopCheckJob(j)
	}
}

func (e *Engine) stopCheckJob(j *job) {
	j.nextTimer.cancel()
	j.nextTimer = nil
	j.runTimer.cancel()
	j.runTimer = nil
	j.due = false
	if j.pid != 0 {
		e.killCheck(j.pid)
	}
}

// killCheck SIGKILLs a check run's process group.
func (e *Engine) killCheck(pid int) {
	if mutant("check-group-left") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return
	}
	e.signal(pid, syscall.SIGKILL)
}

// --- stop jobs ---

func (e *Engine) runStopJobs(s *service, now time.Time) {
	s.stopJobsLeft = 0
	for _, j := range s.jobs {
		if j.def.Trigger != zinit.TriggerStop {
			continue
		}
		extra := []string{"ZINIT_SERVICE=" + s.def.Name}
		if s.pid != 0 {
			extra = append(extra, "ZINIT_PID="+strconv.Itoa(s.pid))
		}
		pid, err := e.sp.Spawn(SpawnSpec{Exec: j.def.Exec, Env: e.jobEnv(j, extra...), Dir: s.dir(), Output: s.output(j.def.Name), Stream: j})
		if err != nil {
			s.note("stop job %s: spawn failed: %v", j.def.Name, err)
			continue
		}
		j.pid, j.runStart, j.counted = pid, now, false
		e.procs[pid] = &proc{kind: procStop, svc: s, job: j, incarnation: s.incarnation}
		s.stopJobsLeft++
		j.runTimer = e.schedule(now.Add(j.def.EffectiveTimeout()), func(now time.Time) {
			j.runTimer = nil
			if j.pid == pid {
				e.signal(pid, syscall.SIGKILL)
				s.note("stop job %s timed out", j.def.Name)
				e.stopRunEnded(s, j, pid, now, false)
			}
		})
	}
	if s.stopJobsLeft == 0 {
		e.apply(s, event{kind: evStopJobsDone}, now)
	}
}

// stopRunEnded counts a stop run as over, at its exit (reaped) or at its
// timeout, whichever comes first; the last one lets the stop proceed to
// SIGTERM.
func (e *Engine) stopRunEnded(s *service, j *job, pid int, now time.Time, reaped bool) {
	if j.pid != pid {
		return
	}
	if reaped {
		j.pid = 0
		j.runTimer.cancel()
		j.runTimer = nil
	}
	if j.counted {
		return
	}
	j.counted = true
	s.stopJobsLeft--
	if s.stopJobsLeft == 0 && s.state == zinit.StateStopping && !s.removed {
		e.apply(s, event{kind: evStopJobsDone}, now)
	}
}

// --- settling ---

// depsReady reports whether every --after dependency is running (or is a
// legacy oneshot that completed).
func (e *Engine) depsReady(s *service) bool {
	for _, a := range s.def.After {
		d, ok := e.services[a]
		if !ok {
			return false
		}
		if d.state != zinit.StateRunning && !(d.oneshotDone && d.state == zinit.StateInactive) {
			return false
		}
	}
	return true
}

// settle starts blocked services whose dependencies are now running and,
// during shutdown, stops the next services in reverse --after order.
func (e *Engine) settle() {
	now := e.clock.Now()
	if e.shutdown != nil {
		e.shutdownProgress(now)
		return
	}
	for changed := true; changed; {
		changed = false
		for _, name := range append([]string(nil), e.names...) {
			s := e.services[name]
			if s != nil && s.state == zinit.StateBlocked && e.depsReady(s) {
				e.apply(s, event{kind: evDepsReady, hasStartJob: s.startJob() != nil}, now)
				changed = true
			}
		}
	}
}

// --- requests (engine goroutine) ---

// AddService creates a service in state inactive; it does not start it.
func (e *Engine) AddService(def zinit.Service) error {
	if e.shutdown != nil {
		return errShuttingDown
	}
	if err := def.Validate(); err != nil {
		return err
	}
	if _, ok := e.services[def.Name]; ok {
		return fmt.Errorf("service %q: %w", def.Name, zinit.ErrAlreadyExists)
	}
	s := newService(def)
	e.insert(s)
	if def.Persist {
		if err := e.savePersisted(); err != nil {
			e.delete(s)
			return fmt.Errorf("service %q not added: %w", def.Name, err)
		}
	}
	return nil
}

// AddJob adds a job to a service. On a legacy service it is accepted with a
// warning and changes nothing [seed].
func (e *Engine) AddJob(j zinit.Job) (zinit.JobAddResult, error) {
	if e.shutdown != nil {
		return zinit.JobAddResult{}, errShuttingDown
	}
	if err := j.Validate(); err != nil {
		return zinit.JobAddResult{}, err
	}
	s, err := e.lookup(j.Service)
	if err != nil {
		return zinit.JobAddResult{}, err
	}
	if s.legacy != nil {
		return zinit.JobAddResult{Warning: fmt.Sprintf(
			"service %q comes from the legacy config file %s: job %q is accepted but changes nothing; "+
				"recreate the service with `zinit add service` to use jobs", s.def.Name, s.legacy.File, j.Name)}, nil
	}
	if s.job(j.Name) != nil {
		return zinit.JobAddResult{}, fmt.Errorf("job %s/%s: %w", j.Service, j.Name, zinit.ErrAlreadyExists)
	}
	if j.Trigger == zinit.TriggerStart {
		if sj := s.startJob(); sj != nil {
			return zinit.JobAddResult{}, fmt.Errorf("%w: service %q already has a start job %q", zinit.ErrInvalid, s.def.Name, sj.def.Name)
		}
	}
	if j.Env != nil {
		env := make(map[string]string, len(j.Env))
		for k, v := range j.Env {
			env[k] = v
		}
		j.Env = env
	}
	nj := &job{def: j}
	s.jobs = append(s.jobs, nj)
	var res zinit.JobAddResult
	if j.Persist {
		if !s.def.Persist {
			res.Warning = fmt.Sprintf("job %s/%s is marked persist but service %q is not: it will not survive a daemon restart", j.Service, j.Name, s.def.Name)
		} else if err := e.savePersisted(); err != nil {
			s.jobs = s.jobs[:len(s.jobs)-1]
			return zinit.JobAddResult{}, fmt.Errorf("job %s/%s not added: %w", j.Service, j.Name, err)
		}
	}
	if j.Trigger == zinit.TriggerCheck && s.state == zinit.StateRunning && s.pid != 0 && !s.checkKilled {
		e.scheduleCheck(s, nj, e.clock.Now().Add(j.Interval))
	}
	e.settle()
	return res, nil
}

// stopThen stops s and runs then once it is down (at once if it already is).
func (e *Engine) stopThen(s *service, then func()) {
	if s.down() {
		then()
		return
	}
	s.waiters = append(s.waiters, then)
	if s.state != zinit.StateStopping {
		e.apply(s, event{kind: evStop, hasStopJobs: s.hasTrigger(zinit.TriggerStop)}, e.clock.Now())
	}
}

// RemoveService stops the service if needed, then deletes it; done is
// called once it is gone. A persisted service is first written out of the
// state file: when that fails (persistence read-only, a full disk) nothing
// changes and done gets the error.
func (e *Engine) RemoveService(name string, done func(error)) {
	s, err := e.lookup(name)
	if err != nil {
		done(err)
		return
	}
	if err := e.persistRemoval(s.def.Persist, &s.removing); err != nil {
		done(fmt.Errorf("service %q not removed: %w", name, err))
		return
	}
	e.stopThen(s, func() {
		if !s.removed {
			e.delete(s)
		}
		done(nil)
	})
	e.settle()
}

// persistRemoval marks a persisted service or job as being removed and
// writes the state file without it, before anything else changes; when the
// write fails the mark is undone and the error returned. A no-op for what
// is not persisted or already being removed.
func (e *Engine) persistRemoval(persisted bool, removing *bool) error {
	if !persisted || *removing {
		return nil
	}
	*removing = true
	if err := e.savePersisted(); err != nil {
		*removing = false
		return err
	}
	return nil
}

// RemoveJob deletes a job; removing the start job of a service that is not
// down stops the service first. done is called once the job is gone.
func (e *Engine) RemoveJob(svc, name string, done func(error)) {
	s, err := e.lookup(svc)
	if err != nil {
		done(err)
		return
	}
	j := s.job(name)
	if j == nil {
		done(fmt.Errorf("job %s/%s: %w", svc, name, zinit.ErrNotFound))
		return
	}
	if err := e.persistRemoval(j.def.Persist && s.def.Persist && !s.removing, &j.removing); err != nil {
		done(fmt.Errorf("job %s/%s not removed: %w", svc, name, err))
		return
	}
	remove := func() {
		if j.removed {
			done(nil)
			return
		}
		j.removed = true
		e.sp.Release(j)
		if j.def.Trigger == zinit.TriggerCheck {
			e.stopCheckJob(j)
		}
		for i, x := range s.jobs {
			if x == j {
				s.jobs = append(s.jobs[:i:i], s.jobs[i+1:]...)
				break
			}
		}
		done(nil)
	}
	if j.def.Trigger == zinit.TriggerStart && !s.down() {
		e.stopThen(s, remove)
	} else {
		remove()
	}
	e.settle()
}

// Start starts a service explicitly: N fresh restarts, a failed state
// cleared. A service that is stopping is started once it is down.
func (e *Engine) Start(name string) error {
	if e.shutdown != nil {
		return errShuttingDown
	}
	s, err := e.lookup(name)
	if err != nil {
		return err
	}
	if s.state == zinit.StateStopping {
		s.waiters = append(s.waiters, func() {
			if !s.removed && e.shutdown == nil {
				e.startService(s, e.clock.Now())
			}
		})
		return nil
	}
	e.startService(s, e.clock.Now())
	e.settle()
	return nil
}

func (e *Engine) startService(s *service, now time.Time) {
	e.apply(s, event{kind: evStart, hasStartJob: s.startJob() != nil, depsReady: e.depsReady(s)}, now)
}

// Stop stops a service; done is called once it is down (at once if it
// already is).
func (e *Engine) Stop(name string, done func(error)) {
	s, err := e.lookup(name)
	if err != nil {
		done(err)
		return
	}
	e.stopThen(s, func() { done(nil) })
	e.settle()
}

// Restart stops the service (if needed), then starts it explicitly; done
// is called once it has been started.
func (e *Engine) Restart(name string, done func(error)) {
	if e.shutdown != nil {
		done(errShuttingDown)
		return
	}
	s, err := e.lookup(name)
	if err != nil {
		done(err)
		return
	}
	e.stopThen(s, func() {
		if s.removed {
			done(fmt.Errorf("service %q: %w", name, zinit.ErrNotFound))
			return
		}
		if e.shutdown != nil {
			done(errShuttingDown)
			return
		}
		e.startService(s, e.clock.Now())
		done(nil)
	})
	e.settle()
}

// Kill sends a signal to the start job's process group. Its effect is
// judged like any exit: a death by signal is a failure for the policy.
func (e *Engine) Kill(name, signal string) error {
	s, err := e.lookup(name)
	if err != nil {
		return err
	}
	sig, err := zinit.ParseSignal(signal)
	if err != nil {
		return err
	}
	if s.pid == 0 {
		return fmt.Errorf("%w: service %q has no running process (state %s)", zinit.ErrInvalid, name, s.state)
	}
	if err := e.sp.SignalGroup(s.pid, sig); err != nil {
		return err
	}
	s.note("signal %s sent to process group %d", zinit.SignalName(sig), s.pid)
	return nil
}

// Logs returns the last n lines of a service's output (n <= 0: all kept)
// and, for each, the CLOCK_MONOTONIC instant (ns) it was captured.
func (e *Engine) Logs(name string, n int) (lines []string, monoNs []int64, err error) {
	s, err := e.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	lines, monoNs = s.logs.tail(n)
	return lines, monoNs, nil
}

// Status returns a service's status.
func (e *Engine) Status(name string) (zinit.ServiceStatus, error) {
	s, err := e.lookup(name)
	if err != nil {
		return zinit.ServiceStatus{}, err
	}
	return e.status(s), nil
}

// List returns every service's status, sorted by name.
func (e *Engine) List() []zinit.ServiceStatus {
	out := make([]zinit.ServiceStatus, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, e.status(e.services[n]))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func (e *Engine) status(s *service) zinit.ServiceStatus {
	st := zinit.ServiceStatus{
		Name: s.def.Name, State: s.state, Restarts: s.total, LastExit: s.lastExit,
		Legacy: s.legacy != nil, Persist: s.def.Persist,
		After: append([]string{}, s.def.After...), Jobs: make([]zinit.JobStatus, 0, len(s.jobs)),
	}
	if s.pid != 0 {
		st.PID = ptr(s.pid)
	}
	if s.reason != "" {
		st.Reason = ptr(s.reason)
	}
	if !s.startedAt.IsZero() {
		st.StartedAtMs = ptr(s.startedAt.UnixMilli())
	}
	for _, j := range s.jobs {
		js := zinit.JobStatus{
			Name: j.def.Name, Trigger: j.def.Trigger, Exec: j.def.Exec, Env: map[string]string{},
			Persist: j.def.Persist, LastCheck: j.lastCheck,
		}
		for k, v := range j.def.Env {
			js.Env[k] = v
		}
		switch j.def.Trigger {
		case zinit.TriggerStart:
			js.Restart = ptr(j.def.Restart)
			js.RestartDelayMs = ptr(j.def.EffectiveRestartDelay().Milliseconds())
			js.MaxRestarts = ptr(j.def.MaxRestarts)
			js.Restarts = s.total
			if s.pid != 0 {
				js.PID = ptr(s.pid)
			}
		case zinit.TriggerCheck:
			js.IntervalMs = ptr(j.def.Interval.Milliseconds())
			js.TimeoutMs = ptr(j.def.EffectiveTimeout().Milliseconds())
			if j.pid != 0 {
				js.PID = ptr(j.pid)
			}
		case zinit.TriggerStop:
			js.TimeoutMs = ptr(j.def.EffectiveTimeout().Milliseconds())
			if j.pid != 0 {
				js.PID = ptr(j.pid)
			}
		}
		st.Jobs = append(st.Jobs, js)
	}
	return st
}

// --- boot and shutdown ---

// Boot loads persisted services and the legacy config dir and starts them.
// A state file that cannot be restored in full is moved aside and makes
// persistence read-only (see bootPersisted); config files that cannot be
// used are skipped. Both are logged and reported by SystemStatus.
func (e *Engine) Boot() {
	if !mutant("persist-not-restored") {
		e.bootPersisted()
	}
	if e.configDir != "" {
		defs, _, skipped := e.readLegacyDir()
		for _, d := range defs {
			if _, ok := e.services[d.Name]; ok {
				skipped = append(skipped, e.legacyConflict(d))
				continue
			}
			s := newService(zinit.Service{Name: d.Name, After: d.After})
			s.setLegacy(d)
			e.insert(s)
		}
		e.configSkipped = skipped
	}
	now := e.clock.Now()
	for _, n := range e.names {
		e.startService(e.services[n], now)
	}
	e.settle()
}

// BeginShutdown stops every service in reverse --after order; Loop returns
// once all are down and reaped, or ShutdownTimeout has passed. Idempotent.
func (e *Engine) BeginShutdown() {
	if e.shutdown != nil {
		return
	}
	now := e.clock.Now()
	e.log.Info("shutdown: stopping every service")
	e.shutdown = &shutdownState{giveUp: now.Add(zinit.ShutdownTimeout)}
	e.schedule(now.Add(zinit.ShutdownTimeout-time.Second), func(time.Time) {
		e.shutdown.killed = true
		for pid := range e.procs {
			e.signal(pid, syscall.SIGKILL)
		}
	})
	e.schedule(e.shutdown.giveUp, func(time.Time) {})
	e.settle()
}

func (e *Engine) shutdownProgress(now time.Time) {
	upDependents := map[string]int{}
	anyUp, anyStopping := false, false
	for _, n := range e.names {
		s := e.services[n]
		if s.down() {
			continue
		}
		anyUp = true
		if s.state == zinit.StateStopping {
			anyStopping = true
		}
		for _, a := range s.def.After {
			upDependents[a]++
		}
	}
	if !anyUp {
		return
	}
	stopped := false
	for _, n := range append([]string(nil), e.names...) {
		s := e.services[n]
		if s == nil || s.down() || s.state == zinit.StateStopping || upDependents[n] > 0 {
			continue
		}
		e.apply(s, event{kind: evStop, hasStopJobs: s.hasTrigger(zinit.TriggerStop)}, now)
		stopped = true
	}
	if !stopped && !anyStopping {
		// A dependency cycle: nothing is first. Stop everything.
		for _, n := range append([]string(nil), e.names...) {
			if s := e.services[n]; s != nil && !s.down() && s.state != zinit.StateStopping {
				e.apply(s, event{kind: evStop, hasStopJobs: s.hasTrigger(zinit.TriggerStop)}, now)
			}
		}
	}
	if stopped {
		e.shutdownProgress(now) // services that went down at once free their dependencies
	}
}

// ShutdownDone reports whether a shutdown has completed: every service is
// down and every process reaped, or the shutdown deadline has passed.
func (e *Engine) ShutdownDone() bool {
	if e.shutdown == nil {
		return false
	}
	if !e.clock.Now().Before(e.shutdown.giveUp) {
		return true
	}
	for _, n := range e.names {
		if !e.services[n].down() {
			return false
		}
	}
	return len(e.procs) == 0
}

// Submit hands f to the engine goroutine. It returns false, without
// running f, when ctx ends first or the loop has returned.
func (e *Engine) Submit(ctx context.Context, f func()) bool {
	select {
	case e.reqs <- f:
		return true
	case <-ctx.Done():
		return false
	case <-e.done:
		return false
	}
}

// Loop runs the engine until a shutdown (ctx cancelled or BeginShutdown)
// has completed. It is the only goroutine that touches the engine's state:
// it waits for the next timer, a process exit, or a submitted request, and
// runs one step at a time.
func (e *Engine) Loop(ctx context.Context) error {
	defer close(e.done)
	var (
		t       clock.Timer
		armedAt time.Time
		armed   bool
	)
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	ctxDone := ctx.Done()
	exits := e.sp.Exits()
	for {
		if e.ShutdownDone() {
			if n := len(e.procs); n > 0 {
				return fmt.Errorf("shutdown: %d processes still not reaped after %v", n, zinit.ShutdownTimeout)
			}
			return nil
		}
		var tc <-chan time.Time
		if at, ok := e.NextDeadline(); ok {
			if !armed || !at.Equal(armedAt) {
				if t != nil {
					t.Stop()
				}
				t = e.clock.NewTimer(at.Sub(e.clock.Now()))
				armedAt, armed = at, true
			}
			tc = t.C()
		} else if t != nil {
			t.Stop()
			t, armed = nil, false
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			e.BeginShutdown()
		case <-tc:
			armed = false
			e.FireTimers()
		case x := <-exits:
			e.HandleExit(x)
		case f := <-e.reqs:
			f()
		}
	}
}
