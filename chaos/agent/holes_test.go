package agent

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// TestSpawnCounterFindsHoles: execs of a start job's binary that the
// scanner never saw are reported once the grace has passed, as many as
// were missed, and only once.
func TestSpawnCounterFindsHoles(t *testing.T) {
	bin, err := exec.LookPath("true")
	require.NoError(t, err)
	jobs := []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: bin + " --crash"}}
	c, err := newSpawnCounter(jobs, []execMatcher{newExecMatcher(jobs[0].Exec)}, MonoNow)
	require.NoError(t, err)
	require.NotNil(t, c)
	done := make(chan struct{})
	go func() { defer close(done); c.run() }()
	defer func() { c.close(); <-done }()

	for range 5 {
		require.NoError(t, exec.Command(bin).Run()) // each lives a millisecond: no scan sees it
	}
	c.saw(0, MonoNow()) // the scanner saw one of them
	assert.Empty(t, c.holes(jobs, MonoNow()), "within the grace nothing is missed yet")
	// The counter reads inotify on its own goroutine: on a loaded machine
	// the five execs may reach it in more than one batch, so the holes are
	// summed until the four misses are all counted.
	var holes []scenarios.Event
	missed := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, zinit.PollUntil(ctx, clock.RealClock{}, 20*time.Millisecond, func(context.Context) (bool, error) {
		for _, h := range c.holes(jobs, MonoNow()+int64(holeGrace)) { // as if the grace had passed
			holes = append(holes, h)
			missed += h.Missed
		}
		return missed >= 4, nil
	}))
	require.NotEmpty(t, holes)
	assert.Equal(t, scenarios.EventHole, holes[0].Kind)
	assert.Equal(t, "svc", holes[0].Service)
	assert.Equal(t, 4, missed)
	assert.Empty(t, c.holes(jobs, MonoNow()+int64(holeGrace)), "reported once")
	c.saw(0, c.since-1)
	assert.Empty(t, c.holes(jobs, MonoNow()+int64(holeGrace)), "a spawn from before the watch counts for nothing")
}
