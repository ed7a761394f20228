package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
)

func deadMan() runtime.DeadMan {
	return runtime.DeadMan{Argv: agent.DeadmanArgv(), Disarm: agent.DeadmanDisarm, Armed: agent.DeadmanArmed}
}

// switches lists the dead-man switches running in c.
func switches(t *testing.T, ctx context.Context, c runtime.Container) []string {
	t.Helper()
	res, err := c.Exec(ctx, []string{"pgrep", "-f", "agent deadman"}, nil)
	require.NoError(t, err)
	return strings.Fields(string(res.Stdout))
}

// TestDockerDeadManRemovesTheContainer ends the harness's side of the
// switch's stream as this process's death would, after a supervisor
// restart (which kills the first switch with the old init): the container
// must stay through the restart, be re-armed, and be gone within the grace
// plus 10 s once the stream ends.
func TestDockerDeadManRemovesTheContainer(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startTest(t, rt, runtime.StartOptions{Image: ref, RunID: fmt.Sprintf("deadman-%d", os.Getpid()), DeadMan: deadMan()})
	assert.Len(t, switches(t, ctx, c), 1, "armed at start")

	require.NoError(t, c.Restart(ctx, 2*time.Second))
	assert.Len(t, switches(t, ctx, c), 1, "re-armed after a restart, the old one gone")

	runtime.SeverDeadMan(c)
	severed := time.Now()
	ins, err := rt.Client().InspectContainerWithContext(c.ID(), ctx)
	require.NoError(t, err, "not removed at once: the grace comes first")
	assert.True(t, ins.State.Running)
	var nsc *docker.NoSuchContainer
	require.Eventually(t, func() bool {
		_, err := rt.Client().InspectContainerWithContext(c.ID(), ctx)
		return errors.As(err, &nsc)
	}, agent.DeadmanGrace+10*time.Second, 50*time.Millisecond, "the container removes itself")
	t.Logf("stream ended → container removed: %v (grace %v)", time.Since(severed).Round(10*time.Millisecond), agent.DeadmanGrace)
}

// TestDockerDeadManKeep disarms the switch: the container outlives its
// stream and RemoveAll, until it is removed on purpose.
func TestDockerDeadManKeep(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startTest(t, rt, runtime.StartOptions{Image: ref, RunID: fmt.Sprintf("deadman-keep-%d", os.Getpid()), DeadMan: deadMan()})
	require.Len(t, switches(t, ctx, c), 1)

	require.NoError(t, c.Keep(ctx))
	assert.Empty(t, switches(t, ctx, c), "the disarmed switch ended without acting")
	require.NoError(t, rt.RemoveAll(ctx))
	ins, err := rt.Client().InspectContainerWithContext(c.ID(), ctx)
	require.NoError(t, err, "a kept container is not RemoveAll's")
	assert.True(t, ins.State.Running)
}

// BenchmarkDockerStartWithDeadMan is what arming the dead-man switch adds
// to a container start: Start with and without it, alternately.
func BenchmarkDockerStartWithDeadMan(b *testing.B) {
	rt := chaostest.Docker(b)
	ref := chaostest.Image(b)
	ctx := context.Background()
	var with, without time.Duration
	for i := 0; i < b.N; i++ {
		for _, dm := range []runtime.DeadMan{{}, deadMan()} {
			start := time.Now()
			c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "bench-deadman", DeadMan: dm})
			require.NoError(b, err)
			took := time.Since(start)
			if len(dm.Argv) > 0 {
				with += took
			} else {
				without += took
			}
			b.StopTimer()
			require.NoError(b, c.Remove(ctx))
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(without.Milliseconds())/float64(b.N), "ms-start")
	b.ReportMetric(float64(with.Milliseconds())/float64(b.N), "ms-start-armed")
}
