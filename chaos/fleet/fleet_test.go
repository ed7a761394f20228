package fleet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zchaos/zchaos/chaos/fleet"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func composer() *fleet.Composer { return &fleet.Composer{Policy: migrator.DefaultPolicy()} }

// TestFleetSetup checks the migrator-backed setup of a fleet scenario:
// selected service only, scaled jobs, legacy files only for legacy.
func TestFleetSetup(t *testing.T) {
	sc, err := scenarios.Lookup("crash-restart")
	require.NoError(t, err)
	scs, _, err := composer().Expand([]scenarios.Scenario{sc}, nil, 1)
	require.NoError(t, err)
	require.Len(t, scs, 1)
	sc = scs[0]
	assert.Equal(t, "user.hero_embedder_server", sc.Target, "the selector prefers the seed's embedder")
	setup := composer().Setup
	mig, err := setup(context.Background(), sc, scenarios.ConfigMigrated, 0.05)
	require.NoError(t, err)
	require.Len(t, mig.Services, 1)
	assert.Equal(t, sc.Target, mig.Services[0].Name)
	assert.Equal(t, []string{sc.Target}, mig.Starts)
	require.NotEmpty(t, mig.Jobs)
	for _, j := range mig.Jobs {
		if j.RestartDelay > 0 {
			assert.Equal(t, int64(250), j.RestartDelay.Milliseconds(), "5 s scaled by 0.05")
		}
	}
	require.Len(t, mig.Probes, 1)
	assert.NotEmpty(t, mig.Probes[0].Socket)
	assert.Len(t, mig.Files, 1, "migrated boots with an empty config dir")
	assert.NotEmpty(t, mig.Ledger, "the fidelity ledger is carried to the result")

	leg, err := setup(context.Background(), sc, scenarios.ConfigLegacy, 0.05)
	require.NoError(t, err)
	assert.True(t, leg.Legacy[sc.Target])
	assert.Nil(t, leg.Apply, "legacy services boot from their files")
	assert.GreaterOrEqual(t, len(leg.Files), 1)
	require.Len(t, leg.Jobs, 1)
	assert.Equal(t, "never", leg.Policies[0].Restart)

	// A selected service the legacy config lacks is bad input (cmd once
	// typed it a usage error; it reaches the result as the setup's error).
	_, err = setup(context.Background(), scenarios.Scenario{Services: scenarios.ServiceSet{From: "fleet", Select: []string{"nope"}}}, scenarios.ConfigMigrated, 1)
	assert.ErrorIs(t, err, fleet.ErrUnknownService)
	assert.EqualError(t, err, `service "nope" is not in the legacy config (fleet)`)
}

func TestUnknownConfig(t *testing.T) {
	_, err := composer().Setup(context.Background(), scenarios.Scenario{}, "rebuilt", 1)
	require.ErrorIs(t, err, fleet.ErrUnknownConfig)
	// As built needs the image discovered first.
	_, err = composer().Setup(context.Background(), scenarios.Scenario{}, scenarios.ConfigAsBuilt, 1)
	require.EqualError(t, err, "config as-built: no image was discovered (fleet.Discover)")
}

// TestSelectionFollowsAfter: a selected service brings, transitively, the
// services it starts after, their files and retired health files, and
// nothing else.
func TestSelectionFollowsAfter(t *testing.T) {
	sc := scenarios.Scenario{Services: scenarios.ServiceSet{Select: []string{"user.hero_admin_ui"}}}
	st, err := composer().Setup(context.Background(), sc, scenarios.ConfigLegacy, 1)
	require.NoError(t, err)
	kept := map[string]bool{}
	for _, s := range st.Services {
		kept[s.Name] = true
	}
	assert.True(t, kept["user.hero_admin_ui"])
	assert.True(t, kept["user.hero_auth_server"], "admin_ui starts after auth_server")
	assert.True(t, kept["user.hero_db_server"], "admin_ui starts after db_server")
	assert.Less(t, len(kept), migrator.FleetSize, "not the whole fleet")
	for _, s := range st.Services {
		for _, a := range s.After {
			assert.True(t, kept[a], "%s starts after %s, which is kept", s.Name, a)
		}
	}
	assert.Contains(t, st.Files, "/var/lib/zchaos/legacy-config/hero_admin_ui.toml")
	assert.Contains(t, st.Files, "/var/lib/zchaos/legacy-config/hero_admin_ui_health.toml")
	assert.NotContains(t, st.Files, "/var/lib/zchaos/legacy-config/hero_books_seed.toml")
	assert.Len(t, st.Files, 2*len(kept), "each kept service with its health file")

	whole, err := composer().Setup(context.Background(), scenarios.Scenario{}, scenarios.ConfigMigrated, 1)
	require.NoError(t, err)
	assert.Len(t, whole.Services, migrator.FleetSize, "no selection: the whole fleet")
}

// TestLegacyLifecycle: a legacy [lifecycle] section is the legacy job
// model's restart policy, scaled.
func TestLegacyLifecycle(t *testing.T) {
	c := &fleet.Composer{Policy: migrator.DefaultPolicy(), ConfigDir: "../../migrator/testdata/messy/lifecycle"}
	st, err := c.Setup(context.Background(), scenarios.Scenario{}, scenarios.ConfigLegacy, 0.5)
	require.NoError(t, err)
	require.Len(t, st.Jobs, 1)
	j := st.Jobs[0]
	assert.Equal(t, "user.hero_api", j.Service)
	assert.Equal(t, "always", j.Restart.String())
	assert.Equal(t, int64(1000), j.RestartDelay.Milliseconds(), "2000 ms scaled by 0.5")
	assert.Equal(t, 3, j.MaxRestarts)
	require.Len(t, st.Policies, 1)
	assert.Equal(t, scenarios.ConfigLegacy, st.Policies[0].Config)
	assert.Equal(t, "always", st.Policies[0].Restart)
	require.Len(t, st.Probes, 1, "the agent probes it the migrated way")
	assert.Equal(t, "user.hero_api", st.Probes[0].Service)
	assert.Equal(t, []string{"ZINIT_CONFIG_DIR=/var/lib/zchaos/legacy-config"}, st.Env)
}

// TestComposerTargets: the fleet's services with their probe kinds, and a
// selector resolved among them (--target overrides).
func TestComposerTargets(t *testing.T) {
	sc, err := scenarios.Lookup("hang-detected")
	require.NoError(t, err)
	infos, err := composer().Targets(sc)
	require.NoError(t, err)
	require.Len(t, infos, 29, "the whole hero fleet")
	kinds := map[string]int{}
	for _, i := range infos {
		kinds[i.Probe]++
	}
	assert.Positive(t, kinds[scenarios.ProbeSocket])
	assert.Positive(t, kinds[scenarios.ProbeHTTP])
	scs, _, err := composer().Expand([]scenarios.Scenario{sc}, []string{"user.hero_books_server", "user.hero_ai_server"}, 1)
	require.NoError(t, err)
	require.Len(t, scs, 2)
	assert.Equal(t, "user.hero_books_server", scs[0].Target)
	assert.Equal(t, []string{"user.hero_ai_server"}, scs[1].Services.Select)
}
