package zinit

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
)

// PollUntil is the project's one wait loop for a state nobody announces
// (a socket that appears, a service that reaches a state, an exec that
// ends). It calls cond at once, then once per interval of clk, until cond
// returns true (PollUntil returns nil) or an error (returned as is, at
// once: a condition that cannot become true ends the wait), or ctx ends:
// then the error wraps ctx.Err(), so errors.Is(err,
// context.DeadlineExceeded) tells a timeout. cond gets ctx to bound its own
// work; a transient failure it wants retried is (false, nil), and a
// caller that wants the last one in its message keeps it.
//
// Waits driven by events (a channel that reports each change) do not
// poll and do not use it.
func PollUntil(ctx context.Context, clk clock.Clock, interval time.Duration, cond func(context.Context) (bool, error)) error {
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-t.C():
		}
	}
}
