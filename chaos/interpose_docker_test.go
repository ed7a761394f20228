package chaos_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// A JSON-RPC service that is not herosim: socat forks a tiny sh responder
// per connection. It has no knob, and SIGUSR1 would end it, so its health
// faults can only go through the agent's socket interposer.
const (
	rpcSvc       = "test.jsonrpc"
	rpcSocket    = "/root/hero/var/sockets/test.jsonrpc.sock"
	rpcResponder = "/usr/local/share/zchaos-test/jsonrpc.sh"
	rpcExec      = "socat UNIX-LISTEN:" + rpcSocket + ",fork,unlink-early EXEC:'sh " + rpcResponder + "'"
	rpcCheck     = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat -t 30 - UNIX-CONNECT:` + rpcSocket +
		` | grep -q '"status":"ok"'`
)

// jsonrpcSh answers one JSON-RPC request a line: server.health
// {"status":"ok"}, server.ping "pong", anything else method-not-found.
const jsonrpcSh = `#!/bin/sh
while IFS= read -r line; do
	id=$(printf '%s\n' "$line" | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*\("[^"]*"\|[0-9-][0-9]*\|null\).*/\1/p')
	[ -n "$id" ] || id=null
	case $line in
	*'"server.health"'*) printf '{"jsonrpc":"2.0","result":{"status":"ok"},"id":%s}\n' "$id" ;;
	*'"server.ping"'*) printf '{"jsonrpc":"2.0","result":"pong","id":%s}\n' "$id" ;;
	*) printf '{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found"},"id":%s}\n' "$id" ;;
	esac
done
`

// rpcSetup declares the socat service (migrated: restart on-failure, the
// seed's policy; with check, the seed's socat health check).
func rpcSetup(check bool) chaos.SetupFunc {
	return func(_ context.Context, _ scenarios.Scenario, config string, scale float64) (chaos.Setup, error) {
		st := chaos.Setup{Config: config, Legacy: map[string]bool{}, Oneshot: map[string]bool{},
			Env: []string{"ZINIT_CONFIG_DIR=" + chaos.EmptyConfigDir},
			Files: map[string][]byte{chaos.EmptyConfigDir + "/README": []byte("test\n"),
				rpcResponder: []byte(jsonrpcSh)}}
		svc := zinit.Service{Name: rpcSvc}
		st.Services = []zinit.Service{svc}
		start, err := zinit.NewJob(rpcSvc, "main").Exec(rpcExec).Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure).
			RestartDelay(zinit.ScaleDuration(5*time.Second, scale)).MaxRestarts(20).Build()
		if err != nil {
			return st, err
		}
		st.Jobs = []zinit.Job{start}
		if check {
			j, err := zinit.NewJob(rpcSvc, "check").Exec(rpcCheck).Trigger(zinit.TriggerCheck).
				Interval(zinit.ScaleDuration(60*time.Second, scale)).Timeout(zinit.ScaleDuration(30*time.Second, scale)).Build()
			if err != nil {
				return st, err
			}
			st.Jobs = append(st.Jobs, j)
		}
		st.Probes = []agent.Probe{{Service: rpcSvc, Socket: rpcSocket}}
		st.Policies = []scenarios.ServicePolicy{chaos.PolicyOf(rpcSvc, config, st.Jobs, false)}
		steps := [][]string{svc.Argv()}
		for _, j := range st.Jobs {
			steps = append(steps, j.Argv())
		}
		st.Apply = func(ctx context.Context, c runtime.Container) error {
			return chaos.RunCLI(ctx, c, chaos.ZinitCLI, append(steps, []string{"zinit", "start", rpcSvc}))
		}
		return st, nil
	}
}

// sh runs a shell line in c and returns its trimmed stdout and exit code.
func sh(ctx context.Context, t *testing.T, c runtime.Container, line string) (string, int) {
	t.Helper()
	res, err := c.Exec(ctx, []string{"sh", "-c", line}, nil)
	require.NoError(t, err)
	return strings.TrimSpace(string(res.Stdout)), res.ExitCode
}

// rpcCall sends one request through a socket path in c.
func rpcCall(ctx context.Context, t *testing.T, c runtime.Container, socket, method string) string {
	t.Helper()
	out, _ := sh(ctx, t, c, `echo '{"jsonrpc":"2.0","method":"`+method+`","id":9}' | socat -t 2 - UNIX-CONNECT:`+socket)
	return out
}

// TestDockerInterposeHealthFaultsOnANonHerosimService injects health-error
// and health-hang into a socat service through FaultClient, as the runner
// does: each is done by the interposer (never a signal), its effect is
// seen through the socket, other methods still reach the service, and the
// revert puts the very socket back and ends the interposer. A hero link to
// herosim beside it still gets herosim's signal.
func TestDockerInterposeHealthFaultsOnANonHerosimService(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := rpcSetup(false)(ctx, scenarios.Scenario{}, scenarios.ConfigMigrated, 0.05)
	require.NoError(t, err)
	// A hero binary of the reference image: a link to herosim (multi-call).
	heroBin := chaostest.FleetHeroBins[0]
	heroExec := runtime.ImageHeroBinDir + "/" + heroBin + " serve"
	heroSocket := runtime.ImageSocketsDir + "/" + heroBin + ".sock"
	spec, err := json.Marshal(agent.Spec{ZinitCLI: chaos.ZinitCLI, ProbeTimeoutMs: 300,
		Probes: append(st.Probes, agent.Probe{Service: "test.herolink", Socket: heroSocket}),
		Jobs: []agent.Job{{Service: rpcSvc, Job: "main", Trigger: "start", Exec: rpcExec},
			{Service: "test.herolink", Job: "main", Trigger: "start", Exec: heroExec}}})
	require.NoError(t, err)
	st.Files[agent.SpecPath] = spec
	heroSvc := zinit.Service{Name: "test.herolink"}
	heroJob, err := zinit.NewJob(heroSvc.Name, "main").Exec(heroExec).Trigger(zinit.TriggerStart).Build()
	require.NoError(t, err)
	c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "interpose-test", Env: st.Env, Files: st.Files})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Remove(context.Background())) })
	require.NoError(t, st.Apply(ctx, c))
	require.Eventually(t, func() bool { return strings.Contains(rpcCall(ctx, t, c, rpcSocket, "server.health"), `"status":"ok"`) },
		30*time.Second, 50*time.Millisecond, "the socat service answers")
	orig, code := sh(ctx, t, c, "stat -c %i "+rpcSocket)
	require.Zero(t, code)

	for _, kind := range []scenarios.FaultKind{scenarios.FaultHealthError, scenarios.FaultHealthHang} {
		t.Run(string(kind), func(t *testing.T) {
			evs, rev, err := chaos.FaultClient{EffectTimeout: 5 * time.Second}.Inject(ctx, c, scenarios.Fault{Kind: kind}, rpcSvc)
			require.NoError(t, err)
			require.NotNil(t, rev, "an interposition is reversible")
			require.Len(t, evs, 2)
			f, eff := evs[0], evs[1]
			assert.Equal(t, scenarios.MechanismInterpose, f.Mechanism)
			assert.Empty(t, f.Signal)
			assert.Equal(t, rpcSocket, f.Socket)
			assert.Equal(t, rpcSocket+agent.AsideSuffix, f.Aside)
			require.NotNil(t, eff.OK)
			assert.True(t, *eff.OK, "effect: %s", eff.Detail)

			ino, _ := sh(ctx, t, c, "stat -c %i "+rpcSocket)
			assert.Equal(t, strconv.FormatUint(f.SocketIno, 10), ino, "the interposer answers at the path")
			aside, _ := sh(ctx, t, c, "stat -c %i "+f.Aside)
			assert.Equal(t, orig, aside, "the service's own socket is kept aside")
			if kind == scenarios.FaultHealthError {
				assert.Contains(t, rpcCall(ctx, t, c, rpcSocket, "server.health"), `"code":-32000`)
				assert.Equal(t, `{"jsonrpc":"2.0","result":"pong","id":9}`, rpcCall(ctx, t, c, rpcSocket, "server.ping"),
					"other methods reach the service")
			}

			revs, err := rev(ctx)
			require.NoError(t, err)
			require.Len(t, revs, 1)
			assert.True(t, *revs[0].OK, revs[0].Detail)
			ino, _ = sh(ctx, t, c, "stat -c %i "+rpcSocket)
			assert.Equal(t, orig, ino, "the very socket of the service is back at its path")
			_, code := sh(ctx, t, c, "test -e "+f.Aside)
			assert.NotZero(t, code, "nothing left aside")
			_, code = sh(ctx, t, c, "test -d /proc/"+strconv.Itoa(f.HelperPID))
			assert.NotZero(t, code, "the interposer ended (and was reaped)")
			assert.Contains(t, rpcCall(ctx, t, c, rpcSocket, "server.health"), `"status":"ok"`)
		})
	}
	out, _ := sh(ctx, t, c, "ps -eo pid,args")
	assert.NotContains(t, out, "agent interpose", "no interposer left")

	// A hero binary of the reference image is a link to herosim: its
	// /proc/<pid>/exe is herosim, so it gets herosim's signal, not the
	// interposer.
	require.NoError(t, chaos.RunCLI(ctx, c, chaos.ZinitCLI, [][]string{heroSvc.Argv(), heroJob.Argv(), {"zinit", "start", heroSvc.Name}}))
	require.Eventually(t, func() bool {
		return strings.Contains(rpcCall(ctx, t, c, heroSocket, "server.health"), `"status":"ok"`)
	}, 30*time.Second, 50*time.Millisecond, "the hero link answers")
	evs, rev, err := chaos.FaultClient{EffectTimeout: 5 * time.Second}.Inject(ctx, c, scenarios.Fault{Kind: scenarios.FaultHealthError}, heroSvc.Name)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, scenarios.MechanismSignal, evs[0].Mechanism, evs[0].Detail)
	assert.Equal(t, "SIGUSR2", evs[0].Signal)
	assert.True(t, *evs[1].OK, evs[1].Detail)
	require.NotNil(t, rev)
	_, err = rev(ctx)
	require.NoError(t, err)
}

// runInterposedHealthScenarios runs the catalogue's health-error and
// health-hang, migrated, on the socat service: the seed's socat check
// catches each fault through the interposer, zinit kills and respawns the
// service, and the revert keeps the socket the respawned service bound.
func runInterposedHealthScenarios(ctx context.Context, t *testing.T, r *chaos.Runner) {
	t.Helper()
	var scs []scenarios.Scenario
	for _, name := range []string{"health-error", "health-hang"} {
		scs = append(scs, cataloguedOn(t, name, rpcSvc))
	}
	res, err := r.Run(ctx, scs, []string{scenarios.ConfigMigrated})
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 2)
	for _, s := range res.Scenarios {
		t.Run(s.Scenario, func(t *testing.T) {
			logTimeline(t, s)
			assert.Equal(t, scenarios.VerdictPass, s.Verdict, "%s", s.Reason)
			var fault, effect, revert *scenarios.Event
			for i, e := range s.Timeline {
				switch e.Kind {
				case scenarios.EventFault:
					fault = &s.Timeline[i]
				case scenarios.EventEffect:
					effect = &s.Timeline[i]
				case scenarios.EventRevert:
					revert = &s.Timeline[i]
				}
			}
			require.NotNil(t, fault)
			assert.Equal(t, scenarios.MechanismInterpose, fault.Mechanism)
			require.NotNil(t, effect)
			assert.True(t, *effect.OK, effect.Detail)
			require.NotNil(t, revert, "the interposition is always undone")
			assert.True(t, *revert.OK, revert.Detail)
			assert.Contains(t, revert.Detail, "the service bound it anew", "the respawned service's socket is kept")
			assert.Equal(t, 2, countKind(s.Timeline, scenarios.EventSpawn, rpcSvc), "killed by the check and respawned")
		})
	}
}

func TestDockerInterposeHealthScenariosPassOnANonHerosimService(t *testing.T) {
	rt := chaostest.Docker(t)
	r := &chaos.Runner{Runtime: rt, Image: chaostest.Image(t), Setup: rpcSetup(true), TimeScale: 0.05, Seed: 1,
		OutDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runInterposedHealthScenarios(ctx, t, r)
	assertNoContainers(t, r)
}
