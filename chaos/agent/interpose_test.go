package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

// service starts a JSON-RPC service at sock (a fresh path when ""):
// server.health answers ok, server.ping pong.
func service(t *testing.T, sock string) *zinittest.FakeDaemon {
	t.Helper()
	h := zinittest.Methods(map[string]func(zinit.Request) (any, error){
		"server.health": func(zinit.Request) (any, error) { return map[string]string{"status": "ok"}, nil },
		"server.ping":   func(zinit.Request) (any, error) { return "pong", nil },
	})
	if sock == "" {
		return zinittest.StartFake(t, h)
	}
	return zinittest.StartFakeAt(t, sock, h)
}

func inodeAt(t *testing.T, path string) uint64 {
	t.Helper()
	ino, err := inodeOf(path)
	require.NoError(t, err)
	return ino
}

// interposed starts a service and an interposer in front of it, served
// until the test ends.
func interposed(t *testing.T, mode InterposeMode) (*zinittest.FakeDaemon, *Interposer) {
	t.Helper()
	svc := service(t, "")
	ip, err := Interpose(svc.Socket, svc.Socket+AsideSuffix, mode)
	require.NoError(t, err)
	serve(t, ip)
	return svc, ip
}

// serve runs ip until the test ends (then checks Serve returned nil).
func serve(t *testing.T, ip *Interposer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ip.Serve(ctx) }() // owner: this test; stop: cancel; waiter: <-done
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

// exchange writes lines on one connection to sock and reads n answer
// lines (or until the deadline).
func exchange(t *testing.T, sock string, n int, lines ...string) []string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(2*time.Second)))
	for _, l := range lines {
		_, err := c.Write([]byte(l + "\n"))
		require.NoError(t, err)
	}
	var out []string
	br := bufio.NewReader(c)
	for range n {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		out = append(out, strings.TrimSpace(line))
	}
	return out
}

func probe(sock string, timeout time.Duration) (ProbeOutcome, string) {
	return ProbeOnce(context.Background(), Probe{Socket: sock}, timeout)
}

func TestInterposerForwardsAndKeepsTheServiceAside(t *testing.T) {
	svc := service(t, "")
	sock := svc.Socket
	orig := inodeAt(t, sock)
	ip, err := Interpose(sock, sock+AsideSuffix, InterposeForward)
	require.NoError(t, err)
	serve(t, ip)

	assert.Equal(t, ip.Ino, inodeAt(t, sock), "the path names the interposer's socket")
	assert.Equal(t, orig, inodeAt(t, sock+AsideSuffix), "the service's socket is kept aside")
	assert.NoFileExists(t, sock+takeoverSuffix)
	out, d := probe(sock, time.Second)
	assert.Equal(t, ProbeOK, out, d)
	assert.Equal(t, []string{`{"jsonrpc":"2.0","result":"pong","id":7}`},
		exchange(t, sock, 1, `{"jsonrpc":"2.0","method":"server.ping","id":7}`))
	assert.Len(t, svc.Requests(), 2, "both went through to the service")
}

func TestInterposerHangNeverAnswersNorCloses(t *testing.T) {
	svc, ip := interposed(t, InterposeHang)

	out, d := probe(svc.Socket, 200*time.Millisecond)
	assert.Equal(t, ProbeTimeout, out, d)

	// A client that only stops writing (socat after its input ends) is
	// still waiting: no answer, no EOF.
	c, err := net.Dial("unix", svc.Socket)
	require.NoError(t, err)
	_, err = c.Write([]byte(healthRequest))
	require.NoError(t, err)
	require.NoError(t, c.(*net.UnixConn).CloseWrite())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "neither answered nor closed: %v", err)
	// Once it closes altogether, the interposer lets go of it.
	c.Close()
	require.Eventually(t, func() bool {
		ip.mu.Lock()
		defer ip.mu.Unlock()
		return len(ip.conns) == 0
	}, 2*time.Second, 5*time.Millisecond, "the hung connection is released when its client leaves")
	assert.Empty(t, svc.Requests(), "nothing reached the service")
}

func TestInterposerErrorAnswersOnlyServerHealth(t *testing.T) {
	svc, _ := interposed(t, InterposeError)

	out, d := probe(svc.Socket, time.Second)
	assert.Equal(t, ProbeFailed, out)
	assert.Equal(t, "rpc error -32000: zchaos: injected health error", d)

	// Pipelined on one connection: the others are forwarded and answered
	// by the service, each answer whole and with its id; a health
	// notification gets no answer.
	got := exchange(t, svc.Socket, 3,
		`{"jsonrpc":"2.0","method":"server.ping","id":1}`,
		`{"jsonrpc":"2.0","method":"server.health","id":"two"}`,
		`{"jsonrpc":"2.0","method":"server.health"}`,
		`{"jsonrpc":"2.0","method":"server.ping","id":3}`)
	assert.ElementsMatch(t, []string{
		`{"jsonrpc":"2.0","result":"pong","id":1}`,
		`{"jsonrpc":"2.0","error":{"code":-32000,"message":"zchaos: injected health error"},"id":"two"}`,
		`{"jsonrpc":"2.0","result":"pong","id":3}`,
	}, got)
	var methods []string
	for _, r := range svc.Requests() {
		methods = append(methods, r.Method)
	}
	assert.Equal(t, []string{"server.ping", "server.ping"}, methods, "server.health never reaches the service")
}

func TestInterposerCloseMode(t *testing.T) {
	svc, _ := interposed(t, InterposeClose)
	out, d := probe(svc.Socket, time.Second)
	assert.Equal(t, ProbeFailed, out, "closed (EOF or reset): %s", d)
}

func TestRestoreSocketPutsTheServiceBack(t *testing.T) {
	svc := service(t, "")
	sock, aside := svc.Socket, svc.Socket+AsideSuffix
	orig := inodeAt(t, sock)
	ip, err := Interpose(sock, aside, InterposeHang)
	require.NoError(t, err)
	serve(t, ip)

	did, err := RestoreSocket(sock, aside, ip.Ino)
	require.NoError(t, err)
	assert.Equal(t, "renamed "+aside+" back to "+sock, did)
	assert.Equal(t, orig, inodeAt(t, sock), "the very socket the service listens on")
	assert.NoFileExists(t, aside)
	out, d := probe(sock, time.Second)
	assert.Equal(t, ProbeOK, out, "clients reach the service again while the interposer still runs: %s", d)

	did, err = RestoreSocket(sock, aside, ip.Ino)
	require.NoError(t, err, "idempotent")
	assert.Equal(t, orig, inodeAt(t, sock))
	assert.Contains(t, did, "kept it")
}

// A service that restarted during the fault bound a fresh socket at its
// path (a Go server's clean exit even unlinked the interposer's): the
// revert keeps it and only removes the stale aside.
func TestRestoreSocketKeepsASocketTheServiceBoundSince(t *testing.T) {
	old := service(t, "")
	sock, aside := old.Socket, old.Socket+AsideSuffix
	ip, err := Interpose(sock, aside, InterposeError)
	require.NoError(t, err)
	serve(t, ip)

	old.Close() // unlinks sock: the interposer's socket by now
	require.NoFileExists(t, sock)
	fresh := service(t, sock)
	ino := inodeAt(t, sock)

	did, err := RestoreSocket(sock, aside, ip.Ino)
	require.NoError(t, err)
	assert.Contains(t, did, "kept it, removed the stale "+aside)
	assert.Equal(t, ino, inodeAt(t, sock), "the fresh socket is not clobbered")
	assert.NoFileExists(t, aside)
	out, d := probe(sock, time.Second)
	assert.Equal(t, ProbeOK, out, d)
	assert.Len(t, fresh.Requests(), 1)
}

func TestRestoreSocketWhenTheServiceWasGone(t *testing.T) {
	_, ip := interposed(t, InterposeHang)
	sock, aside := ip.Socket, ip.Aside
	require.NoError(t, os.Remove(aside))
	did, err := RestoreSocket(sock, aside, ip.Ino)
	require.NoError(t, err)
	assert.Contains(t, did, "removed the interposer's")
	assert.NoFileExists(t, sock, "no dead socket left at the path")
}

func TestInterposeRefusals(t *testing.T) {
	dir := zinittest.SocketDir(t)
	file := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := Interpose(file, file+AsideSuffix, InterposeHang)
	assert.ErrorContains(t, err, "not a socket")
	_, err = Interpose(filepath.Join(dir, "absent.sock"), filepath.Join(dir, "absent.sock")+AsideSuffix, InterposeHang)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// A live aside: interposed already. The path is left as found.
	svc := service(t, "")
	other := service(t, "")
	require.NoError(t, os.Symlink(other.Socket, svc.Socket+AsideSuffix))
	ino := inodeAt(t, svc.Socket)
	_, err = Interpose(svc.Socket, svc.Socket+AsideSuffix, InterposeHang)
	assert.ErrorContains(t, err, "already interposed")
	assert.Equal(t, ino, inodeAt(t, svc.Socket))
	assert.NoFileExists(t, svc.Socket+takeoverSuffix)

	// A stale aside (nothing listens) is replaced.
	require.NoError(t, os.Remove(svc.Socket+AsideSuffix))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: svc.Socket + AsideSuffix, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ip, err := Interpose(svc.Socket, svc.Socket+AsideSuffix, InterposeForward)
	require.NoError(t, err)
	serve(t, ip)
	assert.Equal(t, ino, inodeAt(t, svc.Socket+AsideSuffix))
}

// A service's socket path that fits a socket address while the paths
// beside it do not (the local runtime's roots are long): the interposer
// binds and dials them through their directory.
func TestInterposerOnALongSocketPath(t *testing.T) {
	dir := zinittest.SocketDir(t)
	dir = filepath.Join(dir, strings.Repeat("r", maxSocketPath-len(dir)-len("//svc.sock")-2))
	require.NoError(t, os.Mkdir(dir, 0o755))
	sock := filepath.Join(dir, "svc.sock")
	require.LessOrEqual(t, len(sock), maxSocketPath)
	require.Greater(t, len(sock+AsideSuffix), maxSocketPath)
	svc := service(t, sock)
	orig := inodeAt(t, sock)
	ip, err := Interpose(sock, sock+AsideSuffix, InterposeError)
	require.NoError(t, err)
	serve(t, ip)
	out, d := probe(sock, time.Second)
	assert.Equal(t, ProbeFailed, out, d)
	assert.Equal(t, []string{`{"jsonrpc":"2.0","result":"pong","id":1}`},
		exchange(t, sock, 1, `{"jsonrpc":"2.0","method":"server.ping","id":1}`), "forwarded to the service aside")
	assert.Len(t, svc.Requests(), 1)
	_, err = RestoreSocket(sock, sock+AsideSuffix, ip.Ino)
	require.NoError(t, err)
	assert.Equal(t, orig, inodeAt(t, sock))
}

func TestInterposeModeNames(t *testing.T) {
	for _, m := range []InterposeMode{InterposeForward, InterposeHang, InterposeError, InterposeClose} {
		back, err := ParseInterposeMode(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, back)
	}
	_, err := ParseInterposeMode("latency")
	assert.Error(t, err)
}

// testAgentMainEnv makes this test binary act as `zchaos agent interpose`
// (see TestMain), so RunInject can start a real detached interposer.
const testAgentMainEnv = "ZCHAOS_TEST_AGENT_MAIN"

// testAgentMain is `zchaos agent interpose` for the test binary.
func testAgentMain(args []string) int {
	if len(args) < 2 || args[0] != "agent" || args[1] != "interpose" {
		return 2
	}
	fs := flag.NewFlagSet("interpose", flag.ContinueOnError)
	sock := fs.String("socket", "", "")
	aside := fs.String("aside", "", "")
	mode := fs.String("mode", "", "")
	fd := fs.Int("ready-fd", 0, "")
	if fs.Parse(args[2:]) != nil {
		return 2
	}
	m, err := ParseInterposeMode(*mode)
	if err != nil {
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	if err := RunInterposer(ctx, *sock, *aside, m, os.NewFile(uintptr(*fd), "ready")); err != nil {
		return 1
	}
	return 0
}

// jsonrpcd is a target that is not herosim: its command line names its
// socket (zinit.DetectProbe reads --socket).
func jsonrpcdTarget(t *testing.T, sock string) Spec {
	t.Helper()
	fp := newFakeProc(t)
	execLine := "/usr/local/bin/jsonrpcd --socket " + sock
	fp.set(70, 1, 70, 'S', 700, -1, strings.Fields(execLine)...)
	return Spec{Proc: fp.root, ProbeTimeoutMs: 100, Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: execLine}}}
}

func injectEnv(t *testing.T) InjectEnv {
	t.Setenv(testAgentMainEnv, "1")
	return InjectEnv{Self: []string{os.Args[0]},
		Exec: func(context.Context, []string) ([]byte, error) { return nil, errors.New("no zinit here") }}
}

func runInject(t *testing.T, opts InjectOptions, env InjectEnv) ([]scenarios.Event, error) {
	t.Helper()
	var out bytes.Buffer
	err := RunInject(context.Background(), opts, &out, env)
	var evs []scenarios.Event
	require.NoError(t, ReadEvents(&out, func(e scenarios.Event) { evs = append(evs, e) }))
	return evs, err
}

// injectHealth injects a health fault into the jsonrpcd at sock and
// returns its fault and effect events.
func injectHealth(t *testing.T, kind scenarios.FaultKind, sock string, env InjectEnv) (fault, effect scenarios.Event) {
	t.Helper()
	evs, err := runInject(t, InjectOptions{Kind: kind, Service: "svc", Spec: jsonrpcdTarget(t, sock),
		EffectTimeout: 5 * time.Second, PidFileDir: t.TempDir()}, env)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.NotNil(t, evs[1].OK)
	return evs[0], evs[1]
}

// revertInterposed reverts the interposition fault names (from its typed
// fields, as FaultClient does) and returns the revert event.
func revertInterposed(t *testing.T, fault scenarios.Event, env InjectEnv) scenarios.Event {
	t.Helper()
	ref := InterposerRef{PID: fault.HelperPID, Start: fault.HelperStart, Socket: fault.Socket, Aside: fault.Aside, Ino: fault.SocketIno}
	evs, err := runInject(t, InjectOptions{Kind: scenarios.FaultKind(fault.Fault), Service: "svc", Revert: true, Interposer: ref}, env)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, scenarios.EventRevert, evs[0].Kind)
	require.NotNil(t, evs[0].OK)
	return evs[0]
}

// A service that is not herosim gets its health faults through a detached
// interposer; the revert restores the very socket and ends the interposer.
func TestInjectHealthFaultsThroughInterposer(t *testing.T) {
	for _, tc := range []struct {
		kind   scenarios.FaultKind
		effect string
	}{
		{scenarios.FaultHealthError, "failed: rpc error -32000: zchaos: injected health error"},
		{scenarios.FaultHealthHang, "timeout: no answer"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			svc := service(t, "")
			orig := inodeAt(t, svc.Socket)
			env := injectEnv(t)
			f, eff := injectHealth(t, tc.kind, svc.Socket, env)
			assert.Equal(t, scenarios.EventFault, f.Kind)
			assert.Equal(t, scenarios.MechanismInterpose, f.Mechanism)
			assert.Equal(t, 70, f.PID, "the target")
			assert.Equal(t, svc.Socket, f.Socket)
			assert.Equal(t, svc.Socket+AsideSuffix, f.Aside)
			assert.Equal(t, inodeAt(t, svc.Socket), f.SocketIno)
			require.Positive(t, f.HelperPID)
			st, err := procfs.ReadStat("/proc", f.HelperPID)
			require.NoError(t, err)
			assert.Equal(t, st.Start, f.HelperStart)
			assert.Empty(t, f.Signal, "no signal: the service is not herosim")
			assert.True(t, *eff.OK, eff.Detail)
			assert.Contains(t, eff.Detail, tc.effect)

			rev := revertInterposed(t, f, env)
			assert.True(t, *rev.OK, rev.Detail)
			assert.Contains(t, rev.Detail, "renamed "+f.Aside+" back")
			assert.Contains(t, rev.Detail, "ended by SIGTERM")
			assert.Equal(t, orig, inodeAt(t, svc.Socket), "the path names the service's own socket again")
			assert.NoFileExists(t, f.Aside)
			assert.True(t, procGone("/proc", f.HelperPID, f.HelperStart), "the interposer ended")
			out, d := probe(svc.Socket, time.Second)
			assert.Equal(t, ProbeOK, out, d)
		})
	}
}

// The service restarted during the fault and bound its path anew: the
// revert keeps that socket, removes the stale aside and ends the
// interposer, which may have outlived its purpose.
func TestInjectRevertAfterTheServiceReboundItsSocket(t *testing.T) {
	old := service(t, "")
	env := injectEnv(t)
	f, eff := injectHealth(t, scenarios.FaultHealthHang, old.Socket, env)
	require.True(t, *eff.OK, eff.Detail)

	old.Close()
	service(t, old.Socket)
	fresh := inodeAt(t, old.Socket)

	rev := revertInterposed(t, f, env)
	assert.True(t, *rev.OK, rev.Detail)
	assert.Contains(t, rev.Detail, "the service bound it anew")
	assert.Equal(t, fresh, inodeAt(t, old.Socket), "not clobbered")
	assert.NoFileExists(t, f.Aside)
	assert.True(t, procGone("/proc", f.HelperPID, f.HelperStart), "the interposer ended")

	// A second revert (the runner's are once-only, but a person may) is
	// harmless.
	rev = revertInterposed(t, f, env)
	assert.True(t, *rev.OK, rev.Detail)
	assert.Contains(t, rev.Detail, "already gone")
}

// An interposer that cannot take over reports why; nothing is left running
// and no revert is owed.
func TestInjectInterposerFailureIsAFailedEffect(t *testing.T) {
	dir := zinittest.SocketDir(t)
	sock := filepath.Join(dir, "svc.sock")
	require.NoError(t, os.WriteFile(sock, nil, 0o644)) // not a socket
	f, eff := injectHealth(t, scenarios.FaultHealthError, sock, injectEnv(t))
	assert.Equal(t, scenarios.MechanismInterpose, f.Mechanism)
	assert.Zero(t, f.HelperPID)
	assert.Contains(t, f.Detail, "not a socket")
	assert.False(t, *eff.OK)
	assert.NoFileExists(t, sock+AsideSuffix)
}

// Signals go only to herosim (its own binary, or a hero name linked to
// it); an HTTP-only service that is not herosim has no health fault.
func TestHealthMechanismChoice(t *testing.T) {
	fp := newFakeProc(t)
	bin := t.TempDir()
	herosim := filepath.Join(bin, "herosim")
	require.NoError(t, os.WriteFile(herosim, nil, 0o755))
	other := filepath.Join(bin, "hero_ui")
	require.NoError(t, os.WriteFile(other, nil, 0o755))
	fp.set(80, 1, 80, 'S', 800, -1, "sh", "-c", "/root/hero/bin/hero_x serve")
	fp.set(81, 80, 80, 'S', 801, -1, "/root/hero/bin/hero_x", "serve")
	require.NoError(t, os.Symlink(herosim, filepath.Join(fp.root, "81", "exe")))
	s := newProcScanner(Spec{Proc: fp.root})
	s.step(1)
	tgt := target{leader: s.procs[80], members: []*procInfo{s.procs[80], s.procs[81]}}
	w := herosimWorker(fp.root, tgt)
	require.NotNil(t, w)
	assert.Equal(t, 81, w.pid)

	require.NoError(t, os.Remove(filepath.Join(fp.root, "81", "exe")))
	require.NoError(t, os.Symlink(other, filepath.Join(fp.root, "81", "exe")))
	assert.Nil(t, herosimWorker(fp.root, tgt), "a real hero binary is not signalled")

	execLine := "/usr/local/bin/hero_ui --http-port 8080"
	fp.set(90, 1, 90, 'S', 900, -1, strings.Fields(execLine)...)
	spec := Spec{Proc: fp.root, Jobs: []Job{{Service: "ui", Job: "main", Trigger: "start", Exec: execLine}}}
	evs, err := runInject(t, InjectOptions{Kind: scenarios.FaultHealthHang, Service: "ui", Spec: spec, EffectTimeout: time.Second},
		InjectEnv{Exec: func(context.Context, []string) ([]byte, error) { return nil, errors.New("no zinit") }})
	require.ErrorIs(t, err, ErrUnsupportedFault)
	assert.ErrorContains(t, err, "health faults need a Unix socket")
	require.Len(t, evs, 2)
	assert.False(t, *evs[1].OK)
	assert.Contains(t, evs[1].Detail, "answers HTTP only (port 8080)")
}
