package migrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// Actions recorded in reports.
const (
	ActionBackup     = "backup"      // a legacy file copied to the backup dir (checksum verified)
	ActionMove       = "move"        // a legacy file moved out of zinit's config dir
	ActionStop       = "stop"        // a unit stopped
	ActionRemove     = "remove"      // a unit removed from zinit
	ActionAddService = "add-service" // zinit add service
	ActionAddJob     = "add-job"     // zinit add job
	ActionStart      = "start"       // zinit start
	ActionRestore    = "restore"     // a legacy file copied back (rollback)
	ActionDisplace   = "displace"    // a file in the way moved into the backup (rollback)
	ActionReload     = "reload"      // zinit reload (rollback)
)

// Change is one change made (or, in a dry run, that would be made).
type Change struct {
	Action string `json:"action"`
	Unit   string `json:"unit"` // service, service/job, or file name
	Detail string `json:"detail,omitempty"`
}

// ApplyReport says what Apply did. Zero Changes means the target already
// matched the plan.
type ApplyReport struct {
	Target  string   `json:"target"`
	DryRun  bool     `json:"dry_run"`
	Backup  string   `json:"backup,omitempty"` // the backup dir, when files were backed up
	Changes []Change `json:"changes"`
	// Unchanged lists migrated services that already matched the plan.
	Unchanged []string `json:"unchanged"`
	// Failed is the step that failed, if any; Changes are the ones done
	// before it.
	Failed *Change `json:"failed,omitempty"`
}

// ApplyOptions shape Apply.
type ApplyOptions struct {
	// ConfigDir is zinit's legacy config dir on the target (required): the
	// plan's files found there are backed up and moved out.
	ConfigDir string
	// BackupRoot holds one timestamped backup dir per apply; default
	// "<ConfigDir>.zchaos-backup" next to the config dir.
	BackupRoot string
	// DryRun computes the changes without making any.
	DryRun bool
	// Now names the backup dir (default time.Now).
	Now func() time.Time
	// Log receives one line per change as it is made (nil: none).
	Log io.Writer
}

// StepError is a failed step of Apply or Rollback. Backup names the
// backup dir to roll back with ("" when nothing was changed yet).
type StepError struct {
	Step   Change
	Backup string
	Err    error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Step.Action, e.Step.Unit, e.Err)
}
func (e *StepError) Unwrap() error { return e.Err }

// ErrBackup is wrapped when the backup cannot be made; nothing was changed.
var ErrBackup = errors.New("backup failed, nothing changed")

var (
	// ErrBadBackup is wrapped when a backup's files do not match its
	// manifest (changed, missing): rollback refuses it and changes
	// nothing. Retrying cannot help.
	ErrBadBackup = errors.New("backup does not match its manifest")
	// ErrWrongTarget is wrapped when rollback refuses a backup that does
	// not belong to the target or whose config dir it cannot place: a
	// relative path, a config dir that is gone, a target with another name,
	// or one that holds neither the migrated services nor the backed-up
	// files. Nothing was changed.
	ErrWrongTarget = errors.New("backup does not belong to this target")
)

// ManifestName is the manifest file in a backup dir.
const ManifestName = "manifest.json"

// ManifestVersion is the version Apply writes. Version 1 (before the
// target was recorded) is still read; its config dir may be relative.
const ManifestVersion = 2

// Manifest describes a backup dir: files/ holds the verified copies of the
// legacy files, moved/ the originals moved out of the config dir.
type Manifest struct {
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
	// ConfigDir is the config dir the files came from: an absolute, clean
	// path on the target's file system (version 2; version 1 wrote it as
	// given, maybe relative).
	ConfigDir string `json:"config_dir"`
	// Target names the zinit the backup was taken from, as
	// Target.String() does ("socket /run/zinit.sock", "container hero");
	// "" in version 1.
	Target string `json:"target,omitempty"`
	// Services are the migrated services (removed again on rollback).
	Services []string `json:"services"`
	// Retired are the legacy units not re-created (health files).
	Retired []string       `json:"retired"`
	Files   []ManifestFile `json:"files"`
}

// ManifestFile is one backed-up legacy file.
type ManifestFile struct {
	Name   string `json:"name"`
	Unit   string `json:"unit"`
	SHA256 string `json:"sha256"`
}

// desired compares a running service with its plan.
func matches(st zinit.ServiceStatus, sp ServicePlan) bool {
	if st.Legacy || st.Persist != sp.Service.Persist || !slices.Equal(normAfter(st.After), normAfter(sp.Service.After)) {
		return false
	}
	if len(st.Jobs) != len(sp.Jobs) {
		return false
	}
	for _, j := range sp.Jobs {
		var js *zinit.JobStatus
		for i := range st.Jobs {
			if st.Jobs[i].Name == j.Name {
				js = &st.Jobs[i]
			}
		}
		if js == nil || !jobMatches(*js, j) {
			return false
		}
	}
	return true
}

func normAfter(a []string) []string {
	out := slices.Clone(a)
	slices.Sort(out)
	return out
}

func jobMatches(js zinit.JobStatus, j zinit.Job) bool {
	if js.Trigger != j.Trigger || js.Exec != j.Exec || js.Persist != j.Persist {
		return false
	}
	if len(js.Env) != len(j.Env) || (len(j.Env) > 0 && !maps.Equal(js.Env, j.Env)) {
		return false
	}
	eqMs := func(p *int64, d time.Duration) bool {
		if d == 0 {
			return true // not given: the daemon's default, whatever it reports
		}
		return p != nil && *p == zinit.Millis(d)
	}
	if j.Trigger == zinit.TriggerStart {
		if js.Restart == nil || *js.Restart != j.Restart {
			return false
		}
		if j.MaxRestarts != 0 && (js.MaxRestarts == nil || *js.MaxRestarts != j.MaxRestarts) {
			return false
		}
	}
	return eqMs(js.RestartDelayMs, j.RestartDelay) && eqMs(js.IntervalMs, j.Interval) && eqMs(js.TimeoutMs, j.Timeout)
}

type applier struct {
	t    Target
	fs   FileSystem
	rep  *ApplyReport
	log  io.Writer
	back string
}

// record adds a change done to the report and the log.
func (a *applier) record(c Change) {
	a.rep.Changes = append(a.rep.Changes, c)
	if a.log != nil {
		fmt.Fprintf(a.log, "%s %s\n", c.Action, c.Unit)
	}
}

// Apply migrates the target to the plan:
//
//  1. checks that zinit answers (else an error wrapping ErrNotRunning,
//     nothing changed);
//  2. copies the plan's legacy files found in opts.ConfigDir to a new
//     timestamped dir under opts.BackupRoot, verifies every copy's SHA-256
//     and writes a manifest (an unwritable backup dir: an error wrapping
//     ErrBackup, nothing changed);
//  3. moves those files out of the config dir (into the backup's moved/);
//  4. stops and removes the legacy units (services and health files) and
//     any earlier migrated service that differs from the plan;
//  5. adds each service that is not already as planned, with its jobs
//     (persisted as the plan says), and starts it, dependencies first.
//
// It is idempotent: against a target that matches the plan it changes
// nothing and reports zero changes. A service that matches but was never
// started (an earlier apply stopped before starting it) is started. On a
// failed step it stops at once and returns the report of what was done
// with a *StepError naming the step and the backup dir; Rollback with that
// dir restores the legacy state. No legacy file is deleted or overwritten.
func Apply(ctx context.Context, plan *Plan, t Target, opts ApplyOptions) (ApplyReport, error) {
	rep := ApplyReport{Target: t.String(), DryRun: opts.DryRun, Changes: []Change{}, Unchanged: []string{}}
	if opts.ConfigDir == "" {
		return rep, errors.New("apply: the config dir is required")
	}
	// The manifest must say where the files came from whatever directory
	// rollback runs in: absolute, clean paths only.
	for _, p := range []struct{ what, path string }{{"config dir", opts.ConfigDir}, {"backup root", opts.BackupRoot}} {
		if p.path != "" && !path.IsAbs(p.path) {
			return rep, &zinit.ConfigError{File: p.path, Err: fmt.Errorf("the %s must be an absolute path on the target", p.what)}
		}
	}
	opts.ConfigDir = path.Clean(opts.ConfigDir)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BackupRoot == "" {
		opts.BackupRoot = opts.ConfigDir + ".zchaos-backup"
	}
	opts.BackupRoot = path.Clean(opts.BackupRoot)
	if err := t.Ping(ctx); err != nil {
		return rep, err
	}
	status, err := t.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("list services: %w", err)
	}
	byName := map[string]zinit.ServiceStatus{}
	for _, st := range status {
		byName[st.Name] = st
	}
	fs := t.Files()
	present := map[string]bool{}
	if ok, err := fs.Exists(ctx, opts.ConfigDir); err != nil {
		return rep, fmt.Errorf("config dir: %w", err)
	} else if ok {
		names, err := fs.List(ctx, opts.ConfigDir)
		if err != nil {
			return rep, fmt.Errorf("config dir: %w", err)
		}
		for _, n := range names {
			present[n] = true
		}
	}
	var toMove []SourceFile
	for _, f := range plan.Files {
		if present[f.Name] {
			toMove = append(toMove, f)
		}
	}

	// What to take down and what to add.
	var remove []string
	readd := map[string]bool{}
	for _, r := range plan.Retired {
		if _, ok := byName[r.Name]; ok {
			remove = append(remove, r.Name)
		}
	}
	for i := len(plan.Services) - 1; i >= 0; i-- {
		sp := plan.Services[i]
		st, ok := byName[sp.Service.Name]
		switch {
		case !ok:
			readd[sp.Service.Name] = true
		case !matches(st, sp):
			remove = append(remove, sp.Service.Name)
			readd[sp.Service.Name] = true
		}
	}
	var start []string
	for _, sp := range plan.Services {
		n := sp.Service.Name
		st := byName[n]
		switch {
		case readd[n]:
			start = append(start, n)
		case st.StartedAtMs == nil && st.LastExit == nil && st.State == zinit.StateInactive:
			start = append(start, n)
		default:
			rep.Unchanged = append(rep.Unchanged, n)
		}
	}

	ap := &applier{t: t, fs: fs, rep: &rep, log: opts.Log}
	if opts.DryRun {
		for _, f := range toMove {
			rep.Changes = append(rep.Changes, Change{Action: ActionBackup, Unit: f.Name}, Change{Action: ActionMove, Unit: f.Name})
		}
		for _, n := range remove {
			rep.Changes = append(rep.Changes, Change{Action: ActionStop, Unit: n}, Change{Action: ActionRemove, Unit: n})
		}
		for _, sp := range plan.Services {
			if readd[sp.Service.Name] {
				rep.Changes = append(rep.Changes, Change{Action: ActionAddService, Unit: sp.Service.Name})
				for _, j := range sp.Jobs {
					rep.Changes = append(rep.Changes, Change{Action: ActionAddJob, Unit: j.Service + "/" + j.Name})
				}
			}
		}
		for _, n := range start {
			rep.Changes = append(rep.Changes, Change{Action: ActionStart, Unit: n})
		}
		return rep, nil
	}

	// 2. Backup, verified, before anything changes.
	if len(toMove) > 0 {
		dir := path.Join(opts.BackupRoot, opts.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := ap.backup(ctx, plan, opts.ConfigDir, dir, toMove); err != nil {
			return rep, err
		}
		rep.Backup = dir
		ap.back = dir
		// 3. Move the legacy files out of the config dir, in one batch.
		names := make([]string, len(toMove))
		for i, f := range toMove {
			names[i] = f.Name
		}
		moved := path.Join(dir, "moved")
		n, err := fs.MoveFiles(ctx, opts.ConfigDir, moved, names)
		for _, name := range names[:min(n, len(names))] {
			ap.record(Change{Action: ActionMove, Unit: name, Detail: "to " + path.Join(moved, name)})
		}
		if err != nil {
			c := Change{Action: ActionMove, Unit: moved}
			if n < len(names) {
				c = Change{Action: ActionMove, Unit: names[n], Detail: "to " + path.Join(moved, names[n])}
			}
			rep.Failed = &c
			return rep, &StepError{Step: c, Backup: dir, Err: err}
		}
	}
	// Each phase below runs as one batch on a BatchTarget, else one call
	// per step; either way it stops at the first failed step.
	fail := func(c Change, err error) error {
		rep.Failed = &c
		return &StepError{Step: c, Backup: ap.back, Err: err}
	}
	// 4. Take down legacy units and stale migrated services.
	var down []cliStep
	for _, n := range remove {
		down = append(down, stopStep(t, n), removeStep(t, n))
	}
	if err := runSteps(ctx, t, down, ap.record, fail); err != nil {
		return rep, err
	}
	// 5. Add, then start, dependencies first.
	var add []cliStep
	for _, sp := range plan.Services {
		if !readd[sp.Service.Name] {
			continue
		}
		add = append(add, cliStep{c: Change{Action: ActionAddService, Unit: sp.Service.Name}, argv: sp.Service.Argv(),
			call: func(ctx context.Context) error { return t.AddService(ctx, sp.Service) }})
		for _, j := range sp.Jobs {
			add = append(add, cliStep{c: Change{Action: ActionAddJob, Unit: j.Service + "/" + j.Name}, argv: j.Argv(),
				call: func(ctx context.Context) error { return t.AddJob(ctx, j) }})
		}
	}
	if err := runSteps(ctx, t, add, ap.record, fail); err != nil {
		return rep, err
	}
	var up []cliStep
	for _, n := range start {
		up = append(up, cliStep{c: Change{Action: ActionStart, Unit: n}, argv: startArgv(n),
			call: func(ctx context.Context) error { return t.Start(ctx, n) }})
	}
	if err := runSteps(ctx, t, up, ap.record, fail); err != nil {
		return rep, err
	}
	return rep, nil
}

// cliStep is one zinit change of a phase: the change it reports, the CLI
// argv a BatchTarget runs for it, and the Target call that does it
// otherwise. A tolerant step counts an answer wrapping zinit.ErrNotFound
// as done.
type cliStep struct {
	c        Change
	argv     []string
	tolerant bool
	call     func(context.Context) error
}

func stopArgv(n string) []string   { return []string{zinit.CLIName, "stop", n} }
func removeArgv(n string) []string { return []string{zinit.CLIName, "remove", "service", n} }
func startArgv(n string) []string  { return []string{zinit.CLIName, "start", n} }

// stopStep stops n; a unit already gone counts as stopped.
func stopStep(t Target, n string) cliStep {
	return cliStep{c: Change{Action: ActionStop, Unit: n}, argv: stopArgv(n), tolerant: true,
		call: func(ctx context.Context) error { return t.Stop(ctx, n) }}
}

// removeStep removes n; a unit already gone counts as removed.
func removeStep(t Target, n string) cliStep {
	return cliStep{c: Change{Action: ActionRemove, Unit: n}, argv: removeArgv(n), tolerant: true,
		call: func(ctx context.Context) error { return t.RemoveService(ctx, n) }}
}

// runSteps does steps in order and stops at the first that fails: in one
// RunBatch when t is a BatchTarget, else one call each. It calls done
// with the change of each step done, in order, and returns fail(change,
// cause) of the step that failed. When a batch cannot tell how far it got
// (it could not be run, or its answer is unreadable), the first step not
// confirmed done is the one reported failed.
func runSteps(ctx context.Context, t Target, steps []cliStep, done func(Change), fail func(Change, error) error) error {
	if len(steps) == 0 {
		return nil
	}
	bt, ok := t.(BatchTarget)
	if !ok {
		for _, s := range steps {
			err := s.call(ctx)
			if s.tolerant {
				err = ignoreNotFound(err)
			}
			if err != nil {
				return fail(s.c, err)
			}
			done(s.c)
		}
		return nil
	}
	bs := make([]BatchStep, len(steps))
	for i, s := range steps {
		bs[i] = BatchStep{Argv: s.argv, TolerateNotFound: s.tolerant}
	}
	res, err := bt.RunBatch(ctx, bs)
	n := min(len(res), len(steps))
	if err == nil && n < len(steps) {
		err = fmt.Errorf("batch answered %d of %d steps", n, len(steps))
	}
	if err != nil && n == len(steps) {
		n-- // every step answered, yet the batch failed: trust the last one least
	}
	for _, s := range steps[:n] {
		done(s.c)
	}
	if err != nil {
		return fail(steps[n].c, err)
	}
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, zinit.ErrNotFound) {
		return nil
	}
	return err
}

// backup copies the files into dir/files, checks each copy and writes the
// manifest. Any failure wraps ErrBackup: nothing else has changed.
func (a *applier) backup(ctx context.Context, plan *Plan, configDir, dir string, files []SourceFile) error {
	fail := func(c Change, err error) error {
		a.rep.Failed = &c
		return &StepError{Step: c, Err: fmt.Errorf("%w: %w", ErrBackup, err)}
	}
	m := Manifest{Version: ManifestVersion, CreatedAt: path.Base(dir), ConfigDir: configDir, Target: a.t.String(),
		Services: plan.Names(), Retired: []string{}}
	for _, r := range plan.Retired {
		m.Retired = append(m.Retired, r.Name)
	}
	// One batch: create the dir, copy every file, check every copy.
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	sums, err := a.fs.BackupFiles(ctx, configDir, path.Join(dir, "files"), names)
	if err != nil {
		c := Change{Action: ActionBackup, Unit: dir}
		if fe := (*FileError)(nil); errors.As(err, &fe) && fe.Name != "" {
			c = Change{Action: ActionBackup, Unit: fe.Name, Detail: "to " + path.Join(dir, "files", fe.Name)}
		}
		return fail(c, err)
	}
	if len(sums) != len(files) {
		return fail(Change{Action: ActionBackup, Unit: dir}, fmt.Errorf("%d of %d files backed up", len(sums), len(files)))
	}
	var done []Change
	for i, f := range files {
		if sums[i].Name != f.Name {
			return fail(Change{Action: ActionBackup, Unit: f.Name}, fmt.Errorf("backup answered for %q", sums[i].Name))
		}
		m.Files = append(m.Files, ManifestFile{Name: f.Name, Unit: f.Unit, SHA256: sums[i].SHA256})
		done = append(done, Change{Action: ActionBackup, Unit: f.Name, Detail: "to " + path.Join(dir, "files", f.Name)})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fail(Change{Action: ActionBackup, Unit: ManifestName}, err)
	}
	if err := a.fs.WriteFile(ctx, path.Join(dir, ManifestName), append(b, '\n')); err != nil {
		return fail(Change{Action: ActionBackup, Unit: ManifestName}, err)
	}
	if err := a.fs.Sync(ctx, dir); err != nil {
		return fail(Change{Action: ActionBackup, Unit: dir}, err)
	}
	for _, c := range done {
		a.record(c)
	}
	return nil
}

// RollbackReport says what Rollback did, or in a dry run would do.
type RollbackReport struct {
	Target string `json:"target"`
	Backup string `json:"backup"`
	// ConfigDir is where the legacy files go back ("" when Rollback
	// refused before placing it).
	ConfigDir string `json:"config_dir,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	// Plan is every change Rollback decided on before making the first:
	// the whole of what it touches (nil when it refused before planning).
	Plan    []Change `json:"plan"`
	Changes []Change `json:"changes"`
	Failed  *Change  `json:"failed,omitempty"`
}

// RollbackOptions shape Rollback.
type RollbackOptions struct {
	// DryRun checks and plans everything and changes nothing: the report's
	// Plan (and Changes) is what a rollback would do.
	DryRun bool
	// ConfigDir places a manifest whose config dir is relative (written by
	// an older zchaos, relative to a directory rollback cannot know): an
	// absolute path on the target. For a manifest with an absolute config
	// dir it may only repeat that dir.
	ConfigDir string
	// AnyTarget accepts a target whose name differs from the one the
	// manifest records (a container recreated under another name, a
	// socket moved). The config dir and content checks still hold.
	AnyTarget bool
	// Log receives the plan, one line per change, before the first change
	// is made (nil: none).
	Log io.Writer
}

// Rollback undoes an apply from its backup dir (an absolute path on the
// target's file system). Before it changes anything it
//
//   - reads the manifest and verifies every backed-up file against it
//     (a changed or missing file: an error wrapping ErrBadBackup);
//   - places the config dir: the manifest's absolute one (a relative one,
//     from an older zchaos, only with opts.ConfigDir), which must exist on
//     the target;
//   - checks that the backup belongs to the target: the target's name is
//     the one the manifest records (unless opts.AnyTarget), and zinit runs
//     some of the backup's services (migrated or legacy) or the config dir
//     holds some of its files;
//
// any refusal wraps ErrWrongTarget (or ErrBadBackup) and changes nothing.
// It then plans every change (report.Plan, written to opts.Log first) and
// makes them: it stops and removes the migrated services, copies the
// legacy files back into the config dir byte for byte (a different file in
// the way is first moved into the backup's displaced/), and runs `zinit
// reload` so zinit starts the legacy services again. It is idempotent. A
// failed step stops it with a *StepError. With opts.DryRun it stops after
// planning.
func Rollback(ctx context.Context, backupDir string, t Target, opts RollbackOptions) (RollbackReport, error) {
	rep := RollbackReport{Target: t.String(), Backup: backupDir, DryRun: opts.DryRun, Changes: []Change{}}
	if !path.IsAbs(backupDir) {
		return rep, &zinit.ConfigError{File: backupDir, Err: errors.New("the backup dir must be an absolute path on the target")}
	}
	backupDir = path.Clean(backupDir)
	rep.Backup = backupDir
	manifest := path.Join(backupDir, ManifestName)
	if err := t.Ping(ctx); err != nil {
		return rep, err
	}
	fs := t.Files()
	m, err := readManifest(ctx, fs, manifest)
	if err != nil {
		return rep, err
	}
	refuse := func(key, format string, a ...any) error {
		return &zinit.ConfigError{File: manifest, Key: key,
			Err: fmt.Errorf("%w: "+format+"; nothing changed", append([]any{ErrWrongTarget}, a...)...)}
	}
	cfg := m.ConfigDir
	switch {
	case opts.ConfigDir != "" && !path.IsAbs(opts.ConfigDir):
		return rep, &zinit.ConfigError{File: opts.ConfigDir, Err: errors.New("the config dir must be an absolute path on the target")}
	case !path.IsAbs(cfg) && opts.ConfigDir == "":
		return rep, refuse("config_dir", "the config dir %q is relative to the directory apply ran in (a manifest of an older zchaos), which rollback cannot know: give zinit's config dir as an absolute path (--config-dir)", cfg)
	case !path.IsAbs(cfg):
		cfg = path.Clean(opts.ConfigDir)
	case opts.ConfigDir != "" && path.Clean(opts.ConfigDir) != path.Clean(cfg):
		return rep, refuse("config_dir", "the files came from %s, not %s", cfg, path.Clean(opts.ConfigDir))
	}
	cfg = path.Clean(cfg)
	if m.Target != "" && m.Target != t.String() && !opts.AnyTarget {
		return rep, refuse("target", "the backup was taken from %s, not %s (if that zinit now answers here, roll back with --any-target)", m.Target, t)
	}
	rep.ConfigDir = cfg

	names := make([]string, len(m.Files))
	want := make([]FileSum, len(m.Files))
	for i, f := range m.Files {
		names[i] = f.Name
		want[i] = FileSum{Name: f.Name, SHA256: f.SHA256}
	}
	// Verify the whole backup in one batch before changing anything.
	sums, err := fs.SumFiles(ctx, path.Join(backupDir, "files"), names)
	if err != nil {
		if fe := (*FileError)(nil); errors.As(err, &fe) {
			return rep, fmt.Errorf("verify backup %s: %w: %w; nothing changed", backupDir, ErrBadBackup, err)
		}
		return rep, fmt.Errorf("verify backup %s: %w; nothing changed", backupDir, err)
	}
	if len(sums) != len(m.Files) {
		return rep, fmt.Errorf("verify backup %s: %d of %d checksums; nothing changed", backupDir, len(sums), len(m.Files))
	}
	for i, f := range m.Files {
		if sums[i].Name != f.Name || sums[i].SHA256 != f.SHA256 {
			return rep, fmt.Errorf("verify backup %s: %w: %s has checksum %s, the manifest says %s; nothing changed",
				backupDir, ErrBadBackup, f.Name, sums[i].SHA256, f.SHA256)
		}
	}

	// Does the target look like the one the backup was taken from?
	if ok, err := fs.Exists(ctx, cfg); err != nil {
		return rep, fmt.Errorf("config dir %s: %w", cfg, err)
	} else if !ok {
		return rep, refuse("config_dir", "the config dir %s does not exist on %s", cfg, t)
	}
	status, err := t.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("list services: %w", err)
	}
	byName := map[string]zinit.ServiceStatus{}
	for _, st := range status {
		byName[st.Name] = st
	}
	listed, err := fs.List(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("config dir %s: %w", cfg, err)
	}
	inDir := map[string]bool{}
	for _, n := range listed {
		inDir[n] = true
	}
	known, there := 0, []string{}
	for _, n := range append(slices.Clone(m.Services), m.Retired...) {
		if _, ok := byName[n]; ok {
			known++
		}
	}
	for _, n := range names {
		if inDir[n] {
			there = append(there, n)
		}
	}
	if known == 0 && len(there) == 0 && len(m.Files) > 0 {
		return rep, refuse("", "zinit on %s runs none of the backup's %d services and %s holds none of its %d files: this is not the zinit the backup was taken from",
			t, len(m.Services)+len(m.Retired), cfg, len(m.Files))
	}

	// The plan: every change, decided before the first is made.
	var down []cliStep
	for i := len(m.Services) - 1; i >= 0; i-- {
		n := m.Services[i]
		st, ok := byName[n]
		if !ok || st.Legacy {
			continue
		}
		down = append(down, stopStep(t, n), removeStep(t, n))
	}
	current := map[string]string{}
	if len(there) > 0 {
		got, err := fs.SumFiles(ctx, cfg, there)
		if err != nil {
			return rep, fmt.Errorf("config dir %s: %w; nothing changed", cfg, err)
		}
		for _, g := range got {
			current[g.Name] = g.SHA256
		}
	}
	disp := path.Join(backupDir, "displaced")
	rep.Plan = []Change{}
	for _, s := range down {
		rep.Plan = append(rep.Plan, s.c)
	}
	for _, f := range want {
		sum, ok := current[f.Name]
		switch {
		case ok && sum == f.SHA256:
			continue // already restored
		case inDir[f.Name]:
			rep.Plan = append(rep.Plan, Change{Action: ActionDisplace, Unit: f.Name, Detail: "to " + path.Join(disp, f.Name)})
		}
		rep.Plan = append(rep.Plan, Change{Action: ActionRestore, Unit: f.Name, Detail: "to " + path.Join(cfg, f.Name)})
	}
	rep.Plan = append(rep.Plan, Change{Action: ActionReload, Unit: "zinit"})
	if opts.Log != nil {
		verb := "will"
		if opts.DryRun {
			verb = "would (dry run)"
		}
		fmt.Fprintf(opts.Log, "rollback of %s on %s, config dir %s: %s make %d changes\n", backupDir, t, cfg, verb, len(rep.Plan))
		for _, c := range rep.Plan {
			fmt.Fprintf(opts.Log, "  %s %s", c.Action, c.Unit)
			if c.Detail != "" {
				fmt.Fprintf(opts.Log, " %s", c.Detail)
			}
			fmt.Fprintln(opts.Log)
		}
	}
	if opts.DryRun {
		rep.Changes = slices.Clone(rep.Plan)
		return rep, nil
	}

	do := func(c Change, f func(context.Context) error) error {
		if err := f(ctx); err != nil {
			rep.Failed = &c
			return &StepError{Step: c, Backup: backupDir, Err: err}
		}
		rep.Changes = append(rep.Changes, c)
		return nil
	}
	if err := runSteps(ctx, t, down, func(c Change) { rep.Changes = append(rep.Changes, c) }, func(c Change, err error) error {
		rep.Failed = &c
		return &StepError{Step: c, Backup: backupDir, Err: err}
	}); err != nil {
		return rep, err
	}
	// Restore every file in one batch (a different file in the way goes to
	// displaced/ first; every copy's checksum checked).
	res, rerr := fs.RestoreFiles(ctx, path.Join(backupDir, "files"), cfg, disp, want)
	for _, r := range res {
		if r.Skipped {
			continue // already restored
		}
		if r.Displaced {
			rep.Changes = append(rep.Changes, Change{Action: ActionDisplace, Unit: r.Name, Detail: "to " + path.Join(disp, r.Name)})
		}
		rep.Changes = append(rep.Changes, Change{Action: ActionRestore, Unit: r.Name, Detail: "to " + path.Join(cfg, r.Name)})
	}
	if rerr != nil {
		c := Change{Action: ActionRestore, Unit: cfg}
		if fe := (*FileError)(nil); errors.As(rerr, &fe) && fe.Name != "" {
			c = Change{Action: fe.Op, Unit: fe.Name}
			switch fe.Op {
			case ActionDisplace:
				c.Detail = "to " + path.Join(disp, fe.Name)
			default:
				c.Action, c.Detail = ActionRestore, "to "+path.Join(cfg, fe.Name)
			}
		}
		rep.Failed = &c
		return rep, &StepError{Step: c, Backup: backupDir, Err: rerr}
	}
	if err := do(Change{Action: ActionReload, Unit: "zinit"}, t.Reload); err != nil {
		return rep, err
	}
	return rep, nil
}

// readManifest reads and checks a backup's manifest (version 1 or 2):
// anything else is a *zinit.ConfigError naming the file.
func readManifest(ctx context.Context, fs FileSystem, file string) (Manifest, error) {
	raw, err := fs.ReadFile(ctx, file)
	if err != nil {
		return Manifest{}, &zinit.ConfigError{File: file, Err: fmt.Errorf("not a zchaos backup dir: %w", fileCause(err))}
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, &zinit.ConfigError{File: file, Err: fmt.Errorf("%w: bad manifest: %w", zinit.ErrMalformed, err)}
	}
	if m.Version < 1 || m.Version > ManifestVersion {
		return Manifest{}, &zinit.ConfigError{File: file, Key: "version",
			Err: fmt.Errorf("%w: manifest version %d, this zchaos reads 1 to %d", zinit.ErrMalformed, m.Version, ManifestVersion)}
	}
	if m.ConfigDir == "" {
		return Manifest{}, &zinit.ConfigError{File: file, Key: "config_dir", Err: fmt.Errorf("%w: no config dir", zinit.ErrMalformed)}
	}
	for _, f := range m.Files {
		if path.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." || f.Name == "/" || !isHexSum(f.SHA256) {
			return Manifest{}, &zinit.ConfigError{File: file, Key: "files", Err: fmt.Errorf("%w: file %q", zinit.ErrMalformed, f.Name)}
		}
	}
	return m, nil
}
