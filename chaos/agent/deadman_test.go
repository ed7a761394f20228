package agent_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/zchaos/zchaos/chaos/agent"
)

// fakeStopper records what the switch did; it dies after dieOn calls of
// Term and Kill in all (0: never).
type fakeStopper struct {
	mu          sync.Mutex
	terms, kill int
	dieOn       int
}

func (s *fakeStopper) Term() error { s.mu.Lock(); defer s.mu.Unlock(); s.terms++; return nil }
func (s *fakeStopper) Kill() error { s.mu.Lock(); defer s.mu.Unlock(); s.kill++; return nil }
func (s *fakeStopper) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dieOn == 0 || s.terms+s.kill < s.dieOn
}
func (s *fakeStopper) String() string { return "fake" }
func (s *fakeStopper) calls() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.terms, s.kill
}

type deadmanRun struct {
	out chan agent.DeadmanOutcome
	err chan error
}

func startDeadman(ctx context.Context, in io.Reader, o agent.DeadmanOptions) deadmanRun {
	r := deadmanRun{out: make(chan agent.DeadmanOutcome, 1), err: make(chan error, 1)}
	go func() {
		out, err := agent.RunDeadman(ctx, in, o)
		r.out <- out
		r.err <- err
	}()
	return r
}

func (r deadmanRun) wait(t *testing.T) (agent.DeadmanOutcome, error) {
	t.Helper()
	select {
	case out := <-r.out:
		return out, <-r.err
	case <-time.After(30 * time.Second):
		t.Fatal("the switch did not return")
	}
	return 0, nil
}

// waitTimer waits until the switch waits on the fake clock.
func waitTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	require.Eventually(t, clk.HasWaiters, 10*time.Second, time.Millisecond)
}

func TestDeadmanDisarmedKeepsTheContainer(t *testing.T) {
	pr, pw := io.Pipe()
	st := &fakeStopper{}
	var armed safeBuffer
	r := startDeadman(context.Background(), pr, agent.DeadmanOptions{Stopper: st, Armed: &armed,
		Clock: clocktesting.NewFakeClock(time.Unix(0, 0))})
	_, err := io.WriteString(pw, "heartbeat\n"+agent.DeadmanDisarm)
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	out, err := r.wait(t)
	require.NoError(t, err)
	assert.Equal(t, agent.DeadmanDisarmed, out)
	assert.Equal(t, agent.DeadmanArmed, armed.String())
	terms, kills := st.calls()
	assert.Equal(t, [2]int{0, 0}, [2]int{terms, kills}, "a disarmed switch never acts")
}

func TestDeadmanFiresOnlyAfterTheGrace(t *testing.T) {
	pr, pw := io.Pipe()
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	st := &fakeStopper{dieOn: 1}
	r := startDeadman(context.Background(), pr, agent.DeadmanOptions{Stopper: st, Clock: clk, Grace: 3 * time.Second})
	_, err := io.WriteString(pw, "not a disarm\n")
	require.NoError(t, err)
	require.NoError(t, pw.Close()) // the harness died
	waitTimer(t, clk)
	clk.Step(3*time.Second - time.Nanosecond)
	terms, _ := st.calls()
	assert.Zero(t, terms, "nothing before the grace has passed")
	clk.Step(time.Nanosecond)
	out, err := r.wait(t)
	require.NoError(t, err)
	assert.Equal(t, agent.DeadmanFired, out)
	terms, kills := st.calls()
	assert.Equal(t, [2]int{1, 0}, [2]int{terms, kills}, "SIGTERM was enough")
}

func TestDeadmanEscalatesToKill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dieOn   int
		wantErr bool
	}{
		{"dies on SIGKILL", 2, false},
		{"survives everything", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			clk := clocktesting.NewFakeClock(time.Unix(0, 0))
			st := &fakeStopper{dieOn: tc.dieOn}
			r := startDeadman(context.Background(), pr, agent.DeadmanOptions{Stopper: st, Clock: clk,
				Grace: time.Second, StopTimeout: 5 * time.Second, Poll: time.Second})
			require.NoError(t, pw.CloseWithError(io.ErrUnexpectedEOF))
			waitTimer(t, clk)
			clk.Step(time.Second) // the grace
			for i := 0; i < 5; i++ {
				waitTimer(t, clk)
				_, kills := st.calls()
				assert.Zero(t, kills, "no SIGKILL before the stop timeout (%d s)", i)
				clk.Step(time.Second)
			}
			if tc.dieOn == 0 { // the second wait: SIGKILL did not help either
				for i := 0; i < 5; i++ {
					waitTimer(t, clk)
					clk.Step(time.Second)
				}
			}
			out, err := r.wait(t)
			assert.Equal(t, agent.DeadmanFired, out)
			if tc.wantErr {
				assert.ErrorContains(t, err, "still running")
			} else {
				assert.NoError(t, err)
			}
			terms, kills := st.calls()
			assert.Equal(t, [2]int{1, 1}, [2]int{terms, kills})
		})
	}
}

func TestDeadmanCancelledDuringTheGraceDoesNothing(t *testing.T) {
	pr, pw := io.Pipe()
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	st := &fakeStopper{dieOn: 1}
	ctx, cancel := context.WithCancel(context.Background())
	r := startDeadman(ctx, pr, agent.DeadmanOptions{Stopper: st, Clock: clk})
	require.NoError(t, pw.Close())
	waitTimer(t, clk)
	cancel() // SIGTERM: the container is being removed
	out, err := r.wait(t)
	require.NoError(t, err)
	assert.Equal(t, agent.DeadmanCancelled, out)
	terms, kills := st.calls()
	assert.Equal(t, [2]int{0, 0}, [2]int{terms, kills})
}

func TestDeadmanCancelledWhileTheStreamLives(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close() // ends the stream reader
	st := &fakeStopper{}
	ctx, cancel := context.WithCancel(context.Background())
	r := startDeadman(ctx, pr, agent.DeadmanOptions{Stopper: st})
	cancel()
	out, err := r.wait(t)
	require.NoError(t, err)
	assert.Equal(t, agent.DeadmanCancelled, out)
}

// TestLocalStopperEndsTheContainersProcesses runs a local container's
// shape with real processes: a "zinit init --socket S" with a child, a
// detached helper outside its tree, and one that ignores SIGTERM, all with
// the container's root in their environment, and one process of another
// root that must be left alone.
func TestLocalStopperEndsTheContainersProcesses(t *testing.T) {
	root := t.TempDir()
	sock := filepath.Join(root, "zinit.sock")
	start := func(root string, args ...string) *exec.Cmd {
		cmd := exec.Command("/bin/sh", args...)
		cmd.Env = append(os.Environ(), "ZCHAOS_LOCAL_ROOT="+root)
		require.NoError(t, cmd.Start())
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		return cmd
	}
	initCmd := start(root, "-c", `sleep 1000 & c=$!; trap 'kill $c; exit 0' TERM; wait`, "init", "--socket", sock)
	helper := start(root, "-c", `exec sleep 1000`)
	stubborn := start(root, "-c", `trap '' TERM; sleep 1000`)
	other := start(root+"-other", "-c", `exec sleep 1000`)

	s := &agent.LocalStopper{Root: root, Socket: sock, Self: os.Getpid()}
	alive := func(pid int) bool { return contains(s.Pids(), pid) }
	require.Eventually(t, func() bool { return len(s.Pids()) == 5 }, 10*time.Second, 10*time.Millisecond,
		"init, its sleep, the helper, the stubborn shell and its sleep: %v", s.Pids())
	assert.False(t, contains(s.Pids(), other.Process.Pid), "another root's process is not the container's")

	require.NoError(t, s.Term())
	require.Eventually(t, func() bool { return !alive(initCmd.Process.Pid) && !alive(helper.Process.Pid) },
		10*time.Second, 10*time.Millisecond, "SIGTERM ends init (and its child) and the helper")
	assert.True(t, alive(stubborn.Process.Pid), "a process that ignores SIGTERM survives it")
	assert.True(t, s.Alive())

	require.NoError(t, s.Kill())
	require.Eventually(t, func() bool { return !s.Alive() }, 10*time.Second, 10*time.Millisecond, "SIGKILL ends the rest: %v", s.Pids())
	assert.NoError(t, other.Process.Signal(syscall.Signal(0)), "another root's process still runs")
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
