package zinit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// MaxSocketPathLen is the longest socket path the kernel accepts: sun_path
// is 108 bytes on Linux, one of which is the terminating NUL.
const MaxSocketPathLen = 107

// MaxResponseBytes bounds one response line; a longer line is a protocol
// error (it protects the caller from a daemon writing without newlines).
const MaxResponseBytes = 16 << 20

var (
	// ErrNotRunning is wrapped by Dial's error when nothing listens on the
	// socket (it is absent, or refuses connections). The message names the
	// socket path.
	ErrNotRunning = errors.New("daemon not running")
	// ErrSocketPathTooLong is wrapped by Dial's error for a path longer
	// than MaxSocketPathLen bytes.
	ErrSocketPathTooLong = errors.New("socket path too long")
	// ErrProtocol is wrapped by every error about a malformed response.
	ErrProtocol = errors.New("invalid response from daemon")
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("client closed")
	// ErrBroken is wrapped by calls on a Client whose connection failed
	// earlier (a transport error, a protocol error, or a ctx that expired
	// mid-call): the stream may hold a stale answer, so it is not reused.
	// Dial again.
	ErrBroken = errors.New("connection unusable after an earlier error")
)

// Client is a JSON-RPC 2.0 client of the zinit daemon over one Unix socket
// connection. Calls are serialised (one request in flight); a call waiting
// for its turn, writing or reading gives up when its ctx is done, so a hung
// daemon never blocks a caller beyond its ctx. A Client is safe for
// concurrent use. It starts no goroutine of its own beyond ctx watchers that
// end with each call. The caller must Close it.
type Client struct {
	socket string
	conn   net.Conn
	r      *bufio.Reader
	sem    chan struct{} // a mutex that a ctx can abandon; holds nextID and broken
	nextID int64
	broken error
	closed bool
}

// Dial connects to the daemon's socket. It fails with an error wrapping
// ErrSocketPathTooLong for a path over MaxSocketPathLen bytes, and with one
// wrapping ErrNotRunning (naming the path) when no daemon listens there.
// The connection is not checked with a request; use Ping for that.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	if len(socketPath) > MaxSocketPathLen {
		return nil, fmt.Errorf("%w: %q is %d bytes, the kernel allows at most %d (sun_path is 108 bytes)",
			ErrSocketPathTooLong, socketPath, len(socketPath), MaxSocketPathLen)
	}
	if socketPath == "" {
		return nil, fmt.Errorf("%w: socket path is empty", ErrNotRunning)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ECONNREFUSED || errno == syscall.ENOTSOCK) {
			return nil, fmt.Errorf("%w: nothing listens on %s (%w)", ErrNotRunning, socketPath, errno)
		}
		return nil, fmt.Errorf("connect to zinit socket %s: %w", socketPath, err)
	}
	return &Client{
		socket: socketPath,
		conn:   conn,
		r:      bufio.NewReader(conn),
		sem:    make(chan struct{}, 1),
	}, nil
}

// Socket is the path the Client dialled.
func (c *Client) Socket() string { return c.socket }

// Close closes the connection. It is idempotent and does not wait for a
// call in flight (that call fails).
func (c *Client) Close() error {
	err := c.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// aLongTimeAgo is a deadline in the past: setting it unblocks any I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Call sends one request and decodes the result into result (nil to
// discard it). params must marshal to a JSON object (named params); nil
// sends {}. A daemon error comes back as *RPCError (errors.Is works with
// ErrNotFound, ErrAlreadyExists, ErrInvalid); a ctx that ends first gives an
// error wrapping ctx.Err(); a malformed answer gives one wrapping
// ErrProtocol. Call blocks until the answer, the ctx's end, or an error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for the connection: %w", method, ctx.Err())
	}
	defer func() { <-c.sem }()
	if c.closed {
		return ErrClosed
	}
	if c.broken != nil {
		return fmt.Errorf("%s: %w: %w", method, ErrBroken, c.broken)
	}
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: marshal params: %w", method, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	err = c.roundTrip(ctx, method, p, result)
	var re *RPCError
	if err != nil && !errors.As(err, &re) {
		if errors.Is(err, net.ErrClosed) {
			c.closed = true
			return ErrClosed
		}
		c.broken = err
	}
	return err
}

// roundTrip writes one request and reads its answer. Any error but an
// *RPCError leaves the stream in an unknown state.
func (c *Client) roundTrip(ctx context.Context, method string, p json.RawMessage, result any) (err error) {
	c.nextID++
	id := c.nextID
	line, err := json.Marshal(Request{
		JSONRPC: JSONRPCVersion, Method: method, Params: p,
		ID: json.RawMessage(strconv.FormatInt(id, 10)),
	})
	if err != nil {
		return fmt.Errorf("%s: marshal request: %w", method, err)
	}
	line = append(line, '\n')

	dl, _ := ctx.Deadline() // zero: no deadline
	if err := c.conn.SetDeadline(dl); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.conn.SetDeadline(aLongTimeAgo) // unblock the read or write below
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // the watcher ran: let it finish before the next call sets its deadline
		}
	}()
	defer func() { err = c.ctxError(ctx, method, err) }()

	if _, err := c.conn.Write(line); err != nil {
		return fmt.Errorf("%s: write to %s: %w", method, c.socket, err)
	}
	resp, err := c.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) && len(resp) == 0 {
			return fmt.Errorf("%s: %s closed the connection without answering: %w", method, c.socket, io.ErrUnexpectedEOF)
		}
		if errors.Is(err, ErrProtocol) {
			return fmt.Errorf("%s: %w", method, err)
		}
		return fmt.Errorf("%s: read from %s: %w", method, c.socket, err)
	}
	return decodeResponse(method, id, resp, result)
}

// ctxError turns an I/O timeout caused by the ctx into an error wrapping
// the ctx's error, so callers can test errors.Is(err, context.DeadlineExceeded).
func (c *Client) ctxError(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	var re *RPCError
	if errors.As(err, &re) {
		return err
	}
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cerr = context.DeadlineExceeded // the socket deadline (the ctx's) fired a hair before the ctx timer
	}
	if cerr != nil {
		return fmt.Errorf("%s: no answer from %s: %w", method, c.socket, cerr)
	}
	return err
}

// readLine reads one newline-terminated line of at most MaxResponseBytes.
func (c *Client) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxResponseBytes {
			return nil, fmt.Errorf("%w: response line longer than %d bytes", ErrProtocol, MaxResponseBytes)
		}
		switch {
		case err == nil:
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return buf, fmt.Errorf("%w: connection closed mid-line", ErrProtocol)
		default:
			return buf, err
		}
	}
}

func decodeResponse(method string, id int64, line []byte, result any) error {
	protoErr := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", method, ErrProtocol, fmt.Sprintf(format, a...))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return protoErr("not a JSON object: %q", abbreviate(line))
	}
	var version string
	if err := json.Unmarshal(fields["jsonrpc"], &version); err != nil || version != JSONRPCVersion {
		return protoErr(`jsonrpc is not "2.0" in %q`, abbreviate(line))
	}
	rawErr, hasErr := fields["error"]
	rawRes, hasRes := fields["result"]
	hasErr = hasErr && !bytes.Equal(bytes.TrimSpace(rawErr), []byte("null"))
	var gotID int64
	if err := json.Unmarshal(fields["id"], &gotID); err != nil || gotID != id {
		// An error with a null id is the daemon's answer to a request it
		// could not read, or to a connection it refuses: it is for us.
		if !hasErr || !bytes.Equal(bytes.TrimSpace(fields["id"]), []byte("null")) {
			return protoErr("answer id %s does not match request id %d", string(fields["id"]), id)
		}
	}
	if hasErr {
		if hasRes {
			return protoErr("answer has both result and error")
		}
		var re RPCError
		if err := json.Unmarshal(rawErr, &re); err != nil || re.Code == 0 {
			return protoErr("malformed error object %s", abbreviate(rawErr))
		}
		return &re
	}
	if !hasRes {
		return protoErr("answer has neither result nor error")
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(rawRes, result); err != nil {
		return protoErr("result does not decode as %T: %v", result, err)
	}
	return nil
}

func abbreviate(b []byte) string {
	const max = 200
	b = bytes.TrimRight(b, "\n")
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// AddService creates a service (service.add). It does not start it.
func (c *Client) AddService(ctx context.Context, s Service) error {
	return c.Call(ctx, MethodServiceAdd, ServiceAddParams(s), nil)
}

// RemoveService deletes a service (service.remove).
func (c *Client) RemoveService(ctx context.Context, name string) error {
	return c.Call(ctx, MethodServiceRemove, NameParams{Name: name}, nil)
}

// AddJob adds a job to a service (job.add). The result's Warning is set
// when the daemon accepted the job without effect (a legacy service). The
// job is not validated here: the daemon is the authority (build it with
// NewJob to validate first).
func (c *Client) AddJob(ctx context.Context, j Job) (JobAddResult, error) {
	var res JobAddResult
	err := c.Call(ctx, MethodJobAdd, j, &res)
	return res, err
}

// RemoveJob deletes job name of service svc (job.remove).
func (c *Client) RemoveJob(ctx context.Context, svc, name string) error {
	return c.Call(ctx, MethodJobRemove, JobRefParams{Service: svc, Name: name}, nil)
}

// List returns every service's status (service.list).
func (c *Client) List(ctx context.Context) ([]ServiceStatus, error) {
	var res []ServiceStatus
	err := c.Call(ctx, MethodServiceList, nil, &res)
	return res, err
}

// Status returns one service's status (service.status).
func (c *Client) Status(ctx context.Context, name string) (ServiceStatus, error) {
	var res ServiceStatus
	err := c.Call(ctx, MethodServiceStatus, NameParams{Name: name}, &res)
	return res, err
}

// Start starts a service (service.start), clearing a failed state.
func (c *Client) Start(ctx context.Context, name string) error {
	return c.Call(ctx, MethodServiceStart, NameParams{Name: name}, nil)
}

// Stop stops a service (service.stop); it returns once the service is
// stopped, which can take StopTimeout and more: give ctx room.
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.Call(ctx, MethodServiceStop, NameParams{Name: name}, nil)
}

// Restart restarts a service (service.restart).
func (c *Client) Restart(ctx context.Context, name string) error {
	return c.Call(ctx, MethodServiceRestart, NameParams{Name: name}, nil)
}

// Kill sends signal (e.g. "SIGKILL", "KILL" or "9") to the service's start
// job process group (service.kill).
func (c *Client) Kill(ctx context.Context, name, signal string) error {
	return c.Call(ctx, MethodServiceKill, KillParams{Name: name, Signal: signal}, nil)
}

// Logs returns the last n lines of a service's output (logs.get); n = 0
// asks for every kept line.
func (c *Client) Logs(ctx context.Context, name string, n int) ([]string, error) {
	var res LogsResult
	err := c.Call(ctx, MethodLogsGet, LogsParams{Name: name, Lines: n}, &res)
	return res.Lines, err
}

// LogsTimed is Logs with each line's CLOCK_MONOTONIC capture instant;
// MonoNs is nil when the daemon does not record it.
func (c *Client) LogsTimed(ctx context.Context, name string, n int) (LogsResult, error) {
	var res LogsResult
	err := c.Call(ctx, MethodLogsGet, LogsParams{Name: name, Lines: n}, &res)
	if len(res.MonoNs) != len(res.Lines) {
		res.MonoNs = nil
	}
	return res, err
}

// Reload re-reads the daemon's config dir (system.reload).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := c.Call(ctx, MethodSystemReload, nil, &res)
	return res, err
}

// Shutdown asks the daemon to stop every service and exit
// (system.shutdown). A daemon that closes the connection instead of
// answering is taken as having shut down.
func (c *Client) Shutdown(ctx context.Context) error {
	err := c.Call(ctx, MethodSystemShutdown, nil, nil)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// Ping checks the daemon answers and identifies it (system.ping).
func (c *Client) Ping(ctx context.Context) (PingResult, error) {
	var res PingResult
	err := c.Call(ctx, MethodSystemPing, nil, &res)
	return res, err
}

// SystemStatus returns the daemon's own state (system.status): whether it
// is degraded, and why.
func (c *Client) SystemStatus(ctx context.Context) (SystemStatus, error) {
	var res SystemStatus
	err := c.Call(ctx, MethodSystemStatus, nil, &res)
	return res, err
}

// PersistResume makes persistence writable again after the daemon could
// not read its state file at boot (persist.resume): it writes the state
// file from the services the daemon holds now. It fails, changing nothing,
// while a file is back at the state file's path.
func (c *Client) PersistResume(ctx context.Context) (SystemStatus, error) {
	var res SystemStatus
	err := c.Call(ctx, MethodPersistResume, nil, &res)
	return res, err
}

// Discover lists the methods the daemon serves (rpc.discover).
func (c *Client) Discover(ctx context.Context) ([]string, error) {
	var res DiscoverResult
	err := c.Call(ctx, MethodRPCDiscover, nil, &res)
	return res.Methods, err
}
