package migrator_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// fakeZinit is a stateful stand-in for the zinit CLI: it records every argv
// (NUL-separated, one file per call) and keeps services and jobs as files,
// failing like zinit on a duplicate add or a missing service, so running a
// script twice shows whether it is idempotent.
const fakeZinit = `#!/bin/sh
set -eu
d=$FAKE_ZINIT_DIR
n=$(cat "$d/count" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$d/count"
printf '%s\0' "$@" > "$d/calls/$(printf '%06d' "$n")"
case "$1 ${2:-}" in
"status "*) [ -e "$d/state/$2" ] ;;
"stop "*) [ -e "$d/state/$2" ] ;;
"start "*) [ -e "$d/state/$2" ] ;;
"add service") [ ! -e "$d/state/$3" ] || { echo "already exists" >&2; exit 2; }; mkdir "$d/state/$3" ;;
"remove service") [ -e "$d/state/$3" ] || { echo "not found" >&2; exit 2; }; rm -r "$d/state/$3" ;;
"add job")
  eval "svc=\${$(($#-1))}"; eval "job=\${$#}"
  [ -d "$d/state/$svc" ] || { echo "service not found" >&2; exit 2; }
  [ ! -e "$d/state/$svc/$job" ] || { echo "job already exists" >&2; exit 2; }
  printf '%s\0' "$@" > "$d/state/$svc/$job" ;;
*) echo "fake zinit: unknown command $*" >&2; exit 2 ;;
esac
`

type fakeCLI struct{ dir, bin string }

func newFakeCLI(t *testing.T) fakeCLI {
	t.Helper()
	d := t.TempDir()
	bin := filepath.Join(d, "bin")
	for _, sub := range []string{"bin", "calls", "state"} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, sub), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(bin, "zinit"), []byte(fakeZinit), 0o755))
	return fakeCLI{dir: d, bin: bin}
}

func (f fakeCLI) env() []string {
	return append(os.Environ(), "PATH="+f.bin+":"+os.Getenv("PATH"), "FAKE_ZINIT_DIR="+f.dir)
}

// calls returns the argv of every call since the last reset.
func (f fakeCLI) calls(t *testing.T) [][]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.dir, "calls"))
	require.NoError(t, err)
	var out [][]string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.dir, "calls", e.Name()))
		require.NoError(t, err)
		argv := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		out = append(out, append([]string{"zinit"}, argv...))
	}
	return out
}

func (f fakeCLI) reset(t *testing.T) {
	require.NoError(t, os.RemoveAll(filepath.Join(f.dir, "calls")))
	require.NoError(t, os.MkdirAll(filepath.Join(f.dir, "calls"), 0o755))
}

// state lists service/job → recorded add argv.
func (f fakeCLI) state(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(f.dir, "state")
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if info.IsDir() {
			out[rel] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	}))
	return out
}

func runScript(t *testing.T, f fakeCLI, script []byte) {
	t.Helper()
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = bytes.NewReader(script)
	cmd.Env = f.env()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "script failed: %s", out)
}

func addCalls(calls [][]string) [][]string {
	var out [][]string
	for _, c := range calls {
		if c[1] == "add" {
			out = append(out, c)
		}
	}
	return out
}

// The script reaches zinit with every argument byte for byte (quotes, $,
// backticks, backslashes, newlines), and a second run leaves the same state.
func TestScriptRoundTrip(t *testing.T) {
	for _, dir := range []string{"quoting", "yaml", "lifecycle"} {
		t.Run(dir, func(t *testing.T) {
			p, err := migrator.BuildPlan(messy(t, dir), migrator.DefaultPolicy())
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, migrator.WriteScript(&buf, p))
			script := buf.Bytes()
			assert.True(t, bytes.HasPrefix(script, []byte("#!/bin/sh\n")))
			assert.Contains(t, string(script), "\nset -eu\n")
			s := p.Script()

			f := newFakeCLI(t)
			runScript(t, f, script)
			first := f.calls(t)
			assert.Equal(t, s.Add, addCalls(first), "every add argv arrives intact")
			assert.Equal(t, s.Start, first[len(first)-len(s.Start):], "the script ends by starting each service")
			state1 := f.state(t)

			f.reset(t)
			runScript(t, f, script)
			assert.Equal(t, state1, f.state(t), "running it twice leaves the same state")
			assert.Equal(t, s.Add, addCalls(f.calls(t)))
		})
	}
	t.Run("exec value survives", func(t *testing.T) {
		p, err := migrator.BuildPlan(messy(t, "quoting"), migrator.DefaultPolicy())
		require.NoError(t, err)
		main, _ := p.Services[0].Job("main")
		assert.Equal(t, "cd '/tmp/dir with space' || exit 1; "+messy(t, "quoting").Files[0].Exec, main.Exec)
		assert.Equal(t, "say \"hi\" it's $USER and `whoami`", main.Env["GREETING"])
	})
}

func TestScriptFleet(t *testing.T) {
	p := fleetPlan(t)
	s := p.Script()
	assert.Len(t, s.Remove, 2*migrator.FleetSize, "health units and services")
	assert.Len(t, s.Start, migrator.FleetSize)
	jobs := 0
	for _, sp := range p.Services {
		jobs += len(sp.Jobs)
	}
	assert.Len(t, s.Add, migrator.FleetSize+jobs)
	// The seed's syntax: flags first, then <service> <job_name>.
	main, _ := p.Lookup("user.hero_embedder_server").Job("main")
	assert.Equal(t, []string{"zinit", "add", "job", "--exec", main.Exec, "--trigger", "start", "--restart", "on-failure",
		"--restart-delay", "5000", "--max-restarts", "20", "-e", "HERO_ENV=dev", "-e", "RUST_LOG=info", "--persist",
		"user.hero_embedder_server", "main"}, main.Argv())
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var back migrator.Script
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, s, back)
	var buf bytes.Buffer
	require.NoError(t, migrator.WriteScript(&buf, p))
	assert.Equal(t, 2*migrator.FleetSize, strings.Count(buf.String(), " status "), "every unit guarded")
	assert.Equal(t, len(s.Add), strings.Count(buf.String(), "\nzinit add "))
	assert.True(t, strings.HasSuffix(buf.String(), zinit.CommandLine(s.Start[len(s.Start)-1])+"\n"), "ends by starting")
}
