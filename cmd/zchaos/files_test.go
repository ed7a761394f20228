package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

// hangGuard bounds a command that must not block: a regression that
// blocks on a FIFO fails the test with its name instead of hanging it
// until go test's timeout. It is a liveness bound, not a speed figure.
const hangGuard = 30 * time.Second

// runNoHang is runZchaosCLI, failing the test if the command has not
// returned within hangGuard.
func runNoHang(t *testing.T, args ...string) cliRun {
	t.Helper()
	done := make(chan cliRun, 1)
	go func() {
		var r cliRun
		defer func() { done <- r }()
		r = runZchaosCLI(t, false, "", args...)
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(hangGuard):
		t.Fatalf("zchaos %s blocked for %v", strings.Join(args, " "), hangGuard)
		return cliRun{}
	}
}

// TestInputFilesNeverBlock: every file a user names to zchaos (a scenario,
// a policy, a result, a legacy config file) that is a FIFO without a
// writer, a device or over its size limit is refused at once with one
// line naming the path as given and exit 3; the file is left as it was.
func TestInputFilesNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	tomlFifo := filepath.Join(dir, "pipe.toml")
	require.NoError(t, unix.Mkfifo(tomlFifo, 0o600))
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("name: x\n#"+strings.Repeat("x", scenarios.MaxFileBytes)+"\n"), 0o600))
	bigPolicy := filepath.Join(dir, "big-policy.yaml")
	require.NoError(t, os.WriteFile(bigPolicy, []byte("defaults: {}\n#"+strings.Repeat("x", migrator.MaxPolicyFileBytes)+"\n"), 0o600))

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"scenarios", "validate", fifo}, fifo + ": not a regular file (a FIFO)\nzchaos: invalid scenario files: 1 of 1\n"},
		{[]string{"scenarios", "validate", "/dev/zero"}, "/dev/zero: not a regular file (a character device)\nzchaos: invalid scenario files: 1 of 1\n"},
		{[]string{"scenarios", "validate", big}, big + ": file too large: 1048586 bytes, the limit is 1048576\nzchaos: invalid scenario files: 1 of 1\n"},
		{[]string{"scenarios", "validate", filepath.Join(dir, "absent.yaml")}, filepath.Join(dir, "absent.yaml") + ": no such file or directory\nzchaos: invalid scenario files: 1 of 1\n"},
		{[]string{"run", fifo}, "zchaos: " + fifo + ": not a regular file (a FIFO)\n"},
		{[]string{"run", "/dev/zero"}, "zchaos: /dev/zero: not a regular file (a character device)\n"},
		{[]string{"report", fifo}, "zchaos: " + fifo + ": not a regular file (a FIFO)\n"},
		{[]string{"lint", fleetDir, "--policy", fifo}, "zchaos: " + fifo + ": invalid policy: not a regular file (a FIFO)\n"},
		{[]string{"migrate", "plan", fleetDir, "--policy", bigPolicy}, "zchaos: " + bigPolicy + ": invalid policy: file too large: 1048591 bytes, the limit is 1048576\n"},
		{[]string{"migrate", "plan", fleetDir, "--policy", filepath.Join(dir, "absent.yaml")}, "zchaos: " + filepath.Join(dir, "absent.yaml") + ": invalid policy: open: no such file or directory\n"},
		{[]string{"gate", "--config", fleetDir, "--policy", "/dev/zero"}, "zchaos: /dev/zero: invalid policy: not a regular file (a character device)\n"},
	} {
		r := runNoHang(t, tc.args...)
		assert.Equal(t, exitUsage, r.code, tc.args)
		assert.Equal(t, tc.err, r.err, tc.args)
		assert.Empty(t, r.out, tc.args)
	}
	for _, p := range []string{fifo, tomlFifo} {
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		assert.Equal(t, os.ModeNamedPipe, fi.Mode().Type(), "%s left as it was", p)
	}
}

// TestLintSkipsAFIFOConfigFile: a FIFO or an oversized file among the
// legacy config files is one file's parse error, found at once; every
// other service is still linted and planned around it (nothing lost), and
// the TOML limit is the daemon's request limit.
func TestLintSkipsAFIFOConfigFile(t *testing.T) {
	dir := t.TempDir()
	entries, err := os.ReadDir(fleetDir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(fleetDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	require.NoError(t, unix.Mkfifo(filepath.Join(dir, "zz_pipe.toml"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zz_big.toml"),
		[]byte("[service]\nexec = \"x\"\n#"+strings.Repeat("x", migrator.MaxConfigFileBytes)+"\n"), 0o644))

	r := runNoHang(t, "lint", dir)
	assert.Equal(t, exitFail, r.code, r.err)
	assert.Contains(t, r.out, "  error\tparse-error\t"+filepath.Join(dir, "zz_pipe.toml")+"\tnot a regular file (a FIFO)\n")
	assert.Contains(t, r.out, "  error\tparse-error\t"+filepath.Join(dir, "zz_big.toml")+"\tfile too large: 1048599 bytes, the limit is 1048576\n")
	assert.Contains(t, r.out, "29 services, 29 health files, 2 unparsed (60 files)")

	p := runNoHang(t, "migrate", "plan", dir)
	assert.Equal(t, exitUsage, p.code)
	assert.Equal(t, "zchaos: "+filepath.Join(dir, "zz_big.toml")+": file too large: 1048599 bytes, the limit is 1048576\n"+
		"zchaos: "+filepath.Join(dir, "zz_pipe.toml")+": not a regular file (a FIFO)\n"+
		"zchaos: plan "+dir+": 2 problems, nothing done\n", p.err)
}

// TestMissingDirNamesThePathGiven: a config dir that does not exist is
// named as the user typed it (not "open .").
func TestMissingDirNamesThePathGiven(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{{"lint", missing}, {"migrate", "plan", missing}, {"migrate", "render", missing}} {
		r := runNoHang(t, args...)
		assert.Equal(t, exitUsage, r.code, args)
		assert.Equal(t, "zchaos: "+missing+": read legacy config dir: open: no such file or directory\n", r.err, args)
	}
}

// TestLintFlagsExecOverTheLimits: the 1 MB exec and a 200 KB one
// are over the kernel's one-argument limit; lint says so as an error with
// the file and line, plan refuses with exit 3 before any daemon sees it;
// the other service is linted as usual.
func TestLintFlagsExecOverTheLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, exec string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("[service]\nname = \""+strings.TrimSuffix(name, ".toml")+
			"\"\nexec = \""+exec+"\"\n[lifecycle]\nrestart = \"on-failure\"\n"), 0o644))
	}
	write("huge.toml", "/bin/echo "+strings.Repeat("x", 1_000_000))
	write("long.toml", "/bin/echo "+strings.Repeat("x", 200_000))
	write("ok.toml", "/bin/sleep 100")

	r := runNoHang(t, "lint", dir)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.out, "  error\texec-too-long\t"+filepath.Join(dir, "huge.toml")+":3\texec is 1000010 bytes; the kernel passes at most 131071 bytes in one argument (MAX_ARG_STRLEN): `zinit add job --exec` cannot pass it, nor zinit run it (sh -c)\n")
	assert.Contains(t, r.out, "  error\texec-too-long\t"+filepath.Join(dir, "long.toml")+":3\texec is 200010 bytes;")
	assert.NotContains(t, r.out, "ok.toml:3")

	p := runNoHang(t, "migrate", "plan", dir)
	assert.Equal(t, exitUsage, p.code)
	assert.Contains(t, p.err, "zchaos: "+filepath.Join(dir, "huge.toml")+":3: huge: value cannot be passed to zinit: exec is 1000010 bytes;")
	assert.Contains(t, p.err, "zchaos: plan "+dir+": 2 problems, nothing done\n")
	assert.Empty(t, p.out)
}
