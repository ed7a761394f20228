package agent

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// TestExitWakerWitnessesTheExit: the span the waker gives an exit holds
// the true exit (after the kill, before the reap), and its start comes
// from the waker's own waits, not from when the process was watched.
func TestExitWakerWitnessesTheExit(t *testing.T) {
	w, err := newExitWaker(MonoNow, defaultTick)
	require.NoError(t, err)
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wake, nil, nil) }()
	defer func() { w.shutdown(); <-done; w.close() }()

	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	seen := MonoNow()
	w.watch(cmd.Process.Pid, seen)
	registered := MonoNow()
	assert.True(t, w.quiet(cmd.Process.Pid))

	// Wait until a wait of the waker has begun with the pidfd in its set.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, zinit.PollUntil(ctx, clock.RealClock{}, time.Millisecond, func(context.Context) (bool, error) {
		return w.witness.Load() > registered, nil
	}))
	witnessed := w.witness.Load()

	killed := MonoNow()
	require.NoError(t, cmd.Process.Kill())
	select {
	case <-wake:
	case <-ctx.Done():
		t.Fatal("the exit did not wake the waker")
	}
	_ = cmd.Wait()
	reaped := MonoNow()

	sp, ok := w.exited(cmd.Process.Pid)
	require.True(t, ok)
	assert.False(t, w.quiet(cmd.Process.Pid))
	assert.GreaterOrEqual(t, sp.lo, witnessed, "the span starts at a wait that saw it alive")
	assert.LessOrEqual(t, sp.lo, reaped, "the exit came before the reap")
	assert.GreaterOrEqual(t, sp.hi, killed, "the exit came after the kill")
	assert.LessOrEqual(t, sp.lo, sp.hi)
	t.Logf("exit span %.2f ms (kill→reap %.2f ms)", float64(sp.hi-sp.lo)/1e6, float64(reaped-killed)/1e6)
}

// TestExitWakerBeforeItsFirstWait: a process that exits before any wait
// began with its pidfd in the set is dated from when the scanner saw it
// alive, never from an earlier wait.
func TestExitWakerBeforeItsFirstWait(t *testing.T) {
	w, err := newExitWaker(MonoNow, defaultTick)
	require.NoError(t, err)
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	seen := MonoNow()
	w.watch(cmd.Process.Pid, seen)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	w.witness.Store(0)
	go func() { defer close(done); w.run(wake, nil, nil) }()
	defer func() { w.shutdown(); <-done; w.close() }()
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("the exit did not wake the waker")
	}
	sp, ok := w.exited(cmd.Process.Pid)
	require.True(t, ok)
	assert.Equal(t, seen, sp.lo)
}
