package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/scenarios"
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

// sortEvents orders events by time, stably.
func sortEvents(evs []scenarios.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TNs < evs[j].TNs })
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

// rebase sorts the events and makes their times relative to the scenario's
// start. Events of processes present before it may be negative.
func (a *attempt) rebase(raw []scenarios.Event) []scenarios.Event {
	z := a.zero(raw)
	out := make([]scenarios.Event, len(raw))
	for i, e := range raw {
		e.TNs -= z
		out[i] = e
	}
	sortEvents(out)
	fillExitStatus(out)
	return fillCheckStatus(out)
}

// pairHorizon bounds how far past a report pairReports looks for the
// event it reports (events are sorted by time, not by their lower bound).
const pairHorizon = 10 * time.Second

// pairReports pairs zinit's reports of outcomes with the events the agent
// saw of them. Each report (report gives its group, such as a service, and
// the id of the outcome it names) that names a new outcome for its group
// is paired with the latest event of that group (target) that began no
// later than the report's upper bound (TNs+ErrNs), came after the event
// paired with the group's previous report, and that near accepts (nil:
// any; it gets both indices). apply gets the report's index and the
// paired event's, or -1 when there is none. evs must be sorted.
func pairReports(evs []scenarios.Event, report func(scenarios.Event) (group, id string, ok bool),
	target func(scenarios.Event) (group string, ok bool), near func(r, x int) bool, apply func(r, x int)) {
	lastID := map[string]string{}
	paired := map[string]int{} // group → index of the last event paired
	for i := range evs {
		g, id, ok := report(evs[i])
		if !ok || id == lastID[g] {
			continue
		}
		lastID[g] = id
		r := evs[i]
		from, ok := paired[g]
		if !ok {
			from = -1
		}
		pick := -1
		for j := from + 1; j < len(evs); j++ {
			x := evs[j]
			if x.TNs > r.TNs+r.ErrNs+int64(pairHorizon) {
				break
			}
			xg, ok := target(x)
			if !ok || xg != g || j == i {
				continue // other events (probes, statuses) do not end the search
			}
			if x.TNs-x.ErrNs > r.TNs+r.ErrNs {
				break
			}
			if near == nil || near(i, j) {
				pick = j
			}
		}
		if pick >= 0 {
			paired[g] = pick
		}
		apply(i, pick)
	}
}

// fillExitStatus completes exit events whose code or signal the agent
// could not read (the supervisor reaped the process before the agent saw
// it as a zombie) from zinit's last_exit: each status reporting a new last
// exit (LastExitAtMs) completes the latest code-less exit of that
// service that happened before it (within both events' errors). Older
// code-less exits stay unknown. The event's Detail says where the code
// came from. evs must be sorted.
func fillExitStatus(evs []scenarios.Event) {
	pairReports(evs,
		func(e scenarios.Event) (string, string, bool) {
			if e.Kind != scenarios.EventStatus || (e.Code == nil && e.Signal == "") || e.LastExitAtMs == 0 {
				return "", "", false
			}
			return e.Service, strconv.FormatInt(e.LastExitAtMs, 10), true
		},
		func(e scenarios.Event) (string, bool) { return e.Service, e.Kind == scenarios.EventExit },
		nil,
		func(r, x int) {
			if x < 0 {
				return
			}
			st, ex := evs[r], &evs[x]
			if ex.Code != nil || ex.Signal != "" {
				return // the agent read it itself
			}
			if st.Code != nil {
				c := *st.Code
				ex.Code = &c
			}
			ex.Signal = st.Signal
			ex.Detail = strings.TrimSpace(ex.Detail + " exit status from zinit status")
		})
}

// checkPairSlack widens the match between a run zinit reported and one
// the agent saw: zinit dates a run from after its fork to its reaping, the
// agent from its exec to its exit. Runs of one job are an interval apart.
const checkPairSlack = 20 * time.Millisecond

// fillCheckStatus merges the check_exit events the agent derived from
// zinit's last_check (PID 0, Source scenarios.SourceZinitLastCheck; a new
// report has a new LastCheckAtMs, DurNs or OK) with the check runs
// it saw, the way fillExitStatus completes exits: a derived event that
// overlaps a run the agent saw completes that run's exit (OK, and the code
// or signal when the agent could not read them) and is dropped; one that
// overlaps none (a run too short for the agent's poll) becomes a run of
// its own, a check_spawn and check_exit pair with a negative PID, dated
// with the derived event's error. evs must be sorted; the result is too.
func fillCheckStatus(evs []scenarios.Event) []scenarios.Event {
	derived := func(e scenarios.Event) bool {
		return e.Kind == scenarios.EventCheckExit && e.PID == 0 && e.Source == scenarios.SourceZinitLastCheck
	}
	spawnAt := map[int]int64{} // index of an observed check_exit → its run's spawn (lower bound)
	open := map[int]int64{}
	for i, e := range evs {
		switch {
		case e.Kind == scenarios.EventCheckSpawn:
			open[e.PID] = e.TNs - e.ErrNs
		case e.Kind == scenarios.EventCheckExit && !derived(e):
			if t, ok := open[e.PID]; ok {
				spawnAt[i] = t
				delete(open, e.PID)
			}
		}
	}
	drop := map[int]bool{}
	var add []scenarios.Event
	synthetic := 0
	pairReports(evs,
		func(e scenarios.Event) (string, string, bool) {
			return e.Service + "\x00" + e.Job, fmt.Sprint(e.LastCheckAtMs, e.DurNs, e.OK != nil && *e.OK), derived(e)
		},
		func(e scenarios.Event) (string, bool) {
			return e.Service + "\x00" + e.Job, e.Kind == scenarios.EventCheckExit && !derived(e)
		},
		func(ri, xi int) bool {
			r, x := evs[ri], evs[xi]
			slack := max(int64(checkPairSlack), r.ErrNs)
			lo, hi := r.TNs-r.DurNs-r.ErrNs-slack, r.TNs+r.ErrNs+slack
			spawn, ok := spawnAt[xi]
			if !ok {
				spawn = x.TNs - x.ErrNs
			}
			return spawn <= hi && x.TNs >= lo
		},
		func(r, x int) {
			d := evs[r]
			drop[r] = true
			if x >= 0 {
				ex := &evs[x]
				if ex.Code == nil && ex.Signal == "" {
					ex.Code, ex.Signal = d.Code, d.Signal
				}
				ex.OK = d.OK
				ex.Detail = strings.TrimSpace(ex.Detail + " exit status from " + agent.LastCheckDetail)
				return
			}
			synthetic++
			pid := -synthetic
			detail := strings.TrimSpace("not seen by the agent: " + d.Detail)
			add = append(add,
				scenarios.Event{TNs: d.TNs - d.DurNs, ErrNs: d.ErrNs + int64(time.Millisecond), Kind: scenarios.EventCheckSpawn,
					Service: d.Service, Job: d.Job, PID: pid, Source: d.Source, Detail: detail},
				scenarios.Event{TNs: d.TNs, ErrNs: d.ErrNs, Kind: scenarios.EventCheckExit, Service: d.Service, Job: d.Job,
					PID: pid, Code: d.Code, Signal: d.Signal, OK: d.OK, DurNs: d.DurNs, Source: d.Source,
					LastCheckAtMs: d.LastCheckAtMs, Detail: detail})
		})
	if len(drop) == 0 {
		return evs
	}
	out := make([]scenarios.Event, 0, len(evs)-len(drop)+len(add))
	for i, e := range evs {
		if !drop[i] {
			out = append(out, e)
		}
	}
	out = append(out, add...)
	sortEvents(out)
	return out
}
