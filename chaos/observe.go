package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/scenarios/timeline"
)

// ErrAgentGone is returned by a wait when the watching agent's stream ended
// and no other is attached.
var ErrAgentGone = errors.New("agent stream ended")

// observer collects the events of one scenario attempt: the watching
// agent's stream (re-attached after a supervisor restart) and the faults'
// events. Waiters are woken on every new event.
type observer struct {
	mu      sync.Mutex
	events  []scenarios.Event
	changed chan struct{} // closed and replaced on every change
	streams int           // attached agent streams
	lastErr error         // why the last stream ended
	wg      sync.WaitGroup
}

func newObserver() *observer { return &observer{changed: make(chan struct{})} }

func (o *observer) add(evs ...scenarios.Event) {
	if len(evs) == 0 {
		return
	}
	o.mu.Lock()
	o.events = append(o.events, evs...)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

// snapshot returns the events so far (shared: do not modify), the channel
// closed on the next change, and whether any agent stream is attached.
func (o *observer) snapshot() ([]scenarios.Event, <-chan struct{}, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.events[:len(o.events):len(o.events)], o.changed, o.streams > 0, o.lastErr
}

// attach reads an agent stream in a goroutine (owned by the observer,
// waited by wait) until it ends; the reader is closed then.
func (o *observer) attach(rc io.ReadCloser) {
	o.mu.Lock()
	o.streams++
	o.mu.Unlock()
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		err := agent.ReadEvents(rc, func(e scenarios.Event) { o.add(e) })
		_ = rc.Close()
		o.mu.Lock()
		o.streams--
		if err == nil {
			err = io.EOF
		}
		o.lastErr = err
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
	}()
}

// wait blocks until every attached stream's reader has ended (their
// contexts must have been cancelled, or their processes ended).
func (o *observer) wait() { o.wg.Wait() }

// waitDetached waits until no agent stream is attached (after the
// container's PID 1 was restarted, the old agent's stream ends).
func (o *observer) waitDetached(ctx context.Context, clk clock.Clock, timeout time.Duration) error {
	timer := clk.NewTimer(timeout)
	defer timer.Stop()
	for {
		_, changed, attached, _ := o.snapshot()
		if !attached {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the old agent to end: %w", ctx.Err())
		case <-timer.C():
			return fmt.Errorf("waiting for the old agent to end after %v: %w", timeout, ErrConditionTimeout)
		case <-changed:
		}
	}
}

// ErrConditionTimeout is returned by waitFor when the condition did not
// hold in time.
var ErrConditionTimeout = errors.New("condition not reached")

// waitFor waits until cond holds on the events, ctx ends (its error,
// wrapped), the timeout passes on clk (ErrConditionTimeout), or the agent
// stream has ended with no other attached (ErrAgentGone) — unless
// allowDetached, for the moments a re-attach is pending. It never sleeps:
// it wakes on events.
func (o *observer) waitFor(ctx context.Context, clk clock.Clock, timeout time.Duration, what string,
	cond func(evs []scenarios.Event) bool) error {
	timer := clk.NewTimer(timeout)
	defer timer.Stop()
	for {
		evs, changed, attached, lastErr := o.snapshot()
		if cond(evs) {
			return nil
		}
		if !attached {
			return fmt.Errorf("waiting for %s: %w (%v)", what, ErrAgentGone, lastErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-timer.C():
			return fmt.Errorf("waiting for %s after %v: %w", what, timeout, ErrConditionTimeout)
		case <-changed:
		}
	}
}

// serviceView is what the runner reads of one service from the events.
type serviceView struct {
	running     bool   // a start-job incarnation is alive
	lastSpawnT  int64  // TNs of the latest spawn
	lastExitT   int64  // TNs of the latest exit
	healthy     bool   // the latest probe after the latest spawn passed
	state       string // zinit's latest status
	seenProcess bool   // any spawn/exit event seen
	pid         int
}

// viewOf folds the events of one service (job: the start job name, or ""
// for any job of the service).
func viewOf(evs []scenarios.Event, svc, startJob string) serviceView {
	var v serviceView
	probeOK := false // the latest probe after the latest spawn passed
	for _, e := range evs {
		if e.Service != svc {
			continue
		}
		switch e.Kind {
		case scenarios.EventSpawn:
			if startJob != "" && e.Job != startJob {
				continue
			}
			v.running, v.lastSpawnT, v.seenProcess, v.pid, v.healthy, probeOK = true, e.TNs, true, e.PID, false, false
		case scenarios.EventExit:
			if startJob != "" && e.Job != startJob {
				continue
			}
			if e.PID == v.pid {
				v.running = false
			}
			v.lastExitT, v.seenProcess, v.healthy = e.TNs, true, false
		case scenarios.EventProbe:
			if e.TNs >= v.lastSpawnT && e.OK != nil {
				probeOK = *e.OK
				v.healthy = probeOK && v.running
			}
		case scenarios.EventStatus:
			v.state = e.State
		}
	}
	if !v.seenProcess && v.state == "running" {
		// No process matched (e.g. an exec the agent cannot recognise):
		// fall back on the supervisor's word, and on the probe.
		v.running, v.healthy = true, probeOK
	}
	return v
}

func (o *observer) snapshot0() ([]scenarios.Event, error) {
	evs, _, _, err := o.snapshot()
	return append([]scenarios.Event(nil), evs...), err
}

func hasStatus(evs []scenarios.Event) bool {
	return slices.ContainsFunc(evs, func(e scenarios.Event) bool { return e.Kind == scenarios.EventStatus })
}

// zero is the scenario's time origin: the first agent_start.
func (a *attempt) zero(evs []scenarios.Event) int64 {
	for _, e := range evs {
		if e.Kind == scenarios.EventAgentStart {
			return e.TNs
		}
	}
	if len(evs) > 0 {
		return evs[0].TNs
	}
	return 0
}

// rebase makes the events' times relative to the scenario's start and
// merges zinit's reports into them (timeline.Merge), sorted by time.
// Events of processes present before it may be negative.
func (a *attempt) rebase(raw []scenarios.Event) []scenarios.Event {
	z := a.zero(raw)
	a.t0Ns.Store(z)
	out := make([]scenarios.Event, len(raw))
	for i, e := range raw {
		e.TNs -= z
		out[i] = e
	}
	return timeline.Merge(out)
}
