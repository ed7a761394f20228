package timeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

const ms1 = int64(time.Millisecond)

func TestFillExitStatusFromZinit(t *testing.T) {
	three := 3
	evs := []scenarios.Event{
		{TNs: 100, Kind: scenarios.EventExit, Service: "s", PID: 1, ErrNs: 10},
		{TNs: 95, Kind: scenarios.EventStatus, Service: "s", Code: &three, LastExitAtMs: 5, ErrNs: 1}, // overlaps the exit
		{TNs: 97, Kind: scenarios.EventProbe, Service: "s"},                                           // not an exit: does not end the search
		{TNs: 200, Kind: scenarios.EventExit, Service: "s", PID: 2, Signal: "SIGKILL"},                // read by the agent itself
		{TNs: 210, Kind: scenarios.EventStatus, Service: "s", Signal: "SIGTERM", LastExitAtMs: 6},
		{TNs: 300, Kind: scenarios.EventExit, Service: "s", PID: 3},
		{TNs: 310, Kind: scenarios.EventStatus, Service: "s", Signal: "SIGTERM", LastExitAtMs: 6, Detail: "unchanged"},
	}
	sortByTime(evs)
	fillExitStatus(evs)
	byPID := map[int]scenarios.Event{}
	for _, e := range evs {
		if e.Kind == scenarios.EventExit {
			byPID[e.PID] = e
		}
	}
	require.NotNil(t, byPID[1].Code)
	assert.Equal(t, 3, *byPID[1].Code)
	assert.Contains(t, byPID[1].Detail, "from zinit status")
	assert.Equal(t, "SIGKILL", byPID[2].Signal, "what the agent read is kept")
	assert.Nil(t, byPID[3].Code, "no new last exit reported: stays unknown")
	assert.Empty(t, byPID[3].Signal)
}

func TestFillCheckStatusFromLastCheck(t *testing.T) {
	one, zero := 1, 0
	no, yes := false, true
	evs := []scenarios.Event{
		// A run the agent saw, without its exit code; zinit says it passed.
		{TNs: 1000 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckSpawn, Service: "s", Job: "check", PID: 40},
		{TNs: 1010 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", PID: 40},
		{TNs: 1008 * ms1, ErrNs: ms1, DurNs: 9 * ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", OK: &yes, Code: &zero,
			Source: scenarios.SourceZinitLastCheck, LastCheckAtMs: 1, Detail: "zinit last_check"},
		// Another kind of event between them does not end the search.
		{TNs: 1009*ms1 + ms1/2, Kind: scenarios.EventProbe, Service: "s", OK: &yes},
		// A 1 ms run the agent missed; zinit says exit code 1.
		{TNs: 2001 * ms1, ErrNs: ms1, DurNs: ms1, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", OK: &no, Code: &one,
			Source: scenarios.SourceZinitLastCheck, LastCheckAtMs: 2, Detail: "zinit last_check: exit code 1"},
		{TNs: 2003 * ms1, ErrNs: 5 * ms1, Kind: scenarios.EventExit, Service: "s", Job: "main", PID: 10, Signal: "SIGKILL"},
	}
	sortByTime(evs)
	out := fillCheckStatus(evs)
	var runs []scenarios.Event
	for _, e := range out {
		if e.Kind == scenarios.EventCheckSpawn || e.Kind == scenarios.EventCheckExit {
			runs = append(runs, e)
		}
	}
	require.Len(t, runs, 4, "the derived event of the seen run is merged, the missed run is made whole")
	assert.Equal(t, 40, runs[1].PID)
	require.NotNil(t, runs[1].Code)
	assert.Equal(t, 0, *runs[1].Code)
	assert.Equal(t, 1010*ms1, runs[1].TNs, "the agent's own timing is kept")
	assert.Contains(t, runs[1].Detail, "zinit last_check")
	assert.Equal(t, scenarios.EventCheckSpawn, runs[2].Kind)
	assert.Less(t, runs[2].PID, 0, "a run nobody saw has no pid")
	assert.Equal(t, runs[2].PID, runs[3].PID)
	assert.Equal(t, 2000*ms1, runs[2].TNs)
	assert.Equal(t, 2001*ms1, runs[3].TNs)
	assert.Equal(t, ms1, runs[3].ErrNs)
	require.NotNil(t, runs[3].Code)
	assert.Equal(t, 1, *runs[3].Code)

}
