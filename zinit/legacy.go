package zinit

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Sentinel causes of a ConfigError from ParseLegacy; match them with
// errors.Is.
var (
	ErrMalformed   = errors.New("malformed")                // the file does not parse
	ErrWrongType   = errors.New("wrong type")               // a known key holds the wrong kind of value
	ErrNotAService = errors.New("not a zinit service file") // no [service] table, or empty
	ErrMissingExec = errors.New("exec is required")         // a service without exec
)

// ConfigError is bad input in a config file: a legacy service file that
// cannot be read, parsed or run, or (for the migrator) a policy file. Line
// is 1-based (0 when the problem is the file as a whole); Key is the dotted
// key or field concerned, if any.
type ConfigError struct {
	File string
	Line int
	Key  string
	Err  error
}

// Error renders one line: "file:line: key: cause".
func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

// Unwrap exposes the cause (a sentinel, usually wrapped).
func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigErrorf is a *ConfigError whose cause wraps sentinel: the sentinel
// alone when format is "", else "sentinel: <format>".
func ConfigErrorf(file string, line int, key string, sentinel error, format string, a ...any) *ConfigError {
	err := sentinel
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)
	}
	return &ConfigError{File: file, Line: line, Key: key, Err: err}
}

// Lifecycle is zinit 0.3's [lifecycle] section. Absent values are zero
// (Restart "") or nil.
type Lifecycle struct {
	Restart        string `json:"restart,omitempty"` // always | on-failure | never ("" when absent)
	RestartDelayMs *int64 `json:"restart_delay_ms,omitempty"`
	MaxRestarts    *int   `json:"max_restarts,omitempty"`
}

// Policy is the restart policy Restart names; never when absent.
func (lc *Lifecycle) Policy() RestartPolicy {
	p, _ := ParseRestartPolicy(lc.Restart) // checked by ParseLegacy; "" is never
	return p
}

// HealthSection is zinit 0.3's [health] section, as this project pins it:
// exec (the probe), interval_ms, timeout_ms, grace_ms, retries. Absent
// values are zero.
type HealthSection struct {
	Exec       string `json:"exec,omitempty"`
	IntervalMs int64  `json:"interval_ms,omitempty"`
	TimeoutMs  int64  `json:"timeout_ms,omitempty"`
	GraceMs    int64  `json:"grace_ms,omitempty"`
	Retries    int    `json:"retries,omitempty"`
}

// LegacyService is one legacy (zinit 0.3) service definition as its file
// declares it, before any interpretation: what ParseLegacy reads of a TOML
// file. The migrator fills it from the older YAML dialect too.
type LegacyService struct {
	File         string            `json:"file"`
	Name         string            `json:"name"`
	NameFromFile bool              `json:"name_from_file,omitempty"` // no name key: the file name is the name
	Exec         string            `json:"exec"`
	Oneshot      bool              `json:"oneshot"`
	Dir          string            `json:"dir,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	After        []string          `json:"after,omitempty"`
	// zinit 0.3 sections, nil when absent.
	Lifecycle *Lifecycle     `json:"lifecycle,omitempty"`
	Health    *HealthSection `json:"health,omitempty"`
	// Unknown lists the keys no dialect defines (dotted, in file order).
	Unknown []string `json:"unknown,omitempty"`
	// Lines maps a field ("name", "exec", "env.KEY", "after",
	// "lifecycle.restart", "health.exec", an unknown key, ...) to its
	// 1-based line.
	Lines map[string]int `json:"-"`
}

// Line is the line of field (or of the nearest enclosing one), 0 if unknown.
func (l *LegacyService) Line(field string) int {
	for f := field; f != ""; {
		if n, ok := l.Lines[f]; ok {
			return n
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// LegacyBaseName is a legacy file's name without directory and extension:
// the service's name when the file has no name key.
func LegacyBaseName(file string) string {
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		file = file[:i]
	}
	return file
}

// ParseLegacy reads one zinit 0.3 TOML service file, every dialect the
// fleet uses: `[service] name exec oneshot dir env after`,
// `[dependencies] after`, `[lifecycle] restart restart_delay_ms
// max_restarts`, `[health] exec interval_ms timeout_ms grace_ms retries`.
// env is a table of strings or an array of "KEY=VALUE"; after may be given
// in both tables (in that order: [service], then [dependencies]). A
// missing name is the file's base name (NameFromFile). Keys no dialect
// defines are listed in Unknown, not rejected.
//
// It checks types and the values every reader relies on (restart is
// always, on-failure, never or absent; numbers are non-negative; exec is
// not blank) and nothing more: what a name may be, or whether a delay of 0
// is allowed, is the caller's rule. Errors are *ConfigError with the file,
// the line and the key, wrapping ErrMalformed, ErrWrongType,
// ErrNotAService or ErrMissingExec.
func ParseLegacy(file string, data []byte) (*LegacyService, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, ConfigErrorf(file, pe.Position.Line, pe.LastKey, ErrMalformed, "toml: %s", pe.Message)
		}
		return nil, ConfigErrorf(file, 0, "", ErrMalformed, "toml: %v", err)
	}
	lines := TOMLKeyLines(data)
	l := &LegacyService{File: file, Lines: map[string]int{}}
	r := &tomlReader{file: file, lines: lines}

	for _, k := range sortedKeys(raw, lines, "") {
		switch k {
		case "service", "dependencies", "lifecycle", "health":
		default:
			l.Unknown = append(l.Unknown, k)
		}
	}
	svc, ok := r.table(raw, "service")
	if !ok {
		if r.err != nil {
			return nil, r.err
		}
		return nil, ConfigErrorf(file, 0, "service", ErrNotAService, "no [service] table")
	}
	for _, k := range sortedKeys(svc, lines, "service") {
		key := "service." + k
		switch k {
		case "name", "exec", "dir", "oneshot", "env", "after":
			l.Lines[k] = lines[key]
		}
		switch k {
		case "name":
			l.Name = r.str(svc, "service", k)
		case "exec":
			l.Exec = r.str(svc, "service", k)
		case "dir":
			l.Dir = r.str(svc, "service", k)
		case "oneshot":
			l.Oneshot = r.boolean(svc, "service", k)
		case "env":
			l.Env = r.strMap(svc, "service", k)
			for ek := range l.Env {
				l.Lines["env."+ek] = lineOr(lines, key+"."+ek, lines[key])
			}
		case "after": // tolerated here too; [dependencies] is the usual place
			l.After = append(l.After, r.strList(svc, "service", k)...)
		default:
			l.Unknown = append(l.Unknown, key)
		}
	}
	if deps, ok := r.table(raw, "dependencies"); ok {
		for _, k := range sortedKeys(deps, lines, "dependencies") {
			switch k {
			case "after":
				l.Lines["after"] = lines["dependencies.after"]
				l.After = append(l.After, r.strList(deps, "dependencies", k)...)
			default:
				l.Unknown = append(l.Unknown, "dependencies."+k)
			}
		}
	}
	if lc, ok := r.table(raw, "lifecycle"); ok {
		l.Lifecycle = &Lifecycle{}
		r.section(l, lc, "lifecycle", func(k string) bool {
			switch k {
			case "restart":
				l.Lifecycle.Restart = r.str(lc, "lifecycle", k)
				if _, err := ParseRestartPolicy(l.Lifecycle.Restart); err != nil && l.Lifecycle.Restart != "" {
					r.fail(ConfigErrorf(file, lines["lifecycle.restart"], "lifecycle.restart", ErrWrongType,
						"%q: want always, on-failure or never", l.Lifecycle.Restart))
				}
			case "restart_delay_ms":
				v := r.integer(lc, "lifecycle", k)
				l.Lifecycle.RestartDelayMs = &v
			case "max_restarts":
				v := int(r.integer(lc, "lifecycle", k))
				l.Lifecycle.MaxRestarts = &v
			default:
				return false
			}
			return true
		})
	}
	if hs, ok := r.table(raw, "health"); ok {
		l.Health = &HealthSection{}
		r.section(l, hs, "health", func(k string) bool {
			switch k {
			case "exec":
				l.Health.Exec = r.str(hs, "health", k)
			case "interval_ms":
				l.Health.IntervalMs = r.integer(hs, "health", k)
			case "timeout_ms":
				l.Health.TimeoutMs = r.integer(hs, "health", k)
			case "grace_ms":
				l.Health.GraceMs = r.integer(hs, "health", k)
			case "retries":
				l.Health.Retries = int(r.integer(hs, "health", k))
			default:
				return false
			}
			return true
		})
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, u := range l.Unknown {
		l.Lines[u] = lines[u]
	}
	if l.Name == "" {
		l.Name = LegacyBaseName(file)
		l.NameFromFile = true
	}
	if strings.TrimSpace(l.Exec) == "" {
		// The exec key's line, or the [service] header's when it is missing.
		return nil, ConfigErrorf(file, lineOr(l.Lines, "exec", lines["service"]), "exec", ErrMissingExec, "")
	}
	return l, nil
}

// tomlReader type-checks values and keeps the first error.
type tomlReader struct {
	file  string
	lines map[string]int
	err   *ConfigError
}

// section records the lines of table name ([lifecycle], [health]) and of
// its keys, and reads each key, in file order, with read; a key read does
// not know (it returns false) is added to l.Unknown.
func (r *tomlReader) section(l *LegacyService, t map[string]any, name string, read func(key string) bool) {
	l.Lines[name] = r.lines[name]
	for _, k := range sortedKeys(t, r.lines, name) {
		l.Lines[name+"."+k] = r.lines[name+"."+k]
		if !read(k) {
			l.Unknown = append(l.Unknown, name+"."+k)
		}
	}
}

func (r *tomlReader) fail(e *ConfigError) {
	if r.err == nil {
		r.err = e
	}
}

func (r *tomlReader) wrong(table, key, want string, v any) {
	k := key
	if table != "" {
		k = table + "." + key
	}
	r.fail(ConfigErrorf(r.file, r.lines[k], k, ErrWrongType, "want %s, got %s", want, tomlTypeName(v)))
}

func (r *tomlReader) table(m map[string]any, key string) (map[string]any, bool) {
	v, ok := m[key]
	if !ok {
		return nil, false
	}
	t, ok := v.(map[string]any)
	if !ok {
		r.wrong("", key, "a table", v)
		return nil, false
	}
	return t, true
}

func (r *tomlReader) str(m map[string]any, table, key string) string {
	s, ok := m[key].(string)
	if !ok {
		r.wrong(table, key, "a string", m[key])
	}
	return s
}

func (r *tomlReader) boolean(m map[string]any, table, key string) bool {
	b, ok := m[key].(bool)
	if !ok {
		r.wrong(table, key, "a boolean", m[key])
	}
	return b
}

func (r *tomlReader) integer(m map[string]any, table, key string) int64 {
	n, ok := m[key].(int64)
	if !ok || n < 0 {
		r.wrong(table, key, "a non-negative integer", m[key])
	}
	return n
}

func (r *tomlReader) strList(m map[string]any, table, key string) []string {
	arr, ok := m[key].([]any)
	if !ok {
		r.wrong(table, key, "an array of strings", m[key])
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			r.wrong(table, key, "an array of strings", m[key])
			return nil
		}
		out = append(out, s)
	}
	return out
}

// strMap reads a table of strings, or (as zinit also accepts) an array of
// "KEY=VALUE" strings.
func (r *tomlReader) strMap(m map[string]any, table, key string) map[string]string {
	if arr, ok := m[key].([]any); ok {
		out := make(map[string]string, len(arr))
		for _, e := range arr {
			s, ok := e.(string)
			k, v, found := strings.Cut(s, "=")
			if !ok || !found || k == "" {
				r.wrong(table, key, `a table of strings or an array of "KEY=VALUE"`, m[key])
				return nil
			}
			out[k] = v
		}
		return out
	}
	t, ok := m[key].(map[string]any)
	if !ok {
		r.wrong(table, key, `a table of strings or an array of "KEY=VALUE"`, m[key])
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		s, ok := v.(string)
		if !ok {
			r.wrong(table+"."+key, k, "a string", v)
			continue
		}
		out[k] = s
	}
	return out
}

func tomlTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// sortedKeys lists m's keys in file order (by line, then name).
func sortedKeys(m map[string]any, lines map[string]int, table string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	full := func(k string) string {
		if table == "" {
			return k
		}
		return table + "." + k
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := lines[full(keys[i])], lines[full(keys[j])]
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func lineOr(lines map[string]int, key string, def int) int {
	if n, ok := lines[key]; ok {
		return n
	}
	return def
}

// TOMLKeyLines maps each dotted key ("service.exec") and table header
// ("service") of a TOML document to its 1-based line, for errors that name
// a line. The BurntSushi decoder keeps key positions private, so this is a
// small line scanner that knows headers, bare/quoted keys, dotted keys and
// multi-line strings; call it only on documents the decoder accepted.
func TOMLKeyLines(data []byte) map[string]int {
	out := map[string]int{}
	table := ""
	inMulti := "" // the closing delimiter while inside a multi-line string
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			h := strings.Trim(t, "[]")
			if j := strings.Index(h, "]"); j >= 0 {
				h = h[:j]
			}
			table = normKey(h)
			if _, ok := out[table]; !ok {
				out[table] = n
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		key := normKey(t[:eq])
		if table != "" {
			key = table + "." + key
		}
		if _, ok := out[key]; !ok {
			out[key] = n
		}
		val := t[eq+1:]
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(val, d)%2 == 1 {
				inMulti = d
				break
			}
		}
		// Inline table: record its keys on the same line.
		if v := strings.TrimSpace(val); strings.HasPrefix(v, "{") {
			for _, part := range strings.Split(strings.Trim(v, "{}"), ",") {
				if j := keyEnd(part); j >= 0 {
					sub := key + "." + normKey(part[:j])
					if _, ok := out[sub]; !ok {
						out[sub] = n
					}
				}
			}
		}
	}
	return out
}

// keyEnd finds the '=' that ends a key, skipping quoted parts.
func keyEnd(s string) int {
	q := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '=':
			return i
		}
	}
	return -1
}

// normKey turns ` a . "b c" ` into `a.b c`.
func normKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
