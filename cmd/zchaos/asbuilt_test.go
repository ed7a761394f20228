package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// The as-built tests build images the way a hero installer would leave
// them: FROM the reference image, with an entrypoint that starts zinit as
// PID 1 and a boot script of `zinit add service/job` lines (or only legacy
// TOMLs), then gate them with --as-built at the scale they were built at.

const (
	embedder     = "user.hero_embedder_server"
	embedderSock = "/root/hero/var/sockets/hero_embedder_server.sock"
	// seedProbe is the migration issue's own proposed probe, verbatim.
	seedProbe = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:` + embedderSock
	// readProbe reads the answer and is bounded.
	readProbe        = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat -t 1 - UNIX-CONNECT:` + embedderSock + ` | grep -q '"result"'`
	asBuiltConfigDir = "/etc/zinit-as-built"
)

// bootScript starts zinit as PID 1 and, once it answers, runs jobs.
func bootScript(jobs string) map[string][]byte {
	return map[string][]byte{
		"/usr/local/bin/hero-boot":    []byte("#!/bin/sh\n(until zinit list >/dev/null 2>&1; do sleep 0.05; done; . /usr/local/lib/hero-jobs.sh) &\nexec zinit init\n"),
		"/usr/local/lib/hero-jobs.sh": []byte(jobs),
		asBuiltConfigDir + "/README":  []byte("the as-built test image's config dir\n"),
	}
}

// jobModelScript adds the embedder with the seed's start job (scaled to
// 0.05) and the given check.
func jobModelScript(check string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	return strings.Join([]string{
		"zinit add service " + embedder,
		"zinit add job --exec '/root/hero/bin/hero_embedder_server serve' --trigger start --restart on-failure --restart-delay 250 --max-restarts 20 " + embedder + " main",
		"zinit add job --trigger check --interval-ms 3000 --timeout-ms 1500 --exec " + q(check) + " " + embedder + " check",
		"zinit start " + embedder, "",
	}, "\n")
}

// asBuiltImage derives an image from the test's reference image.
func asBuiltImage(t *testing.T, files map[string][]byte, entrypoint []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := runtime.BuildDerived(ctx, runtime.DerivedOptions{From: chaostest.Image(t), Files: files,
		Links:      map[string]string{"/root/hero/bin/hero_embedder_server": runtime.ImageHerosimPath},
		Env:        []string{"ZINIT_CONFIG_DIR=" + asBuiltConfigDir},
		Entrypoint: entrypoint})
	require.NoError(t, err)
	return ref
}

// binRun is one run of the real zchaos binary (built from the module
// once per test), as a user runs it.
type binRun struct {
	code           int
	stdout, stderr string
	out            string // its --out directory
}

// runBinary runs `zchaos args... --out DIR --seed 7` and returns its exit
// code and output; the test fails only when it could not run at all.
func runBinary(t *testing.T, timeout time.Duration, args ...string) binRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	r := binRun{out: t.TempDir()}
	args = append(args, "--out", r.out, "--seed", "7")
	cmd := exec.CommandContext(ctx, bins.Agent, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r.stdout, r.stderr = stdout.String(), stderr.String()
	t.Logf("zchaos %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// result reads the run's result.json.
func (r binRun) result(t *testing.T) scenarios.Result {
	t.Helper()
	return readResult(t, filepath.Join(r.out, "result.json"))
}

// judged is the run's result when it judged anything (exit 0, 1 or 2),
// else the zero Result.
func (r binRun) judged(t *testing.T) scenarios.Result {
	t.Helper()
	if r.code > exitInconclusive {
		return scenarios.Result{}
	}
	return r.result(t)
}

// gateAsBuilt runs `zchaos gate --as-built` on image and returns its exit
// code, its output and (when it wrote one) its result.
func gateAsBuilt(t *testing.T, image string, extra ...string) (int, string, scenarios.Result) {
	t.Helper()
	r := runBinary(t, 10*time.Minute, append([]string{"gate", "--as-built", "--image", image, "--time-scale", "0.05", "--tag", "hang"}, extra...)...)
	return r.code, r.stdout + r.stderr, r.judged(t)
}

func auditOf(res scenarios.Result, svc string) *scenarios.ProbeAudit {
	for i := range res.ProbeAudit {
		if res.ProbeAudit[i].Service == svc {
			return &res.ProbeAudit[i]
		}
	}
	return nil
}

// TestDockerAsBuiltSeedProbeBlocks: the seed's own probe passes on a hung
// service: the gate blocks with a blind-probe finding naming the service.
func TestDockerAsBuiltSeedProbeBlocks(t *testing.T) {
	rt := chaostest.Docker(t)
	img := asBuiltImage(t, bootScript(jobModelScript(seedProbe)), []string{"/bin/sh", "/usr/local/bin/hero-boot"})
	code, out, res := gateAsBuilt(t, img)
	assert.Equal(t, exitFail, code)
	assert.Equal(t, scenarios.DecisionBlock, res.Decision)
	a := auditOf(res, embedder)
	require.NotNil(t, a, "the check was audited")
	assert.Equal(t, scenarios.VerdictFail, a.Verdict)
	assert.Contains(t, a.Reason, "blind probe")
	assert.Contains(t, a.Reason, "socat - UNIX-CONNECT:"+embedderSock)
	assert.Contains(t, res.DecisionReason, embedder)
	assert.Contains(t, out, "gate: BLOCK")
	left, err := rt.Cleanup(context.Background(), res.RunID)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestDockerAsBuiltGoodProbePromotes: result-checking, time-bounded probes
// and the seed's policy at the image's scale: the audit passes, the fault
// scenarios run on the service the image declares, and the gate promotes.
func TestDockerAsBuiltGoodProbePromotes(t *testing.T) {
	chaostest.Docker(t)
	img := asBuiltImage(t, bootScript(jobModelScript(readProbe)), []string{"/bin/sh", "/usr/local/bin/hero-boot"})
	code, _, res := gateAsBuilt(t, img)
	assert.Equal(t, exitPass, code, res.DecisionReason)
	assert.Equal(t, scenarios.DecisionPromote, res.Decision)
	a := auditOf(res, embedder)
	require.NotNil(t, a)
	assert.Equal(t, scenarios.VerdictPass, a.Verdict, a.Reason)
	assert.LessOrEqual(t, a.DurationMs, 3*1500.0+1000, "audit time within 3 × its timeout (plus the wait for the service)")
	for _, f := range res.Conformance {
		assert.NotEqual(t, scenarios.SeverityError, f.Severity, "%+v", f)
	}
	require.NotEmpty(t, res.Scenarios)
	for _, s := range res.Scenarios {
		assert.Equal(t, scenarios.ConfigAsBuilt, s.Config)
		assert.Equal(t, embedder, s.Service)
		assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s: %s", s.Scenario, s.Reason)
	}
}

// TestDockerAsBuiltLegacyBlocks: an image that boots only the installer's
// legacy TOMLs blocks, with no-restart and dummy-check findings.
func TestDockerAsBuiltLegacyBlocks(t *testing.T) {
	chaostest.Docker(t)
	files := map[string][]byte{
		asBuiltConfigDir + "/user.hero_embedder_server.toml": []byte("[service]\nname = \"user.hero_embedder_server\"\nexec = \"/root/hero/bin/hero_embedder_server serve\"\noneshot = false\n"),
		asBuiltConfigDir + "/user.hero_embedder_server_health.toml": []byte("[service]\nname = \"user.hero_embedder_server_health\"\n" +
			"exec = \"echo \\\"No health check configured\\\"\"\noneshot = true\n[dependencies]\nafter = [\"user.hero_embedder_server\"]\n"),
	}
	img := asBuiltImage(t, files, nil)
	code, _, res := gateAsBuilt(t, img)
	assert.Equal(t, exitFail, code)
	assert.Equal(t, scenarios.DecisionBlock, res.Decision)
	codes := map[string]bool{}
	for _, f := range res.Conformance {
		if f.Service == embedder {
			codes[f.Code] = true
		}
	}
	assert.True(t, codes["no-restart"], "%+v", res.Conformance)
	assert.True(t, codes["health-always-passes"], "%+v", res.Conformance)
	assert.True(t, codes["legacy-service"], "%+v", res.Conformance)
}

// TestDockerAsBuiltBadImages: no zinit at all is the user's mistake (exit
// 3, saying so); a zinit that never answers is exit 4 within the bounded
// wait, naming the socket it tried.
func TestDockerAsBuiltBadImages(t *testing.T) {
	chaostest.Docker(t)
	chaostest.Image(t) // the base is built with it
	noZinit, err := runtime.BuildDerived(context.Background(), runtime.DerivedOptions{From: runtime.BaseOptions{}.Ref(),
		Entrypoint: []string{"/bin/sleep", "600"}})
	require.NoError(t, err)
	code, out, _ := gateAsBuilt(t, noZinit)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, "has no zinit CLI")

	silent := asBuiltImage(t, bootScript(""), []string{"/bin/sleep", "600"})
	start := time.Now()
	code, out, _ = gateAsBuilt(t, silent, "--boot-timeout", "3s")
	assert.Equal(t, exitInfra, code)
	assert.Contains(t, out, "zinit never answered within 3s on socket /run/zinit.sock")
	assert.Less(t, time.Since(start), 2*time.Minute, "bounded")
}
