package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/zchaos/zchaos/zinit"
)

// LegacyJobName is the name of the start job a legacy TOML service gets.
const LegacyJobName = "main"

// ConfigError is a problem with one legacy config file. Line is 1-based, 0
// when unknown; Key names the offending key when there is one.
type ConfigError struct {
	File string
	Line int
	Key  string
	Err  error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

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

type legacyFile struct {
	Service struct {
		Name    string `toml:"name"`
		Exec    string `toml:"exec"`
		Oneshot bool   `toml:"oneshot"`
		Dir     string `toml:"dir"`
		Env     any    `toml:"env"`
	} `toml:"service"`
	Dependencies struct {
		After []string `toml:"after"`
	} `toml:"dependencies"`
	Lifecycle *struct {
		Restart        string `toml:"restart"`
		RestartDelayMs *int64 `toml:"restart_delay_ms"`
		MaxRestarts    *int   `toml:"max_restarts"`
	} `toml:"lifecycle"`
}

// ParseLegacy reads one zinit 0.3 service file: `[service] name exec
// oneshot dir env`, `[dependencies] after`, optional `[lifecycle] restart
// restart_delay_ms max_restarts`. With no [lifecycle] the policy is never
// [seed]. Errors are *ConfigError naming the file and, when known, the line.
// Unknown keys are returned as warnings.
func ParseLegacy(path string, data []byte) (legacyDef, []string, error) {
	var f legacyFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		ce := &ConfigError{File: path, Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			ce.Line = pe.Position.Line
			ce.Err = errors.New(pe.Message)
		}
		return legacyDef{}, nil, ce
	}
	bad := func(key string, format string, a ...any) error {
		return &ConfigError{File: path, Line: keyLine(data, key), Key: key, Err: fmt.Errorf(format, a...)}
	}
	var warnings []string
	for _, k := range md.Undecoded() {
		warnings = append(warnings, fmt.Sprintf("%s:%d: unknown key %s ignored", path, keyLine(data, k[len(k)-1]), k))
	}
	d := legacyDef{
		File: path, Name: f.Service.Name, Exec: f.Service.Exec, Oneshot: f.Service.Oneshot, Dir: f.Service.Dir,
		After: f.Dependencies.After, Restart: zinit.RestartNever,
	}
	if d.Name == "" {
		d.Name = strings.TrimSuffix(filepath.Base(path), ".toml")
	}
	if err := zinit.ValidateName(d.Name); err != nil {
		return legacyDef{}, nil, bad("name", "%w", err)
	}
	if strings.TrimSpace(d.Exec) == "" {
		return legacyDef{}, nil, &ConfigError{File: path, Line: sectionLine(data, "service"), Key: "exec", Err: errors.New("[service] exec is required")}
	}
	for _, a := range d.After {
		if err := zinit.ValidateName(a); err != nil {
			return legacyDef{}, nil, bad("after", "%w", err)
		}
	}
	switch env := f.Service.Env.(type) {
	case nil:
	case map[string]any:
		d.Env = map[string]string{}
		for k, v := range env {
			s, ok := v.(string)
			if !ok {
				return legacyDef{}, nil, bad(k, "env value must be a string, got %T", v)
			}
			d.Env[k] = s
		}
	case []any:
		d.Env = map[string]string{}
		for _, v := range env {
			s, ok := v.(string)
			k, val, found := strings.Cut(s, "=")
			if !ok || !found || k == "" {
				return legacyDef{}, nil, bad("env", "want KEY=VALUE strings, got %v", v)
			}
			d.Env[k] = val
		}
	default:
		return legacyDef{}, nil, bad("env", "want a table or a list of KEY=VALUE, got %T", env)
	}
	if lc := f.Lifecycle; lc != nil {
		if lc.Restart != "" {
			p, err := zinit.ParseRestartPolicy(lc.Restart)
			if err != nil {
				return legacyDef{}, nil, bad("restart", "%w", err)
			}
			d.Restart = p
		}
		if lc.RestartDelayMs != nil {
			if *lc.RestartDelayMs <= 0 {
				return legacyDef{}, nil, bad("restart_delay_ms", "must be > 0, got %d", *lc.RestartDelayMs)
			}
			d.RestartDelay = time.Duration(*lc.RestartDelayMs) * time.Millisecond
		}
		if lc.MaxRestarts != nil {
			if *lc.MaxRestarts < 0 {
				return legacyDef{}, nil, bad("max_restarts", "must be >= 0, got %d", *lc.MaxRestarts)
			}
			d.MaxRestarts = *lc.MaxRestarts
		}
	}
	if d.Oneshot {
		d.Restart = zinit.RestartNever
	}
	if _, err := d.job().Build(); err != nil {
		return legacyDef{}, nil, &ConfigError{File: path, Err: err}
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

func keyLine(data []byte, key string) int {
	re, err := regexp.Compile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	if err != nil {
		return 0
	}
	return matchLine(data, re)
}

func sectionLine(data []byte, section string) int {
	return matchLine(data, regexp.MustCompile(`^\s*\[\s*`+regexp.QuoteMeta(section)+`\s*\]`))
}

func matchLine(data []byte, re *regexp.Regexp) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if re.Match(sc.Bytes()) {
			return n
		}
	}
	return 0
}

// setLegacy makes s the service d declares: one start job, LegacyJobName.
func (s *service) setLegacy(d legacyDef) {
	s.legacy = &d
	s.def.After = append([]string(nil), d.After...)
	j, _ := d.job().Build() // validated by ParseLegacy
	s.jobs = []*job{{def: j}}
}

// readLegacyDir parses every *.toml of the config dir. Bad files are logged
// and returned in bad (by path) so reload leaves their services alone.
func (e *Engine) readLegacyDir() (defs []legacyDef, bad map[string]bool) {
	bad = map[string]bool{}
	paths, err := filepath.Glob(filepath.Join(e.configDir, "*.toml"))
	if err != nil {
		e.log.Error("legacy config dir", "dir", e.configDir, "err", err)
		return nil, bad
	}
	sort.Strings(paths)
	seen := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			e.log.Error("legacy config", "err", &ConfigError{File: p, Err: err})
			bad[p] = true
			continue
		}
		d, warnings, err := ParseLegacy(p, data)
		for _, w := range warnings {
			e.log.Warn("legacy config", "warning", w)
		}
		if err != nil {
			e.log.Error("legacy config: service skipped", "err", err)
			bad[p] = true
			continue
		}
		if other, dup := seen[d.Name]; dup {
			e.log.Error("legacy config: service skipped", "err",
				&ConfigError{File: p, Key: "name", Err: fmt.Errorf("service %q is already declared in %s", d.Name, other)})
			bad[p] = true
			continue
		}
		seen[d.Name] = p
		defs = append(defs, d)
	}
	return defs, bad
}

// Reload re-reads the config dir: new files are started, services whose
// file is gone are stopped and removed, services whose file changed are
// restarted with the new definition. Services created through the API are
// never touched [pin]; a file that no longer parses leaves its service as
// it is. It returns at once; stops complete in the background.
func (e *Engine) Reload() (zinit.ReloadResult, error) {
	res := zinit.ReloadResult{Started: []string{}, Stopped: []string{}, Restarted: []string{}}
	if e.shutdown != nil {
		return res, errShuttingDown
	}
	if e.configDir == "" {
		return res, nil
	}
	defs, bad := e.readLegacyDir()
	want := map[string]legacyDef{}
	for _, d := range defs {
		want[d.Name] = d
	}
	now := e.clock.Now()
	for _, n := range append([]string(nil), e.names...) {
		s := e.services[n]
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
				e.log.Error("legacy service conflicts with a service created through the API; skipped", "service", d.Name, "file", d.File)
			}
			continue
		}
		s := newService(zinit.Service{Name: d.Name, After: d.After})
		s.setLegacy(d)
		e.insert(s)
		res.Started = append(res.Started, d.Name)
		e.startService(s, now)
	}
	e.settle()
	return res, nil
}
