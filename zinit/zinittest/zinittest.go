// Package zinittest holds the zinit daemons tests talk to, each on a real
// Unix socket in a short temp dir (socket paths stay well under
// zinit.MaxSocketPathLen, whatever the test's name) and owned by the test:
// it ends, and its goroutines have ended, when the test's cleanups run.
//
//   - FakeDaemon is a scripted JSON-RPC server: a Handler writes whatever it
//     likes for each request line (a proper answer, garbage, or nothing);
//     Methods builds one from a handler per method.
//   - Supervisor is the reference supervisor (zinit/supervisor) run
//     in-process, started and answering system.ping before it is returned.
//
// It is imported by tests only. It imports zinit and zinit/supervisor, so
// the supervisor's own in-package tests cannot use it.
package zinittest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
)

// SocketDir returns a fresh directory with a short path (directly under the
// system temp dir) for sockets, removed when the test ends.
func SocketDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "zt")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Handler answers one request line of a FakeDaemon: raw is the line, req
// its decoding (zero when it is not JSON), w the connection.
type Handler func(req zinit.Request, raw []byte, w io.Writer)

// FakeDaemon is a scripted JSON-RPC server on a real Unix socket. Requests
// on one connection are handled in order; connections are served at once.
type FakeDaemon struct {
	// Socket is the path it listens on.
	Socket string

	ln     net.Listener
	handle Handler
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex
	conns []net.Conn
	reqs  []zinit.Request
}

// StartFake serves h on a fresh socket until the test ends; cleanup closes
// it (Close).
func StartFake(tb testing.TB, h Handler) *FakeDaemon {
	tb.Helper()
	return StartFakeAt(tb, filepath.Join(SocketDir(tb), "z.sock"), h)
}

// StartFakeAt serves h on a socket at sock, which must not exist, until
// the test ends or Close.
func StartFakeAt(tb testing.TB, sock string, h Handler) *FakeDaemon {
	tb.Helper()
	ln, err := net.Listen("unix", sock)
	require.NoError(tb, err)
	d := &FakeDaemon{Socket: sock, ln: ln, handle: h}
	d.wg.Add(1)
	go d.accept() // owner: d; stop: ln.Close in Close; waiter: d.wg
	tb.Cleanup(d.Close)
	return d
}

// Close stops the daemon as a Go server's clean exit does: it closes the
// listener, which unlinks the socket's path (whatever socket the path
// names by then), and every connection, and waits for its goroutines.
// Idempotent.
func (d *FakeDaemon) Close() {
	d.once.Do(func() {
		_ = d.ln.Close()
		d.mu.Lock()
		for _, c := range d.conns {
			_ = c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
}

func (d *FakeDaemon) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
		d.wg.Add(1)
		go d.serve(c) // owner: d; stop: c.Close in cleanup; waiter: d.wg
	}
}

func (d *FakeDaemon) serve(c net.Conn) {
	defer d.wg.Done()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		raw := append([]byte(nil), sc.Bytes()...)
		var req zinit.Request
		_ = json.Unmarshal(raw, &req)
		d.mu.Lock()
		d.reqs = append(d.reqs, req)
		d.mu.Unlock()
		d.handle(req, raw, c)
	}
}

// Requests returns every request received so far, in arrival order.
func (d *FakeDaemon) Requests() []zinit.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]zinit.Request(nil), d.reqs...)
}

// Answer writes a proper response to req with result v.
func Answer(w io.Writer, req zinit.Request, v any) {
	resp, err := zinit.NewResult(req.ID, v)
	if err != nil {
		resp = zinit.NewErrorResponse(req.ID, err)
	}
	writeResponse(w, resp)
}

// AnswerError writes an error response to req (err mapped as the daemon
// maps it: zinit's sentinels and *zinit.RPCError keep their codes).
func AnswerError(w io.Writer, req zinit.Request, err error) {
	writeResponse(w, zinit.NewErrorResponse(req.ID, err))
}

func writeResponse(w io.Writer, resp zinit.Response) {
	b, _ := json.Marshal(resp)
	_, _ = w.Write(append(b, '\n'))
}

// Methods is a Handler with a handler per method: its result is answered,
// or its error. A method missing from handlers answers null; one present
// with a nil handler never answers (a hung daemon). A line that is not
// JSON gets no answer.
func Methods(handlers map[string]func(zinit.Request) (any, error)) Handler {
	return func(req zinit.Request, raw []byte, w io.Writer) {
		if !json.Valid(raw) {
			return
		}
		h, ok := handlers[req.Method]
		switch {
		case ok && h == nil:
			return
		case !ok:
			Answer(w, req, nil)
			return
		}
		res, err := h(req)
		if err != nil {
			AnswerError(w, req, err)
			return
		}
		Answer(w, req, res)
	}
}

// Supervisor is the reference supervisor running in-process.
type Supervisor struct {
	// Socket is the path it listens on.
	Socket string

	cancel context.CancelFunc
	exited chan struct{} // closed when Run has returned
	err    error         // Run's result, set before exited is closed
}

// StartSupervisor runs supervisor.Run with cfg until the test ends, and
// returns once it answers system.ping (a Run that fails first fails the
// test). An empty cfg.Socket or cfg.StateDir gets a fresh path in a short
// temp dir (so persistence is on). Cleanup cancels it and expects a clean
// stop within twice zinit.ShutdownTimeout.
func StartSupervisor(tb testing.TB, cfg supervisor.Config) *Supervisor {
	tb.Helper()
	dir := SocketDir(tb)
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(dir, "zinit.sock")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(dir, "state")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{Socket: cfg.Socket, cancel: cancel, exited: make(chan struct{})}
	go func() { // owner: s; stop: s.cancel or system.shutdown; waiter: s.exited
		s.err = supervisor.Run(ctx, cfg)
		close(s.exited)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-s.exited:
			assert.NoError(tb, s.err)
		case <-time.After(2 * zinit.ShutdownTimeout):
			tb.Error("zinittest: the supervisor did not stop")
		}
	})
	WaitAnswering(tb, s.Socket, func() error {
		select {
		case <-s.exited:
			return fmt.Errorf("supervisor exited: %v", s.err)
		default:
			return nil
		}
	})
	return s
}

// WaitAnswering polls (zinit.PollUntil, every 5 ms) until a zinit answers
// system.ping on socket, for up to 10 s; gone, when not nil, is asked
// before each try and its error (the daemon is gone) ends the wait at
// once. Giving up fails the test, with the last reason.
func WaitAnswering(tb testing.TB, socket string, gone func() error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last error
	err := zinit.PollUntil(ctx, clock.RealClock{}, 5*time.Millisecond, func(ctx context.Context) (bool, error) {
		if gone != nil {
			if err := gone(); err != nil {
				return false, err
			}
		}
		c, err := zinit.Dial(ctx, socket)
		if err == nil {
			_, err = c.Ping(ctx)
			c.Close()
		}
		last = err
		return err == nil, nil
	})
	require.NoError(tb, err, "no zinit answered on %s (last: %v)", socket, last)
}

// Wait waits until Run has returned (after a system.shutdown) and returns
// its error, or ctx's.
func (s *Supervisor) Wait(ctx context.Context) error {
	select {
	case <-s.exited:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
