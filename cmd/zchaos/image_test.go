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
	r0 := runZchaosCLI(t, false, "", "image", "build", "--base-only", "--base", "debian:bookworm")
	assert.Equal(t, exitUsage, r0.code, r0.err)
	r0 = runZchaosCLI(t, false, "", "run", "--base", "debian:bookworm", "--image", "x:y", "crash-restart")
	assert.Equal(t, exitUsage, r0.code, r0.err)
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

// --base builds the hero layer on an image already in the engine (here the
// debootstrap base itself, under its own tag: any Debian-based image with
// socat, curl and procps would do); a missing or unfit one is exit 3,
// naming it, from image build and from gate alike.
func TestDockerImageBuildOnBase(t *testing.T) {
	rt := chaostest.Docker(t)
	r := runZchaosCLI(t, false, "", "image", "build", "--base-only")
	require.Equal(t, exitPass, r.code, r.err)
	base := runtime.BaseOptions{}.Ref()

	r = runZchaosCLI(t, false, "", "image", "build", "--json", "--module-dir", "../..", "--base", base)
	require.Equal(t, exitPass, r.code, r.err)
	var refs imageRefs
	require.NoError(t, json.Unmarshal([]byte(r.out), &refs))
	assert.Equal(t, base, refs.Base)
	assert.Regexp(t, `^zchaos/hero:[0-9a-f]{16}$`, refs.Image)
	_, err := rt.Client().InspectImage(refs.Image)
	require.NoError(t, err, "the image exists in the engine")
	assert.NotContains(t, r.err, "debootstrap", "no debootstrap with --base")

	// An image without the probes' clients on its PATH is refused by name.
	unfit, err := runtime.BuildDerived(context.Background(), runtime.DerivedOptions{From: base, Env: []string{"PATH=/nowhere"}, Client: rt.Client()})
	require.NoError(t, err)
	r = runZchaosCLI(t, false, "", "image", "build", "--module-dir", "../..", "--base", unfit)
	assert.Equal(t, exitUsage, r.code, r.err)
	assert.Contains(t, r.err, "--base "+unfit+": not a base for the hero layer: missing: socat curl ps")

	for _, args := range [][]string{
		{"image", "build", "--module-dir", "../..", "--base", "zchaos/none:absent"},
		{"gate", "--base", "zchaos/none:absent", "--time-scale", "0.05", "--out", t.TempDir()},
	} {
		r = runZchaosCLI(t, false, "", args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.err)
		assert.Contains(t, r.err, "--base zchaos/none:absent: no such image in the engine", args)
	}
}
