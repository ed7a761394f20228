// Package chaostest holds the test infrastructure the harness's packages
// share: the Docker-or-skip rule, the module root, the test fleet and the
// images built from it once per test binary (the reference image, and the
// mutant images of the gate's self-test).
//
// It is imported by tests only. It imports chaos/runtime, zinit/supervisor
// (for the mutants' names) and the standard testing packages; never chaos
// (the runner), so runner tests can use it.
package chaostest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/zinit/supervisor"
)

// Docker returns a Docker runtime, or skips (loudly) when no engine
// answers or ZCHAOS_NO_DOCKER=1. Under CI (env CI set) a missing engine is
// a failure, not a skip: CI must never pass without running Docker tests.
// Every container the runtime made is removed when the test ends.
func Docker(tb testing.TB) *runtime.DockerRuntime {
	tb.Helper()
	SkipWithoutDocker(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := runtime.NewDockerRuntime(ctx)
	noEngine(tb, err)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, rt.RemoveAll(context.Background())) })
	return rt
}

// SkipWithoutDocker skips when ZCHAOS_NO_DOCKER=1, or when no engine
// answers outside CI (under CI that fails the test instead).
func SkipWithoutDocker(tb testing.TB) {
	tb.Helper()
	if os.Getenv("ZCHAOS_NO_DOCKER") == "1" {
		tb.Skipf("SKIP %s: ZCHAOS_NO_DOCKER=1", tb.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := runtime.NewDockerClient(ctx); err != nil {
		noEngine(tb, err)
		require.NoError(tb, err)
	}
}

func noEngine(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, runtime.ErrNoEngine) {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s: no Docker engine answers under CI (Docker tests must run in CI): %v", tb.Name(), err)
	}
	tb.Skipf("SKIP %s: no Docker engine answers: %v", tb.Name(), err)
}

// ModuleRoot is the directory of the module's go.mod.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := goruntime.Caller(0)
	require.True(tb, ok)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Fleet is a tiny legacy fleet: one socket service run by herosim.
var Fleet = fstest.MapFS{
	"user.hero_demo_server.toml": {Data: []byte(`[service]
name = "user.hero_demo_server"
exec = "/root/hero/bin/hero_demo_server serve --name user.hero_demo_server --socket /root/hero/var/sockets/hero_demo_server.sock"
oneshot = false
`)},
}

// FleetHeroBins are the /root/hero/bin names Fleet's exec lines use.
var FleetHeroBins = []string{"hero_demo_server"}

// builtImage is an image built once per test binary.
type builtImage struct {
	once sync.Once
	ref  string
	err  error
	log  bytes.Buffer
}

var (
	referenceImage builtImage
	mutantImage    builtImage
)

// Image builds (or reuses) the base and hero image of Fleet, once per test
// binary, and returns its reference.
func Image(tb testing.TB) string {
	tb.Helper()
	return referenceImage.build(tb)
}

// MutantImage is Image with a zinit built with supervisor.MutantsTag, once
// per test binary: the reference supervisor, until ZINIT_MUTANT switches
// one of its defects on (see Mutant).
func MutantImage(tb testing.TB) string {
	tb.Helper()
	return mutantImage.build(tb, supervisor.MutantsTag)
}

// Mutant derives from MutantImage the image whose zinit runs with the
// defect name (one of supervisor.Mutants) switched on.
func Mutant(tb testing.TB, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := runtime.BuildDerived(ctx, runtime.DerivedOptions{From: MutantImage(tb), Env: []string{supervisor.MutantEnv + "=" + name}})
	require.NoError(tb, err)
	return ref
}

func (b *builtImage) build(tb testing.TB, zinitTags ...string) string {
	tb.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "zchaos-testbin-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir) // the binaries live in the image afterwards
		bins, err := runtime.BuildBinaries(ctx, ModuleRoot(tb), dir, zinitTags...)
		if err != nil {
			b.err = err
			return
		}
		b.ref, b.err = runtime.BuildImage(ctx, runtime.ImageOptions{
			Binaries: bins, Fleet: Fleet, HeroBins: FleetHeroBins, Progress: &b.log,
		})
	})
	require.NoError(tb, b.err, "image build log:\n%s", b.log.String())
	return b.ref
}

// LocalImage builds the three binaries and lays out a local image of Fleet
// in a directory removed when the test ends.
func LocalImage(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, ModuleRoot(tb), filepath.Join(dir, "bin"))
	require.NoError(tb, err)
	img, err := runtime.BuildLocalImage(filepath.Join(dir, "img"), runtime.ImageOptions{
		Binaries: bins, Fleet: Fleet, HeroBins: FleetHeroBins,
	})
	require.NoError(tb, err)
	return img
}

// LocalRuntime is a local runtime under dir ("" makes a short temporary
// one: socket paths must stay under 108 bytes) whose process trees are
// removed when the test ends.
func LocalRuntime(tb testing.TB, dir string) *runtime.LocalRuntime {
	tb.Helper()
	if dir == "" {
		d, err := os.MkdirTemp("", "zl")
		require.NoError(tb, err)
		tb.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	rt, err := runtime.NewLocalRuntime(dir)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, rt.RemoveAll(context.Background())) })
	return rt
}
