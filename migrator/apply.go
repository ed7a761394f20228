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

// ManifestName is the manifest file in a backup dir.
const ManifestName = "manifest.json"

// Manifest describes a backup dir: files/ holds the verified copies of the
// legacy files, moved/ the originals moved out of the config dir.
type Manifest struct {
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
	ConfigDir string `json:"config_dir"`
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BackupRoot == "" {
		opts.BackupRoot = path.Clean(opts.ConfigDir) + ".zchaos-backup"
	}
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
	m := Manifest{Version: 1, CreatedAt: path.Base(dir), ConfigDir: configDir, Services: plan.Names(), Retired: []string{}}
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

// RollbackReport says what Rollback did.
type RollbackReport struct {
	Target  string   `json:"target"`
	Backup  string   `json:"backup"`
	Changes []Change `json:"changes"`
	Failed  *Change  `json:"failed,omitempty"`
}

// Rollback undoes an apply from its backup dir (on the target's file
// system): it verifies every backed-up file against the manifest (a
// mismatch changes nothing), stops and removes the migrated services,
// copies the legacy files back into the config dir byte for byte (a
// different file in the way is first moved into the backup's displaced/),
// and runs `zinit reload` so zinit starts the legacy services again. It is
// idempotent. A failed step stops it with a *StepError.
func Rollback(ctx context.Context, backupDir string, t Target) (RollbackReport, error) {
	rep := RollbackReport{Target: t.String(), Backup: backupDir, Changes: []Change{}}
	if err := t.Ping(ctx); err != nil {
		return rep, err
	}
	fs := t.Files()
	raw, err := fs.ReadFile(ctx, path.Join(backupDir, ManifestName))
	if err != nil {
		return rep, &zinit.ConfigError{File: path.Join(backupDir, ManifestName), Err: fmt.Errorf("not a zchaos backup dir: %w", err)}
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Version != 1 || m.ConfigDir == "" {
		return rep, &zinit.ConfigError{File: path.Join(backupDir, ManifestName), Err: fmt.Errorf("%w: bad manifest", zinit.ErrMalformed)}
	}
	names := make([]string, len(m.Files))
	want := make([]FileSum, len(m.Files))
	for i, f := range m.Files {
		if path.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." || !isHexSum(f.SHA256) {
			return rep, &zinit.ConfigError{File: path.Join(backupDir, ManifestName), Key: "files", Err: fmt.Errorf("%w: file %q", zinit.ErrMalformed, f.Name)}
		}
		names[i] = f.Name
		want[i] = FileSum{Name: f.Name, SHA256: f.SHA256}
	}
	// Verify the whole backup in one batch before changing anything.
	sums, err := fs.SumFiles(ctx, path.Join(backupDir, "files"), names)
	if err != nil {
		return rep, fmt.Errorf("verify backup: %w: nothing changed", err)
	}
	if len(sums) != len(m.Files) {
		return rep, fmt.Errorf("verify backup: %d of %d checksums: nothing changed", len(sums), len(m.Files))
	}
	for i, f := range m.Files {
		if sums[i].Name != f.Name || sums[i].SHA256 != f.SHA256 {
			return rep, fmt.Errorf("verify backup: %s: checksum %s, manifest says %s: nothing changed", f.Name, sums[i].SHA256, f.SHA256)
		}
	}
	status, err := t.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("list services: %w", err)
	}
	byName := map[string]zinit.ServiceStatus{}
	for _, st := range status {
		byName[st.Name] = st
	}
	do := func(c Change, f func(context.Context) error) error {
		if err := f(ctx); err != nil {
			rep.Failed = &c
			return &StepError{Step: c, Backup: backupDir, Err: err}
		}
		rep.Changes = append(rep.Changes, c)
		return nil
	}
	var down []cliStep
	for i := len(m.Services) - 1; i >= 0; i-- {
		n := m.Services[i]
		st, ok := byName[n]
		if !ok || st.Legacy {
			continue
		}
		down = append(down, stopStep(t, n), removeStep(t, n))
	}
	if err := runSteps(ctx, t, down, func(c Change) { rep.Changes = append(rep.Changes, c) }, func(c Change, err error) error {
		rep.Failed = &c
		return &StepError{Step: c, Backup: backupDir, Err: err}
	}); err != nil {
		return rep, err
	}
	// Restore every file in one batch (a different file in the way goes to
	// displaced/ first; every copy's checksum checked).
	disp := path.Join(backupDir, "displaced")
	res, rerr := fs.RestoreFiles(ctx, path.Join(backupDir, "files"), m.ConfigDir, disp, want)
	for _, r := range res {
		if r.Skipped {
			continue // already restored
		}
		if r.Displaced {
			rep.Changes = append(rep.Changes, Change{Action: ActionDisplace, Unit: r.Name, Detail: "to " + path.Join(disp, r.Name)})
		}
		rep.Changes = append(rep.Changes, Change{Action: ActionRestore, Unit: r.Name, Detail: "to " + path.Join(m.ConfigDir, r.Name)})
	}
	if rerr != nil {
		c := Change{Action: ActionRestore, Unit: m.ConfigDir}
		if fe := (*FileError)(nil); errors.As(rerr, &fe) && fe.Name != "" {
			c = Change{Action: fe.Op, Unit: fe.Name}
			switch fe.Op {
			case ActionDisplace:
				c.Detail = "to " + path.Join(disp, fe.Name)
			default:
				c.Action, c.Detail = ActionRestore, "to "+path.Join(m.ConfigDir, fe.Name)
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
