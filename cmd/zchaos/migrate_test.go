package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

const (
	fleetDir = "../../migrator/testdata/fleet"
	messyDir = "../../migrator/testdata/messy"
)

func TestMigrateHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"lint_help":             {"lint", "--help"},
		"migrate_help":          {"migrate", "--help"},
		"migrate_plan_help":     {"migrate", "plan", "--help"},
		"migrate_render_help":   {"migrate", "render", "--help"},
		"migrate_apply_help":    {"migrate", "apply", "--help"},
		"migrate_rollback_help": {"migrate", "rollback", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", args...)
			require.Equal(t, exitPass, r.code, r.err)
			cliGolden(t).Assert(t, name, []byte(r.out))
		})
	}
}

func TestLintGolden(t *testing.T) {
	r := runZchaosCLI(t, false, "", "lint", fleetDir)
	assert.Equal(t, exitFail, r.code, "the legacy fleet has error findings")
	assert.Empty(t, r.err)
	cliGolden(t).Assert(t, "lint_fleet", []byte(r.out))

	j := runZchaosCLI(t, false, "", "lint", fleetDir, "--json")
	assert.Equal(t, exitFail, j.code)
	var rep migrator.LintReport
	require.NoError(t, json.Unmarshal([]byte(j.out), &rep))
	assert.Equal(t, migrator.FleetSize, rep.Summary.Services)
	cliGolden(t).Assert(t, "lint_fleet_json", []byte(j.out))

	tty := runZchaosCLI(t, true, "", "lint", filepath.Join(messyDir, "yaml"))
	assert.Equal(t, exitFail, tty.code)
	cliGolden(t).Assert(t, "lint_yaml_tty", []byte(tty.out))

	messy := runZchaosCLI(t, false, "", "lint", filepath.Join(messyDir, "malformed-toml"))
	assert.Equal(t, exitFail, messy.code)
	cliGolden(t).Assert(t, "lint_malformed", []byte(messy.out))

	clean := runZchaosCLI(t, false, "", "lint", filepath.Join(messyDir, "lifecycle"))
	assert.Equal(t, exitPass, clean.code, "no error finding: exit 0")

	missing := runZchaosCLI(t, false, "", "lint", filepath.Join(t.TempDir(), "nope"))
	assert.Equal(t, exitUsage, missing.code)
	assert.Equal(t, 1, strings.Count(missing.err, "\n"), "one clear line: %q", missing.err)
}

func TestMigratePlanGolden(t *testing.T) {
	r := runZchaosCLI(t, false, "", "migrate", "plan", fleetDir, "--json")
	require.Equal(t, exitPass, r.code, r.err)
	var p migrator.Plan
	require.NoError(t, json.Unmarshal([]byte(r.out), &p))
	assert.Len(t, p.Services, migrator.FleetSize)
	cliGolden(t).Assert(t, "migrate_plan_fleet_json", []byte(r.out))

	text := runZchaosCLI(t, false, "", "migrate", "plan", filepath.Join(messyDir, "yaml"))
	require.Equal(t, exitPass, text.code, text.err)
	cliGolden(t).Assert(t, "migrate_plan_yaml", []byte(text.out))

	scaled := runZchaosCLI(t, false, "", "migrate", "plan", fleetDir, "--json", "--time-scale", "0.05")
	require.Equal(t, exitPass, scaled.code, scaled.err)
	var sp migrator.Plan
	require.NoError(t, json.Unmarshal([]byte(scaled.out), &sp))
	assert.Equal(t, 0.05, sp.TimeScale)
	j, _ := sp.Lookup("user.hero_books_server").Job("check")
	assert.Equal(t, 3*time.Second, j.Interval)
}

func TestMigratePlanBadInput(t *testing.T) {
	cyc := runZchaosCLI(t, false, "", "migrate", "plan", filepath.Join(messyDir, "cycle"))
	assert.Equal(t, exitUsage, cyc.code)
	lines := strings.Split(strings.TrimSpace(cyc.err), "\n")
	require.Len(t, lines, 5, cyc.err)
	for _, l := range lines[:4] {
		assert.Regexp(t, `^zchaos: \.\./\.\./migrator/testdata/messy/cycle/\w+\.toml:\d+: `, l)
		assert.Contains(t, l, "dependency cycle")
	}
	assert.Contains(t, lines[4], "4 problems, nothing done")

	for _, dir := range []string{"malformed-toml", "malformed-yaml", "duplicate", "missing-dep", "badname", "longsocket", "wrongtype"} {
		r := runZchaosCLI(t, false, "", "migrate", "plan", filepath.Join(messyDir, dir))
		assert.Equal(t, exitUsage, r.code, dir)
		assert.Empty(t, r.out, dir)
		assert.Contains(t, r.err, "testdata/messy/"+dir+"/", dir)
	}
	bad := runZchaosCLI(t, false, "", "migrate", "plan", fleetDir, "--policy", filepath.Join(t.TempDir(), "nope.yaml"))
	assert.Equal(t, exitUsage, bad.code)
}

func TestMigrateRenderGolden(t *testing.T) {
	r := runZchaosCLI(t, false, "", "migrate", "render", fleetDir)
	require.Equal(t, exitPass, r.code, r.err)
	cliGolden(t).Assert(t, "migrate_render_fleet_script", []byte(r.out))

	q := runZchaosCLI(t, false, "", "migrate", "render", filepath.Join(messyDir, "quoting"), "-o", "script")
	require.Equal(t, exitPass, q.code, q.err)
	cliGolden(t).Assert(t, "migrate_render_quoting_script", []byte(q.out))

	j := runZchaosCLI(t, false, "", "migrate", "render", filepath.Join(messyDir, "quoting"), "-o", "json")
	require.Equal(t, exitPass, j.code, j.err)
	var s migrator.Script
	require.NoError(t, json.Unmarshal([]byte(j.out), &s))
	cliGolden(t).Assert(t, "migrate_render_quoting_json", []byte(j.out))

	bad := runZchaosCLI(t, false, "", "migrate", "render", fleetDir, "-o", "yaml")
	assert.Equal(t, exitUsage, bad.code)
	assert.Contains(t, bad.err, `unknown format "yaml": want script, json`)

	// The older --format still works, and says it is deprecated on stderr only.
	old := runZchaosCLI(t, false, "", "migrate", "render", filepath.Join(messyDir, "quoting"), "--format", "json")
	require.Equal(t, exitPass, old.code, old.err)
	assert.Equal(t, j.out, old.out)
	assert.Equal(t, "zchaos: --format is deprecated: use -o/--output\n", old.err)
}

func TestMigrateApplyUsage(t *testing.T) {
	none := runZchaosCLI(t, false, "", "migrate", "apply", fleetDir)
	assert.Equal(t, exitUsage, none.code, "a target is required")
	both := runZchaosCLI(t, false, "", "migrate", "apply", fleetDir, "--socket", "/x", "--container", "y")
	assert.Equal(t, exitUsage, both.code)
	noBackup := runZchaosCLI(t, false, "", "migrate", "rollback", "--socket", "/x")
	assert.Equal(t, exitUsage, noBackup.code)

	sock := filepath.Join(t.TempDir(), "zinit.sock")
	down := runZchaosCLI(t, false, "", "migrate", "apply", fleetDir, "--socket", sock)
	assert.Equal(t, exitInfra, down.code)
	assert.Contains(t, down.err, "zinit is not running")
	assert.Contains(t, down.err, sock)
	assert.Equal(t, 1, strings.Count(down.err, "\n"), "one clear line: %q", down.err)
}

// apply, apply again (zero changes), rollback, through the CLI against the
// reference daemon running in-process (zinittest.StartSupervisor).
func TestMigrateApplyRollbackCLI(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(root, "etc-zinit")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	hs := filepath.Join(root, "herosim")
	require.NoError(t, os.WriteFile(hs, []byte("#!/bin/sh\ncase \"$1\" in serve) exec sleep 300 ;; *) exit 0 ;; esac\n"), 0o755))
	orig := map[string]string{}
	require.NoError(t, fs.WalkDir(migrator.FleetFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrator.FleetFS(), p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/herosim", hs)
		orig[p] = s
		return os.WriteFile(filepath.Join(cfg, p), []byte(s), 0o644)
	}))
	sock := zinittest.StartSupervisor(t, supervisor.Config{ConfigDir: cfg, StateDir: filepath.Join(root, "state")}).Socket
	backups := filepath.Join(root, "backups")

	dry := runZchaosCLI(t, false, "", "migrate", "apply", cfg, "--socket", sock, "--backup-root", backups, "--dry-run")
	require.Equal(t, exitPass, dry.code, dry.err)
	assert.Contains(t, dry.out, "would apply (dry run)")

	first := runZchaosCLI(t, false, "", "migrate", "apply", cfg, "--socket", sock, "--backup-root", backups, "--json")
	require.Equal(t, exitPass, first.code, first.err)
	var rep migrator.ApplyReport
	require.NoError(t, json.Unmarshal([]byte(first.out), &rep))
	assert.NotEmpty(t, rep.Changes)
	require.NotEmpty(t, rep.Backup)
	entries, err := os.ReadDir(cfg)
	require.NoError(t, err)
	assert.Empty(t, entries)

	second := runZchaosCLI(t, false, "", "migrate", "apply", filepath.Join(rep.Backup, "files"), "--config-dir", cfg, "--socket", sock, "--backup-root", backups)
	require.Equal(t, exitPass, second.code, second.err)
	assert.Contains(t, second.out, "applied 0 changes")

	rb := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--socket", sock)
	require.Equal(t, exitPass, rb.code, rb.err)
	assert.Contains(t, rb.out, "rolled back")
	for name, body := range orig {
		b, err := os.ReadFile(filepath.Join(cfg, name))
		require.NoError(t, err)
		assert.Equal(t, body, string(b), name)
	}
}

// TestUsageMistakesExit3: a mistyped command, an unknown subcommand and a
// lint of a directory with no service files are the user's mistakes: exit
// 3 with one clear line, never "infrastructure, safe to retry".
func TestUsageMistakesExit3(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"lnt"}, "zchaos: unknown command \"lnt\" for \"zchaos\"; did you mean lint?\n"},
		{[]string{"migrate", "aply"}, "zchaos: unknown command \"aply\" for \"zchaos migrate\"; did you mean apply?\n"},
		{[]string{"scenarios", "bogus"}, "zchaos: unknown command \"bogus\" for \"zchaos scenarios\"\n"},
		{[]string{"lint", empty}, "zchaos: " + empty + ": no service files (*.toml, *.yaml, *.yml) to lint\n"},
	} {
		r := runZchaosCLI(t, false, "", tc.args...)
		assert.Equal(t, exitUsage, r.code, tc.args)
		assert.Equal(t, tc.err, r.err, tc.args)
		assert.Empty(t, r.out, tc.args)
	}
	r := runZchaosCLI(t, false, "", "migrate")
	assert.Equal(t, exitPass, r.code, "a bare group prints its help")
	assert.Contains(t, r.out, "Available Commands")
}
