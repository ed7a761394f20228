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
	"github.com/zchaos/zchaos/chaos/chaostest"
)

// TestLocalRunCrashRestart runs the crash-restart scenario through the
// Runner on the local runtime (no engine): the migrated service is
// restarted after its restart delay, the legacy one is not, and no process
// tree or root outlives the run.
func TestLocalRunCrashRestart(t *testing.T) {
	r, dir := localRunner(t, testSetup)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runCrashRestart(ctx, t, r)

	// Nothing is left: no state file, no root.
	left, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	assert.Empty(t, left, "the run removed its roots and state files")
}

// TestLocalRunInterposedHealthScenarios runs the interposed health
// scenarios on the local runtime: the paths the agent reports (under the
// container's root) go back into the revert's argv unchanged.
func TestLocalRunInterposedHealthScenarios(t *testing.T) {
	r, _ := localRunner(t, rpcSetup(true))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runInterposedHealthScenarios(ctx, t, r)
}

// localRunner runs scenarios on the local runtime (the reference binaries
// built once more) under a fresh short directory, which it returns;
// scenario tests are not -short tests.
func localRunner(t *testing.T, setup chaos.SetupFunc) (*chaos.Runner, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs scenarios for seconds; not a -short test")
	}
	img := chaostest.LocalImage(t)
	dir, err := os.MkdirTemp("", "zl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &chaos.Runner{Runtime: chaostest.LocalRuntime(t, dir), Image: img, Setup: setup, TimeScale: 0.05, Seed: 1,
		OutDir: t.TempDir()}, dir
}
