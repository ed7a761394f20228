package zinit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, path string) *zinit.Client {
	t.Helper()
	c, err := zinit.Dial(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.sock")
	_, err := zinit.Dial(testCtx(t), path)
	require.ErrorIs(t, err, zinit.ErrNotRunning)
	assert.Contains(t, err.Error(), path)

	// A socket file nobody listens on any more: connection refused.
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "stale.sock"))
	require.NoError(t, err)
	stale := ln.Addr().String()
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	_, err = zinit.Dial(testCtx(t), stale)
	require.ErrorIs(t, err, zinit.ErrNotRunning)
	assert.Contains(t, err.Error(), stale)
}

func TestDialSocketPathLimit(t *testing.T) {
	dir := t.TempDir()
	pad := func(n int) string {
		name := strings.Repeat("s", n-len(dir)-1)
		return filepath.Join(dir, name)
	}
	longest := pad(zinit.MaxSocketPathLen)
	require.Len(t, longest, 107)
	ln, err := net.Listen("unix", longest)
	require.NoError(t, err, "the kernel accepts a 107-byte path")
	defer ln.Close()
	c, err := zinit.Dial(testCtx(t), longest)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	tooLong := pad(zinit.MaxSocketPathLen + 1)
	_, err = zinit.Dial(testCtx(t), tooLong)
	require.ErrorIs(t, err, zinit.ErrSocketPathTooLong)
	assert.Contains(t, err.Error(), "108 bytes")
	assert.NotErrorIs(t, err, zinit.ErrNotRunning)
}

// TestClientMethods checks every typed method's wire request (method, named
// params, incrementing ids) and how it decodes the answer.
func TestClientMethods(t *testing.T) {
	pid := 42
	status := zinit.ServiceStatus{Name: "svc", State: zinit.StateRunning, PID: &pid, Restarts: 2,
		After: []string{}, Jobs: []zinit.JobStatus{}}
	results := map[string]any{
		zinit.MethodJobAdd:        zinit.JobAddResult{Warning: "legacy service: job has no effect"},
		zinit.MethodServiceList:   []zinit.ServiceStatus{status},
		zinit.MethodServiceStatus: status,
		zinit.MethodLogsGet:       zinit.LogsResult{Lines: []string{"a", "b"}},
		zinit.MethodSystemReload:  zinit.ReloadResult{Started: []string{"n"}, Stopped: []string{}, Restarted: []string{"c"}},
		zinit.MethodSystemPing:    zinit.PingResult{Version: zinit.Version, PID: 1},
		zinit.MethodRPCDiscover:   zinit.DiscoverResult{Methods: zinit.Methods},
		zinit.MethodSystemStatus:  zinit.SystemStatus{Version: zinit.Version, PID: 1, Degraded: true, Problems: []string{"read-only"}},
		zinit.MethodPersistResume: zinit.SystemStatus{Version: zinit.Version, PID: 1, Problems: []string{}},
	}
	d := zinittest.StartFake(t, func(req zinit.Request, _ []byte, w io.Writer) { zinittest.Answer(w, req, results[req.Method]) })
	c := dial(t, d.Socket)
	ctx := testCtx(t)

	job := zinit.Job{Service: "svc", Name: "main", Exec: "run", Trigger: zinit.TriggerStart,
		Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 20}

	require.NoError(t, c.AddService(ctx, zinit.Service{Name: "svc", After: []string{"db"}, Persist: true}))
	require.NoError(t, c.RemoveService(ctx, "svc"))
	war, err := c.AddJob(ctx, job)
	require.NoError(t, err)
	assert.Equal(t, results[zinit.MethodJobAdd], war)
	require.NoError(t, c.RemoveJob(ctx, "svc", "main"))
	list, err := c.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []zinit.ServiceStatus{status}, list)
	st, err := c.Status(ctx, "svc")
	require.NoError(t, err)
	assert.Equal(t, status, st)
	require.NoError(t, c.Start(ctx, "svc"))
	require.NoError(t, c.Stop(ctx, "svc"))
	require.NoError(t, c.Restart(ctx, "svc"))
	require.NoError(t, c.Kill(ctx, "svc", "SIGKILL"))
	lines, err := c.Logs(ctx, "svc", 5)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, lines)
	rr, err := c.Reload(ctx)
	require.NoError(t, err)
	assert.Equal(t, results[zinit.MethodSystemReload], rr)
	require.NoError(t, c.Shutdown(ctx))
	ping, err := c.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, zinit.PingResult{Version: zinit.Version, PID: 1}, ping)
	methods, err := c.Discover(ctx)
	require.NoError(t, err)
	assert.Equal(t, zinit.Methods, methods)
	sys, err := c.SystemStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, results[zinit.MethodSystemStatus], sys)
	sys, err = c.PersistResume(ctx)
	require.NoError(t, err)
	assert.Equal(t, results[zinit.MethodPersistResume], sys)
	var raw json.RawMessage
	require.NoError(t, c.Call(ctx, zinit.MethodSystemPing, map[string]int{}, &raw))
	assert.JSONEq(t, `{"version":"`+zinit.Version+`","pid":1}`, string(raw))

	type wire struct{ method, params string }
	want := []wire{
		{zinit.MethodServiceAdd, `{"name":"svc","after":["db"],"persist":true}`},
		{zinit.MethodServiceRemove, `{"name":"svc"}`},
		{zinit.MethodJobAdd, `{"service":"svc","name":"main","exec":"run","trigger":"start","restart":"on-failure","restart_delay_ms":5000,"max_restarts":20}`},
		{zinit.MethodJobRemove, `{"service":"svc","name":"main"}`},
		{zinit.MethodServiceList, `{}`},
		{zinit.MethodServiceStatus, `{"name":"svc"}`},
		{zinit.MethodServiceStart, `{"name":"svc"}`},
		{zinit.MethodServiceStop, `{"name":"svc"}`},
		{zinit.MethodServiceRestart, `{"name":"svc"}`},
		{zinit.MethodServiceKill, `{"name":"svc","signal":"SIGKILL"}`},
		{zinit.MethodLogsGet, `{"name":"svc","lines":5}`},
		{zinit.MethodSystemReload, `{}`},
		{zinit.MethodSystemShutdown, `{}`},
		{zinit.MethodSystemPing, `{}`},
		{zinit.MethodRPCDiscover, `{}`},
		{zinit.MethodSystemStatus, `{}`},
		{zinit.MethodPersistResume, `{}`},
		{zinit.MethodSystemPing, `{}`},
	}
	reqs := d.Requests()
	require.Len(t, reqs, len(want))
	for i, r := range reqs {
		assert.Equal(t, "2.0", r.JSONRPC)
		assert.Equal(t, want[i].method, r.Method)
		assert.JSONEq(t, want[i].params, string(r.Params), "params of %s", r.Method)
		assert.Equal(t, fmt.Sprint(i+1), string(r.ID), "ids increment from 1")
	}
}

func TestClientOneRequestPerLine(t *testing.T) {
	var raws []string
	var mu sync.Mutex
	d := zinittest.StartFake(t, func(req zinit.Request, raw []byte, w io.Writer) {
		mu.Lock()
		raws = append(raws, string(raw))
		mu.Unlock()
		zinittest.Answer(w, req, nil)
	})
	c := dial(t, d.Socket)
	require.NoError(t, c.Start(testCtx(t), "multi\nline"))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{`{"jsonrpc":"2.0","method":"service.start","params":{"name":"multi\nline"},"id":1}`}, raws)
}

func TestClientRPCError(t *testing.T) {
	d := zinittest.StartFake(t, func(req zinit.Request, _ []byte, w io.Writer) {
		var p zinit.NameParams
		if err := req.DecodeParams(&p); err != nil {
			zinittest.AnswerError(w, req, err)
			return
		}
		switch p.Name {
		case "missing":
			zinittest.AnswerError(w, req, fmt.Errorf("service %q: %w", p.Name, zinit.ErrNotFound))
		case "dup":
			zinittest.AnswerError(w, req, &zinit.RPCError{Code: zinit.CodeAlreadyExists, Message: "service \"dup\" already exists"})
		default:
			zinittest.Answer(w, req, nil)
		}
	})
	c := dial(t, d.Socket)
	ctx := testCtx(t)

	err := c.Start(ctx, "missing")
	require.ErrorIs(t, err, zinit.ErrNotFound)
	var re *zinit.RPCError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.RPCError{Code: zinit.CodeNotFound, Message: `service "missing": not found`}, *re)

	require.ErrorIs(t, c.AddService(ctx, zinit.Service{Name: "dup"}), zinit.ErrAlreadyExists)
	require.ErrorIs(t, c.Call(ctx, zinit.MethodServiceStart, map[string]any{"name": "x", "bogus": 1}, nil), zinit.ErrInvalid)

	// A daemon error leaves the connection usable.
	require.NoError(t, c.Start(ctx, "ok"))
}

// TestClientHungDaemonHonoursCtx: a daemon that reads the request and never
// answers does not hold the caller past its ctx, and the connection is not
// reused afterwards.
func TestClientHungDaemonHonoursCtx(t *testing.T) {
	received := make(chan struct{}, 16)
	d := zinittest.StartFake(t, func(zinit.Request, []byte, io.Writer) { received <- struct{}{} })
	c := dial(t, d.Socket)

	const budget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	t0 := time.Now()
	_, err := c.Ping(ctx)
	elapsed := time.Since(t0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), d.Socket)
	assert.GreaterOrEqual(t, elapsed, budget-5*time.Millisecond, "gave up before the deadline")
	assert.Less(t, elapsed, budget+max(250*time.Millisecond, budget*3/10), "held past the deadline (ε of invariants.md)")
	<-received

	_, err = c.Ping(testCtx(t))
	require.ErrorIs(t, err, zinit.ErrBroken)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the cause is kept")
}

func TestClientCancelWithoutDeadline(t *testing.T) {
	received := make(chan struct{})
	d := zinittest.StartFake(t, func(zinit.Request, []byte, io.Writer) { close(received) })
	c := dial(t, d.Socket)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // owner: this test; stop signal: received; waiter: <-done below
		defer close(done)
		<-received
		cancel()
	}()
	_, err := c.Ping(ctx)
	<-done
	require.ErrorIs(t, err, context.Canceled)
}

// TestClientWaitingCallerHonoursCtx: a caller queued behind a hung call
// gives up at its own deadline.
func TestClientWaitingCallerHonoursCtx(t *testing.T) {
	received := make(chan struct{}, 1)
	d := zinittest.StartFake(t, func(zinit.Request, []byte, io.Writer) { received <- struct{}{} })
	c := dial(t, d.Socket)

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { // owner: this test; stop: cancelFirst; waiter: <-firstErr
		_, err := c.Ping(firstCtx)
		firstErr <- err
	}()
	<-received

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Ping(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for the connection")

	cancelFirst()
	require.ErrorIs(t, <-firstErr, context.Canceled)
}

func TestClientGarbageAnswers(t *testing.T) {
	cases := map[string]string{
		"not json":        "hello\n",
		"not an object":   "[1,2]\n",
		"wrong version":   `{"jsonrpc":"1.0","result":null,"id":1}` + "\n",
		"wrong id":        `{"jsonrpc":"2.0","result":null,"id":7}` + "\n",
		"string id":       `{"jsonrpc":"2.0","result":null,"id":"1"}` + "\n",
		"neither":         `{"jsonrpc":"2.0","id":1}` + "\n",
		"both":            `{"jsonrpc":"2.0","result":1,"error":{"code":-32000,"message":"x"},"id":1}` + "\n",
		"bad error":       `{"jsonrpc":"2.0","error":"boom","id":1}` + "\n",
		"wrong type":      `{"jsonrpc":"2.0","result":"a string","id":1}` + "\n",
		"closed mid-line": `{"jsonrpc":"2.0",`,
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			d := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) {
				_, _ = io.WriteString(w, reply)
				if !strings.HasSuffix(reply, "\n") {
					_ = w.(net.Conn).Close()
				}
			})
			c := dial(t, d.Socket)
			_, err := c.Ping(testCtx(t))
			require.ErrorIs(t, err, zinit.ErrProtocol)
			var re *zinit.RPCError
			assert.False(t, errors.As(err, &re), "garbage is not a daemon error")

			_, err = c.Ping(testCtx(t))
			require.ErrorIs(t, err, zinit.ErrBroken, "a desynchronised stream is not reused")
		})
	}
}

// TestClientNullIDError: an error answered with a null id (the daemon could
// not read the request's id, or refuses the connection) is the daemon's
// error, not a protocol error; a result with a null id is still garbage.
func TestClientNullIDError(t *testing.T) {
	d := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) {
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"too many connections"},"id":null}`+"\n")
	})
	_, err := dial(t, d.Socket).Ping(testCtx(t))
	var re *zinit.RPCError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.RPCError{Code: zinit.CodeInternal, Message: "too many connections"}, *re)

	d = zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) {
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","result":{},"id":null}`+"\n")
	})
	_, err = dial(t, d.Socket).Ping(testCtx(t))
	assert.ErrorIs(t, err, zinit.ErrProtocol)
}

func TestClientOversizedLine(t *testing.T) {
	d := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i <= zinit.MaxResponseBytes>>20; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c := dial(t, d.Socket)
	_, err := c.Ping(testCtx(t))
	require.ErrorIs(t, err, zinit.ErrProtocol)
	require.NoError(t, c.Close(), "unblocks the fake's writer")
}

func TestClientDaemonHangsUp(t *testing.T) {
	d := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) { _ = w.(net.Conn).Close() })
	c := dial(t, d.Socket)
	_, err := c.Ping(testCtx(t))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	d2 := zinittest.StartFake(t, func(_ zinit.Request, _ []byte, w io.Writer) { _ = w.(net.Conn).Close() })
	c2 := dial(t, d2.Socket)
	require.NoError(t, c2.Shutdown(testCtx(t)), "a daemon that hangs up on shutdown has shut down")
}

func TestClientSerialisesConcurrentCalls(t *testing.T) {
	var inFlight, maxInFlight int
	var mu sync.Mutex
	d := zinittest.StartFake(t, func(req zinit.Request, _ []byte, w io.Writer) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		var p zinit.NameParams
		_ = req.DecodeParams(&p)
		mu.Lock()
		inFlight--
		mu.Unlock()
		zinittest.Answer(w, req, zinit.ServiceStatus{Name: p.Name})
	})
	c := dial(t, d.Socket)
	ctx := testCtx(t)
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	names := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() { // owner: this test; waiter: wg
			defer wg.Done()
			st, err := c.Status(ctx, fmt.Sprintf("svc%d", i))
			errs[i], names[i] = err, st.Name
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf("svc%d", i), names[i], "each caller gets its own answer")
	}
	ids := map[string]bool{}
	for _, r := range d.Requests() {
		ids[string(r.ID)] = true
	}
	assert.Len(t, ids, n, "distinct ids")
	assert.Equal(t, 1, maxInFlight)
}

func TestClientClose(t *testing.T) {
	d := zinittest.StartFake(t, func(req zinit.Request, _ []byte, w io.Writer) { zinittest.Answer(w, req, nil) })
	c, err := zinit.Dial(testCtx(t), d.Socket)
	require.NoError(t, err)
	require.NoError(t, c.Start(testCtx(t), "a"))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	require.ErrorIs(t, c.Start(testCtx(t), "a"), zinit.ErrClosed)
	require.ErrorIs(t, c.Start(testCtx(t), "a"), zinit.ErrClosed)
}

func TestDialRespectsCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := zinittest.StartFake(t, func(zinit.Request, []byte, io.Writer) {})
	_, err := zinit.Dial(ctx, d.Socket)
	require.ErrorIs(t, err, context.Canceled)
	_, statErr := os.Stat(d.Socket)
	require.NoError(t, statErr)
}

// BenchmarkClientRoundTrip measures one request/answer over a real Unix
// socket against the fake daemon (the client's own overhead plus the
// socket; the daemon's work is nil).
func BenchmarkClientRoundTrip(b *testing.B) {
	d := zinittest.StartFake(b, func(req zinit.Request, _ []byte, w io.Writer) {
		zinittest.Answer(w, req, zinit.PingResult{Version: zinit.Version, PID: 1})
	})
	c, err := zinit.Dial(context.Background(), d.Socket)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/call")
	b.StopTimer()
	require.NoError(b, c.Close())
}

// BenchmarkRenderScript renders a 29-service fleet (a service, a start job
// and a check job each), the size of the seed's hero fleet.
func BenchmarkRenderScript(b *testing.B) {
	var steps [][]string
	for i := range 29 {
		svc := fmt.Sprintf("user.hero_service_%02d", i)
		steps = append(steps, zinit.Service{Name: svc}.Argv(),
			zinit.Job{Service: svc, Name: "main", Exec: "/root/hero/bin/" + svc + " serve", Trigger: zinit.TriggerStart,
				Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 20}.Argv(),
			zinit.Job{Service: svc, Name: "check", Exec: seedHealthExec, Trigger: zinit.TriggerCheck,
				Interval: time.Minute, Timeout: 30 * time.Second}.Argv())
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := zinit.RenderScript(&buf, steps, zinit.ScriptOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/script")
}
