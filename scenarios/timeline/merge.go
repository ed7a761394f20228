package timeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// Merge completes the agent's events with what zinit reported of the same
// outcomes, so every later reader sees one account of each: it sorts evs
// by time (stably, in place), completes the exits whose code or signal the
// agent could not read from zinit's last_exit (see fillExitStatus), and
// merges the check_exits the agent derived from zinit's last_check
// (Source scenarios.SourceZinitLastCheck) into the check runs it saw, or
// makes runs of their own of them (see fillCheckStatus). It returns the
// merged events, sorted by time; they may share evs' array. The runner
// calls it once on a scenario's events, after making their times
// relative to its start.
func Merge(evs []scenarios.Event) []scenarios.Event {
	sortByTime(evs)
	fillExitStatus(evs)
	return fillCheckStatus(evs)
}

// sortByTime orders events by time, stably.
func sortByTime(evs []scenarios.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TNs < evs[j].TNs })
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

// reportID names the run a last_check report is about: its pid when zinit
// names it, else its start on zinit's clock, length and outcome.
func reportID(e scenarios.Event) string {
	if e.PID > 0 {
		return fmt.Sprint(e.Service, "\x00", e.Job, "\x00pid ", e.PID)
	}
	return fmt.Sprint(e.Service, "\x00", e.Job, "\x00", e.LastCheckAtMs, " ", e.DurNs, " ", e.OK != nil && *e.OK)
}

// fillCheckStatus merges the check_exit events the agent derived from
// zinit's last_check (Source scenarios.SourceZinitLastCheck; a new report
// has a new LastCheckAtMs, DurNs or OK) with the check runs it saw, so one
// run is one run whoever reported it. The rule, by what the report
// carries:
//   - the run's PID (the reference zinit names it): it is the run the agent
//     saw with that pid, whatever either clock says; repeated reports of
//     it are one;
//   - no PID (another zinit): it is the run the agent saw that overlaps its
//     span widened by both events' errors and checkPairSlack (zinit's span
//     is mapped from its wall clock, the agent's is on the container's
//     monotonic one).
//
// A report paired with a run completes that run's exit (OK, and the code
// or signal when the agent could not read them) and is dropped; one that
// pairs with none (a run too short for the agent's poll) becomes a run of
// its own, a check_spawn and check_exit pair with its PID, or a negative
// one when zinit named none, dated with the report's error. evs must be
// sorted; the result is too.
func fillCheckStatus(evs []scenarios.Event) []scenarios.Event {
	derived := func(e scenarios.Event) bool {
		return e.Kind == scenarios.EventCheckExit && e.Source == scenarios.SourceZinitLastCheck
	}
	seen := map[string]int{} // service, job, pid → index of the agent's check_exit of that run
	for i, e := range evs {
		if e.Kind == scenarios.EventCheckExit && !derived(e) && e.PID > 0 {
			seen[fmt.Sprint(e.Service, "\x00", e.Job, "\x00", e.PID)] = i
		}
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
	handled := map[string]bool{}
	var add []scenarios.Event
	synthetic := 0
	pairReports(evs,
		func(e scenarios.Event) (string, string, bool) {
			return e.Service + "\x00" + e.Job, reportID(e), derived(e)
		},
		func(e scenarios.Event) (string, bool) {
			return e.Service + "\x00" + e.Job, e.Kind == scenarios.EventCheckExit && !derived(e)
		},
		func(ri, xi int) bool {
			r, x := evs[ri], evs[xi]
			if r.PID > 0 {
				return x.PID == r.PID // identity, not proximity
			}
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
			run := reportID(d)
			if handled[run] {
				return // a repeat of a report already merged (a re-attached agent re-reads last_check)
			}
			handled[run] = true
			if x < 0 && d.PID > 0 {
				// The run the agent saw may lie beyond pairReports' horizon
				// or before a run it already paired: identity decides.
				if i, ok := seen[fmt.Sprint(d.Service, "\x00", d.Job, "\x00", d.PID)]; ok {
					x = i
				}
			}
			if x >= 0 {
				ex := &evs[x]
				if ex.Code == nil && ex.Signal == "" {
					ex.Code, ex.Signal = d.Code, d.Signal
				}
				ex.OK = d.OK
				ex.Detail = strings.TrimSpace(ex.Detail + " exit status from zinit last_check")
				return
			}
			pid := d.PID
			if pid <= 0 {
				synthetic++
				pid = -synthetic
			}
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
		if !drop[i] && !derived(e) { // every report is merged or made a run: none stays behind
			out = append(out, e)
		}
	}
	out = append(out, add...)
	sortByTime(out)
	return out
}
