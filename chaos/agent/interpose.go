package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// InterposeMode is what an interposer does with each connection it accepts.
type InterposeMode int

const (
	// InterposeForward forwards both ways to the service, untouched.
	InterposeForward InterposeMode = iota
	// InterposeHang reads and discards, never answers and never closes
	// while the client stays (health-hang).
	InterposeHang
	// InterposeError answers every server.health request with a JSON-RPC
	// 2.0 error and forwards every other line untouched (health-error).
	InterposeError
	// InterposeClose closes each connection at once.
	InterposeClose
)

var interposeModeNames = [...]string{"forward", "hang", "error", "close"}

func (m InterposeMode) String() string {
	if m >= 0 && int(m) < len(interposeModeNames) {
		return interposeModeNames[m]
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseInterposeMode reads a mode's name.
func ParseInterposeMode(s string) (InterposeMode, error) {
	for i, n := range interposeModeNames {
		if n == s {
			return InterposeMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown interpose mode %q (forward, hang, error, close)", s)
}

// AsideSuffix names where a service's socket S is kept while an
// interposer answers at S: S + AsideSuffix.
const AsideSuffix = ".zchaos-orig"

// takeoverSuffix names the path an interposer binds before it renames its
// socket over the service's. A socket keeps the address it was bound with,
// so clients see this name as their peer's (in a probe's "i/o timeout"
// message, say): it tells them who did not answer.
const takeoverSuffix = ".zchaos-interposer"

// maxSocketPath is the longest path a Unix socket address holds (sun_path
// is 108 bytes, NUL included); withSocketAddr reaches longer ones.
const maxSocketPath = 107

// healthErrorCode is the JSON-RPC error code of an injected health error
// (-32000…-32099 are the implementation-defined server errors).
const healthErrorCode = -32000

// Interposer stands in front of a service's Unix socket: clients that
// connect to the socket's path reach it, and it forwards to, or answers
// instead of, the service, whose own socket it keeps at Aside. Make one
// with Interpose; Serve runs it.
type Interposer struct {
	Socket string        // the service's socket path, now the interposer's
	Aside  string        // the service's own socket, kept here meanwhile
	Ino    uint64        // inode of the interposer's socket (at Socket after the takeover)
	At     int64         // CLOCK_MONOTONIC of the takeover
	Mode   InterposeMode // fixed for the interposer's life

	ln     *net.UnixListener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Interpose takes over the Unix socket at socket: it binds its own socket
// beside it, keeps the service's socket at aside (a hard link, else a
// rename), then renames its own over socket. With the link the takeover is
// atomic: a client always finds a listening socket at the path. The
// service keeps listening on its inode, now named aside. A stale aside
// left by an earlier interposition (nothing listens there) is replaced; a
// live one is an error. On error the paths are left as found. The caller
// must Serve or Close the interposer; neither ever removes a path (that
// is RestoreSocket's work).
func Interpose(socket, aside string, mode InterposeMode) (*Interposer, error) {
	tmp := socket + takeoverSuffix
	fi, err := os.Lstat(socket)
	if err != nil {
		return nil, fmt.Errorf("interpose: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("interpose: %s is not a socket (%s)", socket, fi.Mode().Type())
	}
	if _, err := os.Lstat(aside); err == nil {
		if live(aside) {
			return nil, fmt.Errorf("interpose %s: %s exists and answers (already interposed?)", socket, aside)
		}
		if err := os.Remove(aside); err != nil {
			return nil, fmt.Errorf("interpose: stale %w", err)
		}
	}
	_ = os.Remove(tmp) // a stale takeover socket of a failed interposition
	var ln *net.UnixListener
	err = withSocketAddr(tmp, func(addr string) (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("interpose: %w", err)
	}
	ln.SetUnlinkOnClose(false) // a path may name the service's socket by then
	fail := func(err error) (*Interposer, error) {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("interpose %s: %w", socket, err)
	}
	// Clients see the service's permissions and owner.
	if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(tmp, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, os.ErrPermission) {
			return fail(err)
		}
	}
	ino, err := inodeOf(tmp)
	if err != nil {
		return fail(err)
	}
	renamed := false
	if err := os.Link(socket, aside); err != nil {
		// No hard links here: a rename leaves the path empty until ours
		// takes it (clients connecting then are refused).
		if err := os.Rename(socket, aside); err != nil {
			return fail(err)
		}
		renamed = true
	}
	undoAside := func() {
		if renamed {
			_ = os.Rename(aside, socket)
		} else {
			_ = os.Remove(aside)
		}
	}
	if a, _ := inodeOf(aside); a != inode(fi) {
		// The service re-bound its path between our look and the link.
		undoAside()
		return fail(fmt.Errorf("%s changed during the takeover", socket))
	}
	if err := os.Rename(tmp, socket); err != nil {
		undoAside()
		return fail(err)
	}
	return &Interposer{Socket: socket, Aside: aside, Ino: ino, At: MonoNow(), Mode: mode, ln: ln,
		conns: map[net.Conn]struct{}{}}, nil
}

// withSocketAddr calls f with an address of the socket path p that bind
// and connect take: p itself, or, when p is longer than a socket address
// holds (the local runtime's roots make long paths), p's name through its
// directory, opened for the call (/proc/self/fd/N/name).
func withSocketAddr(p string, f func(addr string) error) error {
	if len(p) <= maxSocketPath {
		return f(p)
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	addr := "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + filepath.Base(p)
	if len(addr) > maxSocketPath {
		return fmt.Errorf("socket name %s is longer than a socket address holds (%d bytes)", filepath.Base(p), maxSocketPath)
	}
	return f(addr)
}

// dialUnix connects to the socket path p (of any length).
func dialUnix(p string, timeout time.Duration) (*net.UnixConn, error) {
	var c net.Conn
	err := withSocketAddr(p, func(addr string) (err error) {
		c, err = net.DialTimeout("unix", addr, timeout)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// live reports whether something accepts connections at the socket path.
func live(path string) bool {
	c, err := dialUnix(path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// inodeOf is the inode the path names (not following a symlink).
func inodeOf(path string) (uint64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	return inode(fi), nil
}

// Serve accepts connections until ctx ends or Close is called, and
// handles each per the mode in a goroutine of its own. It returns once
// every connection's goroutine has ended: nil after ctx or Close, else the
// accept error.
func (ip *Interposer) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, ip.Close)
	defer stop()
	for {
		c, err := ip.ln.AcceptUnix()
		if err != nil {
			if ip.isClosed() {
				return nil
			}
			ip.Close()
			return fmt.Errorf("interposer %s: %w", ip.Socket, err)
		}
		if !ip.track(c) {
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ip.untrack(c)
			ip.serveConn(c)
		}()
	}
}

// Close stops accepting and closes every connection, which ends Serve's
// goroutines. It removes no path. Idempotent.
func (ip *Interposer) Close() {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.closed {
		return
	}
	ip.closed = true
	ip.ln.Close()
	for c := range ip.conns {
		c.Close()
	}
}

func (ip *Interposer) isClosed() bool {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	return ip.closed
}

// track registers a connection Close must close; false (and c closed)
// when the interposer is closed already.
func (ip *Interposer) track(c net.Conn) bool {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.closed {
		c.Close()
		return false
	}
	ip.conns[c] = struct{}{}
	return true
}

func (ip *Interposer) untrack(c net.Conn) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	delete(ip.conns, c)
	c.Close()
}

// dial connects to the service's own socket, tracked for Close.
func (ip *Interposer) dial() (*net.UnixConn, error) {
	c, err := dialUnix(ip.Aside, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if !ip.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

func (ip *Interposer) serveConn(c *net.UnixConn) {
	switch ip.Mode {
	case InterposeClose:
	case InterposeHang:
		ip.hang(c)
	case InterposeError:
		ip.answerHealthErrors(c)
	default:
		ip.forward(c)
	}
}

// hang reads what the client sends and never answers. A client that only
// shuts down its writing side (socat after its input ends) still waits
// for an answer: the connection stays open until the client closes it
// altogether (POLLHUP) or the interposer closes.
func (ip *Interposer) hang(c *net.UnixConn) {
	if _, err := io.Copy(io.Discard, c); err != nil {
		return // reset, or closed by Close
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	for !ip.isClosed() {
		hup := true
		cerr := rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd)}}
			n, err := unix.Poll(fds, 200)
			hup = err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
		})
		if cerr != nil || hup {
			return
		}
	}
}

// forward copies both ways between the client and the service, passing
// each side's end of writing on to the other.
func (ip *Interposer) forward(c *net.UnixConn) {
	up, err := ip.dial()
	if err != nil {
		return
	}
	defer ip.untrack(up)
	done := make(chan struct{})
	go func() { // owner: forward, which waits on done
		defer close(done)
		_, _ = io.Copy(up, c)
		_ = up.CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.CloseWrite()
	<-done
}

// answerHealthErrors reads the client's requests a line at a time (the
// framing of the probe, zinit's checks and herosim): a server.health
// request is answered with a JSON-RPC error at once; every other line
// goes to the service untouched, over a connection opened at the first
// one, and the service's answers come back a line at a time. Writes to
// the client are whole lines, so an injected answer never splits one of
// the service's. A notification (no id) gets no answer, as JSON-RPC asks.
func (ip *Interposer) answerHealthErrors(c *net.UnixConn) {
	var wmu sync.Mutex // one writer of the client at a time
	var up *net.UnixConn
	done := make(chan struct{})
	defer func() {
		if up != nil {
			_ = up.CloseWrite()
			<-done // the service's last answers
			ip.untrack(up)
		}
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if id, health := healthRequestID(line); health {
				if id != nil {
					wmu.Lock()
					_, werr := c.Write(healthErrorAnswer(id))
					wmu.Unlock()
					if werr != nil {
						return
					}
				}
			} else {
				if up == nil {
					u, derr := ip.dial()
					if derr != nil {
						return
					}
					up = u
					go func() { // owner: answerHealthErrors, which waits on done
						defer close(done)
						copyLines(c, up, &wmu)
					}()
				}
				if _, werr := up.Write(line); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// copyLines copies src to dst a line at a time (a line longer than the
// buffer goes in pieces), each write under mu.
func copyLines(dst io.Writer, src io.Reader, mu *sync.Mutex) {
	br := bufio.NewReaderSize(src, 64<<10)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			mu.Lock()
			_, werr := dst.Write(b)
			mu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// healthRequestID reports whether line is a JSON-RPC server.health
// request, and its id (nil for a notification).
func healthRequestID(line []byte) (json.RawMessage, bool) {
	var req struct {
		Method string          `json:"method"`
		ID     json.RawMessage `json:"id"`
	}
	if json.Unmarshal(line, &req) != nil || req.Method != "server.health" {
		return nil, false
	}
	return req.ID, true
}

// healthErrorAnswer is the JSON-RPC 2.0 error line answering request id.
func healthErrorAnswer(id json.RawMessage) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		Error   any             `json:"error"`
		ID      json.RawMessage `json:"id"`
	}{"2.0", map[string]any{"code": healthErrorCode, "message": "zchaos: injected health error"}, id})
	return append(b, '\n')
}

// RestoreSocket undoes an interposition whose socket had inode ino: when
// the path still names the interposer's socket (or nothing), the service's
// socket is renamed back from aside, atomically; when the service has
// bound a fresh socket there since (it restarted), that one is kept and
// only the stale aside is removed. The takeover path is removed too. It
// returns what it did, for people. Idempotent.
func RestoreSocket(socket, aside string, ino uint64) (string, error) {
	_ = os.Remove(socket + takeoverSuffix)
	cur, err := inodeOf(socket)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("restore %s: %w", socket, err)
	}
	a, aerr := inodeOf(aside)
	if aerr != nil && !errors.Is(aerr, os.ErrNotExist) {
		return "", fmt.Errorf("restore %s: %w", socket, aerr)
	}
	switch {
	case err == nil && cur != ino:
		// The service bound a fresh socket (or this ran before): keep it.
		if aerr == nil && a != cur {
			if err := os.Remove(aside); err != nil {
				return "", fmt.Errorf("restore %s: %w", socket, err)
			}
			return fmt.Sprintf("%s is not the interposer's socket any more (the service bound it anew): kept it, removed the stale %s",
				socket, aside), nil
		}
		return fmt.Sprintf("%s is not the interposer's socket any more: kept it", socket), nil
	case aerr == nil:
		if err := os.Rename(aside, socket); err != nil {
			return "", fmt.Errorf("restore %s: %w", socket, err)
		}
		return fmt.Sprintf("renamed %s back to %s", aside, socket), nil
	case err == nil:
		// Ours, and the service's socket is gone: leave no dead socket.
		if err := os.Remove(socket); err != nil {
			return "", fmt.Errorf("restore %s: %w", socket, err)
		}
		return fmt.Sprintf("%s was gone: removed the interposer's %s", aside, socket), nil
	}
	return fmt.Sprintf("nothing at %s or %s: nothing to restore", socket, aside), nil
}

// abandonTakeover undoes what an interposer that was killed mid-takeover
// may have done: with the service's socket aside and a dead socket at its
// path, the service's goes back. Best effort.
func abandonTakeover(socket, aside string) {
	_ = os.Remove(socket + takeoverSuffix)
	a, err := inodeOf(aside)
	if err != nil {
		return
	}
	if cur, err := inodeOf(socket); err == nil && cur == a {
		_ = os.Remove(aside) // linked, not yet replaced
		return
	}
	if !live(socket) {
		_ = os.Rename(aside, socket)
	}
}

// interposeReady is the line a detached interposer writes on its ready
// pipe once it has taken over the socket (or failed to).
type interposeReady struct {
	Ino   uint64 `json:"ino,omitempty"`
	AtNs  int64  `json:"at_ns,omitempty"`
	Error string `json:"error,omitempty"`
}

// RunInterposer is the detached interposer behind an interposed health
// fault (`zchaos agent interpose`): it takes over socket (Interpose),
// writes one JSON line on ready saying so (its socket's inode and the
// takeover's time) or why not, closes ready, and serves until ctx ends.
// It never restores the socket itself: the fault's revert does
// (RestoreSocket), even when the interposer is gone.
func RunInterposer(ctx context.Context, socket, aside string, mode InterposeMode, ready io.WriteCloser) error {
	ip, err := Interpose(socket, aside, mode)
	msg := interposeReady{}
	if err != nil {
		msg.Error = err.Error()
	} else {
		msg.Ino, msg.AtNs = ip.Ino, ip.At
	}
	b, _ := json.Marshal(msg)
	_, werr := ready.Write(append(b, '\n'))
	cerr := ready.Close()
	if err != nil {
		return err
	}
	if werr = errors.Join(werr, cerr); werr != nil {
		ip.Close()
		return fmt.Errorf("interposer ready: %w", werr)
	}
	return ip.Serve(ctx)
}
