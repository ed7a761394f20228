package timeline_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/scenarios/timeline"
)

// Merge sorts the events and applies both of zinit's reports: a status
// naming a new last exit completes the code-less exit, and a last_check
// nobody saw becomes a run of its own, marked as zinit's.
func TestMerge(t *testing.T) {
	two, no := 2, false
	evs := []scenarios.Event{
		{TNs: 5000, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", OK: &no, Code: &two, DurNs: 1000, ErrNs: 100,
			Source: scenarios.SourceZinitLastCheck, LastCheckAtMs: 7},
		{TNs: 300, Kind: scenarios.EventStatus, Service: "s", Code: &two, LastExitAtMs: 9},
		{TNs: 200, Kind: scenarios.EventExit, Service: "s", Job: "main", PID: 4},
		{TNs: 100, Kind: scenarios.EventSpawn, Service: "s", Job: "main", PID: 4},
	}
	out := timeline.Merge(evs)
	var kinds []scenarios.EventKind
	for i, e := range out {
		kinds = append(kinds, e.Kind)
		if i > 0 {
			assert.LessOrEqual(t, out[i-1].TNs, e.TNs, "sorted")
		}
	}
	assert.Equal(t, []scenarios.EventKind{scenarios.EventSpawn, scenarios.EventExit, scenarios.EventStatus,
		scenarios.EventCheckSpawn, scenarios.EventCheckExit}, kinds)
	require.NotNil(t, out[1].Code)
	assert.Equal(t, 2, *out[1].Code, "the exit's code from zinit's last_exit")
	run := out[3:]
	assert.Equal(t, int64(4000), run[0].TNs, "the run began DurNs before its report")
	assert.Equal(t, run[0].PID, run[1].PID)
	assert.Negative(t, run[1].PID)
	assert.Equal(t, scenarios.SourceZinitLastCheck, run[0].Source)
	assert.Equal(t, scenarios.SourceZinitLastCheck, run[1].Source)
	assert.Equal(t, int64(7), run[1].LastCheckAtMs)
}
