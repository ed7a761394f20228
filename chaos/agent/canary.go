package agent

import (
	"context"
	"slices"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// The timer-lateness canary (cyclictest's method): a thread waits for
// absolute CLOCK_MONOTONIC deadlines a period apart (a timerfd, on the
// exitWaker's thread) and records how late each wake-up comes. On an idle
// machine that is tens of microseconds; on a loaded one it is what every
// timer in the container suffers, the supervisor's restart delays
// included. The oracle reads it to tell a late supervisor from a late
// machine.

// defaultCanaryWindow is how long each canary event sums up; the ticks
// come every defaultTick (see exitWaker, whose thread runs the canary).
const defaultCanaryWindow = 250 * time.Millisecond

// canary folds tick lateness into one event per window. Its methods are
// the loop's synchronous steps; tests drive them with chosen instants.
type canary struct {
	window  int64   // ns
	start   int64   // the current window's start
	samples []int64 // lateness of its ticks, ns
}

// tick records one wake-up at now for a deadline due; it returns the
// window's event when now closes a window.
func (c *canary) tick(due, now int64) (scenarios.Event, bool) {
	if c.start == 0 {
		c.start = due
	}
	c.samples = append(c.samples, max(0, now-due))
	if now-c.start < c.window {
		return scenarios.Event{}, false
	}
	return c.flush(now), true
}

// flush makes the event of the window ending at now and starts the next.
func (c *canary) flush(now int64) scenarios.Event {
	ev := scenarios.Event{TNs: now, DurNs: now - c.start, Kind: scenarios.EventCanary, Ticks: len(c.samples)}
	if len(c.samples) > 0 {
		slices.Sort(c.samples)
		ev.LateMaxNs = c.samples[len(c.samples)-1]
		ev.LateP50Ns = c.samples[len(c.samples)/2]
	}
	c.start, c.samples = now, c.samples[:0]
	return ev
}

// Calibrate runs the canary alone for d and sums up the machine's timer
// lateness (scenarios.LoadOf of its windows, the first one left out: it
// holds the process's own start): what `--time-scale auto` picks a scale
// from.
func Calibrate(ctx context.Context, d time.Duration) *scenarios.Load {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := &canary{window: int64(defaultCanaryWindow)}
	var evs []scenarios.Event
	w, err := newExitWaker(MonoNow, defaultTick)
	if err != nil {
		return nil
	}
	defer w.close()
	stop := context.AfterFunc(ctx, w.shutdown)
	defer stop()
	w.run(nil, c, func(e scenarios.Event) { evs = append(evs, e) })
	if len(evs) > 1 {
		evs = evs[1:]
	}
	return scenarios.LoadOf(evs)
}
