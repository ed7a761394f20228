package migrator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/zchaos/zchaos/zinit"
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

// Style names a legacy health style as the seed lists them, and says why
// it cannot catch a hang.
func (c *LegacyCheck) Style() (style, blind string) {
	switch c.Kind {
	case CheckMake:
		return "make health-check in a build dir", "the target usually does not exist, so it passes whatever the service does"
	case CheckCurl:
		return "curl on a port", "it only reaches HTTP services, and a hung server can hang curl itself"
	case CheckEcho:
		return "echo no-op", "it never looks at the service"
	case CheckSocat:
		return "socat on a socket", ""
	}
	return "command", ""
}

// Legacy is one parsed legacy file: the service definition as zinit's
// legacy parser reads it (zinit.ParseLegacy for TOML; the same fields from
// YAML), plus its dialect, role and what only YAML declares.
type Legacy struct {
	zinit.LegacyService
	Dialect Dialect `json:"dialect"`
	Role    Role    `json:"role"`
	// YAML only.
	Test            string        `json:"test,omitempty"`
	StopSignal      string        `json:"stop_signal,omitempty"`
	ShutdownTimeout time.Duration `json:"shutdown_timeout,omitempty"`
	Log             string        `json:"log,omitempty"`
	// Check is set for a health file (RoleHealth): its probe.
	Check *LegacyCheck `json:"check,omitempty"`
	// SHA256 and Size identify the file's bytes.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// parseFile parses one legacy file; the dialect comes from the extension
// (.toml, .yaml, .yml) and, for TOML, from its sections. It returns a
// *zinit.ConfigError for bad input.
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
		return nil, zinit.ConfigErrorf(file, 0, "", zinit.ErrMalformed, "unknown extension (want .toml, .yaml or .yml)")
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	l.SHA256 = hex.EncodeToString(sum[:])
	l.Size = int64(len(data))
	if bytes.IndexByte([]byte(l.Exec), 0) >= 0 {
		return nil, zinit.ConfigErrorf(file, l.Line("exec"), "exec", ErrUnsafeValue, "NUL byte in exec")
	}
	for k, v := range l.Env {
		if strings.IndexByte(k+v, 0) >= 0 {
			return nil, zinit.ConfigErrorf(file, l.Line("env."+k), "env."+k, ErrUnsafeValue, "NUL byte in env")
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

// ---- TOML ----

// parseTOML reads a TOML file with zinit's legacy parser; the dialect is
// toml-0.3-lifecycle when it has a [lifecycle] or [health] section.
func parseTOML(file string, data []byte) (*Legacy, error) {
	ls, err := zinit.ParseLegacy(file, data)
	if err != nil {
		return nil, err
	}
	l := &Legacy{LegacyService: *ls, Dialect: DialectTOMLService}
	if l.Lifecycle != nil || l.Health != nil {
		l.Dialect = DialectTOMLLifecycle
	}
	return l, nil
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
		return nil, zinit.ConfigErrorf(file, line, "", zinit.ErrMalformed, "yaml: %s", msg)
	}
	if len(doc.Content) == 0 {
		return nil, zinit.ConfigErrorf(file, 0, "", zinit.ErrNotAService, "empty document")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, zinit.ConfigErrorf(file, root.Line, "", zinit.ErrNotAService, "want a mapping of service keys")
	}
	l := &Legacy{Dialect: DialectYAML, LegacyService: zinit.LegacyService{
		File: file, Name: zinit.LegacyBaseName(file), NameFromFile: true, Lines: map[string]int{}}}
	var firstErr *zinit.ConfigError
	fail := func(n *yaml.Node, key, want string) {
		if firstErr == nil {
			firstErr = zinit.ConfigErrorf(file, n.Line, key, zinit.ErrWrongType, "want %s, got %s", want, yamlKind(n))
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
	if strings.TrimSpace(l.Exec) == "" {
		return nil, zinit.ConfigErrorf(file, l.Line("exec"), "exec", zinit.ErrMissingExec, "")
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
