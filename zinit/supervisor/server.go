package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// Limits of the daemon's socket.
const (
	// RequestTimeout bounds the wait for each request line, from the
	// moment the daemon starts reading it (the connection's accept, or the
	// previous answer) to its newline: an idle connection, or one that sent
	// half a request, is closed when it passes.
	RequestTimeout = 60 * time.Second
	// MaxConns caps the connections served at once. One more evicts the
	// connection that has waited longest for its next request (idle, or
	// half-sent); when every connection has a request in progress the new
	// one's first request is answered an error (refuse), and it is closed.
	MaxConns = 256
	// refuseWait bounds the wait for a refused connection's first request.
	refuseWait = time.Second

	// writeTimeout bounds the writing of one answer: a client that never
	// reads cannot hold its connection's goroutine.
	writeTimeout = 5 * time.Second
	// readBufferBytes is each connection's read buffer; longer lines are
	// read in chunks (readLine).
	readBufferBytes = 4 << 10
)

// dispatch serves one request on the engine goroutine. reply is called
// exactly once, maybe later (service.stop answers once the service is down).
func (e *Engine) dispatch(req zinit.Request, reply func(any, error)) {
	nothing := func(err error) { reply(nil, err) }
	switch req.Method {
	case zinit.MethodServiceAdd:
		withParams(req, reply, func(p zinit.ServiceAddParams) { nothing(e.AddService(p)) })
	case zinit.MethodServiceRemove:
		withParams(req, reply, func(p zinit.NameParams) { e.RemoveService(p.Name, nothing) })
	case zinit.MethodJobAdd:
		withParams(req, reply, func(j zinit.Job) { reply(e.AddJob(j)) })
	case zinit.MethodJobRemove:
		withParams(req, reply, func(p zinit.JobRefParams) { e.RemoveJob(p.Service, p.Name, nothing) })
	case zinit.MethodServiceList:
		withoutParams(req, reply, func() { reply(e.List(), nil) })
	case zinit.MethodServiceStatus:
		withParams(req, reply, func(p zinit.NameParams) { reply(e.Status(p.Name)) })
	case zinit.MethodServiceStart:
		withParams(req, reply, func(p zinit.NameParams) { nothing(e.Start(p.Name)) })
	case zinit.MethodServiceStop:
		withParams(req, reply, func(p zinit.NameParams) { e.Stop(p.Name, nothing) })
	case zinit.MethodServiceRestart:
		withParams(req, reply, func(p zinit.NameParams) { e.Restart(p.Name, nothing) })
	case zinit.MethodServiceKill:
		withParams(req, reply, func(p zinit.KillParams) { nothing(e.Kill(p.Name, p.Signal)) })
	case zinit.MethodLogsGet:
		withParams(req, reply, func(p zinit.LogsParams) {
			lines, mono, err := e.Logs(p.Name, p.Lines)
			reply(zinit.LogsResult{Lines: lines, MonoNs: mono}, err)
		})
	case zinit.MethodSystemReload:
		withoutParams(req, reply, func() { reply(e.Reload()) })
	case zinit.MethodSystemShutdown:
		withoutParams(req, reply, func() {
			nothing(nil)
			e.BeginShutdown()
		})
	case zinit.MethodSystemPing:
		withoutParams(req, reply, func() {
			reply(zinit.PingResult{Version: zinit.Version, PID: os.Getpid(), Degraded: e.persist.readOnly}, nil)
		})
	case zinit.MethodSystemStatus:
		withoutParams(req, reply, func() { reply(e.SystemStatus(), nil) })
	case zinit.MethodPersistResume:
		withoutParams(req, reply, func() { reply(e.PersistResume()) })
	case zinit.MethodRPCDiscover:
		withoutParams(req, reply, func() { reply(zinit.DiscoverResult{Methods: append([]string(nil), zinit.Methods...)}, nil) })
	default:
		nothing(&zinit.RPCError{Code: zinit.CodeMethodMissing, Message: fmt.Sprintf("method %q not found", req.Method)})
	}
}

// withParams decodes the params a method requires (zinit.Request's
// RequireParams: absent ones are -32602 too), checks them when P has a
// Validate method, and calls f; a problem is replied instead.
func withParams[P any](req zinit.Request, reply func(any, error), f func(P)) {
	var p P
	err := req.RequireParams(&p)
	if v, ok := any(p).(interface{ Validate() error }); ok && err == nil {
		err = v.Validate()
	}
	if err != nil {
		reply(nil, err)
		return
	}
	f(p)
}

// withoutParams checks a method that takes no params got none (or {}),
// then calls f.
func withoutParams(req zinit.Request, reply func(any, error), f func()) {
	if err := req.DecodeParams(&struct{}{}); err != nil {
		reply(nil, err)
		return
	}
	f()
}

// server answers JSON-RPC 2.0 on the daemon's socket: one goroutine
// accepts, one per connection reads requests (one line each, each within
// requestTimeout), hands them to the engine and writes the answers in
// order. At most maxConns connections are served (see MaxConns). close
// stops them all and waits.
type server struct {
	e              *Engine
	ln             *net.UnixListener
	log            *slog.Logger
	now            func() time.Time // the engine's clock: socket deadlines
	requestTimeout time.Duration
	maxConns       int
	ctx            context.Context
	cancel         context.CancelFunc
	wg             sync.WaitGroup

	mu       sync.Mutex
	conns    map[*net.UnixConn]*connState
	refusing map[*net.UnixConn]struct{} // at most maxConns, each for at most refuseWait
}

// connState is what eviction needs to know of a connection.
type connState struct {
	waitingSince time.Time // when it started waiting for its next request; zero while one is handled
}

func newServer(e *Engine, ln *net.UnixListener, log *slog.Logger, requestTimeout time.Duration, maxConns int) *server {
	ctx, cancel := context.WithCancel(context.Background())
	if requestTimeout <= 0 {
		requestTimeout = RequestTimeout
	}
	if maxConns <= 0 {
		maxConns = MaxConns
	}
	return &server{e: e, ln: ln, log: log, now: e.clock.Now, requestTimeout: requestTimeout, maxConns: maxConns,
		ctx: ctx, cancel: cancel, conns: map[*net.UnixConn]*connState{}, refusing: map[*net.UnixConn]struct{}{}}
}

func (srv *server) start() {
	srv.wg.Add(1)
	go srv.accept() // owner: srv; stop: close (ln.Close); waiter: srv.wg
}

func (srv *server) accept() {
	defer srv.wg.Done()
	for {
		c, err := srv.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				srv.log.Error("accept", "err", err)
			}
			return
		}
		srv.mu.Lock()
		if srv.ctx.Err() != nil {
			srv.mu.Unlock()
			c.Close()
			return
		}
		if len(srv.conns) >= srv.maxConns && !srv.evictLocked() {
			if len(srv.refusing) >= srv.maxConns {
				srv.mu.Unlock()
				c.Close() // a flood: not even a word
				continue
			}
			srv.refusing[c] = struct{}{}
			srv.wg.Add(1)
			srv.mu.Unlock()
			go srv.refuse(c) // owner: srv; stop: close (CloseRead) or refuseWait; waiter: srv.wg
			continue
		}
		srv.conns[c] = &connState{waitingSince: srv.now()}
		srv.wg.Add(1)
		srv.mu.Unlock()
		go srv.handle(c) // owner: srv; stop: close (CloseRead) or the read deadline; waiter: srv.wg
	}
}

// evictLocked closes the connection that has waited longest for its next
// request; false when every connection has a request in progress.
func (srv *server) evictLocked() bool {
	var victim *net.UnixConn
	var since time.Time
	for c, st := range srv.conns {
		if !st.waitingSince.IsZero() && (victim == nil || st.waitingSince.Before(since)) {
			victim, since = c, st.waitingSince
		}
	}
	if victim == nil {
		return false
	}
	delete(srv.conns, victim)
	victim.Close() // its handler's read fails: it ends
	return true
}

// refuse answers the first request of a connection over the limit with an
// error (to its id, when it comes within refuseWait and can be read) and
// closes the connection. Answering after the request, not at once, lets
// the client write it and read the answer, where a close would fail its
// write.
func (srv *server) refuse(c *net.UnixConn) {
	defer srv.wg.Done()
	defer srv.release(c)
	c.SetReadDeadline(srv.now().Add(refuseWait))
	line, _ := readLine(bufio.NewReaderSize(io.LimitReader(c, readBufferBytes), readBufferBytes))
	req, _ := zinit.ParseRequest(line)
	srv.write(c, zinit.NewErrorResponse(req.ID, fmt.Errorf("too many connections: %d, each with a request in progress; try again", srv.maxConns)))
}

// setWaiting marks c as waiting for its next request (evictable), from
// now unless it already waits (since its accept), or as handling one.
func (srv *server) setWaiting(c *net.UnixConn, waiting bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	st, ok := srv.conns[c]
	switch {
	case !ok:
	case !waiting:
		st.waitingSince = time.Time{}
	case st.waitingSince.IsZero():
		st.waitingSince = srv.now()
	}
}

// close stops accepting, lets each connection finish the answer it holds,
// closes them and waits for every goroutine.
func (srv *server) close() {
	srv.ln.Close()
	srv.mu.Lock()
	srv.cancel()
	for c := range srv.conns {
		c.CloseRead()
	}
	for c := range srv.refusing {
		c.CloseRead()
	}
	srv.mu.Unlock()
	srv.wg.Wait()
}

// release forgets c (served or refused) and closes it.
func (srv *server) release(c *net.UnixConn) {
	srv.mu.Lock()
	delete(srv.conns, c)
	delete(srv.refusing, c)
	srv.mu.Unlock()
	c.Close()
}

func (srv *server) handle(c *net.UnixConn) {
	defer srv.wg.Done()
	defer srv.release(c)
	r := bufio.NewReaderSize(c, readBufferBytes)
	for {
		srv.setWaiting(c, true)
		c.SetReadDeadline(srv.now().Add(srv.requestTimeout))
		line, err := readLine(r)
		srv.setWaiting(c, false)
		if err != nil {
			srv.readFailed(c, line, err)
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		req, err := zinit.ParseRequest(line)
		if err != nil {
			if !srv.write(c, zinit.NewErrorResponse(req.ID, err)) {
				return
			}
			continue
		}
		resp, err := srv.call(req)
		if err != nil {
			if errors.Is(err, errNotTaken) {
				srv.write(c, zinit.NewErrorResponse(req.ID, errShuttingDown))
			}
			return
		}
		if req.IsNotification() {
			continue
		}
		if !srv.write(c, resp) {
			return
		}
	}
}

// readFailed answers a request line that could not be read, when there is
// something to answer: a line over the limit, or half a line at the
// deadline. An idle connection at its deadline, or one the client closed,
// is closed without a word.
func (srv *server) readFailed(c *net.UnixConn, partial []byte, err error) {
	var msg string
	switch {
	case errors.Is(err, errLineTooLong):
		msg = err.Error()
	case errors.Is(err, os.ErrDeadlineExceeded) && len(partial) > 0:
		msg = fmt.Sprintf("incomplete request: no newline within %v, connection closed", srv.requestTimeout)
	default:
		return
	}
	srv.write(c, zinit.Response{JSONRPC: zinit.JSONRPCVersion,
		Error: &zinit.RPCError{Code: zinit.CodeInvalidRequest, Message: msg}})
}

// errNotTaken: the engine did not take a request (it is shutting down).
var errNotTaken = errors.New("request not taken")

// call runs req on the engine goroutine and waits for its answer. It fails
// with errNotTaken when the engine did not take it, or with
// context.Canceled when the server closed before the answer came.
func (srv *server) call(req zinit.Request) (zinit.Response, error) {
	respc := make(chan zinit.Response, 1)
	var once sync.Once
	f := func() {
		srv.e.dispatch(req, func(v any, err error) {
			once.Do(func() {
				if err != nil {
					respc <- zinit.NewErrorResponse(req.ID, err)
					return
				}
				resp, merr := zinit.NewResult(req.ID, v)
				if merr != nil {
					resp = zinit.NewErrorResponse(req.ID, merr)
				}
				respc <- resp
			})
		})
	}
	if !srv.e.Submit(srv.ctx, f) {
		return zinit.Response{}, errNotTaken
	}
	select {
	case resp := <-respc:
		return resp, nil
	case <-srv.ctx.Done():
		select {
		case resp := <-respc:
			return resp, nil
		default:
			return zinit.Response{}, srv.ctx.Err()
		}
	}
}

var errLineTooLong = fmt.Errorf("request longer than %d bytes", zinit.MaxRequestBytes)

// readLine reads one newline-terminated line of at most zinit.MaxRequestBytes,
// without the newline. On an error it returns what it read of the line.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > zinit.MaxRequestBytes {
			return nil, errLineTooLong
		}
		if err == nil {
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

func (srv *server) write(c *net.UnixConn, resp zinit.Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		srv.log.Error("marshal response", "err", err)
		return false
	}
	c.SetWriteDeadline(srv.now().Add(writeTimeout)) // a client that never reads cannot hold the daemon
	_, err = c.Write(append(b, '\n'))
	return err == nil
}

// ErrSocketInUse is returned when another daemon answers on the socket.
var ErrSocketInUse = errors.New("socket in use by a running daemon")

// listen creates the daemon's socket with mode 0600. A stale socket file
// (nothing answers on it) is replaced; a live one, or a file that is not a
// socket, is an error; a path longer than the kernel allows is a clear
// error wrapping zinit.ErrSocketPathTooLong.
func listen(ctx context.Context, path string) (*net.UnixListener, error) {
	if path == "" {
		return nil, errors.New("socket path is empty")
	}
	if len(path) > zinit.MaxSocketPathLen {
		return nil, fmt.Errorf("%w: %q is %d bytes, the kernel allows at most %d (sun_path is 108 bytes)",
			zinit.ErrSocketPathTooLong, path, len(path), zinit.MaxSocketPathLen)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("socket path %s exists and is not a socket", path)
		}
		dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		var d net.Dialer
		c, derr := d.DialContext(dctx, "unix", path)
		cancel()
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	// The umask makes the socket 0600 from its creation: no window where
	// another user could connect. The daemon creates no other file now.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	return ln, nil
}
