package migrator_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// helperEnv makes the test binary a tiny hero service (see TestMain): a
// JSON-RPC server on $MIGRATOR_HELPER_SOCKET and an HTTP server on
// $MIGRATOR_HELPER_PORT, so a test can SIGSTOP a real process.
const helperEnv = "MIGRATOR_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "serve" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func helperMain() int {
	ln, err := net.Listen("unix", os.Getenv("MIGRATOR_HELPER_SOCKET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { // lives as long as the helper process
		_ = http.Serve(hl, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) }))
	}()
	fmt.Printf("ready %d\n", hl.Addr().(*net.TCPAddr).Port)
	srv := &rpcServer{ln: ln, answer: okAnswer, done: make(chan struct{})}
	srv.serve()
	return 0
}

func okAnswer(id string) string {
	return `{"jsonrpc":"2.0","result":{"status":"ok"},"id":` + id + `}`
}

// rpcServer answers one JSON-RPC request per line until EOF, like herosim.
// answer returns the reply line ("" for none: the call hangs until done).
type rpcServer struct {
	ln     net.Listener
	answer func(id string) string
	delay  time.Duration
	done   chan struct{}
	wg     sync.WaitGroup
}

func (s *rpcServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadBytes('\n')
				if len(line) > 0 {
					a := s.answer("1")
					if a == "" {
						<-s.done
						return
					}
					select {
					case <-time.After(s.delay):
					case <-s.done:
						return
					}
					if _, werr := io.WriteString(c, a+"\n"); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// startRPC serves answer on a fresh socket; the server ends with the test.
func startRPC(t *testing.T, answer func(string) string, delay time.Duration) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "hero it's.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	s := &rpcServer{ln: ln, answer: answer, delay: delay, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.serve() }()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		wg.Wait()
		s.wg.Wait()
	})
	return sock
}

const probeTimeout = time.Second

// runProbe runs the check exec as zinit would (sh -c) and returns its exit
// code, output and duration.
func runProbe(t *testing.T, p migrator.Probe, env ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", p.Exec(probeTimeout))
	cmd.Env = append(os.Environ(), env...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out), d
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out), d
	}
	t.Fatalf("probe did not run: %v", err)
	return -1, "", d
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the probes and must be installed: %v", tool, err)
		}
	}
}

func TestSocketProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out probe timeouts against hung and stopped servers")
	}
	needTools(t, "socat", "timeout", "grep")
	cases := []struct {
		name   string
		answer func(string) string
		delay  time.Duration
		ok     bool
	}{
		{"result", okAnswer, 0, true},
		{"slow but within the bound", okAnswer, 300 * time.Millisecond, true},
		{"json-rpc error", func(id string) string {
			return `{"jsonrpc":"2.0","error":{"code":-32603,"message":"unhealthy"},"id":` + id + `}`
		}, 0, false},
		{"error that mentions result", func(id string) string {
			return `{"jsonrpc":"2.0","error":{"code":-32603,"message":"\"result\": missing"},"id":` + id + `}`
		}, 0, false},
		{"not json-rpc", func(string) string { return "OK" }, 0, false},
		{"alive but never answers", func(string) string { return "" }, 0, false},
		{"answers too late", okAnswer, 3 * probeTimeout, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sock := startRPC(t, c.answer, c.delay)
			code, out, d := runProbe(t, migrator.Probe{Kind: migrator.ProbeSocket, Target: sock})
			if c.ok {
				assert.Equal(t, 0, code, out)
			} else {
				assert.NotEqual(t, 0, code, out)
				assert.Contains(t, out, "health:", "the probe says why")
			}
			assert.Less(t, d, probeTimeout+500*time.Millisecond, "the probe bounds itself inside the check timeout")
		})
	}
	t.Run("socket missing", func(t *testing.T) {
		code, out, _ := runProbe(t, migrator.Probe{Kind: migrator.ProbeSocket, Target: filepath.Join(t.TempDir(), "gone.sock")})
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "no socket")
	})
	t.Run("nothing listening", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "stale.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		require.NoError(t, err)
		ln.SetUnlinkOnClose(false)
		require.NoError(t, ln.Close())
		_, err = os.Stat(sock)
		require.NoError(t, err, "the socket file stays behind, as after a crash")
		code, out, _ := runProbe(t, migrator.Probe{Kind: migrator.ProbeSocket, Target: sock})
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "call failed")
	})
	t.Run("process alive but SIGSTOPped", func(t *testing.T) {
		sock, _, pid := startHelper(t)
		code, out, _ := runProbe(t, migrator.Probe{Kind: migrator.ProbeSocket, Target: sock})
		require.Equal(t, 0, code, "healthy before the stop: %s", out)
		stopProcess(t, pid)
		code, out, d := runProbe(t, migrator.Probe{Kind: migrator.ProbeSocket, Target: sock})
		assert.Equal(t, 1, code, out)
		assert.Less(t, d, probeTimeout+500*time.Millisecond)
	})
}

func TestHTTPProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out probe timeouts against hung and stopped servers")
	}
	needTools(t, "curl")
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprintln(w, `{"status":"ok"}`)
		case "/broken":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	cases := map[string]bool{"/health": true, "/broken": false, "/hang": false, "/missing": false}
	for path, ok := range cases {
		t.Run(path, func(t *testing.T) {
			code, out, d := runProbe(t, migrator.Probe{Kind: migrator.ProbeHTTP, Target: srv.URL + path})
			assert.Equal(t, ok, code == 0, out)
			assert.Less(t, d, probeTimeout+500*time.Millisecond)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		code, _, _ := runProbe(t, migrator.Probe{Kind: migrator.ProbeHTTP, Target: fmt.Sprintf("http://127.0.0.1:%d/health", port)})
		assert.NotEqual(t, 0, code)
	})
	t.Run("process alive but SIGSTOPped", func(t *testing.T) {
		_, port, pid := startHelper(t)
		url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
		code, out, _ := runProbe(t, migrator.Probe{Kind: migrator.ProbeHTTP, Target: url})
		require.Equal(t, 0, code, out)
		stopProcess(t, pid)
		code, out, d := runProbe(t, migrator.Probe{Kind: migrator.ProbeHTTP, Target: url})
		assert.NotEqual(t, 0, code, out)
		assert.Less(t, d, probeTimeout+500*time.Millisecond)
	})
}

func TestLivenessProbe(t *testing.T) {
	p := migrator.Probe{Kind: migrator.ProbeLiveness}
	code, _, _ := runProbe(t, p, "ZINIT_PID="+strconv.Itoa(os.Getpid()))
	assert.Equal(t, 0, code)
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	code, _, _ = runProbe(t, p, "ZINIT_PID="+strconv.Itoa(dead.Process.Pid))
	assert.NotEqual(t, 0, code, "a reaped pid is gone")
}

// startHelper runs the test binary as a hero service and returns its
// socket, HTTP port and pid. The process is continued and killed when the
// test ends.
func startHelper(t *testing.T) (string, int, int) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "helper.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=serve", "MIGRATOR_HELPER_SOCKET="+sock)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a stop is always undone
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var port int
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	_, err = fmt.Sscanf(line, "ready %d", &port)
	require.NoError(t, err, "helper said %q", line)
	return sock, port, cmd.Process.Pid
}

// stopProcess SIGSTOPs pid and waits until /proc shows it stopped (the
// effect probe of the fault).
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := zinit.PollUntil(ctx, clock.RealClock{}, 5*time.Millisecond, func(context.Context) (bool, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false, err
		}
		st := procState(string(b))
		return st == "T" || st == "t", nil
	})
	require.NoError(t, err, "pid %d never showed as stopped", pid)
}

func procState(stat string) string {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2 : i+3]
		}
	}
	return ""
}

func TestProbeString(t *testing.T) {
	for _, c := range []struct {
		p    migrator.Probe
		want string
	}{
		{migrator.Probe{Kind: migrator.ProbeSocket, Target: "/s.sock"}, "server.health over /s.sock"},
		{migrator.Probe{Kind: migrator.ProbeHTTP, Target: "http://127.0.0.1:8080/health"}, "GET http://127.0.0.1:8080/health"},
		{migrator.Probe{Kind: migrator.ProbeCommand, Target: "make health-check"}, "command: make health-check"},
		{migrator.Probe{Kind: migrator.ProbeLiveness}, "liveness only (kill -0)"},
		{migrator.Probe{Kind: migrator.ProbeNone}, "none"},
	} {
		assert.Equal(t, c.want, c.p.String())
	}
}
