package migrator_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

var fixedNow = func() time.Time { return time.Date(2026, 3, 13, 12, 40, 22, 0, time.UTC) }

// fakeHerosim stands in for /usr/local/bin/herosim on a machine without it:
// serve sleeps until killed, oneshot exits 0.
const fakeHerosim = "#!/bin/sh\ncase \"$1\" in serve) exec sleep 300 ;; *) exit 0 ;; esac\n"

// fleetConfigDir copies the fleet fixture into a temp config dir, pointing
// its execs at a fake herosim, and returns the dir and its files' bytes.
func fleetConfigDir(t testing.TB) (string, map[string][]byte) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "zinit")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	hs := filepath.Join(root, "herosim")
	require.NoError(t, os.WriteFile(hs, []byte(fakeHerosim), 0o755))
	files := map[string][]byte{}
	require.NoError(t, fs.WalkDir(migrator.FleetFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrator.FleetFS(), p)
		if err != nil {
			return err
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/herosim", hs))
		files[p] = b
		return os.WriteFile(filepath.Join(dir, p), b, 0o640)
	}))
	return dir, files
}

// fleetUnderDaemon lays the fleet out as a config dir, boots the reference
// daemon on it, and plans its migration.
func fleetUnderDaemon(t testing.TB) (cfg string, orig map[string][]byte, tg *migrator.SocketTarget, plan *migrator.Plan) {
	t.Helper()
	cfg, orig = fleetConfigDir(t)
	tg = startDaemon(t, cfg)
	inv, err := migrator.LoadDir(cfg)
	require.NoError(t, err)
	plan, err = migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	return cfg, orig, tg, plan
}

// startDaemon runs the reference supervisor in-process on configDir
// (zinittest.StartSupervisor) and returns a connected target; both end
// with the test.
func startDaemon(t testing.TB, configDir string) *migrator.SocketTarget {
	t.Helper()
	sup := zinittest.StartSupervisor(t, supervisor.Config{ConfigDir: configDir})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tg, err := migrator.DialSocket(ctx, sup.Socket)
	require.NoError(t, err)
	t.Cleanup(func() { tg.Close() })
	return tg
}

func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = b
	}
	return out
}

func listNames(t testing.TB, tg migrator.Target) (legacy, migrated []string) {
	t.Helper()
	st, err := tg.List(context.Background())
	require.NoError(t, err)
	for _, s := range st {
		if s.Legacy {
			legacy = append(legacy, s.Name)
		} else {
			migrated = append(migrated, s.Name)
		}
	}
	sort.Strings(legacy)
	sort.Strings(migrated)
	return legacy, migrated
}

func sortedNames(p *migrator.Plan) []string {
	n := p.Names()
	sort.Strings(n)
	return n
}

func legacyNames(p *migrator.Plan) []string {
	n := p.Names()
	for _, r := range p.Retired {
		n = append(n, r.Name)
	}
	sort.Strings(n)
	return n
}

func TestApplyRollbackRoundTrip(t *testing.T) {
	cfg, orig := fleetConfigDir(t)
	tg := startDaemon(t, cfg)
	ctx := context.Background()
	inv, err := migrator.LoadDir(cfg)
	require.NoError(t, err)
	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	legacy, migrated := listNames(t, tg)
	require.Equal(t, legacyNames(plan), legacy, "the daemon booted the legacy fleet")
	require.Empty(t, migrated)

	backupRoot := filepath.Join(t.TempDir(), "backups")
	opts := migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: backupRoot, Now: fixedNow}

	// Dry run: reports, changes nothing.
	dry, err := migrator.Apply(ctx, plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: backupRoot, Now: fixedNow, DryRun: true})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	assert.NotEmpty(t, dry.Changes)
	assert.Equal(t, orig, readDir(t, cfg))
	_, err = os.Stat(backupRoot)
	assert.ErrorIs(t, err, fs.ErrNotExist, "a dry run makes no backup")

	rep, err := migrator.Apply(ctx, plan, tg, opts)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(backupRoot, "20260313T124022.000000000Z"), rep.Backup)
	assert.Equal(t, len(dry.Changes), len(rep.Changes), "the dry run announced exactly what apply did")
	assert.Empty(t, readDir(t, cfg), "every legacy file moved out")
	assert.Equal(t, orig, readDir(t, filepath.Join(rep.Backup, "files")), "backup is byte-exact")
	assert.Equal(t, orig, readDir(t, filepath.Join(rep.Backup, "moved")))
	legacy, migrated = listNames(t, tg)
	assert.Empty(t, legacy)
	assert.Equal(t, sortedNames(plan), migrated)
	st, err := tg.List(ctx)
	require.NoError(t, err)
	for _, s := range st {
		sp := plan.Lookup(s.Name)
		require.NotNil(t, sp)
		require.Len(t, s.Jobs, len(sp.Jobs), s.Name)
		for i, j := range sp.Jobs {
			assert.Equal(t, j.Exec, s.Jobs[i].Exec)
			assert.Equal(t, j.Trigger, s.Jobs[i].Trigger)
		}
		assert.True(t, s.Persist)
		assert.ElementsMatch(t, sp.Service.After, s.After)
		if !sp.Oneshot {
			assert.NotEqual(t, zinit.StateInactive, s.State, "%s was started", s.Name)
		}
	}

	again, err := migrator.Apply(ctx, plan, tg, opts)
	require.NoError(t, err)
	assert.Empty(t, again.Changes, "a second apply changes nothing")
	assert.Len(t, again.Unchanged, migrator.FleetSize)
	assert.Empty(t, again.Backup)

	rb, err := migrator.Rollback(ctx, rep.Backup, tg, migrator.RollbackOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, rb.Changes)
	assert.Equal(t, orig, readDir(t, cfg), "legacy files restored byte for byte")
	legacy, migrated = listNames(t, tg)
	assert.Equal(t, legacyNames(plan), legacy, "reload brought the legacy services back")
	assert.Empty(t, migrated)

	rb2, err := migrator.Rollback(ctx, rep.Backup, tg, migrator.RollbackOptions{})
	require.NoError(t, err)
	assert.Equal(t, []migrator.Change{{Action: migrator.ActionReload, Unit: "zinit"}}, rb2.Changes, "rollback is idempotent")
}

func TestApplyUnwritableBackupChangesNothing(t *testing.T) {
	cfg, orig, tg, plan := fleetUnderDaemon(t)
	before, err := tg.List(context.Background())
	require.NoError(t, err)

	// A file where the backup root should be: no directory can be made
	// there (root ignores permission bits, so mode 0500 would not do).
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	rep, err := migrator.Apply(context.Background(), plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: blocker, Now: fixedNow})
	require.Error(t, err)
	assert.ErrorIs(t, err, migrator.ErrBackup)
	var se *migrator.StepError
	require.ErrorAs(t, err, &se)
	assert.Empty(t, se.Backup, "nothing to roll back")
	assert.Empty(t, rep.Changes)
	assert.Equal(t, orig, readDir(t, cfg))
	after, err := tg.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, names(before), names(after))
	for _, s := range after {
		assert.True(t, s.Legacy, s.Name)
	}
}

func names(st []zinit.ServiceStatus) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// failingTarget fails AddJob for one service, to stop apply half-way.
type failingTarget struct {
	migrator.Target
	failOn string
}

var errInjected = errors.New("injected failure")

func (f failingTarget) AddJob(ctx context.Context, j zinit.Job) error {
	if j.Service == f.failOn && j.Name == "check" {
		return errInjected
	}
	return f.Target.AddJob(ctx, j)
}

func TestApplyStopsOnFailureAndRollsBack(t *testing.T) {
	cfg, orig, tg, plan := fleetUnderDaemon(t)
	ft := failingTarget{Target: tg, failOn: "user.hero_books_server"}
	rep, err := migrator.Apply(context.Background(), plan, ft, migrator.ApplyOptions{
		ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "b"), Now: fixedNow})
	require.ErrorIs(t, err, errInjected)
	var se *migrator.StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, migrator.Change{Action: migrator.ActionAddJob, Unit: "user.hero_books_server/check"}, se.Step)
	assert.Equal(t, rep.Backup, se.Backup)
	require.NotNil(t, rep.Failed)
	assert.Equal(t, se.Step, *rep.Failed)
	last := rep.Changes[len(rep.Changes)-1]
	assert.Equal(t, migrator.Change{Action: migrator.ActionAddJob, Unit: "user.hero_books_server/main"}, last)
	for _, c := range rep.Changes {
		assert.NotEqual(t, migrator.ActionStart, c.Action, "nothing started after the failure")
	}

	_, err = migrator.Rollback(context.Background(), se.Backup, tg, migrator.RollbackOptions{})
	require.NoError(t, err)
	assert.Equal(t, orig, readDir(t, cfg))
	legacy, migrated := listNames(t, tg)
	assert.Equal(t, legacyNames(plan), legacy)
	assert.Empty(t, migrated)
}

func TestApplyResumesAfterFailure(t *testing.T) {
	cfg, _ := fleetConfigDir(t)
	tg := startDaemon(t, cfg)
	inv, err := migrator.LoadDir(cfg)
	require.NoError(t, err)
	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	opts := migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "b"), Now: fixedNow}
	_, err = migrator.Apply(context.Background(), plan, failingTarget{Target: tg, failOn: "user.hero_os_ui"}, opts)
	require.ErrorIs(t, err, errInjected)
	// A second apply finishes the job: the half-added service is replaced,
	// every never-started service is started.
	rep, err := migrator.Apply(context.Background(), plan, tg, opts)
	require.NoError(t, err)
	assert.NotEmpty(t, rep.Changes)
	st, err := tg.List(context.Background())
	require.NoError(t, err)
	for _, s := range st {
		sp := plan.Lookup(s.Name)
		require.NotNil(t, sp, s.Name)
		assert.Len(t, s.Jobs, len(sp.Jobs), s.Name)
		assert.NotNil(t, s.StartedAtMs, "%s started", s.Name)
	}
	again, err := migrator.Apply(context.Background(), plan, tg, opts)
	require.NoError(t, err)
	assert.Empty(t, again.Changes)
}

func TestApplyZinitNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := migrator.DialSocket(context.Background(), sock)
	require.ErrorIs(t, err, migrator.ErrNotRunning)
	assert.Contains(t, err.Error(), sock)

	cli := &migrator.CLITarget{Exec: func(context.Context, []string) ([]byte, []byte, int, error) {
		return nil, []byte("zinit: daemon not running: nothing listens on /run/zinit.sock\n"), 2, nil
	}}
	plan := fleetPlan(t)
	rep, err := migrator.Apply(context.Background(), plan, cli, migrator.ApplyOptions{ConfigDir: "/etc/zinit"})
	require.ErrorIs(t, err, migrator.ErrNotRunning)
	assert.Empty(t, rep.Changes)
}

func TestRollbackRefusesATamperedBackup(t *testing.T) {
	cfg, _ := fleetConfigDir(t)
	tg := startDaemon(t, cfg)
	inv, err := migrator.LoadDir(cfg)
	require.NoError(t, err)
	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	rep, err := migrator.Apply(context.Background(), plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "b"), Now: fixedNow})
	require.NoError(t, err)
	victim := filepath.Join(rep.Backup, "files", "hero_books_server.toml")
	require.NoError(t, os.WriteFile(victim, []byte("tampered"), 0o600))
	rb, err := migrator.Rollback(context.Background(), rep.Backup, tg, migrator.RollbackOptions{})
	require.ErrorIs(t, err, migrator.ErrBadBackup, "retrying cannot help: exit 3, not 4")
	assert.Contains(t, err.Error(), "hero_books_server.toml")
	assert.Contains(t, err.Error(), "nothing changed")
	require.NoError(t, os.Remove(victim))
	_, err = migrator.Rollback(context.Background(), rep.Backup, tg, migrator.RollbackOptions{})
	require.ErrorIs(t, err, migrator.ErrBadBackup, "a file missing from the backup")
	assert.Empty(t, rb.Changes, "nothing changed")
	_, migrated := listNames(t, tg)
	assert.Equal(t, sortedNames(plan), migrated)

	_, err = migrator.Rollback(context.Background(), t.TempDir(), tg, migrator.RollbackOptions{})
	var ce *zinit.ConfigError
	assert.ErrorAs(t, err, &ce, "not a backup dir")
}

// TestApplyRefusesRelativePaths: the manifest must place the files from
// any directory, so Apply takes absolute paths only, and changes nothing
// otherwise.
func TestApplyRefusesRelativePaths(t *testing.T) {
	cfg, orig, tg, plan := fleetUnderDaemon(t)
	for _, opts := range []migrator.ApplyOptions{{ConfigDir: "fleet"}, {ConfigDir: cfg, BackupRoot: "backups"}} {
		rep, err := migrator.Apply(context.Background(), plan, tg, opts)
		var ce *zinit.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Contains(t, err.Error(), "must be an absolute path on the target")
		assert.Empty(t, rep.Changes)
	}
	assert.Equal(t, orig, readDir(t, cfg))
	legacy, migrated := listNames(t, tg)
	assert.Equal(t, legacyNames(plan), legacy)
	assert.Empty(t, migrated)
}

// appliedFleet migrates the fleet under a daemon and returns what a
// rollback test needs.
func appliedFleet(t *testing.T) (cfg string, orig map[string][]byte, tg *migrator.SocketTarget, plan *migrator.Plan, backup string) {
	t.Helper()
	cfg, orig, tg, plan = fleetUnderDaemon(t)
	rep, err := migrator.Apply(context.Background(), plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "b"), Now: fixedNow})
	require.NoError(t, err)
	return cfg, orig, tg, plan, rep.Backup
}

// TestRollbackRefusesAForeignTarget: a backup whose config dir is gone, a
// target of another name, or one that runs none of its services and holds
// none of its files is refused with ErrWrongTarget, and nothing changes:
// not the daemons, not the dirs, not the backup.
func TestRollbackRefusesAForeignTarget(t *testing.T) {
	ctx := context.Background()
	cfg, _, tg, plan, backup := appliedFleet(t)
	backupFiles := readDir(t, filepath.Join(backup, "files"))
	_, migratedBefore := listNames(t, tg)

	// Another zinit (a fake: two in-process supervisors would reap each
	// other's children) with no services: another name, and none of the
	// backup's services or files. It answers ping and list only: any
	// change would fail the call.
	otherCfg := t.TempDir()
	fake := zinittest.StartFake(t, zinittest.Methods(map[string]func(zinit.Request) (any, error){
		zinit.MethodSystemPing:  func(zinit.Request) (any, error) { return zinit.PingResult{}, nil },
		zinit.MethodServiceList: func(zinit.Request) (any, error) { return []zinit.ServiceStatus{}, nil },
	}))
	other, err := migrator.DialSocket(ctx, fake.Socket)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })

	gone := cfg + ".gone"
	for name, tc := range map[string]struct {
		tg     migrator.Target
		opts   migrator.RollbackOptions
		before func()
		after  func()
		msg    string
	}{
		"config dir gone": {tg: tg, before: func() { require.NoError(t, os.Rename(cfg, gone)) }, after: func() { require.NoError(t, os.Rename(gone, cfg)) },
			msg: "config_dir: backup does not belong to this target: the config dir " + cfg + " does not exist on " + tg.String() + "; nothing changed"},
		"another target": {tg: other,
			msg: "target: backup does not belong to this target: the backup was taken from " + tg.String() + ", not " + other.String() + " (if that zinit now answers here, roll back with --any-target); nothing changed"},
		"another target, accepted, but foreign": {tg: other, opts: migrator.RollbackOptions{AnyTarget: true},
			msg: "backup does not belong to this target: zinit on " + other.String() + " runs none of the backup's 58 services and " + cfg + " holds none of its 58 files: this is not the zinit the backup was taken from; nothing changed"},
		"another config dir": {tg: tg, opts: migrator.RollbackOptions{ConfigDir: otherCfg},
			msg: "config_dir: backup does not belong to this target: the files came from " + cfg + ", not " + otherCfg + "; nothing changed"},
	} {
		if tc.before != nil {
			tc.before()
		}
		var log strings.Builder
		tc.opts.Log = &log
		rep, err := migrator.Rollback(ctx, backup, tc.tg, tc.opts)
		if tc.after != nil {
			tc.after()
		}
		require.ErrorIs(t, err, migrator.ErrWrongTarget, name)
		assert.Equal(t, filepath.Join(backup, migrator.ManifestName)+": "+tc.msg, err.Error(), name)
		assert.Empty(t, rep.Changes, name)
		assert.Empty(t, log.String(), "%s: nothing planned", name)
	}
	assert.Empty(t, readDir(t, cfg))
	assert.Empty(t, readDir(t, otherCfg))
	_, migrated := listNames(t, tg)
	assert.Equal(t, migratedBefore, migrated)
	for _, r := range fake.Requests() {
		assert.Contains(t, []string{zinit.MethodSystemPing, zinit.MethodServiceList}, r.Method, "the other zinit was only asked")
	}
	assert.Equal(t, backupFiles, readDir(t, filepath.Join(backup, "files")))
	assert.NoDirExists(t, filepath.Join(backup, "displaced"))
	assert.Equal(t, sortedNames(plan), migrated)
}

// TestRollbackDryRunPlansEverything: the dry run checks the backup and
// returns the whole plan, changing nothing; the rollback then makes
// exactly those changes, having written the plan to its log first.
func TestRollbackDryRunPlansEverything(t *testing.T) {
	ctx := context.Background()
	cfg, orig, tg, plan, backup := appliedFleet(t)
	// A different file in the way of one restore: planned as displaced.
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "hero_books_server.toml"), []byte("# local edit\n"), 0o644))

	var dryLog strings.Builder
	dry, err := migrator.Rollback(ctx, backup, tg, migrator.RollbackOptions{DryRun: true, Log: &dryLog})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	assert.Equal(t, dry.Plan, dry.Changes)
	assert.Contains(t, dry.Plan, migrator.Change{Action: migrator.ActionDisplace, Unit: "hero_books_server.toml", Detail: "to " + filepath.Join(backup, "displaced", "hero_books_server.toml")})
	assert.Equal(t, migrator.Change{Action: migrator.ActionReload, Unit: "zinit"}, dry.Plan[len(dry.Plan)-1])
	assert.True(t, strings.HasPrefix(dryLog.String(), "rollback of "+backup+" on "+tg.String()+", config dir "+cfg+": would (dry run) make "), dryLog.String())
	assert.Equal(t, map[string][]byte{"hero_books_server.toml": []byte("# local edit\n")}, readDir(t, cfg), "a dry run changes nothing")
	_, migrated := listNames(t, tg)
	assert.Equal(t, sortedNames(plan), migrated)

	var log strings.Builder
	rb, err := migrator.Rollback(ctx, backup, tg, migrator.RollbackOptions{Log: &log})
	require.NoError(t, err)
	assert.Equal(t, dry.Plan, rb.Plan)
	assert.Equal(t, rb.Plan, rb.Changes, "exactly the changes planned")
	assert.Equal(t, strings.Replace(dryLog.String(), "would (dry run)", "will", 1), log.String())
	assert.Equal(t, orig, readDir(t, cfg))
	assert.Equal(t, map[string][]byte{"hero_books_server.toml": []byte("# local edit\n")}, readDir(t, filepath.Join(backup, "displaced")), "the local edit kept")
}

// TestApplySurfacesTheDaemonsError: a job whose request is over the
// daemon's limit (the 1 MB exec, past lint here) fails its step
// with the daemon's own reason, not a protocol complaint about the id of
// its answer; the step and the backup to roll back with are named, and
// the steps before it stay done.
func TestApplySurfacesTheDaemonsError(t *testing.T) {
	cfg, _, tg, plan := fleetUnderDaemon(t)
	sp := plan.Lookup("user.hero_books_server")
	require.NotNil(t, sp)
	sp.Jobs[0].Exec = "/bin/echo " + strings.Repeat("x", 1<<20)
	rep, err := migrator.Apply(context.Background(), plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "b"), Now: fixedNow})
	var se *migrator.StepError
	require.ErrorAs(t, err, &se)
	var re *zinit.RPCError
	require.ErrorAs(t, err, &re, "the daemon's error, not a protocol error: %v", err)
	assert.Equal(t, zinit.CodeInvalidRequest, re.Code)
	assert.Contains(t, err.Error(), "request longer than 1048576 bytes")
	assert.NotContains(t, err.Error(), "does not match request id")
	assert.Equal(t, migrator.Change{Action: migrator.ActionAddJob, Unit: "user.hero_books_server/main"}, se.Step)
	assert.Equal(t, rep.Backup, se.Backup)
	assert.NotEmpty(t, rep.Changes, "what was done before the step is reported")
}
