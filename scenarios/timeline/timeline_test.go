package timeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/scenarios/timeline"
)

const ms = int64(time.Millisecond)

func ip(i int) *int   { return &i }
func bp(b bool) *bool { return &b }

func ev(atMs int64, kind scenarios.EventKind, svc, job string, pid int) scenarios.Event {
	return scenarios.Event{TNs: atMs * ms, Kind: kind, Service: svc, Job: job, PID: pid}
}

func TestBuildPairsIncarnations(t *testing.T) {
	kill := ev(300, scenarios.EventExit, "s", "main", 1)
	kill.Signal, kill.ErrNs = "SIGKILL", 2*ms
	late := ev(700, scenarios.EventExit, "s", "main", 2) // after its successor's spawn
	late.Code = ip(3)
	evs := []scenarios.Event{
		ev(600, scenarios.EventSpawn, "s", "main", 3), // out of order: Build sorts
		ev(100, scenarios.EventSpawn, "s", "main", 1),
		kill,
		ev(400, scenarios.EventSpawn, "s", "main", 2),
		late,
		ev(800, scenarios.EventExit, "s", "main", 0),  // pid unknown: the current one's
		ev(900, scenarios.EventExit, "s", "main", 9),  // nobody's
		ev(950, scenarios.EventSpawn, "s", "stop", 7), // another job's
		ev(990, scenarios.EventSpawn, "s", "main", 4),
	}
	s := timeline.Build(evs, map[string]timeline.Jobs{"s": {Start: "main"}}).Service("s")
	require.Len(t, s.Incarnations, 4)
	one, two, three, four := s.Incarnations[0], s.Incarnations[1], s.Incarnations[2], s.Incarnations[3]

	assert.Equal(t, 1, one.PID)
	assert.True(t, one.Exited)
	assert.False(t, one.ExitUnseen)
	assert.Equal(t, 300*ms, one.Exit)
	assert.Equal(t, 2*ms, one.ExitErr)
	assert.Equal(t, "SIGKILL", one.Signal)

	assert.True(t, two.Exited, "ended by its successor's spawn")
	assert.False(t, two.ExitUnseen, "then completed by its own late exit")
	assert.Equal(t, 700*ms, two.Exit)
	require.NotNil(t, two.Code)
	assert.Equal(t, 3, *two.Code)

	assert.True(t, three.Exited)
	assert.Equal(t, 800*ms, three.Exit, "an exit of unknown pid ends the current incarnation")
	assert.Equal(t, 1, s.OrphanExits)

	assert.Equal(t, 4, four.PID, "the stop job's process is not the service's")
	assert.False(t, four.Exited)
	assert.Equal(t, int64(5000), four.Until(5000))
}

func TestBuildUnseenExit(t *testing.T) {
	s := timeline.Build([]scenarios.Event{
		ev(100, scenarios.EventSpawn, "s", "main", 1),
		ev(200, scenarios.EventSpawn, "s", "main", 2),
	}, nil).Service("s")
	require.Len(t, s.Incarnations, 2)
	first := s.Incarnations[0]
	assert.True(t, first.Exited)
	assert.True(t, first.ExitUnseen)
	assert.Equal(t, 200*ms, first.Exit, "bounded by the next spawn")
	assert.Equal(t, 200*ms, first.Until(999*ms))
}

func TestBuildChecks(t *testing.T) {
	done := ev(130, scenarios.EventCheckExit, "s", "check", 40)
	done.Code, done.OK, done.ErrNs = ip(0), bp(true), ms
	evs := []scenarios.Event{
		ev(100, scenarios.EventCheckSpawn, "s", "check", 40),
		done,
		ev(150, scenarios.EventCheckExit, "s", "check", 41), // no run of that pid
		ev(200, scenarios.EventCheckSpawn, "s", "other", 42),
		ev(300, scenarios.EventCheckSpawn, "s", "check", 43),
	}
	s := timeline.Build(evs, map[string]timeline.Jobs{"s": {Check: "check"}}).Service("s")
	require.Len(t, s.Checks, 2, "another check job's run is not the service's")
	r := s.Checks[0]
	assert.Equal(t, 40, r.PID)
	assert.True(t, r.Ended)
	assert.Equal(t, 30*ms, r.Duration(0))
	assert.Equal(t, ms, r.EndErr)
	require.NotNil(t, r.OK)
	assert.False(t, s.Checks[1].Ended)
	assert.Equal(t, 100*ms, s.Checks[1].Duration(400*ms))

	all := timeline.Build(evs, nil).Service("s")
	assert.Len(t, all.Checks, 3, "with no selection, every check job")
}

func TestBuildStatesProbesAndScenarioWideEvents(t *testing.T) {
	st := func(atMs int64, state, reason string, restarts int) scenarios.Event {
		e := ev(atMs, scenarios.EventStatus, "s", "", 0)
		e.State, e.Reason, e.Restarts = state, reason, ip(restarts)
		return e
	}
	evs := []scenarios.Event{
		st(0, "running", "", 0),
		st(100, "restarting", "", 0),
		st(150, "restarting", "", 1), // the same state: one span
		st(300, "running", "", 1),
		st(400, "failed", "restart_limit", 3),
		{TNs: 50 * ms, Kind: scenarios.EventProbe, Service: "s", OK: bp(true)},
		{TNs: 60 * ms, Kind: scenarios.EventProbe, Service: "b", OK: bp(false)},
		{TNs: 70 * ms, Kind: scenarios.EventFault, Fault: "kill"},
		{TNs: 71 * ms, Kind: scenarios.EventEffect, Fault: "kill", OK: bp(true)},
		{TNs: 72 * ms, Kind: scenarios.EventAction, Detail: "stop"},
		{TNs: 73 * ms, Kind: scenarios.EventRevert, Fault: "hang"},
		{TNs: 80 * ms, Kind: scenarios.EventZombie, PID: 9, ZombieMs: 1200},
		{TNs: 90 * ms, Kind: scenarios.EventStray, PID: 8},
		{TNs: 95 * ms, Kind: scenarios.EventAgentStart},
	}
	tl := timeline.Build(evs, nil)
	var names []string
	for _, s := range tl.Services {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"b", "s"}, names, "sorted by name")

	s := tl.Service("s")
	assert.Len(t, s.Statuses, 5)
	require.Len(t, s.States, 4)
	assert.Equal(t, timeline.StateSpan{State: "running", Restarts: ip(0), From: 0, To: 100 * ms}, s.States[0])
	assert.Equal(t, "restarting", s.States[1].State)
	assert.Equal(t, 1, *s.States[1].Restarts, "the span's latest count")
	assert.Equal(t, 300*ms, s.States[1].To)
	last := s.States[3]
	assert.True(t, last.Open)
	assert.Equal(t, "restart_limit", last.Reason)
	assert.Equal(t, 500*ms, last.Until(500*ms))
	assert.Equal(t, 300*ms, s.States[1].Until(500*ms))

	require.Len(t, s.Probes, 1)
	assert.Len(t, tl.Service("b").Probes, 1)
	assert.Len(t, tl.Faults, 4, "fault, effect, action and revert")
	assert.Len(t, tl.Zombies, 1)
	assert.Len(t, tl.Strays, 1)

	none := tl.Service("nobody")
	assert.Equal(t, "nobody", none.Name)
	assert.Empty(t, none.Incarnations)
}

func TestCheckOutcome(t *testing.T) {
	const T = 100 * time.Millisecond
	run := func(durMs int64, code *int, sig string, ok *bool) *timeline.CheckRun {
		return &timeline.CheckRun{PID: 1, Start: 1000 * ms, Ended: true, End: (1000 + durMs) * ms, Code: code, Signal: sig, OK: ok}
	}
	for name, tc := range map[string]struct {
		run  *timeline.CheckRun
		want timeline.CheckOutcome
		at   int64
	}{
		"passed":                    {run(10, ip(0), "", bp(true)), timeline.CheckPassed, 0},
		"exit 1":                    {run(10, ip(1), "", nil), timeline.CheckFailed, 1010 * ms},
		"zinit's word only":         {run(10, nil, "", bp(false)), timeline.CheckFailed, 1010 * ms},
		"killed at T":               {run(100, nil, "SIGKILL", nil), timeline.CheckFailed, 1100 * ms},
		"gone at T, code unknown":   {run(99, nil, "", nil), timeline.CheckFailed, 1100 * ms},
		"outlived T":                {run(200, ip(0), "", nil), timeline.CheckFailed, 1100 * ms},
		"killed early: cleaned up":  {run(20, nil, "SIGKILL", bp(false)), timeline.CheckKilled, 0},
		"nothing known":             {run(20, nil, "", nil), timeline.CheckUnknown, 0},
		"ok without a code":         {run(20, nil, "", bp(true)), timeline.CheckUnknown, 0},
		"exit 0 at about T":         {run(100, ip(0), "", nil), timeline.CheckPassed, 0},
		"still running":             {&timeline.CheckRun{Start: 1000 * ms}, timeline.CheckRunning, 0},
		"still running, past T":     {&timeline.CheckRun{Start: 800 * ms}, timeline.CheckFailed, 900 * ms},
		"no timeout: only the code": {&timeline.CheckRun{Start: 0, Ended: true, End: 5000 * ms, Code: ip(0)}, timeline.CheckPassed, 0},
	} {
		timeout := T
		if name == "no timeout: only the code" {
			timeout = 0
		}
		o, at := tc.run.Outcome(timeout, timeline.Granularity, 1050*ms)
		assert.Equal(t, tc.want, o, name)
		assert.Equal(t, tc.at, at, name)
	}
	assert.Equal(t, "killed", timeline.CheckKilled.String())
	assert.Equal(t, "check-outcome(9)", timeline.CheckOutcome(9).String())
}
