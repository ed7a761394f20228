package timeline

import (
	"fmt"
	"sort"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// Jobs names the jobs whose events are a service's main processes (Start)
// and its check runs (Check). An empty name matches any job, as for a
// legacy service, whose job names the agent cannot know; an event with no
// job name matches any selection.
type Jobs struct {
	Start string
	Check string
}

func (j Jobs) start(ev *scenarios.Event) bool {
	return j.Start == "" || ev.Job == "" || ev.Job == j.Start
}
func (j Jobs) check(ev *scenarios.Event) bool {
	return j.Check == "" || ev.Job == "" || ev.Job == j.Check
}

// Incarnation is one life of a service's main process, from its spawn to
// its exit. Times are the events' TNs, errors their ErrNs.
type Incarnation struct {
	PID, PGID int
	Spawn     int64
	SpawnErr  int64
	// Exited says the incarnation is over: its exit was seen, or a
	// successor's spawn was (ExitUnseen). Exit and ExitErr hold only then.
	Exited bool
	// ExitUnseen: a new spawn came before this one's exit; Exit is that
	// spawn's time, a bound, until the exit itself shows up (it then
	// completes the incarnation and ExitUnseen is false again).
	ExitUnseen bool
	Exit       int64
	ExitErr    int64
	Code       *int   // exit code, when known
	Signal     string // terminating signal, when known
}

// Until is when the incarnation ended, or end when it had not.
func (in *Incarnation) Until(end int64) int64 {
	if in.Exited {
		return in.Exit
	}
	return end
}

// CheckRun is one run of a service's check job, from its spawn to its
// exit. A negative PID is a run only zinit reported (see Merge).
type CheckRun struct {
	PID      int
	Job      string
	Start    int64
	StartErr int64
	Ended    bool // its exit was seen; End and EndErr hold only then
	End      int64
	EndErr   int64
	Code     *int   // exit code, when known
	Signal   string // terminating signal, when known
	OK       *bool  // the supervisor's word on the run (zinit's last_check), when known
}

// Duration is how long the run lasted, or had lasted by end when it had
// not ended.
func (r *CheckRun) Duration(end int64) int64 {
	if r.Ended {
		return r.End - r.Start
	}
	return end - r.Start
}

// Granularity is the pinned tolerance of a timeline's instants beyond
// their own errors: the oracle's default Params.Granularity, and what the
// reports use to tell a check run's outcome.
const Granularity = 5 * time.Millisecond

// CheckOutcome is how a check run went.
type CheckOutcome int

const (
	CheckUnknown CheckOutcome = iota // ended, and nothing says how
	CheckRunning                     // not over by the end of observation, not past its timeout
	CheckPassed                      // exited 0, in time
	CheckFailed                      // timed out, exited non-zero, or zinit said it failed
	CheckKilled                      // killed by a signal before its timeout: cleaned up (its service died), not a failure
)

var checkOutcomeNames = [...]string{"unknown", "running", "passed", "failed", "killed"}

func (o CheckOutcome) String() string {
	if o >= 0 && int(o) < len(checkOutcomeNames) {
		return checkOutcomeNames[o]
	}
	return fmt.Sprintf("check-outcome(%d)", int(o))
}

// Outcome says how the run went for a check job with the given timeout T
// (0: none), and, for a failure, when it failed. A run failed when it
// timed out, at Start + T: it outlived T, or it was gone at about T
// without having exited 0 by itself; when it exited non-zero, at End; or
// when zinit said it failed with no code or signal to tell, at End. "About"
// is within the granularity plus the run's two errors. end is when
// observation stopped, for a run still going. A run killed early by a
// signal was cleaned up with its service: it did not fail.
func (r *CheckRun) Outcome(timeout, granularity time.Duration, end int64) (CheckOutcome, int64) {
	T := int64(timeout)
	tol := int64(granularity) + r.StartErr + r.EndErr
	dur := r.Duration(end)
	if T > 0 {
		if dur > T+tol {
			return CheckFailed, r.Start + T // outlived T
		}
		if dur >= T-tol && (r.Signal != "" || r.Code == nil || *r.Code != 0) {
			return CheckFailed, r.Start + T // killed for its timeout
		}
	}
	switch {
	case !r.Ended:
		return CheckRunning, 0
	case r.Signal != "":
		return CheckKilled, 0
	case r.Code != nil && *r.Code != 0:
		return CheckFailed, r.End
	case r.Code != nil:
		return CheckPassed, 0
	case r.OK != nil && !*r.OK:
		return CheckFailed, r.End // the supervisor's word, naming no code
	}
	return CheckUnknown, 0
}

// StateSpan is a stretch of time over which zinit reported one state (and
// reason) for a service: from its first report to the first report of
// another. The last span is Open: it lasts until observation stopped.
type StateSpan struct {
	State    string
	Reason   string
	Restarts *int // the restart count of the span's latest report
	From, To int64
	Open     bool
}

// Until is when the span ended, or end when it is open.
func (s StateSpan) Until(end int64) int64 {
	if s.Open {
		return end
	}
	return s.To
}

// Service is the timeline of one service.
type Service struct {
	Name         string
	Incarnations []*Incarnation     // its main processes, by spawn
	Checks       []*CheckRun        // its check runs, by start
	Probes       []*scenarios.Event // the agent's probes of it
	Statuses     []*scenarios.Event // zinit's status reports of it
	States       []StateSpan        // Statuses as spans of one state
	// OrphanExits counts exits of main processes no incarnation claimed.
	OrphanExits int

	open     *Incarnation      // the incarnation not known to be over
	openRuns map[int]*CheckRun // check runs by pid, until their exit
}

// Timeline is a scenario's events folded into one model. Every event
// list is in time order and points into the events given to Build:
// readers must not change them.
type Timeline struct {
	// Services holds a Service for every service an event of a service
	// kind (OfService) named, sorted by name; events that name none make
	// the service "".
	Services []*Service
	// Faults are what the harness did: fault, effect, revert and action
	// events.
	Faults  []*scenarios.Event
	Zombies []*scenarios.Event
	Strays  []*scenarios.Event

	byName map[string]*Service
}

// OfService says whether Build files events of kind k under their
// service: spawn, exit, check_spawn, check_exit, probe and status.
func OfService(k scenarios.EventKind) bool {
	switch k {
	case scenarios.EventSpawn, scenarios.EventExit, scenarios.EventCheckSpawn, scenarios.EventCheckExit,
		scenarios.EventProbe, scenarios.EventStatus:
		return true
	}
	return false
}

// Service returns the timeline of the named service; one with no event
// when no event named it.
func (t *Timeline) Service(name string) *Service {
	if s := t.byName[name]; s != nil {
		return s
	}
	return &Service{Name: name}
}

// Build folds a scenario's events into its timeline. The events may come
// in any order: Build reads them by time, stably, and never changes them.
// jobs selects, per service, the jobs whose events are its main processes
// and check runs; a service not in it takes any job.
//
// The pairing rules, which every reader shares:
//   - a spawn of the start job begins an incarnation, and ends the one
//     before it when that one's exit was not seen yet (ExitUnseen);
//   - an exit ends the current incarnation when the pids agree (or either
//     is unknown, 0); else it completes an earlier incarnation of that pid
//     whose exit was unseen; else it is an orphan;
//   - a check_spawn of the check job begins a run; a check_exit ends the
//     open run of its pid, and is ignored when there is none;
//   - consecutive status reports of the same state and reason make one
//     StateSpan.
func Build(evs []scenarios.Event, jobs map[string]Jobs) *Timeline {
	sorted := make([]*scenarios.Event, len(evs))
	for i := range evs {
		sorted[i] = &evs[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].TNs < sorted[j].TNs })
	t := &Timeline{byName: map[string]*Service{}}
	svc := func(name string) *Service {
		s := t.byName[name]
		if s == nil {
			s = &Service{Name: name, openRuns: map[int]*CheckRun{}}
			t.byName[name] = s
			t.Services = append(t.Services, s)
		}
		return s
	}
	for _, ev := range sorted {
		switch ev.Kind {
		case scenarios.EventSpawn:
			if jobs[ev.Service].start(ev) {
				svc(ev.Service).spawn(ev)
			}
		case scenarios.EventExit:
			if jobs[ev.Service].start(ev) {
				svc(ev.Service).exit(ev)
			}
		case scenarios.EventCheckSpawn:
			if jobs[ev.Service].check(ev) {
				s := svc(ev.Service)
				r := &CheckRun{PID: ev.PID, Job: ev.Job, Start: ev.TNs, StartErr: ev.ErrNs}
				s.Checks = append(s.Checks, r)
				s.openRuns[ev.PID] = r
			}
		case scenarios.EventCheckExit:
			if s := t.byName[ev.Service]; s != nil && s.openRuns[ev.PID] != nil {
				r := s.openRuns[ev.PID]
				delete(s.openRuns, ev.PID)
				r.Ended, r.End, r.EndErr, r.Code, r.Signal, r.OK = true, ev.TNs, ev.ErrNs, ev.Code, ev.Signal, ev.OK
			}
		case scenarios.EventProbe:
			s := svc(ev.Service)
			s.Probes = append(s.Probes, ev)
		case scenarios.EventStatus:
			svc(ev.Service).status(ev)
		case scenarios.EventFault, scenarios.EventEffect, scenarios.EventRevert, scenarios.EventAction:
			t.Faults = append(t.Faults, ev)
		case scenarios.EventZombie:
			t.Zombies = append(t.Zombies, ev)
		case scenarios.EventStray:
			t.Strays = append(t.Strays, ev)
		}
	}
	sort.Slice(t.Services, func(i, j int) bool { return t.Services[i].Name < t.Services[j].Name })
	for _, s := range t.Services {
		s.open, s.openRuns = nil, nil
	}
	return t
}

func (s *Service) spawn(ev *scenarios.Event) {
	if o := s.open; o != nil {
		o.Exited, o.ExitUnseen, o.Exit = true, true, ev.TNs
	}
	s.open = &Incarnation{PID: ev.PID, PGID: ev.PGID, Spawn: ev.TNs, SpawnErr: ev.ErrNs}
	s.Incarnations = append(s.Incarnations, s.open)
}

func (s *Service) exit(ev *scenarios.Event) {
	if o := s.open; o != nil && (ev.PID == 0 || o.PID == 0 || o.PID == ev.PID) {
		o.Exited, o.Exit, o.ExitErr, o.Code, o.Signal = true, ev.TNs, ev.ErrNs, ev.Code, ev.Signal
		s.open = nil
		return
	}
	// The exit of a process whose successor was seen first.
	for i := len(s.Incarnations) - 1; i >= 0; i-- {
		if o := s.Incarnations[i]; o.ExitUnseen && o.PID == ev.PID {
			o.ExitUnseen = false
			o.Exit, o.ExitErr, o.Code, o.Signal = ev.TNs, ev.ErrNs, ev.Code, ev.Signal
			return
		}
	}
	s.OrphanExits++
}

func (s *Service) status(ev *scenarios.Event) {
	s.Statuses = append(s.Statuses, ev)
	if n := len(s.States); n > 0 {
		last := &s.States[n-1]
		if last.State == ev.State && last.Reason == ev.Reason {
			last.Restarts = ev.Restarts
			return
		}
		last.To, last.Open = ev.TNs, false
	}
	s.States = append(s.States, StateSpan{State: ev.State, Reason: ev.Reason, Restarts: ev.Restarts, From: ev.TNs, Open: true})
}
