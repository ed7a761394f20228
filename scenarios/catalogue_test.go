package scenarios_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

const fleetTarget = "user.hero_embedder_server"

func catalogue(t *testing.T) map[string]scenarios.Scenario {
	t.Helper()
	list, err := scenarios.Catalogue()
	require.NoError(t, err)
	out := map[string]scenarios.Scenario{}
	for i, s := range list {
		if i > 0 {
			assert.Less(t, list[i-1].Name, s.Name, "catalogue is sorted by name")
		}
		require.NotContains(t, out, s.Name, "duplicate name")
		out[s.Name] = s
		assert.Equal(t, "catalogue/"+s.Name+".yaml", s.File)
		assert.Contains(t, s.Source, "name: "+s.Name+"\n", "source is kept")
		assert.NoError(t, s.Validate())
	}
	return out
}

func TestCatalogueCoversTheRequiredScenarios(t *testing.T) {
	cat := catalogue(t)
	required := map[string]string{
		"crash-restart":               "crash and restart (SIGKILL the target)",
		"clean-exit-on-failure":       "clean exit under on-failure",
		"clean-exit-always":           "clean exit under always",
		"crash-loop-limit":            "crash loop exhausts max-restarts exactly",
		"manual-start-after-limit":    "manual start after the limit",
		"stop-during-restart-delay":   "a stop during the restart delay",
		"hang-detected":               "hang (SIGSTOP) detected",
		"health-hang":                 "health endpoint hangs",
		"health-error":                "health endpoint errors",
		"slow-start-grace":            "slow start not killed during the grace period",
		"socket-removed":              "socket removed",
		"oneshot-runs-once":           "oneshot runs once",
		"reload-keeps-job-services":   "zinit reload keeps job-model services",
		"supervisor-restart-restores": "supervisor restart restores persisted services",
		"fleet-monkey":                "fleet monkey",
		"restart-counter-reset":       "informational: does the restart counter reset",
	}
	for name, what := range required {
		assert.Contains(t, cat, name, what)
	}
}

func TestCatalogueScenarioShapes(t *testing.T) {
	cat := catalogue(t)
	kinds := func(s scenarios.Scenario) []scenarios.FaultKind {
		var out []scenarios.FaultKind
		for _, f := range s.Faults {
			out = append(out, f.Kind)
		}
		return out
	}

	// Restart and hang scenarios on the fleet run on both configs and expect
	// the legacy config to fail.
	for _, name := range []string{"crash-restart", "hang-detected", "health-hang", "health-error", "socket-removed", "fleet-monkey"} {
		s := cat[name]
		assert.Equal(t, scenarios.FromFleet, s.Services.From, name)
		assert.Equal(t, []string{"migrated", "legacy"}, s.RunConfigs(), name)
		assert.Equal(t, map[string]string{"migrated": "pass", "legacy": "fail"}, s.Expect.Outcome, name)
	}
	for name, s := range cat {
		if s.Services.From == scenarios.FromFleet && name != "fleet-monkey" {
			// Fleet targets come from the fleet, the seed's embedder first.
			require.True(t, s.Targets.Selects(), name)
			assert.Equal(t, []string{fleetTarget}, s.Targets.Prefer, name)
			assert.Equal(t, scenarios.ProbeSocket, s.Targets.Probe, name)
			assert.Empty(t, s.Target, "%s: chosen by ExpandTargets", name)
		}
		if s.Expect.Info {
			assert.False(t, s.HasTag(scenarios.TagGate), "%s: an informational scenario cannot gate", name)
		} else {
			assert.True(t, s.HasTag(scenarios.TagGate), "%s: every judged scenario is in the gate", name)
			assert.Equal(t, "pass", s.Expect.Outcome["migrated"], "%s: the migrated config must pass", name)
		}
	}

	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultKill}, kinds(cat["crash-restart"]))
	assert.Equal(t, "SIGKILL", cat["crash-restart"].Faults[0].Signal)
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultHang}, kinds(cat["hang-detected"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultHealthHang}, kinds(cat["health-hang"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultHealthError}, kinds(cat["health-error"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultSocket}, kinds(cat["socket-removed"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultReload}, kinds(cat["reload-keeps-job-services"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultSupervisor}, kinds(cat["supervisor-restart-restores"]))
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultKill, scenarios.FaultStop}, kinds(cat["stop-during-restart-delay"]))
	assert.Equal(t, scenarios.WhenRestarting, cat["stop-during-restart-delay"].Faults[1].When)
	assert.Equal(t, []scenarios.FaultKind{scenarios.FaultStart}, kinds(cat["manual-start-after-limit"]))
	assert.Equal(t, scenarios.WhenFailed, cat["manual-start-after-limit"].Faults[0].When)

	monkey := cat["fleet-monkey"]
	assert.Empty(t, monkey.Services.Select, "the monkey runs on all 29 services")
	require.Len(t, monkey.Faults, 1)
	assert.Equal(t, scenarios.FaultMonkey, monkey.Faults[0].Kind)
	assert.Positive(t, monkey.Faults[0].DurationMs)
	assert.True(t, monkey.Expect.Recover)
	assert.Subset(t, monkey.Expect.Invariants, []string{"H4", "P1", "S1"}, "healthy, no zombie, no stray check")

	// Clean exits: declared jobs, exit code 0, on-failure vs always.
	for name, policy := range map[string]string{"clean-exit-on-failure": "on-failure", "clean-exit-always": "always"} {
		s := cat[name]
		require.Len(t, s.Services.Declared, 1, name)
		assert.Equal(t, policy, s.Services.Declared[0].Jobs[0].Restart, name)
		assert.Equal(t, []scenarios.Fault{{Kind: scenarios.FaultExit, Code: 0, When: "healthy"}}, s.Faults, name)
	}
	assert.False(t, cat["clean-exit-on-failure"].Expect.Recover)
	assert.True(t, cat["clean-exit-always"].Expect.Recover)

	// Crash loops: a small N and a job that crashes at once.
	for _, name := range []string{"crash-loop-limit", "manual-start-after-limit"} {
		main := cat[name].Services.Declared[0].Jobs[0]
		assert.Equal(t, 3, main.MaxRestarts, name)
		assert.Contains(t, main.Exec, "--crash-loop", name)
		assert.Contains(t, cat[name].Expect.Invariants, "R5", name)
	}

	// Slow start: the start takes less than the grace period (the interval).
	slow := cat["slow-start-grace"].Services.Declared[0]
	assert.Contains(t, slow.Jobs[0].Exec, "--slow-start 20s")
	assert.Equal(t, int64(60000), slow.Jobs[1].IntervalMs)

	info := cat["restart-counter-reset"]
	assert.True(t, info.Expect.Info)
	assert.Equal(t, map[string]string{"migrated": "info"}, info.Expect.Outcome)
	assert.Equal(t, 3, info.Services.Declared[0].Jobs[0].MaxRestarts)
	assert.Len(t, info.Faults, 4, "1 + N kills: a fourth crash is needed to see the counter's effect")
}

// Declared herosim services use the stand-in's real flags and socket layout.
func TestCatalogueDeclaredExecs(t *testing.T) {
	serve := regexp.MustCompile(`^/usr/local/bin/herosim (serve --name (\S+) --socket /root/hero/var/sockets/(\S+)\.sock|oneshot --name (\S+))`)
	for name, s := range catalogue(t) {
		for _, d := range s.Services.Declared {
			for _, j := range d.Jobs {
				if j.Trigger != "start" {
					assert.Contains(t, j.Exec, "UNIX-CONNECT:/root/hero/var/sockets/"+d.Name+".sock", "%s: the check probes the service's own socket", name)
					assert.Contains(t, j.Exec, `grep -q '"status":"ok"'`, "%s: the check looks at the answer", name)
					continue
				}
				m := serve.FindStringSubmatch(j.Exec)
				require.NotNil(t, m, "%s: %s", name, j.Exec)
				if m[2] != "" {
					assert.Equal(t, d.Name, m[2], name)
					assert.Equal(t, d.Name, m[3], name)
				} else {
					assert.Equal(t, d.Name, m[4], name)
				}
			}
		}
	}
}

func TestLookup(t *testing.T) {
	s, err := scenarios.Lookup("crash-restart")
	require.NoError(t, err)
	assert.Equal(t, "crash-restart", s.Name)
	assert.True(t, strings.HasPrefix(s.Source, "#"), "the source keeps its comments")

	_, err = scenarios.Lookup("no-such-thing")
	assert.True(t, errors.Is(err, scenarios.ErrUnknownScenario), "%v", err)
}

func TestWithTag(t *testing.T) {
	list, err := scenarios.Catalogue()
	require.NoError(t, err)
	gate := scenarios.WithTag(list, scenarios.TagGate)
	assert.NotEmpty(t, gate)
	assert.Less(t, len(gate), len(list), "the informational scenario is not in the gate")
	for _, s := range gate {
		assert.True(t, s.HasTag("gate"))
	}
	assert.Len(t, scenarios.WithTag(list, ""), len(list))
	assert.Empty(t, scenarios.WithTag(list, "no-such-tag"))
}
