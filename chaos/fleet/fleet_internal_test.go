package fleet

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

func TestAgentProbe(t *testing.T) {
	for _, c := range []struct {
		p    migrator.Probe
		want agent.Probe
		ok   bool
	}{
		{migrator.Probe{Kind: migrator.ProbeSocket, Target: "/s.sock"}, agent.Probe{Service: "svc", Socket: "/s.sock"}, true},
		{migrator.Probe{Kind: migrator.ProbeHTTP, Target: "http://127.0.0.1:8083/health"}, agent.Probe{Service: "svc", HTTPPort: 8083}, true},
		{migrator.Probe{Kind: migrator.ProbeHTTP, Target: "http://localhost/health"}, agent.Probe{Service: "svc", HTTPPort: 80}, true}, // no port: HTTP's default
		{migrator.Probe{Kind: migrator.ProbeCommand, Target: "make health"}, agent.Probe{}, false},
		{migrator.Probe{Kind: migrator.ProbeNone}, agent.Probe{}, false},
	} {
		got, ok := agentProbe("svc", c.p)
		assert.Equal(t, c.ok, ok, "%+v", c.p)
		assert.Equal(t, c.want, got, "%+v", c.p)
	}
}

// pingFunc is a pinger.
type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

// TestWaitZinitPolls: waitZinit pings at once, then every 20 ms of its
// clock, until zinit answers.
func TestWaitZinitPolls(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var pings atomic.Int32
	done := make(chan error, 1)
	go func() { // owner: this test; ends when the third ping answers; waiter: <-done
		done <- waitZinit(context.Background(), clk, pingFunc(func(context.Context) error {
			if pings.Add(1) < 3 {
				return migrator.ErrNotRunning
			}
			return nil
		}))
	}()
	for want := int32(1); want < 3; want++ {
		require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond)
		assert.Equal(t, want, pings.Load())
		clk.Step(20 * time.Millisecond)
	}
	require.NoError(t, <-done)
	assert.Equal(t, int32(3), pings.Load())
}

func TestWaitZinitGivesUpWithTheLastPing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	down := errors.New("zinit: daemon not running")
	err := waitZinit(ctx, clocktesting.NewFakeClock(time.Unix(0, 0)), pingFunc(func(context.Context) error { return down }))
	require.ErrorIs(t, err, down)
	assert.EqualError(t, err, "zinit never answered: zinit: daemon not running")
}

// execContainer is a runtime.Container whose Exec is scripted (its other
// methods are not used).
type execContainer struct {
	runtime.Container
	name string
	exec func(argv []string) runtime.ExecResult

	mu    sync.Mutex
	argvs [][]string
}

func (c *execContainer) Name() string { return c.name }
func (c *execContainer) Exec(_ context.Context, argv []string, _ io.Reader) (runtime.ExecResult, error) {
	c.mu.Lock()
	c.argvs = append(c.argvs, argv)
	c.mu.Unlock()
	return c.exec(argv), nil
}

// TestMigratedApplyWaitsForZinit: the migrated config's Apply drives the
// container's zinit CLI, and does nothing before zinit answers.
func TestMigratedApplyWaitsForZinit(t *testing.T) {
	sc, err := scenarios.Lookup("crash-restart")
	require.NoError(t, err)
	st, err := (&Composer{Policy: migrator.DefaultPolicy()}).Setup(context.Background(), sc, scenarios.ConfigMigrated, 0.05)
	require.NoError(t, err)
	require.NotNil(t, st.Apply)
	c := &execContainer{name: "zc-1", exec: func([]string) runtime.ExecResult {
		return runtime.ExecResult{ExitCode: 2, Stderr: []byte("zinit: daemon not running")}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = st.Apply(ctx, c)
	require.ErrorIs(t, err, migrator.ErrNotRunning)
	assert.Contains(t, err.Error(), "zinit never answered")
	assert.Contains(t, err.Error(), "container zc-1")
	require.Len(t, c.argvs, 1, "one ping, nothing applied")
	assert.Equal(t, []string{"zinit", "list", "--json"}, c.argvs[0])
}
