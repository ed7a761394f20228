package scenarios

import "time"

// CanaryFold is the least span of a folded canary window in a compact
// timeline: the agent's 250 ms windows are merged until they cover it.
const CanaryFold = 2 * time.Second

// CompactTimeline returns the timeline a result keeps of a scenario's full
// event stream (schema version 3; the full stream goes to the forensics
// bundle). Every event a rule of the oracle reads one by one is kept as it
// is: spawns and exits, check runs, faults, effects, reverts, actions,
// zombies, strays, holes, agent starts. The dense periodic streams are
// folded:
//
//   - a run of probes of one service with the same outcome (ok, reason,
//     detail) keeps its first and last probe;
//   - a run of status reports of one service that say the same thing
//     (state, reason, restarts, pid, exit code and signal, last exit, source)
//     keeps its first and last report (a Detail such as "unchanged" does not
//     break a run);
//   - consecutive canary windows are merged until they span CanaryFold: the
//     merged window takes the last one's place and TNs, reaches back to the
//     first one's start, and has the largest LateMaxNs, the largest
//     LateP50Ns and the sum of the Ticks.
//
// The last event kept of a run, and a merged canary window, say in Folded
// how many events were left out in its place. A Cmdline of a spawn, exit,
// check_spawn or check_exit is kept only where it differs from the last
// one kept for the same service, job and kind (process or check): a reader
// takes the latest cmdline above.
//
// The events keep their order; evs is not changed. Compacting a compact
// timeline changes nothing.
func CompactTimeline(evs []Event) []Event {
	if evs == nil {
		return nil
	}
	type group struct {
		kind    EventKind
		service string
	}
	type run struct {
		key     Event // the run's first event
		last    int   // index of the run's latest event, -1 while the run has one
		dropped int   // events left out between first and last
	}
	out := make([]Event, len(evs))
	copy(out, evs)
	keep := make([]bool, len(out))
	runs := map[group]*run{}
	closeRun := func(r *run) {
		if r.last >= 0 {
			out[r.last].Folded += r.dropped
		}
	}
	type cmdKey struct {
		service, job string
		check        bool
	}
	lastCmd := map[cmdKey]string{}
	canary := -1 // index of the canary window being merged
	for i := range out {
		e := &out[i]
		keep[i] = true
		switch e.Kind {
		case EventProbe, EventStatus:
			g := group{e.Kind, e.Service}
			r := runs[g]
			if r == nil || !sameObservation(r.key, *e) {
				if r != nil {
					closeRun(r)
				}
				runs[g] = &run{key: *e, last: -1}
				continue
			}
			if r.last >= 0 {
				keep[r.last] = false
				r.dropped += 1 + out[r.last].Folded
			}
			r.last = i
		case EventCanary:
			// A window is merged into the next one, which takes its place.
			if c := canary; c >= 0 && out[c].TNs <= e.TNs && out[c].DurNs < int64(CanaryFold) {
				p := &out[c]
				e.DurNs = e.TNs - min(p.TNs-p.DurNs, e.TNs-e.DurNs)
				e.LateMaxNs = max(p.LateMaxNs, e.LateMaxNs)
				e.LateP50Ns = max(p.LateP50Ns, e.LateP50Ns)
				e.Ticks += p.Ticks
				e.Folded += 1 + p.Folded
				keep[c] = false
			}
			canary = i
		case EventSpawn, EventExit, EventCheckSpawn, EventCheckExit:
			if e.Cmdline == "" || e.Service == "" {
				continue
			}
			k := cmdKey{e.Service, e.Job, e.Kind == EventCheckSpawn || e.Kind == EventCheckExit}
			if lastCmd[k] == e.Cmdline {
				e.Cmdline = ""
			} else {
				lastCmd[k] = e.Cmdline
			}
		}
	}
	for _, r := range runs {
		closeRun(r)
	}
	n := 0
	for i := range out {
		if keep[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n:n]
}

// sameObservation says whether two probes or two status reports of one
// service may be folded together: they agree on everything but when, how
// precisely, how long, what was already folded and, for a status, the
// words for people.
func sameObservation(a, b Event) bool {
	if !samePtr(a.Code, b.Code) || !samePtr(a.OK, b.OK) || !samePtr(a.Restarts, b.Restarts) {
		return false
	}
	for _, e := range []*Event{&a, &b} {
		e.TNs, e.ErrNs, e.DurNs, e.Folded = 0, 0, 0, 0
		e.Code, e.OK, e.Restarts = nil, nil, nil
		if e.Kind == EventStatus {
			e.Detail = ""
		}
	}
	return a == b
}

func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
