package timeline_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/scenarios/timeline"
)

// TestMergeOneRunIsOneRun is a property test of the merge: check runs are
// reported by the agent (its own /proc view, within its poll error) and by
// zinit's last_check (mapped from its wall clock, skewed within the error
// it states, repeated by every status poll until the next run, and naming
// the run's pid or not), in any order. After the merge every run either
// source saw is there exactly once, and nothing else.
func TestMergeOneRunIsOneRun(t *testing.T) {
	const ms = int64(time.Millisecond)
	for trial := range 300 {
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		namesPID := trial%2 == 0
		type run struct {
			pid        int
			start, end int64
		}
		var runs []run
		at := int64(1000 * ms)
		for i := range 2 + rng.IntN(12) {
			d := int64(1+rng.IntN(300)) * ms
			runs = append(runs, run{pid: 500 + i, start: at, end: at + d})
			at += d + int64(200+rng.IntN(3000))*ms // an interval apart
		}
		var evs []scenarios.Event
		want := map[int]bool{}
		jitter := func(errNs int64) int64 { return rng.Int64N(2*errNs+1) - errNs }
		for _, r := range runs {
			agent := rng.IntN(10) < 7
			zinit := rng.IntN(10) < 8
			if !agent && !zinit {
				continue
			}
			want[r.pid] = true
			if agent {
				e := int64(5 * ms)
				evs = append(evs,
					scenarios.Event{TNs: r.start + jitter(e), ErrNs: e, Kind: scenarios.EventCheckSpawn, Service: "s", Job: "check", PID: r.pid},
					scenarios.Event{TNs: r.end + jitter(e), ErrNs: e, Kind: scenarios.EventCheckExit, Service: "s", Job: "check", PID: r.pid})
			}
			if zinit {
				e := int64(1+rng.IntN(20)) * ms
				ok := true
				pid := 0
				if namesPID {
					pid = r.pid
				}
				rep := scenarios.Event{TNs: r.end + jitter(e), ErrNs: e, DurNs: r.end - r.start, Kind: scenarios.EventCheckExit,
					Service: "s", Job: "check", PID: pid, OK: &ok, Source: scenarios.SourceZinitLastCheck, LastCheckAtMs: r.start / ms}
				for range 1 + rng.IntN(3) { // every poll until the next run repeats it
					evs = append(evs, rep)
				}
			}
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })

		out := timeline.Merge(evs)
		exits := map[int]int{}
		unnamed := 0
		for _, e := range out {
			if e.Kind != scenarios.EventCheckExit {
				continue
			}
			require.NotEqual(t, scenarios.SourceZinitLastCheck, e.Source == scenarios.SourceZinitLastCheck && e.PID == 0,
				"trial %d: a report left unmerged", trial)
			if e.PID < 0 {
				unnamed++
				continue
			}
			exits[e.PID]++
		}
		msg := fmt.Sprintf("trial %d (zinit names pids: %v)", trial, namesPID)
		if namesPID {
			assert.Zero(t, unnamed, msg)
			assert.Len(t, exits, len(want), msg)
			for pid, n := range exits {
				assert.Equal(t, 1, n, "%s: pid %d counted %d times", msg, pid, n)
				assert.True(t, want[pid], "%s: pid %d was never a run", msg, pid)
			}
		} else {
			assert.Equal(t, len(want), len(exits)+unnamed, "%s: every run once", msg)
		}
	}
}
