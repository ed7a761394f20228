package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/scenarios"
)

// TestLocalRunCrashRestart runs the crash-restart scenario through the
// Runner on the local runtime (no engine): the migrated service is
// restarted after its restart delay, the legacy one is not, and no process
// tree or root outlives the run.
func TestLocalRunCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs a scenario for seconds; not a -short test")
	}
	img := localImage(t)
	dir, err := os.MkdirTemp("", "zl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	rt := localRuntime(t, dir)
	r := &chaos.Runner{Runtime: rt, Image: img, Setup: testSetup, TimeScale: 0.05, Seed: 1, OutDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := r.Run(ctx, []scenarios.Scenario{catalogued(t, "crash-restart")}, nil)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 2)
	byCfg := map[string]scenarios.ScenarioResult{}
	for _, s := range res.Scenarios {
		byCfg[s.Config] = s
	}
	mig, leg := byCfg[scenarios.ConfigMigrated], byCfg[scenarios.ConfigLegacy]
	logTimeline(t, mig)
	assert.Equal(t, scenarios.VerdictPass, mig.Verdict, "migrated: %s", mig.Reason)
	assert.Equal(t, scenarios.VerdictFail, leg.Verdict, "legacy: %s", leg.Reason)
	assert.Equal(t, 2, countKind(mig.Timeline, scenarios.EventSpawn, tSvc), "one respawn after the kill")
	assert.Equal(t, 1, countKind(leg.Timeline, scenarios.EventSpawn, tSvc), "legacy never comes back")
	require.NotNil(t, mig.Recovery.Restart)
	assert.GreaterOrEqual(t, mig.Recovery.Restart.Ms, 250.0-5, "restart-delay 5 s × 0.05 is a floor")

	// Nothing is left: no state file, no root.
	left, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	assert.Empty(t, left, "the run removed its roots and state files")
}
