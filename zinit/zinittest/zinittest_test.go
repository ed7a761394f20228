package zinittest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeDaemonMethods(t *testing.T) {
	d := zinittest.StartFake(t, zinittest.Methods(map[string]func(zinit.Request) (any, error){
		zinit.MethodSystemPing:    func(zinit.Request) (any, error) { return zinit.PingResult{Version: "fake", PID: 7}, nil },
		zinit.MethodServiceStatus: func(zinit.Request) (any, error) { return nil, zinit.ErrNotFound },
		zinit.MethodServiceList:   nil,
	}))
	assert.Less(t, len(d.Socket), zinit.MaxSocketPathLen)
	c, err := zinit.Dial(context.Background(), d.Socket)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ping, err := c.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, zinit.PingResult{Version: "fake", PID: 7}, ping)
	_, err = c.Status(ctx, "x")
	require.ErrorIs(t, err, zinit.ErrNotFound)
	require.NoError(t, c.Start(ctx, "x"), "a method without a handler answers null")
	hung, hcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer hcancel()
	_, err = c.List(hung)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a nil handler never answers")

	var methods []string
	for _, r := range d.Requests() {
		methods = append(methods, r.Method)
	}
	assert.Equal(t, []string{zinit.MethodSystemPing, zinit.MethodServiceStatus, zinit.MethodServiceStart, zinit.MethodServiceList}, methods)
}

func TestSupervisorAnswersAndWaits(t *testing.T) {
	s := zinittest.StartSupervisor(t, supervisor.Config{})
	assert.Less(t, len(s.Socket), zinit.MaxSocketPathLen)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zinit.Dial(ctx, s.Socket)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Ping(ctx)
	require.NoError(t, err, "answering when returned")

	early, ecancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer ecancel()
	require.ErrorIs(t, s.Wait(early), context.DeadlineExceeded, "running until shut down")
	require.NoError(t, c.Shutdown(ctx))
	require.NoError(t, s.Wait(ctx))
}
