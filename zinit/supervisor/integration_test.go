package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// envTestDaemon makes the test binary run as an out-of-process daemon (for
// the RSS/CPU benchmarks and the SIGTERM test):
// ZINIT_SUPERVISOR_TEST_DAEMON=<socket>; envTestStateDir sets its state dir
// and envTestRequestTimeout its request timeout (a Go duration).
const (
	envTestDaemon         = "ZINIT_SUPERVISOR_TEST_DAEMON"
	envTestStateDir       = "ZINIT_SUPERVISOR_TEST_STATE_DIR"
	envTestRequestTimeout = "ZINIT_SUPERVISOR_TEST_REQUEST_TIMEOUT"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envTestDaemon); sock != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		timeout, _ := time.ParseDuration(os.Getenv(envTestRequestTimeout))
		err := Run(ctx, Config{Socket: sock, Log: os.Stderr, StateDir: os.Getenv(envTestStateDir), requestTimeout: timeout})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// waitFor polls cond (zinit.PollUntil) for up to within. cond's error is
// not final: it is the last reason the state is not there yet, and is
// shown if the wait gives up.
func waitFor(t testing.TB, within time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last error
	err := zinit.PollUntil(ctx, clock.RealClock{}, 5*time.Millisecond, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	require.NoError(t, err, "waiting for %s (last: %v)", what, last)
}

type tlogWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

type daemon struct {
	socket string
	cfg    Config
	cancel context.CancelFunc
	done   chan error
	c      *zinit.Client
	log    *tlogWriter
}

func shortTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "zs")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDaemon runs Run in-process on a short socket path and dials it.
func startDaemon(t testing.TB, cfg Config) *daemon {
	t.Helper()
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(shortTempDir(t), "zinit.sock")
	}
	d := &daemon{socket: cfg.Socket, cfg: cfg, done: make(chan error, 1), log: &tlogWriter{}}
	if cfg.Log == nil {
		d.cfg.Log = d.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- Run(ctx, d.cfg) }()
	waitFor(t, 5*time.Second, "the daemon's socket", func() (bool, error) {
		select {
		case err := <-d.done:
			d.done <- err
			return false, fmt.Errorf("daemon exited: %v", err)
		default:
		}
		c, err := zinit.Dial(ctx, d.socket)
		if err != nil {
			return false, err
		}
		d.c = c
		return true, nil
	})
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) stop(t testing.TB) {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	if d.c != nil {
		d.c.Close()
	}
	select {
	case err := <-d.done:
		assert.NoError(t, err)
	case <-time.After(zinit.ShutdownTimeout + 5*time.Second):
		t.Errorf("daemon did not stop")
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", d.log.buf.String())
	}
}

// startTestDaemon runs this test binary as a daemon on sock (with extra
// env) and returns once it answers; done delivers its exit. Cleanup kills
// it if it still runs. No in-process daemon may run meanwhile (its reaper
// would steal this child's exit).
func startTestDaemon(t testing.TB, sock string, env ...string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), envTestDaemon+"="+sock), env...)
	stderr := &tlogWriter{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // owner: the test; waiter: done, drained by the caller or cleanup
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", stderr.buf.String())
		}
	})
	waitFor(t, 10*time.Second, "the daemon", func() (bool, error) {
		c, err := zinit.Dial(context.Background(), sock)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	return cmd, done
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (d *daemon) addService(t testing.TB, s zinit.Service, jobs ...*zinit.JobBuilder) {
	t.Helper()
	ctx := ctxT(t)
	require.NoError(t, d.c.AddService(ctx, s))
	for _, b := range jobs {
		j, err := b.Build()
		require.NoError(t, err)
		_, err = d.c.AddJob(ctx, j)
		require.NoError(t, err)
	}
}

func (d *daemon) status(t testing.TB, name string) zinit.ServiceStatus {
	t.Helper()
	st, err := d.c.Status(ctxT(t), name)
	require.NoError(t, err)
	return st
}

// procState is the state letter of /proc/<pid>/stat, "" when the pid is gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func gone(pid int) bool { st := procState(pid); return st == "" }

func TestIntegrationCrashAndRestart(t *testing.T) {
	d := startDaemon(t, Config{})
	d.addService(t, zinit.Service{Name: "crashy"},
		zinit.NewJob("crashy", "main").Exec("echo hello from $$; sleep 0.05; exit 3").Trigger(zinit.TriggerStart).
			Restart(zinit.RestartOnFailure).RestartDelay(50*time.Millisecond).MaxRestarts(2))
	require.NoError(t, d.c.Start(ctxT(t), "crashy"))
	waitFor(t, 5*time.Second, "failed after the limit", func() (bool, error) {
		st := d.status(t, "crashy")
		return st.State == zinit.StateFailed, fmt.Errorf("state %s", st.State)
	})
	st := d.status(t, "crashy")
	assert.Equal(t, 2, st.Restarts)
	require.NotNil(t, st.Reason)
	assert.Equal(t, zinit.ReasonRestartLimit, *st.Reason)
	require.NotNil(t, st.LastExit)
	require.NotNil(t, st.LastExit.Code)
	assert.Equal(t, 3, *st.LastExit.Code)
	lines, err := d.c.Logs(ctxT(t), "crashy", 0)
	require.NoError(t, err)
	hello := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "[main] hello from ") {
			hello++
		}
	}
	assert.Equal(t, 3, hello, "1 + N runs captured in logs:\n%s", strings.Join(lines, "\n"))
}

func TestIntegrationHungProcessDetectedByCheck(t *testing.T) {
	dir := shortTempDir(t)
	hb := filepath.Join(dir, "hb")
	d := startDaemon(t, Config{})
	d.addService(t, zinit.Service{Name: "hangs"},
		zinit.NewJob("hangs", "main").Exec(fmt.Sprintf("i=0; while :; do i=$((i+1)); echo $i > %s; sleep 0.02; done", hb)).
			Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure).RestartDelay(50*time.Millisecond),
		zinit.NewJob("hangs", "alive").Exec(fmt.Sprintf(`a=$(cat %[1]s); sleep 0.1; test "$(cat %[1]s)" != "$a"`, hb)).
			Trigger(zinit.TriggerCheck).Interval(100*time.Millisecond).Timeout(500*time.Millisecond))
	require.NoError(t, d.c.Start(ctxT(t), "hangs"))
	waitFor(t, 5*time.Second, "a passing check", func() (bool, error) {
		st := d.status(t, "hangs")
		lc := st.Jobs[1].LastCheck
		return lc != nil && lc.OK, fmt.Errorf("last check %+v", lc)
	})
	pid := *d.status(t, "hangs").PID
	require.NoError(t, syscall.Kill(-pid, syscall.SIGSTOP))
	waitFor(t, time.Second, "the effect of SIGSTOP", func() (bool, error) { return procState(pid) == "T", nil })
	waitFor(t, 5*time.Second, "a restart with a new pid", func() (bool, error) {
		st := d.status(t, "hangs")
		return st.State == zinit.StateRunning && st.PID != nil && *st.PID != pid, fmt.Errorf("state %s", st.State)
	})
	st := d.status(t, "hangs")
	assert.Equal(t, 1, st.Restarts)
	require.NotNil(t, st.LastExit)
	require.NotNil(t, st.LastExit.Signal)
	assert.Equal(t, "SIGKILL", *st.LastExit.Signal)
	waitFor(t, time.Second, "the hung group to be gone", func() (bool, error) { return gone(pid), nil })
}

// children lists the pids whose parent is ppid.
func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestIntegrationGrandchildrenGone(t *testing.T) {
	d := startDaemon(t, Config{})
	d.addService(t, zinit.Service{Name: "tree"},
		zinit.NewJob("tree", "main").Exec("sleep 1000 & sleep 1000 & wait").Trigger(zinit.TriggerStart).
			Restart(zinit.RestartAlways).RestartDelay(50*time.Millisecond))
	require.NoError(t, d.c.Start(ctxT(t), "tree"))
	pid := *d.status(t, "tree").PID
	var kids []int
	waitFor(t, 2*time.Second, "two grandchildren", func() (bool, error) {
		kids = children(pid)
		return len(kids) == 2, nil
	})
	// Kill only the leader: the rest of its group must not survive it.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitFor(t, 2*time.Second, "a respawn", func() (bool, error) {
		st := d.status(t, "tree")
		return st.PID != nil && *st.PID != pid, nil
	})
	waitFor(t, time.Second, "the old group gone", func() (bool, error) {
		for _, k := range kids {
			if !gone(k) {
				return false, fmt.Errorf("pid %d state %s", k, procState(k))
			}
		}
		return true, nil
	})
	// And a stop takes the whole new group.
	newPID := *d.status(t, "tree").PID
	var newKids []int
	waitFor(t, 2*time.Second, "new grandchildren", func() (bool, error) {
		newKids = children(newPID)
		return len(newKids) == 2, nil
	})
	require.NoError(t, d.c.Stop(ctxT(t), "tree"))
	assert.Equal(t, zinit.StateInactive, d.status(t, "tree").State)
	waitFor(t, time.Second, "the stopped group gone", func() (bool, error) {
		for _, k := range append(newKids, newPID) {
			if !gone(k) {
				return false, nil
			}
		}
		return true, nil
	})
}

func TestIntegrationZombiesReaped(t *testing.T) {
	dir := shortTempDir(t)
	orphanFile := filepath.Join(dir, "orphan")
	d := startDaemon(t, Config{})
	// The subshell exits at once: its sleep is orphaned and re-parented to
	// the daemon (a subreaper), which must reap it when it exits.
	d.addService(t, zinit.Service{Name: "orphans"},
		zinit.NewJob("orphans", "main").Exec(fmt.Sprintf("(sleep 0.1 & echo $! > %s.tmp; mv %[1]s.tmp %[1]s); exec sleep 1000", orphanFile)).
			Trigger(zinit.TriggerStart))
	require.NoError(t, d.c.Start(ctxT(t), "orphans"))
	var orphan int
	waitFor(t, 2*time.Second, "the orphan's pid", func() (bool, error) {
		b, err := os.ReadFile(orphanFile)
		if err != nil {
			return false, err
		}
		orphan, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, err
	})
	// The effect probe: it was re-parented to us (the daemon's process).
	waitFor(t, time.Second, "the orphan re-parented or gone", func() (bool, error) {
		for _, k := range children(os.Getpid()) {
			if k == orphan {
				return true, nil
			}
		}
		return gone(orphan), nil
	})
	waitFor(t, 1500*time.Millisecond, "the orphan reaped (no zombie)", func() (bool, error) {
		return gone(orphan), fmt.Errorf("state %q", procState(orphan))
	})
	for _, k := range children(os.Getpid()) {
		assert.NotEqual(t, "Z", procState(k), "zombie child %d", k)
	}
}

func TestIntegrationPersistenceAcrossRestart(t *testing.T) {
	state := shortTempDir(t)
	sock := filepath.Join(shortTempDir(t), "z.sock")
	d := startDaemon(t, Config{Socket: sock, StateDir: state})
	d.addService(t, zinit.Service{Name: "kept", Persist: true},
		zinit.NewJob("kept", "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart).Restart(zinit.RestartAlways).Persist())
	d.addService(t, zinit.Service{Name: "lost"},
		zinit.NewJob("lost", "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart))
	require.NoError(t, d.c.Start(ctxT(t), "kept"))
	pid := *d.status(t, "kept").PID
	d.stop(t)
	assert.True(t, gone(pid), "shutdown stopped the service")

	d2 := startDaemon(t, Config{Socket: sock, StateDir: state})
	list, err := d2.c.List(ctxT(t))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "kept", list[0].Name)
	assert.Equal(t, zinit.StateRunning, list[0].State, "restored and started at boot")
	assert.True(t, list[0].Jobs[0].Persist)
}

func TestIntegration29Services(t *testing.T) {
	d := startDaemon(t, Config{})
	const n = 29
	ctx := ctxT(t)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("user.hero_%02d", i)
		d.addService(t, zinit.Service{Name: name},
			zinit.NewJob(name, "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure).RestartDelay(50*time.Millisecond),
			zinit.NewJob(name, "check").Exec(`kill -0 "$ZINIT_PID"`).Trigger(zinit.TriggerCheck).
				Interval(100*time.Millisecond).Timeout(5*time.Second)) // a loaded CI machine must not time out a trivial probe
	}
	for i := 0; i < n; i++ {
		require.NoError(t, d.c.Start(ctx, fmt.Sprintf("user.hero_%02d", i)))
	}
	waitFor(t, 10*time.Second, "29 running services with a passing check", func() (bool, error) {
		list, err := d.c.List(ctx)
		if err != nil {
			return false, err
		}
		ok := 0
		for _, st := range list {
			if st.State == zinit.StateRunning && st.Jobs[1].LastCheck != nil && st.Jobs[1].LastCheck.OK {
				ok++
			}
		}
		return ok == n, fmt.Errorf("%d of %d healthy", ok, n)
	})
	list, err := d.c.List(ctx)
	require.NoError(t, err)
	for _, st := range list {
		assert.Equal(t, 0, st.Restarts, "%s: last check %+v", st.Name, st.Jobs[1].LastCheck)
	}
}

func TestIntegrationRPCSurface(t *testing.T) {
	d := startDaemon(t, Config{})
	ctx := ctxT(t)
	fi, err := os.Stat(d.socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	ping, err := d.c.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, zinit.Version, ping.Version)
	methods, err := d.c.Discover(ctx)
	require.NoError(t, err)
	assert.Equal(t, zinit.Methods, methods)

	require.NoError(t, d.c.AddService(ctx, zinit.Service{Name: "a"}))
	var re *zinit.RPCError
	err = d.c.AddService(ctx, zinit.Service{Name: "a"})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.CodeAlreadyExists, re.Code)
	_, err = d.c.AddJob(ctx, zinit.Job{Service: "nope", Name: "m", Exec: "x", Trigger: zinit.TriggerStart})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.CodeNotFound, re.Code)
	_, err = d.c.AddJob(ctx, zinit.Job{Service: "a", Name: "m", Exec: "x", Trigger: zinit.TriggerStart, Interval: time.Second})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.CodeInvalidParams, re.Code)
	assert.Contains(t, re.Message, "--interval-ms")
	err = d.c.Call(ctx, "no.such", nil, nil)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.CodeMethodMissing, re.Code)

	// A second daemon on the same socket refuses; a stale socket is replaced.
	err = Run(ctx, Config{Socket: d.socket})
	assert.ErrorIs(t, err, ErrSocketInUse)

	long := "/tmp/" + strings.Repeat("x", zinit.MaxSocketPathLen)
	err = Run(ctx, Config{Socket: long})
	assert.ErrorIs(t, err, zinit.ErrSocketPathTooLong)

	stale := filepath.Join(shortTempDir(t), "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	l.Close()
	_, err = os.Stat(stale)
	require.NoError(t, err, "the stale socket file is there")
	d2 := startDaemon(t, Config{Socket: stale})
	_, err = d2.c.Ping(ctx)
	require.NoError(t, err)

	// system.shutdown ends Run.
	require.NoError(t, d2.c.Shutdown(ctx))
	select {
	case err := <-d2.done:
		require.NoError(t, err)
		d2.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("system.shutdown did not end Run")
	}
	_, err = os.Stat(stale)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the socket is removed at exit")
}
