package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

// fakeCLI records the argv the poller would have run.
type fakeCLI struct{ calls [][]string }

func (f *fakeCLI) exec(_ context.Context, argv []string) ([]byte, error) {
	f.calls = append(f.calls, argv)
	return []byte(`[{"name":"from-cli","state":"running"}]`), nil
}

var listArgv = []string{"zinit", "list", "--json"}

func TestRPCStatusSpeaksToTheReferenceSupervisor(t *testing.T) {
	sup := zinittest.StartSupervisor(t, supervisor.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zinit.Dial(ctx, sup.Socket)
	require.NoError(t, err)
	defer c.Close()
	svc, err := zinit.NewService("svc").Build()
	require.NoError(t, err)
	require.NoError(t, c.AddService(ctx, svc))
	job, err := zinit.NewJob("svc", "main").Exec("sleep 60").Trigger(zinit.TriggerStart).Build()
	require.NoError(t, err)
	_, err = c.AddJob(ctx, job)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, "svc"))

	cli := &fakeCLI{}
	r := &rpcStatus{socket: sup.Socket, cli: cli.exec}
	defer r.close()
	b, err := r.exec(ctx, listArgv)
	require.NoError(t, err)
	assert.Empty(t, cli.calls, "the CLI is not run when the socket answers")
	assert.Equal(t, rpcYes, r.mode)

	// The document is the one the CLI prints: the CLI encodes the
	// client's decoded List, so both decode to the same loose statuses.
	list, err := c.List(ctx)
	require.NoError(t, err)
	printed, err := json.Marshal(list)
	require.NoError(t, err)
	var viaRPC, viaCLI []looseStatus
	require.NoError(t, json.Unmarshal(b, &viaRPC))
	require.NoError(t, json.Unmarshal(printed, &viaCLI))
	require.Len(t, viaRPC, 1)
	assert.Equal(t, "svc", viaRPC[0].Name)
	assert.Equal(t, viaCLI, viaRPC)

	b, err = r.exec(ctx, []string{"zinit", "status", "svc", "--json"})
	require.NoError(t, err)
	var one looseStatus
	require.NoError(t, json.Unmarshal(b, &one))
	assert.Equal(t, "svc", one.Name)

	// An unknown service is the daemon's answer, not a reason to give up.
	_, err = r.exec(ctx, []string{"zinit", "status", "nope", "--json"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, zinit.ErrNotFound), "%v", err)
	assert.Equal(t, rpcYes, r.mode)
	assert.Empty(t, cli.calls)
}

func TestRPCStatusFallsBackToTheCLI(t *testing.T) {
	ctx := context.Background()
	t.Run("method missing", func(t *testing.T) {
		d := zinittest.StartFake(t, zinittest.Methods(map[string]func(zinit.Request) (any, error){
			zinit.MethodServiceList: func(zinit.Request) (any, error) {
				return nil, &zinit.RPCError{Code: zinit.CodeMethodMissing, Message: "no such method"}
			},
		}))
		cli := &fakeCLI{}
		r := &rpcStatus{socket: d.Socket, cli: cli.exec}
		defer r.close()
		for range 2 {
			b, err := r.exec(ctx, listArgv)
			require.NoError(t, err)
			assert.Contains(t, string(b), "from-cli")
		}
		assert.Len(t, cli.calls, 2)
		assert.Len(t, d.Requests(), 1, "the socket is asked once, then never again")
	})
	t.Run("not JSON-RPC", func(t *testing.T) {
		d := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) {
			_, _ = w.Write([]byte("hello from another protocol\n"))
		})
		cli := &fakeCLI{}
		r := &rpcStatus{socket: d.Socket, cli: cli.exec}
		defer r.close()
		b, err := r.exec(ctx, listArgv)
		require.NoError(t, err)
		assert.Contains(t, string(b), "from-cli")
		assert.Equal(t, rpcNo, r.mode)
	})
	t.Run("no socket yet, then one", func(t *testing.T) {
		sock := filepath.Join(zinittest.SocketDir(t), "z.sock")
		cli := &fakeCLI{}
		r := &rpcStatus{socket: sock, cli: cli.exec}
		defer r.close()
		_, err := r.exec(ctx, listArgv)
		require.NoError(t, err)
		assert.Len(t, cli.calls, 1, "while nothing listens, the CLI answers (and says why it cannot)")
		assert.Equal(t, rpcUndecided, r.mode)
		zinittest.StartFakeAt(t, sock, zinittest.Methods(map[string]func(zinit.Request) (any, error){
			zinit.MethodServiceList: func(zinit.Request) (any, error) { return []map[string]any{{"name": "x"}}, nil },
		}))
		b, err := r.exec(ctx, listArgv)
		require.NoError(t, err)
		assert.JSONEq(t, `[{"name":"x"}]`, string(b))
		assert.Len(t, cli.calls, 1)
	})
}

func TestRPCStatusRedialsAfterTheSupervisorRestarts(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(zinittest.SocketDir(t), "z.sock")
	answer := zinittest.Methods(map[string]func(zinit.Request) (any, error){
		zinit.MethodServiceList: func(zinit.Request) (any, error) { return []map[string]any{{"name": "x"}}, nil },
	})
	d := zinittest.StartFakeAt(t, sock, answer)
	cli := &fakeCLI{}
	r := &rpcStatus{socket: sock, cli: cli.exec}
	defer r.close()
	_, err := r.exec(ctx, listArgv)
	require.NoError(t, err)

	d.Close() // the supervisor goes away
	_, err = r.exec(ctx, listArgv)
	require.Error(t, err, "a decided socket that is gone is an error, as the CLI's would be")
	_, err = r.exec(ctx, listArgv)
	require.Error(t, err)
	assert.True(t, errors.Is(err, zinit.ErrNotRunning), "%v", err)

	zinittest.StartFakeAt(t, sock, answer) // and comes back
	b, err := r.exec(ctx, listArgv)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"name":"x"}]`, string(b))
	assert.Empty(t, cli.calls, "the CLI is never run once the socket has answered")
}
