package scenarios_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/scenarios/timeline"
)

const msNs = int64(1e6)

func okp(b bool) *bool { return &b }
func ip(i int) *int    { return &i }

func probe(atMs int64, svc string, ok bool, detail string) scenarios.Event {
	return scenarios.Event{TNs: atMs * msNs, Kind: scenarios.EventProbe, Service: svc, OK: okp(ok), Detail: detail, DurNs: atMs % 7 * msNs}
}

func status(atMs int64, svc, state string, restarts int, detail string) scenarios.Event {
	return scenarios.Event{TNs: atMs * msNs, Kind: scenarios.EventStatus, Service: svc, State: state, Restarts: ip(restarts), Detail: detail, ErrNs: atMs % 5 * msNs}
}

func canary(endMs int64, maxNs, p50Ns int64) scenarios.Event {
	return scenarios.Event{TNs: endMs * msNs, Kind: scenarios.EventCanary, DurNs: 250 * msNs, LateMaxNs: maxNs, LateP50Ns: p50Ns, Ticks: 25}
}

// kinds lists the (kind, t ms, folded) of events, for comparing.
func kinds(evs []scenarios.Event) [][3]int64 {
	out := make([][3]int64, len(evs))
	for i, e := range evs {
		k := map[scenarios.EventKind]int64{scenarios.EventProbe: 1, scenarios.EventStatus: 2, scenarios.EventCanary: 3}[e.Kind]
		out[i] = [3]int64{k, e.TNs / msNs, int64(e.Folded)}
	}
	return out
}

func TestCompactFoldsProbeRunsPerServiceAndOutcome(t *testing.T) {
	a, b := "user.a", "user.b"
	evs := []scenarios.Event{
		probe(0, a, true, ""), probe(5, b, true, ""), probe(100, a, true, ""), probe(105, b, true, ""),
		probe(200, a, true, ""), probe(205, b, false, "refused"), probe(300, a, true, ""), probe(305, b, false, "refused"),
		probe(400, a, false, "timeout"), probe(405, b, false, "no socket"), probe(500, a, false, "timeout"),
		probe(600, a, false, "timeout"), probe(700, a, true, ""),
	}
	orig := slices.Clone(evs)
	got := scenarios.CompactTimeline(evs)
	assert.Equal(t, orig, evs, "the input is not changed")
	assert.Equal(t, [][3]int64{
		{1, 0, 0},   // a ok: first
		{1, 5, 0},   // b ok: first
		{1, 105, 0}, // b ok: last (nothing between)
		{1, 205, 0}, // b refused: first
		{1, 300, 2}, // a ok: last, 100 and 200 folded
		{1, 305, 0}, // b refused: last
		{1, 400, 0}, // a timeout: first
		{1, 405, 0}, // b no socket
		{1, 600, 1}, // a timeout: last, 500 folded
		{1, 700, 0}, // a ok again
	}, kinds(got))
	assert.Equal(t, "timeout", got[8].Detail)
	assert.Equal(t, evs[11].DurNs, got[8].DurNs, "a kept probe keeps its own fields")
}

func TestCompactFoldsStatusRunsIgnoringTheirWords(t *testing.T) {
	s := "user.a"
	evs := []scenarios.Event{
		status(0, s, "running", 0, ""), status(200, s, "running", 0, "unchanged"), status(400, s, "running", 0, "unchanged"),
		status(600, s, "running", 0, "unchanged"), status(800, s, "restarting", 0, ""), status(1000, s, "running", 1, ""),
		status(1200, s, "running", 1, "unchanged"),
	}
	got := scenarios.CompactTimeline(evs)
	assert.Equal(t, [][3]int64{{2, 0, 0}, {2, 600, 2}, {2, 800, 0}, {2, 1000, 0}, {2, 1200, 0}}, kinds(got))
	// The states the reports draw are the same.
	full, compact := timeline.Build(evs, nil).Service(s).States, timeline.Build(got, nil).Service(s).States
	assert.Equal(t, full, compact)
}

func TestCompactMergesCanaryWindows(t *testing.T) {
	var evs []scenarios.Event
	for i := int64(1); i <= 10; i++ {
		late := int64(1000)
		if i == 3 {
			late = 9_000_000
		}
		evs = append(evs, canary(i*250, late, i))
	}
	got := scenarios.CompactTimeline(evs)
	require.Len(t, got, 2)
	first := got[0]
	assert.Equal(t, scenarios.Event{TNs: 2000 * msNs, Kind: scenarios.EventCanary, DurNs: 2000 * msNs, LateMaxNs: 9_000_000,
		LateP50Ns: 8, Ticks: 200, Folded: 7}, first, "eight 250 ms windows make one of 2 s: their worst tick, their largest median")
	assert.Equal(t, scenarios.Event{TNs: 2500 * msNs, Kind: scenarios.EventCanary, DurNs: 500 * msNs, LateMaxNs: 1000,
		LateP50Ns: 10, Ticks: 50, Folded: 1}, got[1])
}

func TestCompactKeepsACmdlineOncePerServiceJobAndKind(t *testing.T) {
	cmd, check := "sh -c herosim serve", "sh -c probe"
	evs := []scenarios.Event{
		{TNs: 1, Kind: scenarios.EventSpawn, Service: "a", Job: "main", PID: 10, Cmdline: cmd},
		{TNs: 2, Kind: scenarios.EventCheckSpawn, Service: "a", Job: "check", PID: 11, Cmdline: check},
		{TNs: 3, Kind: scenarios.EventCheckExit, Service: "a", Job: "check", PID: 11, Cmdline: check},
		{TNs: 4, Kind: scenarios.EventExit, Service: "a", Job: "main", PID: 10, Cmdline: cmd},
		{TNs: 5, Kind: scenarios.EventSpawn, Service: "b", Job: "main", PID: 12, Cmdline: cmd},
		{TNs: 6, Kind: scenarios.EventSpawn, Service: "a", Job: "main", PID: 13, Cmdline: cmd + " --again"},
		{TNs: 7, Kind: scenarios.EventFault, Service: "a", PID: 13, Cmdline: cmd + " --again"},
	}
	got := scenarios.CompactTimeline(evs)
	var cmds []string
	for _, e := range got {
		cmds = append(cmds, e.Cmdline)
	}
	assert.Equal(t, []string{cmd, check, "", "", cmd, cmd + " --again", cmd + " --again"}, cmds)
}

// A generated stream of a fleet: the compact timeline builds the same
// incarnations, check runs and states as the full one, keeps every event
// of a rule's kind, and compacting it again changes nothing.
func TestCompactKeepsTheModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	var evs []scenarios.Event
	svcs := []string{"user.a", "user.b", "user.c"}
	pid := 100
	for _, s := range svcs {
		pid++
		evs = append(evs, scenarios.Event{TNs: 10 * msNs, Kind: scenarios.EventSpawn, Service: s, Job: "main", PID: pid, Cmdline: "sh -c " + s})
	}
	restarts := map[string]int{}
	for at := int64(20); at < 60_000; at += 50 {
		s := svcs[rng.IntN(len(svcs))]
		switch r := rng.IntN(100); {
		case r < 60:
			evs = append(evs, probe(at, s, rng.IntN(50) > 0, ""))
		case r < 85:
			evs = append(evs, status(at, s, "running", restarts[s], "unchanged"))
		case r < 95:
			evs = append(evs, canary(at, int64(rng.IntN(5e6)), int64(rng.IntN(1e5))))
		case r < 98:
			pid++
			evs = append(evs,
				scenarios.Event{TNs: at * msNs, Kind: scenarios.EventCheckSpawn, Service: s, Job: "check", PID: pid, Cmdline: "sh -c probe " + s},
				scenarios.Event{TNs: (at + 20) * msNs, Kind: scenarios.EventCheckExit, Service: s, Job: "check", PID: pid, Code: ip(0), Cmdline: "sh -c probe " + s})
		default:
			pid++
			restarts[s]++
			evs = append(evs,
				scenarios.Event{TNs: at * msNs, Kind: scenarios.EventFault, Service: s, Fault: "kill"},
				scenarios.Event{TNs: (at + 1) * msNs, Kind: scenarios.EventExit, Service: s, Job: "main", Signal: "SIGKILL"},
				scenarios.Event{TNs: (at + 30) * msNs, Kind: scenarios.EventSpawn, Service: s, Job: "main", PID: pid, Cmdline: "sh -c " + s},
				status(at+31, s, "running", restarts[s], ""))
		}
	}
	got := scenarios.CompactTimeline(evs)
	assert.Less(t, len(got)*4, len(evs), "the stream is mostly folded")
	assert.Equal(t, got, scenarios.CompactTimeline(got), "compacting a compact timeline changes nothing")

	folded := 0
	count := func(list []scenarios.Event, keep func(scenarios.Event) bool) int {
		n := 0
		for _, e := range list {
			if keep(e) {
				n++
			}
		}
		return n
	}
	for _, e := range got {
		folded += e.Folded
	}
	assert.Equal(t, len(evs), len(got)+folded, "every event left out is counted once")
	rule := func(e scenarios.Event) bool {
		return e.Kind != scenarios.EventProbe && e.Kind != scenarios.EventStatus && e.Kind != scenarios.EventCanary
	}
	assert.Equal(t, count(evs, rule), count(got, rule), "no event a rule reads one by one is left out")

	full, compact := timeline.Build(evs, nil), timeline.Build(got, nil)
	require.Equal(t, len(full.Services), len(compact.Services))
	for i, fs := range full.Services {
		cs := compact.Services[i]
		assert.Equal(t, fs.Incarnations, cs.Incarnations, fs.Name)
		assert.Equal(t, len(fs.Checks), len(cs.Checks), fs.Name)
		for k := range fs.Checks {
			f, c := *fs.Checks[k], *cs.Checks[k]
			assert.Equal(t, [4]int64{int64(f.PID), f.Start, f.End, int64(*f.Code)}, [4]int64{int64(c.PID), c.Start, c.End, int64(*c.Code)})
		}
		assert.Equal(t, fs.States, cs.States, fs.Name)
		// Probe runs keep their ends: the first and last probe of each outcome.
		assert.Equal(t, probeRuns(fs.Probes), probeRuns(cs.Probes), fs.Name)
	}
	assert.Equal(t, scenarios.LoadOf(evs).MaxMs, scenarios.LoadOf(got).MaxMs, "the worst tick survives the merge")
}

// probeRuns are the [start, end, ok] of each run of probes of one outcome.
func probeRuns(ps []*scenarios.Event) [][3]int64 {
	var out [][3]int64
	for _, p := range ps {
		ok := int64(0)
		if *p.OK {
			ok = 1
		}
		if n := len(out); n > 0 && out[n-1][2] == ok {
			out[n-1][1] = p.TNs
			continue
		}
		out = append(out, [3]int64{p.TNs, p.TNs, ok})
	}
	return out
}
