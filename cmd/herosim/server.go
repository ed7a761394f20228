package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mode is the health behaviour of a running herosim.
type Mode int

const (
	ModeOK    Mode = iota // answer health calls with status ok
	ModeHang              // accept, read, and never answer
	ModeError             // answer with a JSON-RPC error (HTTP 503)
)

func (m Mode) String() string {
	switch m {
	case ModeOK:
		return "ok"
	case ModeHang:
		return "hang"
	case ModeError:
		return "error"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// controlExit reads an "exit N" command from a control file's content:
// herosim then exits with code N (0 is a clean exit).
func controlExit(b []byte) (code int, ok bool) {
	f := strings.Fields(string(b))
	if len(f) != 2 || strings.ToLower(f[0]) != "exit" {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return n, true
}

// controlPoll is how often serve reads the control file for an exit command.
const controlPoll = 50 * time.Millisecond

func parseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ok":
		return ModeOK, nil
	case "hang":
		return ModeHang, nil
	case "error":
		return ModeError, nil
	}
	return ModeOK, fmt.Errorf("unknown health mode %q (want ok, hang or error)", s)
}

// Config is what serve runs with.
type Config struct {
	Name        string
	Socket      string
	HTTPPort    int
	Ledger      string
	SlowStart   time.Duration
	ExitCode    int
	CrashAfter  time.Duration
	CrashLoop   bool
	Control     string // control file: ok, hang, error (health mode), or exit N
	HangSignal  syscall.Signal
	ErrorSignal syscall.Signal
	InitialMode Mode
	Log         io.Writer // diagnostics; nil discards
}

// LedgerEntry is one line of the start ledger.
type LedgerEntry struct {
	Name        string `json:"name"`
	PID         int    `json:"pid"`
	Start       string `json:"start"` // RFC 3339, nanoseconds
	StartUnixMs int64  `json:"start_unix_ms"`
}

func appendLedger(path, name string, pid int, at time.Time) error {
	line, err := json.Marshal(LedgerEntry{Name: name, PID: pid, Start: at.UTC().Format(time.RFC3339Nano), StartUnixMs: at.UnixMilli()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	// One write of one line: O_APPEND keeps concurrent starts from interleaving.
	_, werr := f.Write(append(line, '\n'))
	return errors.Join(werr, f.Close())
}

// server holds the live state of one serve.
type server struct {
	cfg     Config
	pid     int
	mu      sync.Mutex
	sigMode Mode          // mode set by signals (and HEROSIM_FAULT)
	changed chan struct{} // closed and replaced on every signal toggle
}

// Serve runs herosim serve until ctx ends, a SIGTERM/SIGINT arrives on sigs,
// or a crash knob fires, and returns the process exit code. It blocks; every
// goroutine it starts has ended when it returns. A crash leaves the socket
// file behind (as a crashed service would); a clean stop removes it.
func Serve(ctx context.Context, cfg Config, sigs <-chan os.Signal, now func() time.Time) (int, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	s := &server{cfg: cfg, pid: os.Getpid(), sigMode: cfg.InitialMode, changed: make(chan struct{})}
	if cfg.Ledger != "" {
		if err := appendLedger(cfg.Ledger, cfg.Name, s.pid, now()); err != nil {
			return exitError, err
		}
	}
	fmt.Fprintf(cfg.Log, "herosim %s: start pid=%d\n", cfg.Name, s.pid)
	if cfg.CrashLoop {
		fmt.Fprintf(cfg.Log, "herosim %s: crash loop: exit %d\n", cfg.Name, cfg.ExitCode)
		return cfg.ExitCode, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var crash <-chan time.Time
	if cfg.CrashAfter > 0 {
		t := time.NewTimer(cfg.CrashAfter)
		defer t.Stop()
		crash = t.C
	}
	// An "exit N" in the control file is obeyed within controlPoll, with no
	// signal involved; the command is consumed so the next start runs.
	var ctlTick <-chan time.Time
	if cfg.Control != "" {
		t := time.NewTicker(controlPoll)
		defer t.Stop()
		ctlTick = t.C
	}
	exitCommand := func() (int, bool) {
		b, err := os.ReadFile(cfg.Control)
		if err != nil {
			return 0, false
		}
		code, ok := controlExit(b)
		if !ok {
			return 0, false
		}
		if err := os.Remove(cfg.Control); err != nil && !os.IsNotExist(err) {
			fmt.Fprintf(cfg.Log, "herosim %s: control: %v\n", cfg.Name, err)
		}
		fmt.Fprintf(cfg.Log, "herosim %s: control: exit %d\n", cfg.Name, code)
		return code, true
	}

	// Slow start: the socket appears only after the delay; signals still count.
	if cfg.SlowStart > 0 {
		t := time.NewTimer(cfg.SlowStart)
		defer t.Stop()
	wait:
		for {
			select {
			case <-ctx.Done():
				return exitOK, nil
			case <-crash:
				fmt.Fprintf(cfg.Log, "herosim %s: crash during slow start: exit %d\n", cfg.Name, cfg.ExitCode)
				return cfg.ExitCode, nil
			case sig := <-sigs:
				if s.onSignal(sig) {
					return exitOK, nil
				}
			case <-ctlTick:
				if code, ok := exitCommand(); ok {
					return code, nil
				}
			case <-t.C:
				break wait
			}
		}
	}

	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return exitError, fmt.Errorf("socket dir: %w", err)
	}
	_ = os.Remove(cfg.Socket) // a stale file from a crashed predecessor
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return exitError, fmt.Errorf("listen: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); s.acceptLoop(ctx, ln, &wg) }()

	var hs *http.Server
	if cfg.HTTPPort > 0 {
		hl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.HTTPPort)))
		if err != nil {
			ln.Close()
			return exitError, fmt.Errorf("http listen: %w", err)
		}
		hs = &http.Server{Handler: http.HandlerFunc(s.serveHTTP),
			BaseContext: func(net.Listener) context.Context { return ctx }, ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); _ = hs.Serve(hl) }()
	}
	fmt.Fprintf(cfg.Log, "herosim %s: listening on %s\n", cfg.Name, cfg.Socket)

	stop := func(code int, clean bool) (int, error) {
		cancel()
		if clean {
			ln.Close() // also unlinks the socket file
		} else {
			// A crash: stop serving but leave the file, as a dead process would.
			if ul, ok := ln.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false)
			}
			ln.Close()
		}
		if hs != nil {
			_ = hs.Close()
		}
		return code, nil
	}
	for {
		select {
		case <-ctx.Done():
			return stop(exitOK, true)
		case <-crash:
			fmt.Fprintf(cfg.Log, "herosim %s: crash: exit %d\n", cfg.Name, cfg.ExitCode)
			return stop(cfg.ExitCode, false)
		case sig := <-sigs:
			if s.onSignal(sig) {
				fmt.Fprintf(cfg.Log, "herosim %s: %v: clean exit\n", cfg.Name, sig)
				return stop(exitOK, true)
			}
		case <-ctlTick:
			if code, ok := exitCommand(); ok {
				// Exit 0 is clean (the socket goes); any other code is a
				// crash and leaves the file behind, as a dead process would.
				return stop(code, code == 0)
			}
		}
	}
}

// onSignal toggles a mode, or reports that the signal asks for exit.
func (s *server) onSignal(sig os.Signal) (exit bool) {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT:
		return true
	case s.cfg.HangSignal:
		s.toggle(ModeHang)
	case s.cfg.ErrorSignal:
		s.toggle(ModeError)
	}
	return false
}

func (s *server) toggle(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sigMode == m {
		s.sigMode = ModeOK
	} else {
		s.sigMode = m
	}
	fmt.Fprintf(s.cfg.Log, "herosim %s: health mode %s\n", s.cfg.Name, s.sigMode)
	close(s.changed)
	s.changed = make(chan struct{})
}

// mode is the effective health mode now: the control file wins when it
// exists and holds a valid mode; otherwise the signal-set mode.
func (s *server) mode() (Mode, <-chan struct{}) {
	s.mu.Lock()
	m, ch := s.sigMode, s.changed
	s.mu.Unlock()
	if s.cfg.Control != "" {
		if b, err := os.ReadFile(s.cfg.Control); err == nil {
			if cm, err := parseMode(string(b)); err == nil && len(bytes.TrimSpace(b)) > 0 {
				return cm, ch
			}
		}
	}
	return m, ch
}

// waitWhileHung blocks while the mode is hang; false means the server is
// shutting down.
func (s *server) waitWhileHung(ctx context.Context) bool {
	tick := time.NewTicker(100 * time.Millisecond) // re-reads the control file
	defer tick.Stop()
	for {
		m, changed := s.mode()
		if m != ModeHang {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-tick.C:
		}
	}
}

func (s *server) acceptLoop(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // listener closed
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.serveConn(ctx, c) }()
	}
}

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	ID      json.RawMessage `json:"id"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// Health is the result of server.health.
type Health struct {
	Status string `json:"status"`
	Name   string `json:"name"`
	PID    int    `json:"pid"`
}

// serveConn answers one request per line until EOF, then closes.
func (s *server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			resp, ok := s.handle(ctx, line)
			if !ok {
				return
			}
			b, _ := json.Marshal(resp)
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, werr := c.Write(append(b, '\n')); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// handle answers one request; ok=false means do not answer (shutdown).
func (s *server) handle(ctx context.Context, line []byte) (rpcResponse, bool) {
	var req rpcRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return rpcResponse{JSONRPC: "2.0", Error: &rpcError{Code: -32700, Message: "parse error"}, ID: json.RawMessage("null")}, true
	}
	id := req.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	switch req.Method {
	case "server.health", "server.ping":
	default:
		return rpcResponse{JSONRPC: "2.0", Error: &rpcError{Code: -32601, Message: "method not found: " + req.Method}, ID: id}, true
	}
	// A hang makes the whole service unresponsive; an error only fails health.
	if !s.waitWhileHung(ctx) {
		return rpcResponse{}, false
	}
	if req.Method == "server.ping" {
		return rpcResponse{JSONRPC: "2.0", Result: "pong", ID: id}, true
	}
	if m, _ := s.mode(); m == ModeError {
		return rpcResponse{JSONRPC: "2.0", Error: &rpcError{Code: -32603, Message: "unhealthy: injected health error"}, ID: id}, true
	}
	return rpcResponse{JSONRPC: "2.0", Result: Health{Status: "ok", Name: s.cfg.Name, PID: s.pid}, ID: id}, true
}

func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		http.NotFound(w, r)
		return
	}
	if !s.waitWhileHung(r.Context()) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if m, _ := s.mode(); m == ModeError {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "name": s.cfg.Name})
		return
	}
	_ = json.NewEncoder(w).Encode(Health{Status: "ok", Name: s.cfg.Name, PID: s.pid})
}
