package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"mvdan.cc/sh/v3/syntax"

	"github.com/zchaos/zchaos/scenarios"
)

// The CI examples of docs/ci are YAML their CI accepts in shape (checked
// here with a YAML decoder and the keys each CI requires), and every
// zchaos command their scripts run exists, with flags it has and values
// it accepts: each script is parsed as shell, and each zchaos call is
// found and parsed by the root command itself (Find, ParseFlags, Args).

var ghExpr = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// zchaosCalls parses script as POSIX shell and returns the argument lists
// of its zchaos calls (bin/zchaos, zchaos, sudo zchaos), with every
// expansion ($VAR, ${{ expr }}) standing in as "1".
func zchaosCalls(t *testing.T, where, script string) [][]string {
	t.Helper()
	script = ghExpr.ReplaceAllString(script, "1")
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), where)
	require.NoError(t, err, "%s: the script is valid shell:\n%s", where, script)
	var calls [][]string
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		var words []string
		for _, w := range call.Args {
			words = append(words, wordString(w.Parts))
		}
		if words[0] == "sudo" {
			words = words[1:]
		}
		if len(words) > 0 && filepath.Base(words[0]) == "zchaos" {
			calls = append(calls, words[1:])
		}
		return true
	})
	return calls
}

func wordString(parts []syntax.WordPart) string {
	var b strings.Builder
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			b.WriteString(wordString(p.Parts))
		default: // $VAR, ${VAR}, $(cmd), $((expr))
			b.WriteString("1")
		}
	}
	return b.String()
}

// resolveCommand resolves args against a fresh root command as cobra
// would and says what is wrong: an unknown command, flag or value.
func resolveCommand(args []string) (string, error) {
	root := newRootCmd(&Factory{IO: IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}})
	c, rest, err := root.Find(args)
	switch {
	case err != nil:
		return "", err
	case c == root || c.HasSubCommands():
		return "", fmt.Errorf("zchaos %v names no command", args)
	}
	if err := c.ParseFlags(rest); err != nil {
		return "", fmt.Errorf("flags: %w", err)
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		return "", fmt.Errorf("arguments: %w", err)
	}
	if fl := c.Flags().Lookup("shard"); fl != nil && fl.Changed {
		if _, err := scenarios.ParseShard(fl.Value.String()); err != nil {
			return "", err
		}
	}
	return strings.TrimPrefix(c.CommandPath(), "zchaos "), nil
}

func checkCommand(t *testing.T, where string, args []string) string {
	t.Helper()
	path, err := resolveCommand(args)
	require.NoError(t, err, "%s: zchaos %v", where, args)
	return path
}

// The check itself catches what a stale example would hold.
func TestResolveCommandRefusesStaleCalls(t *testing.T) {
	for _, args := range [][]string{
		{"gate", "--shards", "1/2"},
		{"gate", "--shard", "3/2"},
		{"gate", "--repeat", "two"},
		{"report", "--merge"},
		{"report", "a.json", "b.json"},
		{"imag", "build"},
		{"scenarios"},
	} {
		_, err := resolveCommand(args)
		assert.Error(t, err, "%v", args)
	}
	path, err := resolveCommand([]string{"report", "--merge", "a.json", "b.json", "--out", "x"})
	require.NoError(t, err)
	assert.Equal(t, "report", path)
}

func readCI(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "ci", name))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc), "%s is YAML (duplicate keys are errors)", name)
	return doc
}

func asMap(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "%s: want a mapping, got %T", what, v)
	return m
}

func asList(t *testing.T, v any, what string) []any {
	t.Helper()
	l, ok := v.([]any)
	require.True(t, ok, "%s: want a list, got %T", what, v)
	return l
}

func strs(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, x := range v {
			out = append(out, strs(x)...)
		}
	}
	return out
}

func TestCIExampleGitHubActions(t *testing.T) {
	doc := readCI(t, "github-actions.yml")
	require.Contains(t, doc, "on")
	env := asMap(t, doc["env"], "env")
	shards, err := strconv.Atoi(env["SHARDS"].(string))
	require.NoError(t, err)
	jobs := asMap(t, doc["jobs"], "jobs")
	commands := map[string]bool{}
	var uploads, uses []string
	for name, j := range jobs {
		job := asMap(t, j, name)
		require.Contains(t, job, "runs-on", name)
		for i, s := range asList(t, job["steps"], name+".steps") {
			step := asMap(t, s, name)
			_, isRun := step["run"]
			_, isUses := step["uses"]
			require.True(t, isRun != isUses, "%s.steps[%d]: exactly one of run and uses", name, i)
			if isUses {
				uses = append(uses, step["uses"].(string))
				if strings.HasPrefix(step["uses"].(string), "actions/upload-artifact@") {
					uploads = append(uploads, strings.Fields(strings.Join(strs(asMap(t, step["with"], "with")["path"]), "\n"))...)
				}
				continue
			}
			run := step["run"].(string)
			for _, args := range zchaosCalls(t, name, run) {
				commands[checkCommand(t, name, args)] = true
				if args[0] == "gate" {
					assert.Contains(t, run, `[ "$rc" -eq 4 ] || break`, "the gate is retried on exit 4 only")
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{"image build": true, "gate": true, "cleanup": true, "report": true}, commands)

	gate := asMap(t, jobs["gate"], "gate")
	matrix := asMap(t, asMap(t, gate["strategy"], "strategy")["matrix"], "matrix")
	var idx []int
	for _, v := range asList(t, matrix["shard"], "matrix.shard") {
		idx = append(idx, v.(int))
	}
	want := make([]int, shards)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, idx, "the matrix covers shards 1..SHARDS")
	assert.ElementsMatch(t, []any{"images", "gate"}, asMap(t, jobs["decide"], "decide")["needs"])
	assert.Contains(t, uploads, "zchaos-out/report.html")
	assert.Contains(t, uploads, "zchaos-out/forensics/")
	assert.True(t, slices.ContainsFunc(uses, func(u string) bool { return strings.Contains(u, "junit") }), "JUnit is published")
}

func TestCIExampleGitLab(t *testing.T) {
	doc := readCI(t, "gitlab-ci.yml")
	stages := strs(doc["stages"])
	require.NotEmpty(t, stages)
	reserved := map[string]bool{"stages": true, "variables": true, "default": true, "include": true, "workflow": true}
	commands := map[string]bool{}
	jobs := map[string]map[string]any{}
	for name, j := range doc {
		if reserved[name] || strings.HasPrefix(name, ".") {
			continue
		}
		job := asMap(t, j, name)
		jobs[name] = job
		assert.Contains(t, stages, job["stage"], "%s: its stage is declared", name)
		script := strs(job["script"])
		require.NotEmpty(t, script, "%s: a job needs a script", name)
		if ext, ok := job["extends"].(string); ok {
			require.Contains(t, doc, ext, "%s extends a template that exists", name)
		}
		// GitLab runs the lines in one shell, in order.
		for _, args := range zchaosCalls(t, name, strings.Join(script, "\n")) {
			commands[checkCommand(t, name, args)] = true
		}
	}
	assert.Equal(t, map[string]bool{"image build": true, "gate": true, "report": true}, commands)

	gate := jobs["zchaos-gate"]
	require.NotNil(t, gate)
	assert.GreaterOrEqual(t, gate["parallel"], 2, "parallel: N shards")
	retry := asMap(t, gate["retry"], "retry")
	assert.Equal(t, []any{4}, retry["exit_codes"], "retried on exit 4 only")
	assert.Contains(t, strings.Join(strs(gate["script"]), "\n"), `--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"`)

	decide := asMap(t, jobs["zchaos-decide"]["artifacts"], "artifacts")
	assert.Equal(t, "zchaos-out/merged/junit.xml", asMap(t, decide["reports"], "reports")["junit"])
	paths := strs(decide["paths"])
	assert.Contains(t, paths, "zchaos-out/merged/report.html")
	assert.Contains(t, paths, "zchaos-out/merged/forensics/")
}
