package migrator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Dialect is the format a legacy file was written in. It is detected per
// file and always reported; a file that fits no dialect is a ConfigError,
// never a silent guess.
type Dialect string

const (
	// DialectTOMLService is a TOML service as hero_services writes it:
	// [service] name exec oneshot dir env, [dependencies] after.
	DialectTOMLService Dialect = "toml-service"
	// DialectTOMLHealth is a TOML service file shaped as a health check: a
	// oneshot whose exec is a probe and whose after names exactly one
	// service (the one it checks).
	DialectTOMLHealth Dialect = "toml-health"
	// DialectTOMLLifecycle is a TOML service with zinit 0.3's [lifecycle]
	// and/or [health] sections.
	DialectTOMLLifecycle Dialect = "toml-0.3-lifecycle"
	// DialectYAML is the older zinit YAML service (name = file name): exec,
	// test, oneshot, after, env, dir, signal.stop, shutdown_timeout, log.
	DialectYAML Dialect = "yaml"
)

// Role says what a legacy file stands for.
type Role string

const (
	RoleService Role = "service" // a service to migrate
	RoleHealth  Role = "health"  // a health file: absorbed into its service's check job
)

// Lifecycle is zinit 0.3's [lifecycle] section. Absent values are zero
// (Restart "") or nil.
type Lifecycle struct {
	Restart        string `json:"restart,omitempty"` // always | on-failure | never
	RestartDelayMs *int64 `json:"restart_delay_ms,omitempty"`
	MaxRestarts    *int   `json:"max_restarts,omitempty"`
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

// CheckKind is the kind of legacy probe a health exec is.
type CheckKind string

const (
	CheckMake  CheckKind = "make"  // make health-check (services with a build section)
	CheckCurl  CheckKind = "curl"  // curl on an HTTP port (UI services)
	CheckEcho  CheckKind = "echo"  // echo "No health check configured": always passes
	CheckSocat CheckKind = "socat" // a JSON-RPC call through socat on a Unix socket
	CheckOther CheckKind = "other" // a command of no known shape (only from [health] or test)
)

// LegacyCheck is a legacy probe command and what it points at.
type LegacyCheck struct {
	Kind   CheckKind `json:"kind"`
	Exec   string    `json:"exec"`
	Socket string    `json:"socket,omitempty"` // socat's UNIX-CONNECT path
	URL    string    `json:"url,omitempty"`    // curl's URL
	Port   int       `json:"port,omitempty"`   // the URL's port
	// AlwaysPasses is true when the command succeeds whatever the service
	// does (echo, make health-check with no such target, "|| true").
	AlwaysPasses bool `json:"always_passes"`
	// IgnoresAnswer is true when the command succeeds on any answer (socat
	// without looking at the reply, curl without -f).
	IgnoresAnswer bool `json:"ignores_answer"`
}

// Legacy is one parsed legacy file.
type Legacy struct {
	File         string            `json:"file"`
	Dialect      Dialect           `json:"dialect"`
	Role         Role              `json:"role"`
	Name         string            `json:"name"`
	NameFromFile bool              `json:"name_from_file,omitempty"` // no name key: the file name is the name
	Exec         string            `json:"exec"`
	Oneshot      bool              `json:"oneshot"`
	Dir          string            `json:"dir,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	After        []string          `json:"after,omitempty"`
	// YAML only.
	Test            string        `json:"test,omitempty"`
	StopSignal      string        `json:"stop_signal,omitempty"`
	ShutdownTimeout time.Duration `json:"shutdown_timeout,omitempty"`
	Log             string        `json:"log,omitempty"`
	// zinit 0.3 sections, nil when absent.
	Lifecycle *Lifecycle     `json:"lifecycle,omitempty"`
	Health    *HealthSection `json:"health,omitempty"`
	// Check is set for a health file (RoleHealth): its probe.
	Check *LegacyCheck `json:"check,omitempty"`
	// Unknown lists the keys no dialect defines (dotted, in file order).
	Unknown []string `json:"unknown,omitempty"`
	// Lines maps a field ("name", "exec", "env.KEY", "lifecycle.restart",
	// "health.exec", "signal.stop", ...) to its 1-based line.
	Lines map[string]int `json:"-"`
	// SHA256 and Size identify the file's bytes.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Line is the line of field (or of the nearest enclosing one), 0 if unknown.
func (l *Legacy) Line(field string) int {
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

// parseFile parses one legacy file; the dialect comes from the extension
// (.toml, .yaml, .yml) and, for TOML, from its sections. It returns a
// *ConfigError for bad input.
func parseFile(file string, data []byte) (*Legacy, error) {
	var (
		l   *Legacy
		err error
	)
	switch {
	case strings.HasSuffix(file, ".toml"):
		l, err = parseTOML(file, data)
	case strings.HasSuffix(file, ".yaml"), strings.HasSuffix(file, ".yml"):
		l, err = parseYAML(file, data)
	default:
		return nil, configErr(file, 0, "", ErrMalformed, "unknown extension (want .toml, .yaml or .yml)")
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	l.SHA256 = hex.EncodeToString(sum[:])
	l.Size = int64(len(data))
	if l.Exec == "" {
		return nil, configErr(file, l.Line("exec"), "exec", ErrMissingExec, "")
	}
	if bytes.IndexByte([]byte(l.Exec), 0) >= 0 {
		return nil, configErr(file, l.Line("exec"), "exec", ErrUnsafeValue, "NUL byte in exec")
	}
	for k, v := range l.Env {
		if strings.IndexByte(k+v, 0) >= 0 {
			return nil, configErr(file, l.Line("env."+k), "env."+k, ErrUnsafeValue, "NUL byte in env")
		}
	}
	l.Role = RoleService
	if l.Oneshot && len(l.After) == 1 {
		if chk := parseCheck(l.Exec); chk != nil && chk.Kind != CheckOther {
			l.Role = RoleHealth
			l.Check = chk
			if l.Dialect == DialectTOMLService {
				l.Dialect = DialectTOMLHealth
			}
		}
	}
	return l, nil
}

// baseName is the file's name without directory and extension.
func baseName(file string) string {
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		file = file[:i]
	}
	return file
}

// ---- TOML ----

func parseTOML(file string, data []byte) (*Legacy, error) {
	raw, lines, ok := fastTOML(data)
	if !ok {
		if _, err := toml.Decode(string(data), &raw); err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return nil, configErr(file, pe.Position.Line, pe.LastKey, ErrMalformed, "toml: %s", pe.Message)
			}
			return nil, configErr(file, 0, "", ErrMalformed, "toml: %v", err)
		}
		lines = tomlLines(data)
	}
	l := &Legacy{File: file, Dialect: DialectTOMLService, Lines: map[string]int{}}
	r := &tomlReader{file: file, lines: lines}

	keys := sortedKeys(raw, lines, "")
	for _, k := range keys {
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
		return nil, configErr(file, 0, "service", ErrNotAService, "no [service] table")
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
		l.Dialect = DialectTOMLLifecycle
		l.Lifecycle = &Lifecycle{}
		l.Lines["lifecycle"] = lines["lifecycle"]
		for _, k := range sortedKeys(lc, lines, "lifecycle") {
			l.Lines["lifecycle."+k] = lines["lifecycle."+k]
			switch k {
			case "restart":
				l.Lifecycle.Restart = r.str(lc, "lifecycle", k)
				switch l.Lifecycle.Restart {
				case "always", "on-failure", "never":
				default:
					r.fail(configErr(file, lines["lifecycle.restart"], "lifecycle.restart", ErrWrongType,
						"%q: want always, on-failure or never", l.Lifecycle.Restart))
				}
			case "restart_delay_ms":
				v := r.integer(lc, "lifecycle", k)
				l.Lifecycle.RestartDelayMs = &v
			case "max_restarts":
				v := int(r.integer(lc, "lifecycle", k))
				l.Lifecycle.MaxRestarts = &v
			default:
				l.Unknown = append(l.Unknown, "lifecycle."+k)
			}
		}
	}
	if hs, ok := r.table(raw, "health"); ok {
		l.Dialect = DialectTOMLLifecycle
		l.Health = &HealthSection{}
		l.Lines["health"] = lines["health"]
		for _, k := range sortedKeys(hs, lines, "health") {
			l.Lines["health."+k] = lines["health."+k]
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
				l.Unknown = append(l.Unknown, "health."+k)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, u := range l.Unknown {
		l.Lines[u] = lines[u]
	}
	if l.Name == "" {
		l.Name = baseName(file)
		l.NameFromFile = true
	}
	return l, nil
}

// tomlReader type-checks values and keeps the first error.
type tomlReader struct {
	file  string
	lines map[string]int
	err   *ConfigError
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
	r.fail(configErr(r.file, r.lines[k], k, ErrWrongType, "want %s, got %s", want, tomlTypeName(v)))
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

// tomlLines maps each dotted key ("service.exec") and table header
// ("service") of a TOML document to its 1-based line. The BurntSushi
// decoder keeps key positions private, so this is a small line scanner that
// knows headers, bare/quoted keys, dotted keys and multi-line strings; it
// runs only on documents the decoder accepted.
func tomlLines(data []byte) map[string]int {
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

// ---- YAML ----

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func parseYAML(file string, data []byte) (*Legacy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = yamlLineRE.ReplaceAllString(msg, "")
		msg = strings.TrimLeft(msg, ": ")
		return nil, configErr(file, line, "", ErrMalformed, "yaml: %s", msg)
	}
	if len(doc.Content) == 0 {
		return nil, configErr(file, 0, "", ErrNotAService, "empty document")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, configErr(file, root.Line, "", ErrNotAService, "want a mapping of service keys")
	}
	l := &Legacy{File: file, Dialect: DialectYAML, Name: baseName(file), NameFromFile: true, Lines: map[string]int{}}
	var firstErr *ConfigError
	fail := func(n *yaml.Node, key, want string) {
		if firstErr == nil {
			firstErr = configErr(file, n.Line, key, ErrWrongType, "want %s, got %s", want, yamlKind(n))
		}
	}
	str := func(n *yaml.Node, key string) string {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			fail(n, key, "a string")
		}
		return n.Value
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		key := kn.Value
		l.Lines[key] = kn.Line
		switch key {
		case "exec":
			l.Exec = str(vn, key)
		case "test":
			l.Test = str(vn, key)
		case "dir":
			l.Dir = str(vn, key)
		case "log":
			l.Log = str(vn, key)
		case "oneshot":
			if vn.Kind != yaml.ScalarNode || vn.Tag != "!!bool" {
				fail(vn, key, "a boolean")
			}
			l.Oneshot = vn.Value == "true" || vn.Value == "True" || vn.Value == "TRUE"
		case "after":
			if vn.Kind != yaml.SequenceNode {
				fail(vn, key, "a list of service names")
				continue
			}
			for _, e := range vn.Content {
				l.After = append(l.After, str(e, key))
			}
		case "env":
			if vn.Kind != yaml.MappingNode {
				fail(vn, key, "a mapping")
				continue
			}
			l.Env = map[string]string{}
			for j := 0; j+1 < len(vn.Content); j += 2 {
				ek, ev := vn.Content[j], vn.Content[j+1]
				if ev.Kind != yaml.ScalarNode {
					fail(ev, "env."+ek.Value, "a scalar")
				}
				l.Env[ek.Value] = ev.Value
				l.Lines["env."+ek.Value] = ek.Line
			}
		case "signal":
			if vn.Kind != yaml.MappingNode {
				fail(vn, key, "a mapping")
				continue
			}
			for j := 0; j+1 < len(vn.Content); j += 2 {
				sk, sv := vn.Content[j], vn.Content[j+1]
				l.Lines["signal."+sk.Value] = sk.Line
				if sk.Value == "stop" {
					l.StopSignal = str(sv, "signal.stop")
				} else {
					l.Unknown = append(l.Unknown, "signal."+sk.Value)
				}
			}
		case "shutdown_timeout":
			n, err := strconv.Atoi(vn.Value)
			if vn.Kind != yaml.ScalarNode || vn.Tag != "!!int" || err != nil || n < 0 {
				fail(vn, key, "a non-negative number of seconds")
			}
			l.ShutdownTimeout = time.Duration(n) * time.Second
		default:
			l.Unknown = append(l.Unknown, key)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return l, nil
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strings.TrimPrefix(n.Tag, "!!") + " " + strconv.Quote(n.Value)
	}
	return "something else"
}
