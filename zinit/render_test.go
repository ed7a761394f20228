package zinit_test

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

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

// seedHealthExec is the seed's check command after the shell has read its
// double-quoted --exec word (the backslash-newline is a line continuation,
// the indentation of the next line stays).
const seedHealthExec = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}'     | socat - UNIX-CONNECT:/root/hero/var/sockets/hero_embedder_server.sock`

func TestJobArgvSeedStartLine(t *testing.T) {
	j, err := zinit.NewJob("user.hero_embedder_server", "main").
		Exec("/root/hero/bin/hero_embedder_server serve").
		Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure).
		RestartDelay(5 * time.Second).MaxRestarts(20).Build()
	require.NoError(t, err)
	// The seed's line, word for word, as a shell splits it.
	assert.Equal(t, []string{
		"zinit", "add", "job", "--exec", "/root/hero/bin/hero_embedder_server serve",
		"--trigger", "start", "--restart", "on-failure", "--restart-delay", "5000", "--max-restarts", "20",
		"user.hero_embedder_server", "main",
	}, j.Argv())
}

func TestJobArgvSeedCheckLine(t *testing.T) {
	j, err := zinit.NewJob("user.hero_embedder_server", "check").
		Trigger(zinit.TriggerCheck).Interval(60 * time.Second).Timeout(30 * time.Second).
		Exec(seedHealthExec).Build()
	require.NoError(t, err)
	// Same words as the seed's line; our fixed order puts --exec first.
	assert.Equal(t, []string{
		"zinit", "add", "job", "--exec", seedHealthExec,
		"--trigger", "check", "--interval-ms", "60000", "--timeout-ms", "30000",
		"user.hero_embedder_server", "check",
	}, j.Argv())
}

func TestJobArgvEveryFlag(t *testing.T) {
	j := zinit.Job{
		Service: "svc", Name: "main", Exec: "run", Trigger: zinit.TriggerStart,
		Env:     map[string]string{"Z": "last", "A": "first one", "M": ""},
		Restart: zinit.RestartAlways, RestartDelay: 1500 * time.Microsecond, MaxRestarts: 3,
		Interval: 0, Timeout: 0, Persist: true,
	}
	assert.Equal(t, []string{
		"zinit", "add", "job", "--exec", "run", "--trigger", "start", "--restart", "always",
		"--restart-delay", "2", "--max-restarts", "3",
		"-e", "A=first one", "-e", "M=", "-e", "Z=last", "--persist", "svc", "main",
	}, j.Argv())
}

func TestJobArgvOmitsNotGiven(t *testing.T) {
	j := zinit.Job{Service: "svc", Name: "stop", Exec: "true", Trigger: zinit.TriggerStop}
	assert.Equal(t, []string{"zinit", "add", "job", "--exec", "true", "--trigger", "stop", "svc", "stop"}, j.Argv())
}

func TestMillis(t *testing.T) {
	cases := map[time.Duration]int64{
		0: 0, time.Microsecond: 1, 499 * time.Microsecond: 1, 1499 * time.Microsecond: 1,
		1500 * time.Microsecond: 2, 5 * time.Second: 5000, -time.Millisecond: -1,
	}
	for d, want := range cases {
		assert.Equal(t, want, zinit.Millis(d), "Millis(%v)", d)
	}
}

func TestServiceArgv(t *testing.T) {
	s, err := zinit.NewService("user.b").Persist().After("user.a", "user.0").Build()
	require.NoError(t, err)
	assert.Equal(t, []string{"zinit", "add", "service", "user.b", "--persist", "--after", "user.a", "--after", "user.0"}, s.Argv())
	assert.Equal(t, []string{"zinit", "add", "service", "x"}, zinit.Service{Name: "x"}.Argv())
}

func TestShellQuote(t *testing.T) {
	cases := map[string]string{
		"":                     "''",
		"user.hero_embedder":   "user.hero_embedder",
		"--restart-delay":      "--restart-delay",
		"/a/b:c,d+e@f%g":       "/a/b:c,d+e@f%g",
		"a b":                  "'a b'",
		"it's":                 `'it'\''s'`,
		"K=V":                  "'K=V'",
		"~root":                "'~root'",
		"if":                   "'if'",
		"$HOME":                "'$HOME'",
		"line\nbreak":          "'line\nbreak'",
		"'":                    `''\'''`,
		"#comment":             "'#comment'",
		"é":                    "'é'",
		"a*":                   "'a*'",
		"{":                    "'{'",
		"-e":                   "-e",
		"back\\slash`tick`\"q": "'back\\slash`tick`\"q'",
	}
	for in, want := range cases {
		assert.Equal(t, want, zinit.ShellQuote(in), "ShellQuote(%q)", in)
	}
}

// nastyArgs are the values the quoting must carry through a real shell.
var nastyArgs = []string{
	"plain", "with space", "  leading and trailing  ", "it's", `"double"`, "$HOME", "${HOME}",
	"$(echo pwned)", "`echo pwned`", `back\slash`, `\`, `\\n`, "new\nline", "\n", "tab\there",
	"ünïcødé ✓ 日本", "", "'", "''", `'\''`, "K=V", "~", "~root", "#", "a;b", "a|b", "a&b",
	"*", "?", "[a]", "!", "if", "{", "}", "-e", "--exec", "\r\n", "\xff\xfe invalid utf-8",
	seedHealthExec,
}

func TestRenderScriptRoundTripsThroughSh(t *testing.T) {
	steps := [][]string{
		append([]string{"zinit"}, nastyArgs...),
		{"zinit"},
		{"zinit", ""},
		{"zinit", "add", "job", "--exec", seedHealthExec, "svc", "check"},
	}
	got := runScript(t, steps)
	assert.Equal(t, steps, got)
}

func TestRenderScriptGolden(t *testing.T) {
	j, err := zinit.NewJob("user.hero_embedder_server", "check").
		Trigger(zinit.TriggerCheck).Interval(60*time.Second).Timeout(30*time.Second).
		Exec(seedHealthExec).Env("RUST_LOG", "info").Build()
	require.NoError(t, err)
	s := zinit.Service{Name: "user.hero_embedder_server"}
	var buf bytes.Buffer
	require.NoError(t, zinit.RenderScript(&buf, [][]string{s.Argv(), j.Argv(), {"zinit", "start", s.Name}},
		zinit.ScriptOptions{Header: []string{"generated for a test", "two\nlines"}}))
	g := goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "script", buf.Bytes())
}

func TestRenderScriptRejects(t *testing.T) {
	var buf bytes.Buffer
	err := zinit.RenderScript(&buf, [][]string{{"zinit", "a\x00b"}}, zinit.ScriptOptions{})
	require.ErrorIs(t, err, zinit.ErrNulInArgument)
	assert.Zero(t, buf.Len(), "nothing written on error")

	err = zinit.RenderScript(&buf, [][]string{{"zinit"}, {}}, zinit.ScriptOptions{})
	require.Error(t, err)
	assert.Zero(t, buf.Len(), "nothing written on error")
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range nastyArgs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("no process argument can hold a NUL byte")
		}
		steps := [][]string{{"zinit", s, s + "x", "y" + s}}
		got := runScript(t, steps)
		if len(got) != 1 || len(got[0]) != 4 || got[0][1] != s || got[0][2] != s+"x" || got[0][3] != "y"+s {
			t.Fatalf("ShellQuote(%q) = %s read back as %q", s, zinit.ShellQuote(s), got)
		}
	})
}

// stubZinit is a zinit that prints its argc then each argument, each
// followed by a NUL byte.
const stubZinit = `#!/bin/sh
printf '%s\0' "$#"
for a in "$@"; do printf '%s\0' "$a"; done
`

// runScript renders steps, runs the script with /bin/sh and a stub zinit
// first on PATH, and returns the argv each step's zinit received.
func runScript(t testing.TB, steps [][]string) [][]string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zinit"), []byte(stubZinit), 0o755))
	script := filepath.Join(dir, "script.sh")
	var buf bytes.Buffer
	require.NoError(t, zinit.RenderScript(&buf, steps, zinit.ScriptOptions{Header: []string{"test"}}))
	require.NoError(t, os.WriteFile(script, buf.Bytes(), 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", script)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "HOME=/nonexistent-home"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "script:\n%s\nstderr: %s", buf.String(), stderr.String())

	fields := strings.Split(string(out), "\x00")
	require.Equal(t, "", fields[len(fields)-1], "output ends with NUL")
	fields = fields[:len(fields)-1]
	var got [][]string
	for len(fields) > 0 {
		n, err := strconv.Atoi(fields[0])
		require.NoError(t, err, "argc field %q", fields[0])
		require.LessOrEqual(t, n, len(fields)-1)
		got = append(got, append([]string{"zinit"}, fields[1:1+n]...))
		fields = fields[1+n:]
	}
	return got
}

func TestSplitWords(t *testing.T) {
	for _, c := range []struct {
		in       string
		want     []string
		complete bool
	}{
		{"herosim serve --name x", []string{"herosim", "serve", "--name", "x"}, true},
		{"  a\tb\nc  ", []string{"a", "b", "c"}, true},
		{`herosim serve --name 'x y' --flag "a\"b"`, []string{"herosim", "serve", "--name", "x y", "--flag", `a"b`}, true},
		{`'it'\''s' "\$HOME \x" \$ \\`, []string{"it's", `$HOME \x`, "$", `\`}, true},
		{`'' "" a''b`, []string{"", "", "ab"}, true},
		{"a \\\n b \"c\\\nd\" 'e\\\nf'", []string{"a", "b", "cd", "e\\\nf"}, true},
		{`echo x | socat - UNIX-CONNECT:/s.sock`, []string{"echo", "x", "|", "socat", "-", "UNIX-CONNECT:/s.sock"}, true},
		{`trailing\`, []string{`trailing\`}, true},
		{`open 'quote and more`, []string{"open", "quote and more"}, false},
		{`open "dq \" more`, []string{"open", `dq " more`}, false},
		{"", nil, true},
	} {
		words, complete := zinit.SplitWords(c.in)
		assert.Equal(t, c.want, words, "%q", c.in)
		assert.Equal(t, c.complete, complete, "%q", c.in)
	}
}

// SplitWords splits as /bin/sh does, on lines with nothing to expand.
func TestSplitWordsAgreesWithShell(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zinit"), []byte(stubZinit), 0o755))
	for _, line := range []string{
		`serve --name 'x y' --flag "a\"b" c\ d`,
		`'it'\''s' "\\ \x \"" \\ '\'`,
		"multi \\\n line \"con\\\ntinued\" 'kept\\\nhere'",
		`'' "" a''b "a"'b'c`,
		"tab\tand  spaces",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "zinit "+line)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.Output()
		cancel()
		require.NoError(t, err, line)
		fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		words, complete := zinit.SplitWords(line)
		assert.True(t, complete, line)
		assert.Equal(t, fields[1:], words, "%q", line)
	}
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range nastyArgs {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		argv := []string{"zinit", a, b, a + b}
		words, complete := zinit.SplitWords(zinit.CommandLine(argv))
		if !complete || !assert.Equal(t, argv, words) {
			t.Fatalf("SplitWords(CommandLine(%q)) = %q, %v", argv, words, complete)
		}
	})
}
