package chaos_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// The service these tests put under test: a herosim on a socket, set up
// the legacy way (a TOML file, restart never) or migrated (jobs added
// through the container's zinit CLI, with the seed's policy and check).
const (
	tSvc    = "user.hero_embedder_server"
	tSocket = "/root/hero/var/sockets/hero_embedder_server.sock"
	tExec   = "/usr/local/bin/herosim serve --name " + tSvc + " --socket " + tSocket
	tCheck  = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat -t 30 - UNIX-CONNECT:` + tSocket +
		` | grep -q '"status":"ok"'`
)

// testSetup is a SetupFunc for one fleet-like service.
func testSetup(_ context.Context, _ scenarios.Scenario, config string, scale float64) (chaos.Setup, error) {
	st := chaos.Setup{Config: config, Legacy: map[string]bool{}, Oneshot: map[string]bool{},
		Env:   []string{"ZINIT_CONFIG_DIR=" + chaos.EmptyConfigDir},
		Files: map[string][]byte{chaos.EmptyConfigDir + "/README": []byte("test\n")}}
	svc := zinit.Service{Name: tSvc}
	st.Services = []zinit.Service{svc}
	if config == scenarios.ConfigLegacy {
		st.Legacy[tSvc] = true
		st.Jobs = []zinit.Job{{Service: tSvc, Name: "main", Exec: tExec, Trigger: zinit.TriggerStart}}
		st.Policies = []scenarios.ServicePolicy{chaos.PolicyOf(tSvc, config, st.Jobs, false)}
		toml := fmt.Sprintf("[service]\nname = %q\nexec = %q\noneshot = false\n", tSvc, tExec)
		st.Apply = func(ctx context.Context, c runtime.Container) error {
			if err := c.CopyIn(ctx, map[string][]byte{chaos.EmptyConfigDir + "/" + tSvc + ".toml": []byte(toml)}); err != nil {
				return err
			}
			return chaos.RunCLI(ctx, c, chaos.ZinitCLI, [][]string{{"zinit", "reload"}})
		}
		return st, nil
	}
	start, err := zinit.NewJob(tSvc, "main").Exec(tExec).Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure).
		RestartDelay(zinit.ScaleDuration(5*time.Second, scale)).MaxRestarts(20).Build()
	if err != nil {
		return st, err
	}
	check, err := zinit.NewJob(tSvc, "check").Exec(tCheck).Trigger(zinit.TriggerCheck).
		Interval(zinit.ScaleDuration(60*time.Second, scale)).Timeout(zinit.ScaleDuration(30*time.Second, scale)).Build()
	if err != nil {
		return st, err
	}
	st.Jobs = []zinit.Job{start, check}
	st.Policies = []scenarios.ServicePolicy{chaos.PolicyOf(tSvc, config, st.Jobs, false)}
	st.Apply = func(ctx context.Context, c runtime.Container) error {
		return chaos.RunCLI(ctx, c, chaos.ZinitCLI, [][]string{svc.Argv(), start.Argv(), check.Argv(), {"zinit", "start", tSvc}})
	}
	return st, nil
}

// catalogued is a catalogue scenario with its target chosen among the one
// service testSetup runs.
func catalogued(tb testing.TB, name string) scenarios.Scenario {
	tb.Helper()
	return cataloguedOn(tb, name, tSvc)
}

// cataloguedOn is a catalogue scenario with its target chosen among one
// socket service, svc.
func cataloguedOn(tb testing.TB, name, svc string) scenarios.Scenario {
	tb.Helper()
	sc, err := scenarios.Lookup(name)
	require.NoError(tb, err)
	scs, err := scenarios.ExpandTargets([]scenarios.Scenario{sc},
		[]scenarios.TargetInfo{{Name: svc, Probe: scenarios.ProbeSocket}}, nil, 1)
	require.NoError(tb, err)
	require.Len(tb, scs, 1)
	return scs[0]
}

func dockerRunner(t *testing.T) *chaos.Runner {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	return &chaos.Runner{Runtime: rt, Image: ref, Setup: testSetup, TimeScale: 0.05, Seed: 1, OutDir: t.TempDir()}
}

func countKind(evs []scenarios.Event, k scenarios.EventKind, svc string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k && e.Service == svc {
			n++
		}
	}
	return n
}

func verdicts(res scenarios.Result) map[string]string {
	out := map[string]string{}
	for _, s := range res.Scenarios {
		out[s.Config] = s.Verdict.String() + ": " + s.Reason
	}
	return out
}

// runCrashRestart runs the catalogue's crash-restart on both configs and
// checks what every runtime must show: migrated respawns once, no earlier
// than the scaled restart delay, and passes; legacy never comes back.
func runCrashRestart(ctx context.Context, t *testing.T, r *chaos.Runner) (res scenarios.Result, mig, leg scenarios.ScenarioResult) {
	t.Helper()
	res, err := r.Run(ctx, []scenarios.Scenario{catalogued(t, "crash-restart")}, nil)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 2)
	byCfg := map[string]scenarios.ScenarioResult{}
	for _, s := range res.Scenarios {
		byCfg[s.Config] = s
	}
	mig, leg = byCfg[scenarios.ConfigMigrated], byCfg[scenarios.ConfigLegacy]
	logTimeline(t, mig)
	assert.Equal(t, scenarios.VerdictPass, mig.Verdict, "migrated: %s", mig.Reason)
	assert.Equal(t, scenarios.VerdictFail, leg.Verdict, "legacy: %s", leg.Reason)
	assert.Equal(t, 2, countKind(mig.Timeline, scenarios.EventSpawn, tSvc), "one respawn after the kill")
	assert.Equal(t, 1, countKind(leg.Timeline, scenarios.EventSpawn, tSvc), "legacy never comes back")
	if assert.NotNil(t, mig.Recovery.Restart) {
		assert.GreaterOrEqual(t, mig.Recovery.Restart.Ms, 250.0-5, "restart-delay 5 s × 0.05 is a floor")
	}
	return res, mig, leg
}

func TestDockerCrashRestartMigratedPassesLegacyFails(t *testing.T) {
	r := dockerRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, mig, leg := runCrashRestart(ctx, t, r)
	assert.Empty(t, mig.Forensics)
	assert.NotEmpty(t, leg.Forensics, "a non-pass keeps a forensics bundle")
	for _, f := range []string{"timeline.json", "ps.txt", "zinit-list-end.json", "scenario.yaml", "seed.txt"} {
		assert.FileExists(t, r.OutDir+"/"+leg.Forensics+"/"+f)
	}
	assert.True(t, leg.Baseline, "legacy beside migrated is the baseline")
	assert.Equal(t, scenarios.VerdictPass, res.Verdict, "the baseline failing as expected decides nothing")
	assert.Equal(t, scenarios.DecisionPromote, res.Decision, res.DecisionReason)
	assertNoContainers(t, r)
}

func TestDockerCrashLoopReachesFailedWithExactSpawns(t *testing.T) {
	r := dockerRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc := catalogued(t, "crash-loop-limit")
	res, err := r.Run(ctx, []scenarios.Scenario{sc}, nil)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	s := res.Scenarios[0]
	logTimeline(t, s)
	assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s", s.Reason)
	n := sc.Services.Declared[0].Jobs[0].MaxRestarts
	assert.Equal(t, 1+n, countKind(s.Timeline, scenarios.EventSpawn, sc.Target), "exactly 1 + N spawns")
	var last scenarios.Event
	for _, e := range s.Timeline {
		if e.Kind == scenarios.EventStatus {
			last = e
		}
	}
	assert.Equal(t, "failed", last.State)
	assert.Equal(t, zinit.ReasonRestartLimit, last.Reason)
	assertNoContainers(t, r)
}

func TestDockerSigstopDetectedAndRestarted(t *testing.T) {
	r := dockerRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := r.Run(ctx, []scenarios.Scenario{catalogued(t, "hang-detected")}, []string{scenarios.ConfigMigrated})
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	s := res.Scenarios[0]
	logTimeline(t, s)
	assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s", s.Reason)
	var effect, revert bool
	for _, e := range s.Timeline {
		effect = effect || (e.Kind == scenarios.EventEffect && e.Fault == "hang" && e.OK != nil && *e.OK)
		revert = revert || e.Kind == scenarios.EventRevert
	}
	assert.True(t, effect, "SIGSTOP's effect (state T) was seen")
	assert.True(t, revert, "the hang is always undone")
	assert.Equal(t, 2, countKind(s.Timeline, scenarios.EventSpawn, tSvc), "killed by the check and respawned")
	assertNoContainers(t, r)
}

// logTimeline prints an attempt's timeline when it did not pass.
func logTimeline(t *testing.T, s scenarios.ScenarioResult) {
	t.Helper()
	if s.Verdict == scenarios.VerdictPass && !testing.Verbose() {
		return
	}
	for _, c := range s.Checks {
		t.Logf("check %s %s: %s (expected %s, observed %s)", c.ID, c.Verdict, c.Reason, c.Expected, c.Observed)
	}
	for _, e := range s.Timeline {
		if e.Kind == scenarios.EventProbe && e.OK != nil && *e.OK {
			continue
		}
		b, _ := json.Marshal(e)
		t.Logf("%9.1f ms %s", float64(e.TNs)/1e6, b)
	}
}

func assertNoContainers(t *testing.T, r *chaos.Runner) {
	t.Helper()
	rt := r.Runtime.(*runtime.DockerRuntime)
	list, err := rt.Client().ListContainers(docker.ListContainersOptions{All: true,
		Filters: map[string][]string{"label": {runtime.LabelRun + "=" + r.RunID}}})
	require.NoError(t, err)
	assert.Empty(t, list, "every container of the run is removed")
}

// TestDockerKilledHarnessMidScenarioThenCleanup runs a scenario in a child
// process (this test binary), SIGKILLs it mid-scenario, and checks that
// Cleanup of the run, the manual sweep, leaves nothing. (The container's
// dead-man switch would remove it after its grace anyway; Cleanup comes
// first, or finds it going.)
func TestDockerKilledHarnessMidScenarioThenCleanup(t *testing.T) {
	if runID := os.Getenv("ZCHAOS_TEST_MIDRUN"); runID != "" {
		r := dockerRunner(t)
		r.RunID = runID
		r.Progress = func(p chaos.ProgressEvent) {
			if p.Phase == chaos.PhaseSteady {
				fmt.Printf("MIDRUN %s\n", p.Phase)
			}
		}
		_, _ = r.Run(context.Background(), []scenarios.Scenario{catalogued(t, "crash-restart")}, []string{scenarios.ConfigMigrated})
		select {}
	}
	r := dockerRunner(t)
	runID := fmt.Sprintf("midrun-%d", os.Getpid())
	child := exec.Command(os.Args[0], "-test.run=^TestDockerKilledHarnessMidScenarioThenCleanup$", "-test.v")
	child.Env = append(os.Environ(), "ZCHAOS_TEST_MIDRUN="+runID)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	seen := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "MIDRUN ") {
			seen = true
			break
		}
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	require.True(t, seen, "the child reached the steady-state phase")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := r.Runtime.(*runtime.DockerRuntime)
	removed, err := rt.Cleanup(ctx, runID)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(removed), 1, "at most the orphaned scenario container is found: %v", removed)
	require.Eventually(t, func() bool {
		list, err := rt.Client().ListContainers(docker.ListContainersOptions{All: true, Context: ctx,
			Filters: map[string][]string{"label": {runtime.LabelRun + "=" + runID}}})
		return err == nil && len(list) == 0
	}, 30*time.Second, 50*time.Millisecond, "every container of the run is removed")
}
