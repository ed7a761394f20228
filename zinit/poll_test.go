package zinit_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/zchaos/zchaos/zinit"
)

func TestPollUntilChecksAtOnce(t *testing.T) {
	var calls atomic.Int32
	err := zinit.PollUntil(testCtx(t), clocktesting.NewFakeClock(time.Unix(0, 0)), time.Hour, func(context.Context) (bool, error) {
		calls.Add(1)
		return true, nil
	})
	require.NoError(t, err)
	assert.Equal(t, int32(1), calls.Load(), "no wait before the first check")
}

// TestPollUntilPacedByClock: the condition runs once per interval of the
// injected clock, never sooner.
func TestPollUntilPacedByClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var calls atomic.Int32
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { // owner: this test; ends when the condition holds; waiter: <-done
		done <- zinit.PollUntil(ctx, clk, time.Second, func(context.Context) (bool, error) {
			return calls.Add(1) == 3, nil
		})
	}()
	for want := int32(1); want < 3; want++ {
		require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond)
		assert.Equal(t, want, calls.Load())
		clk.Step(time.Second / 2)
		assert.True(t, clk.HasWaiters(), "half an interval does not poll")
		assert.Equal(t, want, calls.Load())
		clk.Step(time.Second / 2)
		require.Eventually(t, func() bool { return calls.Load() == want+1 }, 5*time.Second, time.Millisecond)
	}
	require.NoError(t, <-done)
	assert.Equal(t, int32(3), calls.Load())
}

func TestPollUntilConditionErrorEndsAtOnce(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int32
	err := zinit.PollUntil(testCtx(t), clocktesting.NewFakeClock(time.Unix(0, 0)), time.Hour, func(context.Context) (bool, error) {
		calls.Add(1)
		return false, boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int32(1), calls.Load())
}

func TestPollUntilTimeoutWrapsCtxErr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var seen atomic.Pointer[context.Context]
	err := zinit.PollUntil(ctx, clock.RealClock{}, time.Millisecond, func(c context.Context) (bool, error) {
		seen.Store(&c)
		return false, nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ctx, *seen.Load(), "the condition gets the caller's ctx")

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	err = zinit.PollUntil(cctx, clocktesting.NewFakeClock(time.Unix(0, 0)), time.Hour, func(context.Context) (bool, error) { return false, nil })
	require.ErrorIs(t, err, context.Canceled)
}
