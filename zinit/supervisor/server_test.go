package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/zinit"
)

// wireConn is a raw connection to the daemon's socket.
type wireConn struct {
	t testing.TB
	c *net.UnixConn
	r *bufio.Reader
}

func dialRaw(t testing.TB, socket string) *wireConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (w *wireConn) send(line string) {
	w.t.Helper()
	_, err := w.c.Write([]byte(line))
	require.NoError(w.t, err)
}

// answer reads one answer line within 5 s.
func (w *wireConn) answer() (zinit.Response, error) {
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := w.r.ReadBytes('\n')
	if err != nil {
		return zinit.Response{}, err
	}
	var resp struct {
		zinit.Response
		Error *zinit.RPCError `json:"error"`
	}
	require.NoError(w.t, json.Unmarshal(line, &resp), "%s", line)
	resp.Response.Error = resp.Error
	return resp.Response, nil
}

// call sends line and returns its answer.
func (w *wireConn) call(line string) zinit.Response {
	w.t.Helper()
	w.send(line + "\n")
	resp, err := w.answer()
	require.NoError(w.t, err, "no answer to %s", line)
	return resp
}

// closedByDaemon waits up to within for the daemon to close the
// connection, and returns what it wrote first. A reset (the daemon closed
// with our request unread) is a close too.
func (w *wireConn) closedByDaemon(within time.Duration) (string, error) {
	w.c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(w.r)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return string(b), err
}

// TestServerJSONRPC: the daemon follows JSON-RPC 2.0 on the wire: batches
// and [] are invalid requests, so are object/array/boolean ids (answered to
// a null id); absent params are invalid params, not "not found"; a
// restart_delay_ms of 0 is refused as the CLI refuses it; a notification
// gets no answer; the connection survives every bad request.
func TestServerJSONRPC(t *testing.T) {
	d := startDaemon(t, Config{})
	w := dialRaw(t, d.socket)
	cases := []struct {
		line string
		code int
		id   string
		msg  string
	}{
		{`[]`, zinit.CodeInvalidRequest, "null", "batch requests are not supported"},
		{`[{"jsonrpc":"2.0","method":"system.ping","id":1}]`, zinit.CodeInvalidRequest, "null", "batch requests are not supported"},
		{`{"jsonrpc":"2.0","method":"system.ping","id":{"a":1}}`, zinit.CodeInvalidRequest, "null", "id must be a string, a number or null"},
		{`{"jsonrpc":"2.0","method":"system.ping","id":[1]}`, zinit.CodeInvalidRequest, "null", "id must be"},
		{`{"jsonrpc":"2.0","method":"system.ping","id":true}`, zinit.CodeInvalidRequest, "null", "id must be"},
		{`{"jsonrpc":"2.0","method":`, zinit.CodeParseError, "null", "parse error"},
		{`{"jsonrpc":"2.0","method":"service.status","id":1}`, zinit.CodeInvalidParams, "1", "service.status takes params"},
		{`{"jsonrpc":"2.0","method":"service.stop","params":null,"id":"s"}`, zinit.CodeInvalidParams, `"s"`, "service.stop takes params"},
		{`{"jsonrpc":"2.0","method":"service.status","params":{},"id":2}`, zinit.CodeInvalidParams, "2", `name ""`},
		{`{"jsonrpc":"2.0","method":"job.remove","params":{"service":"a"},"id":3}`, zinit.CodeInvalidParams, "3", `job: invalid: name ""`},
		{`{"jsonrpc":"2.0","method":"service.kill","params":{"name":"a"},"id":4}`, zinit.CodeInvalidParams, "4", "signal is required"},
		{`{"jsonrpc":"2.0","method":"logs.get","params":{"name":"a","lines":-1},"id":5}`, zinit.CodeInvalidParams, "5", "lines -1: must be >= 0"},
		{`{"jsonrpc":"2.0","method":"service.list","params":{"x":1},"id":6}`, zinit.CodeInvalidParams, "6", `unknown field "x"`},
		{`{"jsonrpc":"2.0","method":"job.add","params":{"service":"a","name":"main","exec":"x","trigger":"start","restart_delay_ms":0},"id":7}`,
			zinit.CodeInvalidParams, "7", "restart_delay_ms 0: must be > 0"},
		{`{"jsonrpc":"2.0","method":"service.status","params":{"name":"ghost"},"id":8}`, zinit.CodeNotFound, "8", `service "ghost": not found`},
	}
	for _, c := range cases {
		resp := w.call(c.line)
		require.NotNil(t, resp.Error, c.line)
		assert.Equal(t, c.code, resp.Error.Code, c.line)
		assert.Contains(t, resp.Error.Message, c.msg, c.line)
		id := string(resp.ID)
		assert.Equal(t, c.id, id, c.line)
	}
	// A notification is run, not answered: the next answer is the ping's.
	w.send(`{"jsonrpc":"2.0","method":"service.add","params":{"name":"quiet"}}` + "\n")
	resp := w.call(`{"jsonrpc":"2.0","method":"system.ping","id":9}`)
	assert.Equal(t, "9", string(resp.ID))
	assert.JSONEq(t, fmt.Sprintf(`{"version":%q,"pid":%d}`, zinit.Version, os.Getpid()), string(resp.Result), "not degraded: no field")
	_, err := d.c.Status(ctxT(t), "quiet")
	require.NoError(t, err)

	st, err := d.c.SystemStatus(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, zinit.SystemStatus{Version: zinit.Version, PID: os.Getpid(), Problems: []string{},
		Persistence:   zinit.PersistStatus{Mode: zinit.PersistOff, Restored: []string{}, NotRestored: []zinit.StateProblem{}},
		ConfigSkipped: []zinit.SkippedFile{}}, st)
}

// TestServerSlowClients: a half-sent request and an idle connection are
// closed at the request deadline — the first told why —, and neither
// delays another client meanwhile.
func TestServerSlowClients(t *testing.T) {
	const timeout = time.Second
	d := startDaemon(t, Config{requestTimeout: timeout})
	half := dialRaw(t, d.socket)
	half.send(`{"jsonrpc":"2.0","method":"system.ping",`)
	idle := dialRaw(t, d.socket)
	answered := dialRaw(t, d.socket)
	answered.call(`{"jsonrpc":"2.0","method":"system.ping","id":1}`)

	start := time.Now()
	_, err := d.c.Ping(ctxT(t))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), timeout, "another client is answered at once")

	got, err := half.closedByDaemon(5 * time.Second)
	require.NoError(t, err, "closed by the daemon, not by our read deadline")
	assert.Contains(t, got, `"code":-32600`)
	assert.Contains(t, got, "incomplete request: no newline within 1s, connection closed")
	assert.GreaterOrEqual(t, time.Since(start), timeout/2)
	got, err = idle.closedByDaemon(5 * time.Second)
	require.NoError(t, err)
	assert.Empty(t, got, "an idle connection is closed without a word")
	got, err = answered.closedByDaemon(5 * time.Second)
	require.NoError(t, err)
	assert.Empty(t, got, "the deadline is per request: idle after an answer counts too")
}

// TestServerConnectionCap: over the cap, the connection that has waited
// longest for its next request is evicted, so a new client is served.
func TestServerConnectionCap(t *testing.T) {
	d := startDaemon(t, Config{maxConns: 2, requestTimeout: time.Minute})
	// d.c, the helper's client, is the oldest: accepted first, idle since.
	newer := dialRaw(t, d.socket)
	newer.call(`{"jsonrpc":"2.0","method":"system.ping","id":1}`)
	third := dialRaw(t, d.socket)
	third.call(`{"jsonrpc":"2.0","method":"system.ping","id":1}`)
	_, err := d.c.Ping(ctxT(t))
	require.Error(t, err)
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE),
		"the oldest idle connection was evicted (closed): %v", err)
	newer.call(`{"jsonrpc":"2.0","method":"system.ping","id":2}`)
	third.call(`{"jsonrpc":"2.0","method":"system.ping","id":2}`)
}

// TestServerRefusesWhenAllBusy: when every connection has a request in
// progress (a stop of a service that ignores SIGTERM), a new connection's
// request is answered an error and the connection closed; the busy one is
// answered once its request completes.
func TestServerRefusesWhenAllBusy(t *testing.T) {
	var log eventLog
	d := startDaemon(t, Config{maxConns: 1, requestTimeout: time.Minute, observe: log.add})
	d.addService(t, zinit.Service{Name: "stubborn"},
		zinit.NewJob("stubborn", "main").Exec("trap '' TERM; exec sleep 1000").Trigger(zinit.TriggerStart))
	require.NoError(t, d.c.Start(ctxT(t), "stubborn"))
	pid := *d.status(t, "stubborn").PID
	waitFor(t, 5*time.Second, "the trap set (the shell exec'd sleep)", func() (bool, error) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return string(comm) == "sleep\n", err
	})
	stopped := make(chan error, 1)
	go func() { stopped <- d.c.Stop(ctxT(t), "stubborn") }() // owner: this test; waiter: <-stopped below
	waitFor(t, 5*time.Second, "the stop in progress", func() (bool, error) {
		for _, ev := range log.snapshot() {
			if ev.Kind == EventState && ev.State == zinit.StateStopping {
				return true, nil
			}
		}
		return false, nil
	})
	refused := dialRaw(t, d.socket)
	refused.send(`{"jsonrpc":"2.0","method":"system.ping","id":1}` + "\n")
	got, err := refused.closedByDaemon(5 * time.Second)
	require.NoError(t, err)
	assert.JSONEq(t, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"too many connections: 1, each with a request in progress; try again"},"id":1}`, got)
	c, err := zinit.Dial(ctxT(t), d.socket)
	require.NoError(t, err)
	_, err = c.Ping(ctxT(t))
	c.Close()
	var re *zinit.RPCError
	require.ErrorAs(t, err, &re, "the SDK reports the refusal as the daemon's error")
	assert.Contains(t, re.Message, "too many connections")

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	select {
	case err := <-stopped:
		require.NoError(t, err, "the busy connection is answered")
	case <-time.After(10 * time.Second):
		t.Fatal("the stop was not answered")
	}
}

// TestIdleConnectionsMemory opens 5,000 connections that never send a
// byte and measures the daemon in-process (heap and stacks in use,
// goroutines) while they are open, once their request deadline has passed,
// and once the client ends are closed too, twice over. With the default
// cap only MaxConns of them are held at once, and a new client is still
// served; after the deadline every connection goroutine is gone, and a
// second round leaves memory where the first did (the runtime keeps the
// goroutine structures of the first for reuse: nothing grows per
// connection). BenchmarkIdleConns measures the daemon's RSS out of
// process.
func TestIdleConnectionsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5,000 connections")
	}
	// The deadline must outlast opening all n connections, or the first
	// ones are closed before the last are accepted and the count never
	// reaches n: 5,000 dials take well over a second on a loaded runner.
	const n, timeout = 5000, 5 * time.Second
	for _, maxConns := range []int{MaxConns, n} {
		t.Run(fmt.Sprintf("cap %d", maxConns), func(t *testing.T) {
			d := startDaemon(t, Config{requestTimeout: timeout, maxConns: maxConns})
			d.c.Close()
			waitFor(t, 5*time.Second, "the helper's connection gone", func() (bool, error) { return measure().goroutines <= 8, nil })
			base := measure()
			var finals []memFigures
			for round := 1; round <= 2; round++ {
				open, after, final, ping := idleRound(t, d.socket, n, min(maxConns, n), base)
				t.Logf("round %d: %d idle connections, cap %d, %v deadline: heap+stacks %.1f MiB → %.1f MiB with %d held (%.1f KiB per held connection, the %d client ends included) → %.1f MiB after the deadline (client ends open) → %.1f MiB (client ends closed); goroutines %d → %d → %d; a new client's dial+ping meanwhile %v",
					round, n, maxConns, timeout, mib(base.heap), mib(open.heap), min(maxConns, n), float64(open.heap-base.heap)/1024/float64(min(maxConns, n)), n,
					mib(after.heap), mib(final.heap), base.goroutines, open.goroutines, after.goroutines, ping.Round(time.Millisecond))
				finals = append(finals, final)
			}
			assert.Less(t, finals[1].heap, finals[0].heap+2<<20, "a second round does not grow memory (400 B per connection would)")
		})
	}
}

// idleRound opens n idle connections, waits until held of them are
// served, checks a new client is served, waits for the deadline to close
// them, closes the client ends, and measures at each step.
func idleRound(t *testing.T, socket string, n, held int, base memFigures) (open, after, final memFigures, ping time.Duration) {
	conns := dialMany(t, socket, n)
	waitFor(t, 10*time.Second, "the connections accepted", func() (bool, error) {
		open = measure()
		return open.goroutines == base.goroutines+held, fmt.Errorf("%d goroutines, want %d", open.goroutines, base.goroutines+held)
	})
	start := time.Now()
	c, err := zinit.Dial(ctxT(t), socket)
	require.NoError(t, err)
	_, err = c.Ping(ctxT(t))
	require.NoError(t, err, "a new client is served (the oldest idle connection evicted)")
	c.Close()
	ping = time.Since(start)
	waitFor(t, 10*time.Second, "the deadline to close them", func() (bool, error) {
		after = measure()
		return after.goroutines <= base.goroutines, fmt.Errorf("%d goroutines, baseline %d", after.goroutines, base.goroutines)
	})
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	return open, after, measure(), ping
}

// dialMany opens n connections to socket, closed when the test ends.
func dialMany(t testing.TB, socket string, n int) []*net.UnixConn {
	conns := make([]*net.UnixConn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for i := 0; i < n; i++ {
		var c *net.UnixConn
		// A full backlog (the daemon accepts more slowly than we dial)
		// is EAGAIN: try again.
		waitFor(t, 10*time.Second, "a connection", func() (bool, error) {
			var err error
			c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
			if errors.Is(err, syscall.EAGAIN) {
				return false, err
			}
			require.NoError(t, err)
			return true, nil
		})
		conns = append(conns, c)
	}
	return conns
}

type memFigures struct {
	heap       uint64
	goroutines int
}

func measure() memFigures {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heap: ms.HeapInuse + ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestIntegrationFIFOs: a FIFO at services.json does not block the boot
// (the daemon answers, degraded, and a cancel still stops it), and a FIFO
// *.toml makes reload skip it at once, saying so, while the loop goes on.
func TestIntegrationFIFOs(t *testing.T) {
	state, config := shortTempDir(t), shortTempDir(t)
	require.NoError(t, unix.Mkfifo(filepath.Join(state, StateFileName), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(config, "a.toml"), []byte("[service]\nexec = \"exec sleep 1000\"\n"), 0o600))
	d := startDaemon(t, Config{StateDir: state, ConfigDir: config})
	ping, err := d.c.Ping(ctxT(t))
	require.NoError(t, err)
	assert.True(t, ping.Degraded)
	st, err := d.c.SystemStatus(ctxT(t))
	require.NoError(t, err)
	require.Len(t, st.Persistence.NotRestored, 1)
	assert.Contains(t, st.Persistence.NotRestored[0].Reason, "not a regular file (a FIFO)")
	assert.Equal(t, zinit.StateRunning, d.status(t, "a").State, "the config dir was read after it")

	require.NoError(t, unix.Mkfifo(filepath.Join(config, "b.toml"), 0o600))
	rr, err := d.c.Reload(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, []zinit.SkippedFile{{File: filepath.Join(config, "b.toml"), Reason: "not a regular file (a FIFO)"}}, rr.Skipped)
	_, err = d.c.Ping(ctxT(t))
	require.NoError(t, err, "the loop goes on")
	err = d.c.AddService(ctxT(t), zinit.Service{Name: "p", Persist: true})
	require.ErrorIs(t, err, zinit.ErrReadOnly)
	assert.Contains(t, err.Error(), filepath.Join(state, StateFileName))
	d.stop(t) // Run returns: asserted by stop
}

// TestIntegrationSIGTERMWithFIFOState runs the daemon out of process (this
// test binary in daemon mode) with a FIFO at services.json: it comes up,
// and a real SIGTERM stops it in order.
func TestIntegrationSIGTERMWithFIFOState(t *testing.T) {
	state := shortTempDir(t)
	require.NoError(t, unix.Mkfifo(filepath.Join(state, StateFileName), 0o600))
	sock := filepath.Join(shortTempDir(t), "z.sock")
	cmd, done := startTestDaemon(t, sock, envTestStateDir+"="+state)
	c, err := zinit.Dial(ctxT(t), sock)
	require.NoError(t, err)
	defer c.Close()
	ping, err := c.Ping(ctxT(t))
	require.NoError(t, err)
	assert.True(t, ping.Degraded)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop the daemon")
	}
	moved, err := filepath.Glob(filepath.Join(state, StateFileName+".corrupt-*"))
	require.NoError(t, err)
	assert.Len(t, moved, 1, "the FIFO was moved aside")
}
