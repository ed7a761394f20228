package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// LegacyJobName is the name of the start job a legacy TOML service gets.
const LegacyJobName = "main"

// legacyDef is one service as a zinit 0.3 TOML file declares it.
type legacyDef struct {
	File         string
	Name         string
	Exec         string
	Oneshot      bool
	Dir          string
	Env          map[string]string
	After        []string
	Restart      zinit.RestartPolicy
	RestartDelay time.Duration
	MaxRestarts  int
}

// sameService reports whether two definitions run the same thing (the file
// path aside).
func (d legacyDef) sameService(o legacyDef) bool {
	d.File, o.File = "", ""
	return reflect.DeepEqual(d, o)
}

// loadLegacy reads one legacy service file with zinit.ParseLegacy and
// maps it to the supervisor's model: one start job whose policy is the
// [lifecycle] one, never with no [lifecycle] [seed], and never for a
// oneshot (it runs once). Names and dependencies must be names zinit
// accepts, restart_delay_ms must be > 0, and the start job must build.
// Errors are *zinit.ConfigError naming the file and, when known, the line.
// Keys it does not use (unknown keys, the [health] section, which this
// supervisor does not run) are returned as warnings.
func loadLegacy(path string, data []byte) (legacyDef, []string, error) {
	l, err := zinit.ParseLegacy(path, data)
	if err != nil {
		return legacyDef{}, nil, err
	}
	bad := func(field string, err error) error {
		return &zinit.ConfigError{File: path, Line: l.Line(field), Key: field, Err: err}
	}
	var warnings []string
	for _, k := range l.Unknown {
		warnings = append(warnings, fmt.Sprintf("%s:%d: unknown key %s ignored", path, l.Line(k), k))
	}
	if l.Health != nil {
		warnings = append(warnings, fmt.Sprintf("%s:%d: [health] ignored: this supervisor runs no legacy health checks", path, l.Line("health")))
	}
	d := legacyDef{
		File: path, Name: l.Name, Exec: l.Exec, Oneshot: l.Oneshot, Dir: l.Dir, Env: l.Env,
		After: l.After, Restart: zinit.RestartNever,
	}
	if err := zinit.ValidateName(d.Name); err != nil {
		return legacyDef{}, nil, bad("name", err)
	}
	for _, a := range d.After {
		if err := zinit.ValidateName(a); err != nil {
			return legacyDef{}, nil, bad("after", err)
		}
	}
	if lc := l.Lifecycle; lc != nil {
		d.Restart = lc.Policy()
		if lc.RestartDelayMs != nil {
			if *lc.RestartDelayMs <= 0 {
				return legacyDef{}, nil, bad("lifecycle.restart_delay_ms", fmt.Errorf("must be > 0, got %d", *lc.RestartDelayMs))
			}
			d.RestartDelay = time.Duration(*lc.RestartDelayMs) * time.Millisecond
		}
		if lc.MaxRestarts != nil {
			d.MaxRestarts = *lc.MaxRestarts
		}
	}
	if d.Oneshot {
		d.Restart = zinit.RestartNever
	}
	if _, err := d.job().Build(); err != nil {
		return legacyDef{}, nil, &zinit.ConfigError{File: path, Err: err}
	}
	return d, warnings, nil
}

func (d legacyDef) job() *zinit.JobBuilder {
	b := zinit.NewJob(d.Name, LegacyJobName).Exec(d.Exec).Trigger(zinit.TriggerStart).Restart(d.Restart).MaxRestarts(d.MaxRestarts)
	if d.RestartDelay > 0 {
		b.RestartDelay(d.RestartDelay)
	}
	keys := make([]string, 0, len(d.Env))
	for k := range d.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.Env(k, d.Env[k])
	}
	return b
}

// setLegacy makes s the service d declares: one start job, LegacyJobName.
func (s *service) setLegacy(d legacyDef) {
	s.legacy = &d
	s.def.After = append([]string(nil), d.After...)
	j, _ := d.job().Build() // validated by loadLegacy
	s.jobs = []*job{{def: j}}
}

// MaxConfigFileBytes bounds one legacy *.toml file: no bigger than the
// daemon's longest request, which is where a service's definition
// otherwise comes from.
const MaxConfigFileBytes = zinit.MaxRequestBytes

// readLegacyDir parses every *.toml of the config dir, reading regular
// files only (zinit.ReadRegularFile: a FIFO never blocks the engine) of at most
// MaxConfigFileBytes. Bad files are logged and returned in bad (by path),
// so reload leaves their services alone, and in skipped, with the line
// when known.
func (e *Engine) readLegacyDir() (defs []legacyDef, bad map[string]bool, skipped []zinit.SkippedFile) {
	bad = map[string]bool{}
	skipped = []zinit.SkippedFile{}
	skip := func(p string, err error) {
		e.log.Error("legacy config: file skipped", "err", err)
		bad[p] = true
		skipped = append(skipped, skippedFile(p, err))
	}
	paths, err := filepath.Glob(filepath.Join(e.configDir, "*.toml"))
	if err != nil {
		e.log.Error("legacy config dir", "dir", e.configDir, "err", err)
		return nil, bad, append(skipped, skippedFile(e.configDir, err))
	}
	sort.Strings(paths)
	seen := map[string]string{}
	for _, p := range paths {
		data, err := zinit.ReadRegularFile(p, MaxConfigFileBytes)
		if err != nil {
			skip(p, err)
			continue
		}
		d, warnings, err := loadLegacy(p, data)
		for _, w := range warnings {
			e.log.Warn("legacy config", "warning", w)
		}
		if err != nil {
			skip(p, err)
			continue
		}
		if other, dup := seen[d.Name]; dup {
			skip(p, &zinit.ConfigError{File: p, Key: "name", Err: fmt.Errorf("service %q is already declared in %s", d.Name, other)})
			continue
		}
		seen[d.Name] = p
		defs = append(defs, d)
	}
	return defs, bad, skipped
}

// skippedFile is err as a SkippedFile of path: a *zinit.ConfigError gives
// its line and key; another error its text, without a repeated path.
func skippedFile(path string, err error) zinit.SkippedFile {
	var ce *zinit.ConfigError
	if errors.As(err, &ce) {
		reason := ce.Err.Error()
		if ce.Key != "" {
			reason = ce.Key + ": " + reason
		}
		return zinit.SkippedFile{File: ce.File, Line: ce.Line, Reason: reason}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return zinit.SkippedFile{File: path, Reason: pe.Op + ": " + pe.Err.Error()}
	}
	return zinit.SkippedFile{File: path, Reason: strings.TrimPrefix(err.Error(), path+": ")}
}

// legacyConflict logs and returns the skip of a legacy file whose service
// name is taken by a service created through the API (or restored).
func (e *Engine) legacyConflict(d legacyDef) zinit.SkippedFile {
	e.log.Error("legacy service conflicts with a service created through the API; skipped", "service", d.Name, "file", d.File)
	return zinit.SkippedFile{File: d.File, Reason: fmt.Sprintf("service %q already exists (created through the API): file not used", d.Name)}
}

// Reload re-reads the config dir: new files are started, services whose
// file is gone are stopped and removed, services whose file changed are
// restarted with the new definition. Services created through the API are
// never touched [pin]; a file that no longer parses leaves its service as
// it is. It returns at once; stops complete in the background.
func (e *Engine) Reload() (zinit.ReloadResult, error) {
	res := zinit.ReloadResult{Started: []string{}, Stopped: []string{}, Restarted: []string{}, Skipped: []zinit.SkippedFile{}}
	if e.shutdown != nil {
		return res, errShuttingDown
	}
	if e.configDir == "" {
		return res, nil
	}
	defs, bad, skipped := e.readLegacyDir()
	want := map[string]legacyDef{}
	for _, d := range defs {
		want[d.Name] = d
	}
	now := e.clock.Now()
	for _, n := range append([]string(nil), e.names...) {
		s := e.services[n]
		if s.legacy == nil && mutant("reload-wipes-api-services") {
			res.Stopped = append(res.Stopped, n)
			e.stopThen(s, func() {
				if !s.removed {
					e.delete(s)
				}
			})
			continue
		}
		if s.legacy == nil {
			continue
		}
		d, ok := want[n]
		switch {
		case !ok && bad[s.legacy.File]:
			// Its file is there but broken: leave the service alone.
		case !ok:
			res.Stopped = append(res.Stopped, n)
			e.stopThen(s, func() {
				if !s.removed {
					e.delete(s)
				}
			})
		case !d.sameService(*s.legacy):
			res.Restarted = append(res.Restarted, n)
			e.stopThen(s, func() {
				if s.removed || e.shutdown != nil {
					return
				}
				for _, j := range s.jobs {
					e.sp.Release(j)
				}
				s.setLegacy(d)
				e.startService(s, e.clock.Now())
			})
		default:
			s.legacy.File = d.File
		}
	}
	for _, d := range defs {
		if s, ok := e.services[d.Name]; ok {
			if s.legacy == nil {
				skipped = append(skipped, e.legacyConflict(d))
			}
			continue
		}
		s := newService(zinit.Service{Name: d.Name, After: d.After})
		s.setLegacy(d)
		e.insert(s)
		res.Started = append(res.Started, d.Name)
		e.startService(s, now)
	}
	e.configSkipped, res.Skipped = skipped, skipped
	e.settle()
	return res, nil
}
