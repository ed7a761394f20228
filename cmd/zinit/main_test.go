package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zchaos/zchaos/zinit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cliResult is what one CLI run produced.
type cliResult struct {
	code        int
	out, errOut string
}

// runCLI runs the CLI in-process with env as its whole environment and a
// RunDaemon that fails (tests of init set their own through runCLIWith).
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	return runCLIWith(t, env, nil, args...)
}

func runCLIWith(t *testing.T, env map[string]string, daemon func(context.Context, daemonConfig) error, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	if daemon == nil {
		daemon = func(context.Context, daemonConfig) error {
			t.Error("RunDaemon called unexpectedly")
			return nil
		}
	}
	f := &Factory{
		IO:        IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv:    func(k string) string { return env[k] },
		RunDaemon: daemon,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := runArgs(ctx, f, args)
	return cliResult{code: code, out: out.String(), errOut: errOut.String()}
}

// call is one request a fakeDaemon received.
type call struct {
	Method string
	Params json.RawMessage
}

// fakeDaemon answers JSON-RPC on a real Unix socket with a handler per
// method (a missing handler answers null). The test owns it: Cleanup closes
// the listener and the connections and waits for its goroutines.
type fakeDaemon struct {
	socket   string
	handlers map[string]func(zinit.Request) (any, error)
	ln       net.Listener
	wg       sync.WaitGroup

	mu    sync.Mutex
	calls []call
	conns []net.Conn
}

func startFakeDaemon(t *testing.T, handlers map[string]func(zinit.Request) (any, error)) *fakeDaemon {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "z.sock")
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	d := &fakeDaemon{socket: socket, handlers: handlers, ln: ln}
	d.wg.Add(1)
	go func() { // owner: d; stop: ln.Close; waiter: d.wg
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.conns = append(d.conns, c)
			d.mu.Unlock()
			d.wg.Add(1)
			go d.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		d.mu.Lock()
		for _, c := range d.conns {
			_ = c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	return d
}

func (d *fakeDaemon) serve(c net.Conn) {
	defer d.wg.Done()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		var req zinit.Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return
		}
		d.mu.Lock()
		d.calls = append(d.calls, call{Method: req.Method, Params: req.Params})
		d.mu.Unlock()
		h, ok := d.handlers[req.Method]
		if ok && h == nil {
			continue // never answer: a hung daemon
		}
		var resp zinit.Response
		var res any
		var err error
		if ok {
			res, err = h(req)
		}
		if err != nil {
			resp = zinit.NewErrorResponse(req.ID, err)
		} else if resp, err = zinit.NewResult(req.ID, res); err != nil {
			resp = zinit.NewErrorResponse(req.ID, err)
		}
		b, _ := json.Marshal(resp)
		if _, err := c.Write(append(b, '\n')); err != nil {
			return
		}
	}
}

func (d *fakeDaemon) received() []call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]call(nil), d.calls...)
}

func (d *fakeDaemon) env() map[string]string { return map[string]string{"ZINIT_SOCKET": d.socket} }

// stubZinitFunc defines a zinit shell function that prints its argc then
// each argument, each followed by a NUL byte.
const stubZinitFunc = `zinit() { printf '%s\0' "$#"; for a in "$@"; do printf '%s\0' "$a"; done; }
`

// shellArgv runs a shell script whose commands are zinit command lines and
// returns the arguments (without "zinit") each one received, as a real
// /bin/sh splits them.
func shellArgv(t *testing.T, script string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", stubZinitFunc+script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	require.NoError(t, err)
	fields := strings.Split(string(out), "\x00")
	require.Equal(t, "", fields[len(fields)-1])
	fields = fields[:len(fields)-1]
	var argvs [][]string
	for len(fields) > 0 {
		n, err := strconv.Atoi(fields[0])
		require.NoError(t, err)
		argvs = append(argvs, fields[1:1+n])
		fields = fields[1+n:]
	}
	return argvs
}

func seedArgv(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed_lines.sh"))
	require.NoError(t, err)
	argvs := shellArgv(t, string(b))
	require.Len(t, argvs, 3, "add service + the seed's two add job lines")
	return argvs
}
