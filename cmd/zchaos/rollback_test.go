package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// The scenario: `migrate apply fleet` (a relative DIR), then
// `migrate rollback --backup /abs/…` from another directory. Apply now
// records the config dir absolute, so rollback from anywhere restores into
// the dir the files came from and nowhere else. A manifest written by an
// older zchaos (config_dir "fleet") is refused with a clear error and
// nothing is touched; --config-dir places it. --dry-run prints the whole
// plan and changes nothing.
func TestMigrateRollbackFromAnotherDirectory(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(root, "fleet")
	orig, sock := fleetUnderSupervisor(t, root, cfg)
	other := t.TempDir()

	t.Chdir(root)
	ap := runZchaosCLI(t, false, "", "migrate", "apply", "fleet", "--socket", sock, "--json")
	require.Equal(t, exitPass, ap.code, ap.err)
	var rep migrator.ApplyReport
	require.NoError(t, json.Unmarshal([]byte(ap.out), &rep))
	require.True(t, filepath.IsAbs(rep.Backup), rep.Backup)
	assert.Equal(t, filepath.Join(root, "fleet.zchaos-backup"), filepath.Dir(rep.Backup))
	manifestFile := filepath.Join(rep.Backup, migrator.ManifestName)
	raw, err := os.ReadFile(manifestFile)
	require.NoError(t, err)
	var m migrator.Manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, migrator.ManifestVersion, m.Version)
	assert.Equal(t, cfg, m.ConfigDir, "the manifest holds the absolute config dir")
	assert.Equal(t, "socket "+sock, m.Target)
	migratedBefore := serviceNames(t, sock)
	require.Len(t, migratedBefore.migrated, migrator.FleetSize)

	t.Chdir(other)
	// A manifest of an older zchaos, as the issue found it.
	old := m
	old.Version, old.ConfigDir, old.Target = 1, "fleet", ""
	oldRaw, err := json.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(manifestFile, oldRaw, 0o600))
	backupBefore := readTree(t, rep.Backup)

	for _, dry := range []bool{false, true} {
		args := []string{"migrate", "rollback", "--backup", rep.Backup, "--socket", sock}
		if dry {
			args = append(args, "--dry-run")
		}
		r := runZchaosCLI(t, false, "", args...)
		assert.Equal(t, exitUsage, r.code, "refused, dry run %v", dry)
		assert.Equal(t, "zchaos: "+manifestFile+`: config_dir: backup does not belong to this target: the config dir "fleet" is relative to the directory apply ran in (a manifest of an older zchaos), which rollback cannot know: give zinit's config dir as an absolute path (--config-dir); nothing changed`+"\n", r.err)
		assert.Empty(t, r.out, "nothing planned, nothing printed")
	}
	assertUntouched := func(what string) {
		t.Helper()
		_, err := os.Lstat(filepath.Join(other, "fleet"))
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s: nothing written under the current directory", what)
		assert.Empty(t, readTree(t, cfg), "%s: the real config dir untouched", what)
		assert.Equal(t, migratedBefore, serviceNames(t, sock), "%s: the migrated services still run", what)
		assert.Equal(t, backupBefore, readTree(t, rep.Backup), "%s: the backup untouched", what)
	}
	assertUntouched("old manifest")

	// --config-dir places the old manifest; its dry run shows the plan.
	placed := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--socket", sock, "--config-dir", cfg, "--dry-run")
	require.Equal(t, exitPass, placed.code, placed.err)
	assert.Contains(t, placed.out, "restore hero_books_server.toml to "+filepath.Join(cfg, "hero_books_server.toml")+"\n")
	assertUntouched("dry run with --config-dir")

	// The manifest apply wrote: a dry run lists every change, then the
	// rollback makes exactly those, in the real config dir.
	require.NoError(t, os.WriteFile(manifestFile, raw, 0o600))
	backupBefore = readTree(t, rep.Backup)
	dry := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--socket", sock, "--dry-run", "--json")
	require.Equal(t, exitPass, dry.code, dry.err)
	var plan migrator.RollbackReport
	require.NoError(t, json.Unmarshal([]byte(dry.out), &plan))
	assert.True(t, plan.DryRun)
	assert.Equal(t, cfg, plan.ConfigDir)
	assert.Len(t, plan.Plan, 2*migrator.FleetSize+len(orig)+1, "stop and remove each service, restore each file, reload")
	assert.Contains(t, dry.err, "rollback of "+rep.Backup+" on socket "+sock+", config dir "+cfg+": would (dry run) make")
	assertUntouched("dry run")

	rb := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--socket", sock, "--json")
	require.Equal(t, exitPass, rb.code, rb.err)
	var done migrator.RollbackReport
	require.NoError(t, json.Unmarshal([]byte(rb.out), &done))
	assert.Equal(t, plan.Plan, done.Changes, "the rollback made exactly the changes its plan printed")
	_, err = os.Lstat(filepath.Join(other, "fleet"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing written under the current directory")
	got := readTree(t, cfg)
	assert.Equal(t, orig, got, "the files are back where they came from, byte for byte")
	after := serviceNames(t, sock)
	assert.Empty(t, after.migrated)
	assert.Len(t, after.legacy, len(orig), "the reload brought the legacy services back")
}

type names struct{ legacy, migrated []string }

// serviceNames lists the services of the zinit at sock, legacy and
// migrated apart, sorted.
func serviceNames(t *testing.T, sock string) names {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zinit.Dial(ctx, sock)
	require.NoError(t, err)
	defer c.Close()
	st, err := c.List(ctx)
	require.NoError(t, err)
	var n names
	for _, s := range st {
		if s.Legacy {
			n.legacy = append(n.legacy, s.Name)
		} else {
			n.migrated = append(n.migrated, s.Name)
		}
	}
	sort.Strings(n.legacy)
	sort.Strings(n.migrated)
	return n
}

// readTree is every regular file under dir, by path relative to dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	}))
	return out
}

// TestMigrateRollbackTamperedExits3: a backup whose file no longer
// matches its manifest is the user's input, not a fault to retry: exit 3,
// one line naming the file, nothing changed.
func TestMigrateRollbackTamperedExits3(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(root, "etc-zinit")
	_, sock := fleetUnderSupervisor(t, root, cfg)
	ap := runZchaosCLI(t, false, "", "migrate", "apply", cfg, "--socket", sock, "--json")
	require.Equal(t, exitPass, ap.code, ap.err)
	var rep migrator.ApplyReport
	require.NoError(t, json.Unmarshal([]byte(ap.out), &rep))
	require.NoError(t, os.WriteFile(filepath.Join(rep.Backup, "files", "hero_books_server.toml"), []byte("tampered"), 0o600))
	before := serviceNames(t, sock)

	r := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", rep.Backup, "--socket", sock)
	assert.Equal(t, exitUsage, r.code)
	assert.Regexp(t, `^zchaos: verify backup `+rep.Backup+`: backup does not match its manifest: hero_books_server.toml has checksum [0-9a-f]{64}, the manifest says [0-9a-f]{64}; nothing changed\n$`, r.err)
	assert.Empty(t, r.out)
	assert.Empty(t, readTree(t, cfg))
	assert.Equal(t, before, serviceNames(t, sock))
}
