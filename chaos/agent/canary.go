package agent

import (
	"context"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/scenarios"
)

// The timer-lateness canary (cyclictest's method): a thread sleeps until
// absolute CLOCK_MONOTONIC deadlines a period apart and records how late
// each wake-up comes. On an idle machine that is tens of microseconds; on a
// loaded one it is what every timer in the container suffers, the
// supervisor's restart delays included. The oracle reads it to tell a late
// supervisor from a late machine.
const (
	defaultCanaryPeriod = 10 * time.Millisecond  // one wake-up every period
	defaultCanaryWindow = 250 * time.Millisecond // one canary event per window
)

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

// loop runs the canary until ctx ends, on a thread of its own (the Go
// scheduler's own lateness would otherwise hide in the figure). A tick
// later than a whole period skips the deadlines it missed: one late
// wake-up is recorded once, with its full lateness.
func (c *canary) loop(ctx context.Context, period time.Duration, mono Mono, emit func(scenarios.Event)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := int64(period)
	due := mono() + p
	for ctx.Err() == nil {
		ts := unix.NsecToTimespec(due)
		for {
			err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
			if err != unix.EINTR {
				break
			}
		}
		now := mono()
		if ev, ok := c.tick(due, now); ok {
			emit(ev)
		}
		due += p
		if due <= now {
			due = now + p - (now-due)%p
		}
	}
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
	c.loop(ctx, defaultCanaryPeriod, MonoNow, func(e scenarios.Event) { evs = append(evs, e) })
	if len(evs) > 1 {
		evs = evs[1:]
	}
	return scenarios.LoadOf(evs)
}
