package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets a test re-execute this binary as the real herosim.
func TestMain(m *testing.M) {
	if os.Getenv("HEROSIM_TEST_MAIN") == "1" {
		os.Exit(run(commandLine(os.Args, os.Stderr), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

var fixedNow = func() time.Time { return time.Date(2026, 3, 13, 12, 0, 0, 0, time.UTC) }

// shortSock returns a socket path short enough for sun_path.
func shortSock(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hs")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "s.sock")
}

type served struct {
	sigs chan os.Signal
	done chan int
	err  chan error
}

func startServe(t *testing.T, cfg Config) *served {
	t.Helper()
	s := &served{sigs: make(chan os.Signal, 4), done: make(chan int, 1), err: make(chan error, 1)}
	if cfg.HangSignal == 0 {
		cfg.HangSignal, cfg.ErrorSignal = syscall.SIGUSR1, syscall.SIGUSR2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		code, err := Serve(ctx, cfg, s.sigs, fixedNow)
		s.err <- err
		s.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return s
}

// call sends one line and half-closes, as socat does, and returns the answer.
func call(t *testing.T, sock, method string, timeout time.Duration) (map[string]any, error) {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, `{"jsonrpc":"2.0","method":%q,"id":7}`+"\n", method)
	_ = c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("answer %q: %w", b, err)
	}
	return m, nil
}

func waitSocket(t *testing.T, sock string) {
	t.Helper()
	// The file appears at bind(), before listen(): wait until a dial works.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, 5*time.Second, 5*time.Millisecond)
}

func TestHealthAndPing(t *testing.T) {
	sock := shortSock(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	startServe(t, Config{Name: "user.hero_x", Socket: sock, Ledger: ledger})
	waitSocket(t, sock)

	got, err := call(t, sock, "server.health", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"jsonrpc": "2.0", "id": float64(7),
		"result": map[string]any{"status": "ok", "name": "user.hero_x", "pid": float64(os.Getpid())}}, got)

	got, err = call(t, sock, "server.ping", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "pong", got["result"])

	got, err = call(t, sock, "nope", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, float64(-32601), got["error"].(map[string]any)["code"])

	b, err := os.ReadFile(ledger)
	require.NoError(t, err)
	var e LedgerEntry
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(b), &e))
	assert.Equal(t, LedgerEntry{Name: "user.hero_x", PID: os.Getpid(), Start: "2026-03-13T12:00:00Z", StartUnixMs: fixedNow().UnixMilli()}, e)
}

func TestSignalsToggleHangAndError(t *testing.T) {
	sock := shortSock(t)
	s := startServe(t, Config{Name: "svc", Socket: sock})
	waitSocket(t, sock)

	s.sigs <- syscall.SIGUSR1 // hang on
	require.Eventually(t, func() bool {
		_, err := call(t, sock, "server.health", 200*time.Millisecond)
		return err != nil
	}, 3*time.Second, 10*time.Millisecond, "health should hang")

	// A request made while hung is answered once the hang is toggled off.
	answered := make(chan error, 1)
	go func() {
		_, err := call(t, sock, "server.health", 5*time.Second)
		answered <- err
	}()
	s.sigs <- syscall.SIGUSR1 // hang off
	select {
	case err := <-answered:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("hung request not released")
	}

	s.sigs <- syscall.SIGUSR2 // error on
	require.Eventually(t, func() bool {
		got, err := call(t, sock, "server.health", time.Second)
		return err == nil && got["error"] != nil
	}, 3*time.Second, 10*time.Millisecond)
	s.sigs <- syscall.SIGUSR2 // error off
	require.Eventually(t, func() bool {
		got, err := call(t, sock, "server.health", time.Second)
		return err == nil && got["result"] != nil
	}, 3*time.Second, 10*time.Millisecond)
}

func TestControlFileAndInitialMode(t *testing.T) {
	sock := shortSock(t)
	ctl := filepath.Join(t.TempDir(), "ctl")
	startServe(t, Config{Name: "svc", Socket: sock, Control: ctl, InitialMode: ModeError})
	waitSocket(t, sock)

	got, err := call(t, sock, "server.health", time.Second)
	require.NoError(t, err)
	assert.NotNil(t, got["error"], "initial mode error (no control file yet)")

	require.NoError(t, os.WriteFile(ctl, []byte("ok\n"), 0o644))
	got, err = call(t, sock, "server.health", time.Second)
	require.NoError(t, err)
	assert.NotNil(t, got["result"])

	require.NoError(t, os.WriteFile(ctl, []byte("hang"), 0o644))
	_, err = call(t, sock, "server.health", 300*time.Millisecond)
	assert.Error(t, err, "control file hang")
}

func TestHTTPHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	sock := shortSock(t)
	s := startServe(t, Config{Name: "ui", Socket: sock, HTTPPort: port})
	waitSocket(t, sock)
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	s.sigs <- syscall.SIGUSR2
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 3*time.Second, 10*time.Millisecond)
}

func TestCrashAfterLeavesSocketAndExitCode(t *testing.T) {
	sock := shortSock(t)
	s := startServe(t, Config{Name: "svc", Socket: sock, CrashAfter: 150 * time.Millisecond, ExitCode: 42})
	select {
	case code := <-s.done:
		s.done <- code // for cleanup
		assert.Equal(t, 42, code)
	case <-time.After(5 * time.Second):
		t.Fatal("no crash")
	}
	_, err := os.Stat(sock)
	assert.NoError(t, err, "a crash leaves the socket file behind")
}

func TestSlowStart(t *testing.T) {
	sock := shortSock(t)
	startServe(t, Config{Name: "svc", Socket: sock, SlowStart: 300 * time.Millisecond})
	_, err := os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket must not exist during slow start")
	waitSocket(t, sock)
}

// helper runs the real main in a subprocess.
func helper(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "HEROSIM_TEST_MAIN=1"), env...)
	return cmd
}

func TestProcessSigtermCleanExit(t *testing.T) {
	sock := shortSock(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	cmd := helper(t, []string{"HEROSIM_FAULT=error"}, "serve", "--name", "p", "--socket", sock, "--ledger", ledger)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	waitSocket(t, sock)
	got, err := call(t, sock, "server.health", 2*time.Second)
	require.NoError(t, err)
	assert.NotNil(t, got["error"], "HEROSIM_FAULT=error")
	// USR2 toggles the error off in the real process.
	require.NoError(t, cmd.Process.Signal(syscall.SIGUSR2))
	require.Eventually(t, func() bool {
		got, err := call(t, sock, "server.health", time.Second)
		return err == nil && got["result"] != nil
	}, 3*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	assert.NoError(t, err, "SIGTERM is a clean exit 0; stderr: %s", stderr.String())
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "clean exit removes the socket")
	b, err := os.ReadFile(ledger)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(b), "\n"))
}

func TestProcessCrashLoopAndOneshot(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger")
	for i := 0; i < 3; i++ {
		cmd := helper(t, nil, "serve", "--name", "c", "--socket", "/nonexistent/x.sock", "--crash-loop", "--exit-code", "7", "--ledger", ledger)
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 7, ee.ExitCode())
	}
	f, err := os.Open(ledger)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	pids := map[int]bool{}
	for sc.Scan() {
		var e LedgerEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		assert.Equal(t, "c", e.Name)
		pids[e.PID] = true
	}
	assert.Len(t, pids, 3, "one ledger line per start, each with its own pid")

	cmd := helper(t, nil, "oneshot", "--name", "o", "--exit-code", "3")
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.ExitCode())
	out, err := helper(t, nil, "oneshot", "--name", "o").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "herosim oneshot o done")
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"serve", "--name", "x"}, &out, &errb))
	assert.Contains(t, errb.String(), "--socket is required")
	assert.Equal(t, exitUsage, run([]string{"bogus"}, &out, &errb))
	assert.Equal(t, exitOK, run([]string{"version"}, &out, &errb))
	assert.Contains(t, out.String(), "herosim dev")
}

func TestControlFileExit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		content    string
		code       int
		socketGone bool
	}{
		{"non-zero is a crash", "exit 7\n", 7, false},
		{"zero is clean", "exit 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := shortSock(t)
			ctl := filepath.Join(t.TempDir(), "ctl")
			s := startServe(t, Config{Name: "svc", Socket: sock, Control: ctl})
			waitSocket(t, sock)
			// A health mode in the control file is not an exit.
			require.NoError(t, os.WriteFile(ctl, []byte("error\n"), 0o644))
			select {
			case code := <-s.done:
				t.Fatalf("exited %d on a health mode", code)
			case <-time.After(4 * controlPoll):
			}
			require.NoError(t, os.WriteFile(ctl, []byte(tc.content), 0o644))
			select {
			case code := <-s.done:
				s.done <- code // for cleanup
				assert.Equal(t, tc.code, code)
			case <-time.After(5 * time.Second):
				t.Fatal("no exit on the control command")
			}
			_, err := os.Stat(ctl)
			assert.True(t, os.IsNotExist(err), "the exit command is consumed, so the next start runs")
			_, err = os.Stat(sock)
			assert.Equal(t, tc.socketGone, os.IsNotExist(err), "socket file gone after the exit")
		})
	}
}

func TestControlExitParse(t *testing.T) {
	for in, want := range map[string]int{"exit 3": 3, " EXIT 0\n": 0, "exit 255": 255} {
		code, ok := controlExit([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, code, in)
	}
	for _, in := range []string{"", "ok", "exit", "exit -1", "exit 256", "exit x", "exit 1 2"} {
		_, ok := controlExit([]byte(in))
		assert.False(t, ok, in)
	}
}

func TestControlDirEnv(t *testing.T) {
	t.Setenv("HEROSIM_CONTROL_DIR", "/ctl")
	cfg, err := parseServe([]string{"--name", "svc", "--socket", "/s.sock"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "/ctl/svc", cfg.Control)
	cfg, err = parseServe([]string{"--name", "svc", "--socket", "/s.sock", "--control", "/x"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "/x", cfg.Control, "--control wins")
}

func TestMultiCallTranslation(t *testing.T) {
	var warn bytes.Buffer
	for _, tc := range []struct {
		argv []string
		want []string
		warn string
	}{
		{[]string{"/usr/local/bin/herosim", "serve", "--name", "x"}, []string{"serve", "--name", "x"}, ""},
		{[]string{"/root/hero/bin/hero_embedder_server", "serve"},
			[]string{"serve", "--name", "hero_embedder_server", "--socket", "/root/hero/var/sockets/hero_embedder_server.sock"}, ""},
		{[]string{"hero_ui", "--port", "8080"},
			[]string{"serve", "--http-port", "8080", "--name", "hero_ui", "--socket", "/root/hero/var/sockets/hero_ui.sock"}, ""},
		{[]string{"hero_ui", "serve", "--port=8080", "--crash-loop", "--socket", "/s"},
			[]string{"serve", "--http-port=8080", "--crash-loop", "--socket", "/s", "--name", "hero_ui"}, ""},
		{[]string{"hero_x", "serve", "--workers", "4", "--verbose"},
			[]string{"serve", "--name", "hero_x", "--socket", "/root/hero/var/sockets/hero_x.sock"},
			"herosim (as hero_x): ignoring unknown flag --workers\nherosim (as hero_x): ignoring unknown flag --verbose\n"},
		{[]string{"hero_books_seed", "seed"}, []string{"oneshot", "--name", "hero_books_seed seed"}, ""},
		{[]string{"hero_x", "version"}, []string{"version"}, ""},
	} {
		warn.Reset()
		assert.Equal(t, tc.want, commandLine(tc.argv, &warn), "%q", tc.argv)
		assert.Equal(t, tc.warn, warn.String(), "%q", tc.argv)
	}
}

// TestMultiCallProcess: run through a link named like a hero binary,
// herosim serves under that name.
func TestMultiCallProcess(t *testing.T) {
	sock := shortSock(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	link := filepath.Join(t.TempDir(), "hero_demo_server")
	require.NoError(t, os.Symlink(os.Args[0], link))
	cmd := exec.Command(link, "serve", "--socket", sock, "--ledger", ledger, "--threads", "8")
	cmd.Env = append(os.Environ(), "HEROSIM_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait() // after it, stderr is complete and no longer written
		}
	}
	t.Cleanup(stop)
	waitSocket(t, sock)
	got, err := call(t, sock, "server.health", 2*time.Second)
	require.NoError(t, err)
	assert.NotNil(t, got["result"])
	b, err := os.ReadFile(ledger)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"name":"hero_demo_server"`)
	stop()
	assert.Contains(t, stderr.String(), "ignoring unknown flag --threads")
}
