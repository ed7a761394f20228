package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// maxRequestBytes bounds one request line.
const maxRequestBytes = 1 << 20

// dispatch serves one request on the engine goroutine. reply is called
// exactly once, maybe later (service.stop answers once the service is down).
func (e *Engine) dispatch(req zinit.Request, reply func(any, error)) {
	nothing := func(err error) { reply(nil, err) }
	var name zinit.NameParams
	switch req.Method {
	case zinit.MethodServiceAdd:
		var p zinit.ServiceAddParams
		if err := req.DecodeParams(&p); err != nil {
			nothing(err)
			return
		}
		nothing(e.AddService(p))
	case zinit.MethodServiceRemove:
		if err := req.DecodeParams(&name); err != nil {
			nothing(err)
			return
		}
		e.RemoveService(name.Name, nothing)
	case zinit.MethodJobAdd:
		var j zinit.Job
		if err := req.DecodeParams(&j); err != nil {
			nothing(err)
			return
		}
		res, err := e.AddJob(j)
		reply(res, err)
	case zinit.MethodJobRemove:
		var p zinit.JobRefParams
		if err := req.DecodeParams(&p); err != nil {
			nothing(err)
			return
		}
		e.RemoveJob(p.Service, p.Name, nothing)
	case zinit.MethodServiceList:
		if err := req.DecodeParams(&struct{}{}); err != nil {
			nothing(err)
			return
		}
		reply(e.List(), nil)
	case zinit.MethodServiceStatus:
		if err := req.DecodeParams(&name); err != nil {
			nothing(err)
			return
		}
		st, err := e.Status(name.Name)
		reply(st, err)
	case zinit.MethodServiceStart:
		if err := req.DecodeParams(&name); err != nil {
			nothing(err)
			return
		}
		nothing(e.Start(name.Name))
	case zinit.MethodServiceStop:
		if err := req.DecodeParams(&name); err != nil {
			nothing(err)
			return
		}
		e.Stop(name.Name, nothing)
	case zinit.MethodServiceRestart:
		if err := req.DecodeParams(&name); err != nil {
			nothing(err)
			return
		}
		e.Restart(name.Name, nothing)
	case zinit.MethodServiceKill:
		var p zinit.KillParams
		if err := req.DecodeParams(&p); err != nil {
			nothing(err)
			return
		}
		nothing(e.Kill(p.Name, p.Signal))
	case zinit.MethodLogsGet:
		var p zinit.LogsParams
		if err := req.DecodeParams(&p); err != nil {
			nothing(err)
			return
		}
		lines, mono, err := e.Logs(p.Name, p.Lines)
		reply(zinit.LogsResult{Lines: lines, MonoNs: mono}, err)
	case zinit.MethodSystemReload:
		res, err := e.Reload()
		reply(res, err)
	case zinit.MethodSystemShutdown:
		nothing(nil)
		e.BeginShutdown()
	case zinit.MethodSystemPing:
		reply(zinit.PingResult{Version: zinit.Version, PID: os.Getpid()}, nil)
	case zinit.MethodRPCDiscover:
		reply(zinit.DiscoverResult{Methods: append([]string(nil), zinit.Methods...)}, nil)
	default:
		nothing(&zinit.RPCError{Code: zinit.CodeMethodMissing, Message: fmt.Sprintf("method %q not found", req.Method)})
	}
}

// server answers JSON-RPC 2.0 on the daemon's socket: one goroutine
// accepts, one per connection reads requests (one line each), hands them
// to the engine and writes the answers in order. close stops them all and
// waits.
type server struct {
	e      *Engine
	ln     *net.UnixListener
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[*net.UnixConn]struct{}
}

func newServer(e *Engine, ln *net.UnixListener, log *slog.Logger) *server {
	ctx, cancel := context.WithCancel(context.Background())
	return &server{e: e, ln: ln, log: log, ctx: ctx, cancel: cancel, conns: map[*net.UnixConn]struct{}{}}
}

func (srv *server) start() {
	srv.wg.Add(1)
	go srv.accept()
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
		srv.conns[c] = struct{}{}
		srv.wg.Add(1)
		srv.mu.Unlock()
		go srv.handle(c)
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
	srv.mu.Unlock()
	srv.wg.Wait()
}

func (srv *server) handle(c *net.UnixConn) {
	defer srv.wg.Done()
	defer func() {
		srv.mu.Lock()
		delete(srv.conns, c)
		srv.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				srv.write(c, zinit.Response{JSONRPC: zinit.JSONRPCVersion,
					Error: &zinit.RPCError{Code: zinit.CodeInvalidRequest, Message: err.Error()}})
			}
			return
		}
		if len(line) == 0 {
			continue
		}
		var req zinit.Request
		if err := json.Unmarshal(line, &req); err != nil {
			if !srv.write(c, zinit.Response{JSONRPC: zinit.JSONRPCVersion,
				Error: &zinit.RPCError{Code: zinit.CodeParseError, Message: "parse error: " + err.Error()}}) {
				return
			}
			continue
		}
		if err := req.Validate(); err != nil {
			if !srv.write(c, zinit.NewErrorResponse(req.ID, err)) {
				return
			}
			continue
		}
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
			srv.write(c, zinit.NewErrorResponse(req.ID, errShuttingDown))
			return
		}
		var resp zinit.Response
		select {
		case resp = <-respc:
		case <-srv.ctx.Done():
			select {
			case resp = <-respc:
			default:
				return
			}
		}
		if req.IsNotification() {
			continue
		}
		if !srv.write(c, resp) {
			return
		}
	}
}

var errLineTooLong = fmt.Errorf("request longer than %d bytes", maxRequestBytes)

func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxRequestBytes {
			return nil, errLineTooLong
		}
		if err == nil {
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

func (srv *server) write(c *net.UnixConn, resp zinit.Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		srv.log.Error("marshal response", "err", err)
		return false
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second)) // a client that never reads cannot hold the daemon
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
