package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// TestObserveWindowAfterManualStart: after a start that follows the
// restart limit, the runner watches the whole second crash loop and then
// the quiet window, so R5/R6 can be judged on the second loop too; and
// the catalogue scenario waits W before that start, so they can be judged
// on the first one.
func TestObserveWindowAfterManualStart(t *testing.T) {
	const scale = 0.05
	sc, err := scenarios.Lookup("manual-start-after-limit")
	require.NoError(t, err)
	st, err := DeclaredSetup(sc, scale)
	require.NoError(t, err)
	r := &Runner{TimeScale: scale}
	r.defaults()
	a := &attempt{r: r, t: task{sc: sc}, setup: st, params: r.params(),
		model: oracle.JobModelFrom(sc.Target, st.Jobs, false, false), faults: FaultClient{CrashMinAge: 25 * time.Millisecond}}
	m := a.model
	require.Equal(t, 3, m.MaxRestarts)
	W := a.params.QuietWindow(m)

	require.Len(t, sc.Faults, 1)
	start := sc.Faults[0]
	assert.Equal(t, scenarios.FaultStart, start.Kind)
	assert.GreaterOrEqual(t, zinit.ScaleDuration(time.Duration(start.DelayMs)*time.Millisecond, scale), W,
		"the start waits the quiet window after the limit")

	// The second loop at its fastest: N delays, 1+N lives of CrashMinAge.
	loop := time.Duration(m.MaxRestarts)*m.RestartDelay + time.Duration(m.MaxRestarts+1)*a.faults.CrashMinAge
	assert.GreaterOrEqual(t, a.observeWindow(&start), loop+W)

	// A plain start (not after the limit) is not held that long.
	plain := scenarios.Fault{Kind: scenarios.FaultStart, When: "running"}
	assert.Less(t, a.observeWindow(&plain), loop+W)
}

func TestScaleExecDurations(t *testing.T) {
	assert.Equal(t, "herosim serve --slow-start 1s --crash-after=250ms --name x",
		ScaleExecDurations("herosim serve --slow-start 20s --crash-after=5s --name x", 0.05))
	assert.Equal(t, "herosim --slow-start 20s", ScaleExecDurations("herosim --slow-start 20s", 1))
	// The cases of scenarios.ScaleExec, the duplicate this replaced.
	for _, tc := range []struct {
		in    string
		scale float64
		want  string
	}{
		{"herosim serve --name x --slow-start 20s", 0.05, "herosim serve --name x --slow-start 1s"},
		{"herosim serve --crash-after=1500ms --exit-code 3", 0.1, "herosim serve --crash-after=150ms --exit-code 3"},
		{"herosim serve --slow-start 20s --crash-after 1m", 0.5, "herosim serve --slow-start 10s --crash-after 30s"},
		{"herosim serve --slow-start 20s", 1, "herosim serve --slow-start 20s"},
		{"herosim serve --slow-start 1us", 0.01, "herosim serve --slow-start 1ms"},
		{"herosim serve --slow-start soon", 0.05, "herosim serve --slow-start soon"},
		{"sleep 20s", 0.05, "sleep 20s"},
	} {
		assert.Equal(t, tc.want, ScaleExecDurations(tc.in, tc.scale), tc.in)
	}
}

func TestViewOfFallsBackOnStatusAndProbe(t *testing.T) {
	yes, no := true, false
	evs := []scenarios.Event{
		{TNs: 1, Kind: scenarios.EventProbe, Service: "s", OK: &no},
		{TNs: 2, Kind: scenarios.EventStatus, Service: "s", State: "running"},
	}
	v := viewOf(evs, "s", "main")
	assert.True(t, v.running, "no process matched: zinit's word")
	assert.False(t, v.healthy)
	evs = append(evs, scenarios.Event{TNs: 3, Kind: scenarios.EventProbe, Service: "s", OK: &yes})
	v = viewOf(evs, "s", "main")
	assert.True(t, v.running)
	assert.True(t, v.healthy, "a passing probe counts when no process was matched")
	// With a process seen, the probe must come after its spawn.
	evs = append(evs, scenarios.Event{TNs: 4, Kind: scenarios.EventSpawn, Service: "s", Job: "main", PID: 9})
	v = viewOf(evs, "s", "main")
	assert.True(t, v.running)
	assert.False(t, v.healthy)
}

// TestAttemptDeadlineIsDerivedAndBounded: every catalogue scenario gets a
// finite deadline above its physical minimum, at the default scale and at
// production timings.
func TestAttemptDeadlineIsDerivedAndBounded(t *testing.T) {
	all, err := scenarios.Catalogue()
	require.NoError(t, err)
	for _, scale := range []float64{0.05, 1} {
		for _, sc := range all {
			if len(sc.Services.Declared) == 0 {
				continue // fleet scenarios need the migrator's setup
			}
			st, err := DeclaredSetup(sc, scale)
			require.NoError(t, err)
			r := &Runner{TimeScale: scale}
			r.defaults()
			a := &attempt{r: r, t: task{sc: sc}, setup: st, params: r.params(),
				model: oracle.JobModelFrom(sc.Target, st.Jobs, false, false), faults: FaultClient{CrashMinAge: 25 * time.Millisecond}}
			d, min := a.deadline(), a.physicalMin()
			assert.Greater(t, d, min+containerStartBudget, "%s at %g", sc.Name, scale)
			assert.Less(t, d, time.Hour, "%s at %g: bounded", sc.Name, scale)
		}
	}
}

// TestMonkeyPicksOnlyRunningServices: a service whose process is gone (a
// kill not yet restarted) is no target.
func TestMonkeyPicksOnlyRunningServices(t *testing.T) {
	a := &attempt{obs: newObserver(), setup: Setup{Jobs: []zinit.Job{
		{Service: "a", Name: "main", Trigger: zinit.TriggerStart},
		{Service: "b", Name: "main", Trigger: zinit.TriggerStart},
		{Service: "c", Name: "main", Trigger: zinit.TriggerStart},
	}}, t: task{sc: scenarios.Scenario{}}}
	a.obs.add(
		scenarios.Event{TNs: 1, Kind: scenarios.EventSpawn, Service: "a", Job: "main", PID: 10},
		scenarios.Event{TNs: 1, Kind: scenarios.EventSpawn, Service: "b", Job: "main", PID: 11},
		scenarios.Event{TNs: 2, Kind: scenarios.EventExit, Service: "b", Job: "main", PID: 11},
		scenarios.Event{TNs: 1, Kind: scenarios.EventSpawn, Service: "c", Job: "main", PID: 12},
		scenarios.Event{TNs: 3, Kind: scenarios.EventStatus, Service: "c", State: "restarting"},
	)
	assert.Equal(t, []string{"a"}, a.runningOf([]string{"a", "b", "c"}))
}

func TestAutoParallelRisesWithTheScale(t *testing.T) {
	assert.Equal(t, 2, AutoParallel(0.05, 2))
	assert.Equal(t, 1, AutoParallel(0.1, 1))
	assert.Equal(t, 4, AutoParallel(0.25, 2))
	assert.Equal(t, 8, AutoParallel(1, 2))
	assert.Equal(t, 8, AutoParallel(0.5, 1))
}

func TestStandInLinks(t *testing.T) {
	jobs := []zinit.Job{
		{Service: "user.hero_embedder_server", Exec: "/root/hero/bin/hero_embedder_server serve"},
		{Service: "user.hero_books", Exec: "cd /root/hero/code/books && /root/hero/bin/hero_books serve --port 8080"},
		{Service: "x", Exec: "/usr/local/bin/herosim serve --name x --socket /s"},
	}
	assert.Equal(t, map[string]string{
		"/root/hero/bin/hero_embedder_server": "/usr/local/bin/herosim",
		"/root/hero/bin/hero_books":           "/usr/local/bin/herosim",
	}, standInLinks("/usr/local/bin/herosim", jobs))
	assert.Nil(t, standInLinks("", jobs), "a user's image keeps its own binaries")
}

func TestDeriveProbe(t *testing.T) {
	start := zinit.Job{Service: "s", Name: "main", Trigger: zinit.TriggerStart, Exec: "herosim serve --socket /s/main.sock --http-port 8080"}
	check := zinit.Job{Service: "s", Name: "check", Trigger: zinit.TriggerCheck, Exec: "echo x | socat - UNIX-CONNECT:/s/check.sock"}
	other := zinit.Job{Service: "o", Name: "main", Trigger: zinit.TriggerStart, Exec: "herosim serve --socket /s/o.sock"}
	p, ok := DeriveProbe("s", []zinit.Job{start, check, other})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", Socket: "/s/check.sock"}, p, "the check's socket first")
	p, ok = DeriveProbe("s", []zinit.Job{start})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", Socket: "/s/main.sock"}, p, "a socket before a port")
	start.Exec = "herosim serve --http-port 8080"
	p, ok = DeriveProbe("s", []zinit.Job{start, other})
	require.True(t, ok)
	assert.Equal(t, agent.Probe{Service: "s", HTTPPort: 8080}, p)
	_, ok = DeriveProbe("none", []zinit.Job{start, other})
	assert.False(t, ok)
}
