package agent

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

func TestCanaryWindows(t *testing.T) {
	const ms = int64(time.Millisecond)
	c := &canary{window: 100 * ms}
	var evs []scenarios.Event
	// Ten ticks due every 10 ms from 1000 ms, on time but for one 40 ms late.
	for i := int64(0); i < 10; i++ {
		due := 1000*ms + i*10*ms
		late := int64(50_000) // 50 µs
		if i == 3 {
			late = 40 * ms
		}
		if ev, ok := c.tick(due, due+late); ok {
			evs = append(evs, ev)
		}
	}
	ev, ok := c.tick(1100*ms, 1100*ms+50_000)
	require.True(t, ok, "the tick past the window closes it")
	evs = append(evs, ev)
	require.Len(t, evs, 1)
	assert.Equal(t, scenarios.EventCanary, evs[0].Kind)
	assert.Equal(t, 11, evs[0].Ticks)
	assert.Equal(t, 40*ms, evs[0].LateMaxNs)
	assert.Equal(t, int64(50_000), evs[0].LateP50Ns)
	assert.Equal(t, 1100*ms+50_000, evs[0].TNs)
	assert.Equal(t, 100*ms+50_000, evs[0].DurNs, "the window runs from the first tick's deadline")
}

// TestCanaryLoopMeasures runs the real loop (the exit waker's thread)
// briefly: it emits windows of ticks whose lateness is never negative.
func TestCanaryLoopMeasures(t *testing.T) {
	c := &canary{window: int64(30 * time.Millisecond)}
	w, err := newExitWaker(MonoNow, 2*time.Millisecond)
	require.NoError(t, err)
	defer w.close()
	evs := make(chan scenarios.Event, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(nil, c, func(e scenarios.Event) {
			select {
			case evs <- e:
			default:
			}
		})
	}()
	var ev scenarios.Event
	select {
	case ev = <-evs:
	case <-time.After(10 * time.Second):
		t.Fatal("no canary window in 10 s")
	}
	w.shutdown()
	<-done
	assert.Positive(t, ev.Ticks)
	assert.GreaterOrEqual(t, ev.LateP50Ns, int64(0))
	assert.GreaterOrEqual(t, ev.LateMaxNs, ev.LateP50Ns)
}

// TestCalibrateMeasures: Calibrate sums up the canary's windows.
func TestCalibrateMeasures(t *testing.T) {
	load := Calibrate(context.Background(), time.Second)
	require.NotNil(t, load)
	assert.Positive(t, load.Windows)
}
