package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
)

func TestImageAndCleanupHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"image_build_help": {"image", "build", "--help"},
		"cleanup_help":     {"cleanup", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", args...)
			require.Equal(t, exitPass, r.code, r.err)
			cliGolden(t).Assert(t, name, []byte(r.out))
		})
	}
}

func TestImageBuildUsageErrors(t *testing.T) {
	r := runZchaosCLI(t, false, "", "image", "build", "--bin-dir", t.TempDir())
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.err, "needs zinit, herosim and zchaos")
	r = runZchaosCLI(t, false, "", "image", "build", "extra")
	assert.Equal(t, exitUsage, r.code)
	r = runZchaosCLI(t, false, "", "cleanup", "--bogus")
	assert.Equal(t, exitUsage, r.code)
}

func TestDockerImageBuildCommand(t *testing.T) {
	rt := chaostest.Docker(t)
	// The base first (built here on a cold engine, else cached), so the
	// full build below finds it cached whatever ran before this test.
	r := runZchaosCLI(t, false, "", "image", "build", "--base-only")
	require.Equal(t, exitPass, r.code, r.err)
	assert.Equal(t, "base  "+runtime.BaseOptions{}.Ref()+"\n", r.out)

	r = runZchaosCLI(t, false, "", "image", "build", "--json", "--module-dir", "../..")
	require.Equal(t, exitPass, r.code, r.err)
	var refs imageRefs
	require.NoError(t, json.Unmarshal([]byte(r.out), &refs))
	assert.Equal(t, runtime.BaseOptions{}.Ref(), refs.Base)
	assert.Regexp(t, `^zchaos/hero:[0-9a-f]{16}$`, refs.Image)
	_, err := rt.Client().InspectImage(refs.Image)
	assert.NoError(t, err, "the image exists in the engine")
	assert.Contains(t, r.err, "base: "+refs.Base+" cached", "progress goes to stderr")

	// Cleanup removes exactly the labelled leftovers of one run.
	ctx := context.Background()
	runID := "cmd-cleanup-" + time.Now().Format("150405.000000")
	c, err := rt.Start(ctx, runtime.StartOptions{Image: refs.Image, RunID: runID})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(ctx) })
	r = runZchaosCLI(t, false, "", "cleanup", "--run", runID, "--json", "--local-dir", t.TempDir()+"/none")
	require.Equal(t, exitPass, r.code, r.err)
	var res cleanupResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &res))
	assert.Equal(t, cleanupResult{Docker: []string{c.Name()}, Local: []string{}, RunID: runID, RemovedTotal: 1}, res)
	r = runZchaosCLI(t, false, "", "cleanup", "--run", runID, "--local-dir", t.TempDir()+"/none")
	require.Equal(t, exitPass, r.code, r.err)
	assert.Equal(t, "nothing to remove (run "+runID+")\n", r.out)
}
