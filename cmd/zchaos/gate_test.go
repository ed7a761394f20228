package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/scenarios"
)

func TestGateHelpGolden(t *testing.T) {
	r := runZchaosCLI(t, false, "", "gate", "--help")
	require.Equal(t, exitPass, r.code, r.err)
	cliGolden(t).Assert(t, "gate_help", []byte(r.out))
}

func TestGateUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"require above repeat": {"gate", "--require", "3", "--repeat", "2"},
		"negative require":     {"gate", "--require", "-1"},
		"zero time scale":      {"gate", "--time-scale", "0"},
		"negative parallelism": {"gate", "--parallel", "-1"},
		"unknown tag":          {"gate", "--tag", "no-such-tag"},
		"missing config dir":   {"gate", "--config", "/nonexistent/zchaos"},
		"positional argument":  {"gate", "crash-restart"},
		"unknown flag":         {"gate", "--frobnicate"},
		"missing policy file":  {"gate", "--policy", "/nonexistent/policy.yaml"},
		"shard index > count":  {"gate", "--shard", "3/2", "--seed", "1", "--time-scale", "0.05"},
		"shard 0/0":            {"gate", "--shard", "0/0", "--seed", "1", "--time-scale", "0.05"},
		"shard not a number":   {"gate", "--shard", "a/b", "--seed", "1", "--time-scale", "0.05"},
		"shard without seed":   {"gate", "--shard", "1/2", "--time-scale", "0.05"},
		"shard with auto":      {"gate", "--shard", "1/2", "--seed", "1"},
		"run shard 0-based":    {"run", "--shard", "0/2", "--seed", "1", "crash-restart"},
	} {
		t.Run(name, func(t *testing.T) {
			args = append(args, "--out", t.TempDir())
			r := runZchaosCLI(t, false, "", args...)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.err)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.err), "\n")+1, "one line: %q", r.err)
			assert.Empty(t, r.out)
		})
	}
}

// TestGateTargetAndPolicyErrors: a --target that names no service of the
// fleet exits 3 listing the services found; a policy file with an unknown
// key exits 3 naming the file and line. Both are refused before any
// container starts.
func TestGateTargetAndPolicyErrors(t *testing.T) {
	seed := filepath.Join(chaostest.ModuleRoot(t), "migrator", "testdata", "seed")
	r := runZchaosCLI(t, false, "", "gate", "--config", seed, "--target", "user.nope", "--out", t.TempDir())
	assert.Equal(t, exitUsage, r.code, r.err)
	assert.Equal(t, "zchaos: --target: no service matches \"user.nope\"; services found: user.hero_embedder_server\n", r.err)

	pol := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(pol, []byte("defaults:\n  restart: on-failure\n  restart_delya_ms: 5000\n"), 0o644))
	r = runZchaosCLI(t, false, "", "gate", "--policy", pol, "--out", t.TempDir())
	assert.Equal(t, exitUsage, r.code, r.err)
	assert.Contains(t, r.err, pol+":3")
	assert.Contains(t, r.err, "restart_delya_ms")
}

// TestDockerGateBaseline is the project's claim end to end: the gate,
// run as a user runs it (the static binary, the reference image built or
// reused), migrates the hero fleet, passes the hang scenarios on the
// migrated config, fails them on the legacy one, writes every report, and
// leaves no container behind.
func TestDockerGateBaseline(t *testing.T) {
	rt := chaostest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	run := runBinary(t, 20*time.Minute, "gate", "--baseline", "--tag", "hang", "--time-scale", "0.05")
	require.Equal(t, exitPass, run.code, "exit code 0 means promote")
	out, stdout := run.out, run.stdout
	res := run.result(t)
	assert.Equal(t, scenarios.VerdictPass, res.Verdict)
	got := map[string]scenarios.Verdict{}
	for _, s := range res.Scenarios {
		got[s.Scenario+"/"+s.Config] = s.Verdict
	}
	assert.Equal(t, map[string]scenarios.Verdict{
		"hang-detected/migrated": scenarios.VerdictPass, "hang-detected/legacy": scenarios.VerdictFail,
		"health-hang/migrated": scenarios.VerdictPass, "health-hang/legacy": scenarios.VerdictFail,
	}, got)
	require.Len(t, res.Diff, 2, "one behaviour diff per scenario")
	assert.Contains(t, res.Diff[0].Legacy, "undetected")
	assert.Contains(t, res.Diff[0].Migrated, "caught after")
	assert.NotEmpty(t, res.Ledger, "the fidelity ledger of the migrated fleet")
	for _, name := range []string{"report.md", "report-details.md", "junit.xml", "report.html"} {
		st, err := os.Stat(filepath.Join(out, name))
		if assert.NoError(t, err) {
			assert.Positive(t, st.Size(), name)
		}
	}
	assert.Contains(t, stdout, "gate: PROMOTE")
	note, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(note), "**Decision: PROMOTE** — 2/2 scenarios passed")
	assert.Contains(t, string(note), "[report-details.md](report-details.md)")
	// Every attempt's full stream is kept beside the result's compact timeline.
	for _, s := range res.Scenarios {
		if assert.NotEmpty(t, s.RawEvents, s.Scenario) {
			assert.FileExists(t, filepath.Join(out, s.RawEvents))
		}
	}

	// Nothing of this run is left in the engine.
	left, err := rt.Cleanup(ctx, res.RunID)
	require.NoError(t, err)
	assert.Empty(t, left, "containers left behind by the gate")
	var raw map[string]any
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.EqualValues(t, scenarios.ResultSchemaVersion, raw["schema_version"])
}

// TestDockerGateSeedConfigVerbatim: the hero installer's legacy TOML as the
// seed shows it (exec "/root/hero/bin/hero_embedder_server serve", a no-op
// health file) gates verbatim with --config on the reference image: its
// multi-call herosim stands in for the hero binary, the migrator finds the
// socket by convention, and the migrated config promotes.
func TestDockerGateSeedConfigVerbatim(t *testing.T) {
	rt := chaostest.Docker(t)
	seed := filepath.Join(chaostest.ModuleRoot(t), "migrator", "testdata", "seed")
	run := runBinary(t, 10*time.Minute, "gate", "--config", seed, "--tag", "hang", "--time-scale", "0.05")
	require.Equal(t, exitPass, run.code, "exit code 0 means promote")
	res := run.result(t)
	assert.Equal(t, scenarios.DecisionPromote, res.Decision, res.DecisionReason)
	require.NotEmpty(t, res.Scenarios)
	for _, s := range res.Scenarios {
		assert.Equal(t, "user.hero_embedder_server", s.Service)
		assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s: %s", s.Scenario, s.Reason)
	}
	left, err := rt.Cleanup(context.Background(), res.RunID)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func readResult(t *testing.T, p string) scenarios.Result {
	t.Helper()
	fh, err := os.Open(p)
	require.NoError(t, err)
	defer fh.Close()
	res, err := scenarios.DecodeResult(fh)
	require.NoError(t, err)
	return res
}

// TestDockerTimeScaleAuto: --time-scale auto measures the machine first,
// records the scale it chose and why, and runs at it; a machine too loaded
// for any scale exits 2 saying so, never guessing.
func TestDockerTimeScaleAuto(t *testing.T) {
	chaostest.Docker(t)
	run := runBinary(t, 15*time.Minute, "run", "crash-restart", "--time-scale", "auto")
	if run.code == exitInconclusive && strings.Contains(run.stderr, "machine too loaded to judge any timing") {
		return // an honest answer on a saturated machine
	}
	require.Equal(t, exitPass, run.code)
	stderr := run.stderr
	res := run.result(t)
	require.NotNil(t, res.Calibration, "the calibration is recorded")
	assert.Equal(t, res.Calibration.Scale, res.TimeScale)
	assert.Contains(t, []float64{0.05, 0.1, 0.25, 0.5, 1}, res.TimeScale)
	assert.Positive(t, res.Calibration.Load.Windows)
	assert.Contains(t, stderr, "--time-scale auto: timer lateness p99")
}
