package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/zinittest"
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

// startFakeDaemon serves a handler per method (see zinittest.Methods: a
// missing handler answers null, a nil one never answers).
func startFakeDaemon(t *testing.T, handlers map[string]func(zinit.Request) (any, error)) *zinittest.FakeDaemon {
	t.Helper()
	return zinittest.StartFake(t, zinittest.Methods(handlers))
}

// daemonEnv is the environment that points the CLI at d.
func daemonEnv(d *zinittest.FakeDaemon) map[string]string {
	return map[string]string{"ZINIT_SOCKET": d.Socket}
}

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
