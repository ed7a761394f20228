package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// eventKind is what happened to a service, as the state machine sees it.
type eventKind int

const (
	evStart        eventKind = iota + 1 // explicit start: zinit start/restart, boot, reload
	evDepsReady                         // every --after dependency is now running
	evExit                              // the start job's process exited (not during a stop)
	evSpawnFailed                       // the start job's exec could not be spawned
	evRestartDue                        // restart-delay elapsed after an exit
	evStop                              // stop requested
	evStopJobsDone                      // every stop job ended or was killed at its timeout
	evStopTimeout                       // StopTimeout elapsed after SIGTERM
	evCheckFailed                       // a check run failed (non-zero exit or timeout)
)

var eventNames = map[eventKind]string{
	evStart: "start", evDepsReady: "deps-ready", evExit: "exit", evSpawnFailed: "spawn-failed",
	evRestartDue: "restart-due", evStop: "stop", evStopJobsDone: "stop-jobs-done",
	evStopTimeout: "stop-timeout", evCheckFailed: "check-failed",
}

func (k eventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// event carries what transition needs to decide; the engine fills the
// fields that matter for the kind.
type event struct {
	kind eventKind

	hasStartJob bool // evStart, evDepsReady: the service has a start job
	depsReady   bool // evStart: every --after dependency is running
	hasStopJobs bool // evStop: stop jobs run before SIGTERM

	// evExit
	failed  bool                // exit code != 0, death by signal, or a kill by a failed check
	oneshot bool                // a legacy oneshot service: never restarted
	policy  zinit.RestartPolicy // the start job's policy
	used    int                 // automatic restarts used since the last explicit start
	max     int                 // N; 0 means unlimited
	delay   time.Duration       // d
}

// actionKind is a side effect the engine performs after a transition.
type actionKind int

const (
	actSpawn           actionKind = iota + 1 // spawn the start job (a new incarnation: fresh check state)
	actResetRestarts                         // explicit start: N fresh restarts, reason cleared
	actCountRestart                          // one automatic restart used
	actScheduleRestart                       // arm the restart timer at action.at
	actCancelRestart                         // disarm the restart timer
	actRunStopJobs                           // spawn the stop jobs; evStopJobsDone when all ended
	actTerm                                  // SIGTERM (+SIGCONT) the start group; SIGKILL timer at action.at
	actKill                                  // SIGKILL the start group
	actCancelStopTimer                       // disarm the SIGKILL timer
	actSetReason                             // record action.reason (failed)
)

// action is one side effect of a transition.
type action struct {
	kind   actionKind
	at     time.Time // actScheduleRestart, actTerm
	reason string    // actSetReason
}

// errIllegalTransition is wrapped when an event cannot happen in a state: a
// bug in the engine, never a user error.
var errIllegalTransition = errors.New("illegal transition")

// transition is the whole state machine of a service: given the current
// state and an event at now, the next state and the side effects to apply,
// in order. It is pure; every edge is commented. Edges not listed are
// illegal and rejected.
func transition(from zinit.State, ev event, now time.Time) (zinit.State, []action, error) {
	switch from {
	case zinit.StateInactive, zinit.StateFailed:
		switch ev.kind {
		case evStart:
			// inactive|failed → start: N fresh restarts; then blocked, running or,
			// with no start job, straight back to inactive [pin].
			return startEdge(ev)
		case evStop:
			// Nothing runs. A failed service stays failed: sticky until start.
			return from, nil, nil
		case evRestartDue:
			if mutant("stop-keeps-restart") {
				// The timer a stop left armed still respawns.
				return zinit.StateRunning, []action{{kind: actCountRestart}, {kind: actSpawn}}, nil
			}
		}
	case zinit.StateBlocked:
		switch ev.kind {
		case evStart:
			// Already waiting for its dependencies; the counter is reset again
			// (this is an explicit start).
			return zinit.StateBlocked, []action{{kind: actResetRestarts}}, nil
		case evDepsReady:
			if !ev.hasStartJob {
				// The start job was removed while waiting: nothing to run.
				return zinit.StateInactive, nil, nil
			}
			// Every dependency is running: spawn.
			return zinit.StateRunning, []action{{kind: actSpawn}}, nil
		case evStop:
			// Nothing was spawned: the start request is dropped.
			return zinit.StateInactive, nil, nil
		}
	case zinit.StateRunning:
		switch ev.kind {
		case evStart:
			// Already running: idempotent, the counter is not reset.
			return zinit.StateRunning, nil, nil
		case evExit:
			return exitEdge(ev, now)
		case evSpawnFailed:
			// The exec could not be spawned: give up [job model: failed].
			return zinit.StateFailed, []action{{kind: actSetReason, reason: zinit.ReasonSpawnError}}, nil
		case evStop:
			if ev.hasStopJobs {
				// Stop jobs run first; SIGTERM follows evStopJobsDone.
				return zinit.StateStopping, []action{{kind: actRunStopJobs}}, nil
			}
			// No stop jobs: SIGTERM now, SIGKILL after StopTimeout.
			return zinit.StateStopping, []action{{kind: actTerm, at: now.Add(zinit.StopTimeout)}}, nil
		case evCheckFailed:
			if mutant("check-no-kill") {
				return zinit.StateRunning, nil, nil
			}
			// One failed check run is enough: SIGKILL the start group at once. The
			// exit that follows is a failure and goes through the restart policy.
			return zinit.StateRunning, []action{{kind: actKill}}, nil
		}
	case zinit.StateRestarting:
		switch ev.kind {
		case evRestartDue:
			// restart-delay elapsed: respawn (dependencies are not re-checked).
			// The restart is counted here, when it happens, so a restart that a
			// stop cancelled is never reported (C1).
			return zinit.StateRunning, []action{{kind: actCountRestart}, {kind: actSpawn}}, nil
		case evStop:
			if mutant("stop-keeps-restart") {
				return zinit.StateInactive, nil, nil
			}
			// A stop during the delay cancels the pending restart (R4).
			return zinit.StateInactive, []action{{kind: actCancelRestart}}, nil
		case evStart:
			// An explicit start during the delay: spawn now with N fresh restarts.
			return zinit.StateRunning, []action{{kind: actCancelRestart}, {kind: actResetRestarts}, {kind: actSpawn}}, nil
		}
	case zinit.StateStopping:
		switch ev.kind {
		case evStopJobsDone:
			// Stop jobs are over: SIGTERM, SIGKILL after StopTimeout.
			return zinit.StateStopping, []action{{kind: actTerm, at: now.Add(zinit.StopTimeout)}}, nil
		case evStopTimeout:
			// SIGTERM was not enough within StopTimeout.
			return zinit.StateStopping, []action{{kind: actKill}}, nil
		case evExit:
			if mutant("stop-is-failure") {
				// The stop completes (its waiters are told), then its exit goes
				// through the restart policy as a failure.
				ev.failed = true
				to, acts, err := exitEdge(ev, now)
				return to, append([]action{{kind: actCancelStopTimer}}, acts...), err
			}
			// The process is gone: a stop is not a failure (R3), no restart.
			return zinit.StateInactive, []action{{kind: actCancelStopTimer}}, nil
		case evStop:
			// Already stopping.
			return zinit.StateStopping, nil, nil
		case evCheckFailed:
			// Checks are cancelled on leaving running; a late result changes nothing.
			return zinit.StateStopping, nil, nil
		}
	}
	return from, nil, fmt.Errorf("%w: %s in state %s", errIllegalTransition, ev.kind, from)
}

// startEdge is an explicit start of a service that is not running.
func startEdge(ev event) (zinit.State, []action, error) {
	acts := []action{{kind: actResetRestarts}}
	switch {
	case !ev.hasStartJob:
		// A service with no start job goes inactive immediately [pin].
		return zinit.StateInactive, acts, nil
	case !ev.depsReady:
		// Wait for every --after dependency to be running.
		return zinit.StateBlocked, acts, nil
	}
	return zinit.StateRunning, append(acts, action{kind: actSpawn}), nil
}

// exitEdge applies the restart policy to an exit that no stop caused.
func exitEdge(ev event, now time.Time) (zinit.State, []action, error) {
	restart := ev.policy.ShouldRestart(ev.failed)
	switch {
	case mutant("exit0-restarted") && ev.policy == zinit.RestartOnFailure:
		restart = true
	case mutant("always-ignores-exit0") && ev.policy == zinit.RestartAlways:
		restart = ev.failed
	}
	limit := ev.max
	if mutant("limit-off-by-one") && limit > 0 {
		limit++
	}
	switch {
	case ev.oneshot:
		// A legacy oneshot runs once.
		return zinit.StateInactive, nil, nil
	case !restart:
		// never, or on-failure after exit 0: nothing restarts it (the seed's
		// "marks it inactive and nothing restarts it").
		return zinit.StateInactive, nil, nil
	case limit > 0 && ev.used >= limit:
		if mutant("limit-reason-missing") {
			return zinit.StateFailed, nil, nil
		}
		// The exit that would need restart N+1: give up (R5, R6).
		return zinit.StateFailed, []action{{kind: actSetReason, reason: zinit.ReasonRestartLimit}}, nil
	}
	// A restart is due exactly d after the exit: fixed delay, no backoff (R1).
	at := now.Add(ev.delay)
	switch {
	case mutant("restart-early"):
		at = now.Add(ev.delay / 2)
	case mutant("restart-no-delay"):
		at = now
	case mutant("restart-slightly-early"):
		at = now.Add(ev.delay * 9 / 10)
	}
	return zinit.StateRestarting, []action{{kind: actScheduleRestart, at: at}}, nil
}
