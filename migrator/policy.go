package migrator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/zchaos/zchaos/zinit"
)

// Seed defaults (the seed issue's target state). A policy file overrides
// them globally (defaults) or per service.
const (
	DefaultRestart      = "on-failure"
	DefaultRestartDelay = 5000 * time.Millisecond
	DefaultMaxRestarts  = 20
	DefaultInterval     = 60000 * time.Millisecond
	DefaultTimeout      = 30000 * time.Millisecond
	// DefaultGrace is the seed's lower grace bound ("30-60 seconds"). In the
	// pinned model the first check runs one interval after each spawn, so
	// the 60 s interval already gives 60 s of grace.
	DefaultGrace     = 30000 * time.Millisecond
	DefaultSocketDir = "/root/hero/var/sockets"
	DefaultHTTPHost  = "127.0.0.1"
	DefaultHTTPPath  = "/health"
)

// ServicePolicy holds values for one service (or, as Policy.Defaults, for
// all). A nil pointer or an empty string means "not set here".
type ServicePolicy struct {
	Restart        string `yaml:"restart" toml:"restart" json:"restart,omitempty"`
	RestartDelayMs *int64 `yaml:"restart_delay_ms" toml:"restart_delay_ms" json:"restart_delay_ms,omitempty"`
	MaxRestarts    *int   `yaml:"max_restarts" toml:"max_restarts" json:"max_restarts,omitempty"`
	IntervalMs     *int64 `yaml:"interval_ms" toml:"interval_ms" json:"interval_ms,omitempty"`
	TimeoutMs      *int64 `yaml:"timeout_ms" toml:"timeout_ms" json:"timeout_ms,omitempty"`
	GraceMs        *int64 `yaml:"grace_ms" toml:"grace_ms" json:"grace_ms,omitempty"`
	// Probe forces the probe kind: socket, http or liveness.
	Probe string `yaml:"probe" toml:"probe" json:"probe,omitempty"`
	// Socket and Port override the probe target; HTTPPath the HTTP path.
	Socket   string `yaml:"socket" toml:"socket" json:"socket,omitempty"`
	Port     int    `yaml:"port" toml:"port" json:"port,omitempty"`
	HTTPPath string `yaml:"http_path" toml:"http_path" json:"http_path,omitempty"`
}

// Policy is the migration policy: seed defaults, overridable by a policy
// file (YAML or TOML) globally and per service.
type Policy struct {
	// SocketDir is the convention's directory: a service's socket is
	// SocketDir/<name without "user.">.sock when its files name none.
	SocketDir string `yaml:"socket_dir" toml:"socket_dir" json:"socket_dir"`
	// DeriveSocket turns the socket convention on (default) or off; off,
	// a service with neither socket nor port gets a liveness-only check.
	DeriveSocket *bool `yaml:"derive_socket" toml:"derive_socket" json:"derive_socket,omitempty"`
	// HTTPHost is the host of derived HTTP probe URLs.
	HTTPHost string `yaml:"http_host" toml:"http_host" json:"http_host"`
	// Persist marks migrated services and jobs --persist (default true).
	Persist  *bool                    `yaml:"persist" toml:"persist" json:"persist,omitempty"`
	Defaults ServicePolicy            `yaml:"defaults" toml:"defaults" json:"defaults"`
	Services map[string]ServicePolicy `yaml:"services" toml:"services" json:"services,omitempty"`
	// File is where the policy was loaded from ("" for the defaults).
	File string `yaml:"-" toml:"-" json:"file,omitempty"`
}

// DefaultPolicy is the seed's policy: on-failure, restart-delay 5000 ms,
// max-restarts 20, check every 60000 ms with a 30000 ms timeout, 30 s
// grace, sockets by convention, persisted.
func DefaultPolicy() Policy {
	return Policy{SocketDir: DefaultSocketDir, HTTPHost: DefaultHTTPHost}
}

// MaxPolicyFileBytes bounds a policy file.
const MaxPolicyFileBytes = 1 << 20

// LoadPolicy reads a policy file (.yaml, .yml or .toml) strictly: unknown
// keys and bad values are a *zinit.ConfigError (wrapping ErrPolicy) naming the
// file and, where known, the line. Unset values keep the seed defaults.
// Only a regular file of at most MaxPolicyFileBytes is read, without
// blocking (zinit.ReadRegularFile): a FIFO or a device is refused at once.
func LoadPolicy(path string) (Policy, error) {
	data, err := zinit.ReadRegularFile(path, MaxPolicyFileBytes)
	if err != nil {
		return Policy{}, &zinit.ConfigError{File: path, Err: fmt.Errorf("%w: %w", ErrPolicy, fileCause(err))}
	}
	return ParsePolicy(path, data)
}

// fileCause is why a file could not be read, without its path (the
// caller's *zinit.ConfigError names the file).
func fileCause(err error) error {
	var fe *zinit.FileError
	var pe *fs.PathError
	switch {
	case errors.As(err, &fe):
		return fe.Err
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// ParsePolicy decodes the policy file path holds data (its extension picks
// YAML or TOML), as LoadPolicy does.
func ParsePolicy(path string, data []byte) (Policy, error) {
	p := DefaultPolicy()
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
			line := 0
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
				fmt.Sscan(m[1], &line)
			}
			return Policy{}, zinit.ConfigErrorf(path, line, "", ErrPolicy, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	case ".toml":
		md, err := toml.Decode(string(data), &p)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return Policy{}, zinit.ConfigErrorf(path, pe.Position.Line, pe.LastKey, ErrPolicy, "%s", pe.Message)
			}
			return Policy{}, zinit.ConfigErrorf(path, 0, "", ErrPolicy, "%v", err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			lines := zinit.TOMLKeyLines(data)
			return Policy{}, zinit.ConfigErrorf(path, lines[und[0].String()], und[0].String(), ErrPolicy, "unknown key")
		}
	default:
		return Policy{}, zinit.ConfigErrorf(path, 0, "", ErrPolicy, "unknown extension %q (want .yaml, .yml or .toml)", ext)
	}
	if p.SocketDir == "" {
		p.SocketDir = DefaultSocketDir
	}
	if p.HTTPHost == "" {
		p.HTTPHost = DefaultHTTPHost
	}
	p.File = path
	if err := p.Validate(); err != nil {
		return Policy{}, &zinit.ConfigError{File: path, Err: err}
	}
	return p, nil
}

// Validate checks the policy's values; the error wraps ErrPolicy.
func (p Policy) Validate() error {
	var errs []error
	check := func(where string, sp ServicePolicy) {
		if sp.Restart != "" {
			if _, err := zinit.ParseRestartPolicy(sp.Restart); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s.restart: %w", ErrPolicy, where, err))
			}
		}
		for _, v := range []struct {
			name string
			p    *int64
		}{{"restart_delay_ms", sp.RestartDelayMs}, {"interval_ms", sp.IntervalMs}, {"timeout_ms", sp.TimeoutMs}, {"grace_ms", sp.GraceMs}} {
			if v.p != nil && *v.p <= 0 {
				errs = append(errs, fmt.Errorf("%w: %s.%s: must be > 0", ErrPolicy, where, v.name))
			}
		}
		if sp.MaxRestarts != nil && *sp.MaxRestarts < 0 {
			errs = append(errs, fmt.Errorf("%w: %s.max_restarts: must be >= 0 (0 means unlimited)", ErrPolicy, where))
		}
		switch ProbeKind(sp.Probe) {
		case "", ProbeSocket, ProbeHTTP, ProbeLiveness:
		default:
			errs = append(errs, fmt.Errorf("%w: %s.probe %q: want socket, http or liveness", ErrPolicy, where, sp.Probe))
		}
		if sp.Port < 0 || sp.Port > 65535 {
			errs = append(errs, fmt.Errorf("%w: %s.port %d: out of range", ErrPolicy, where, sp.Port))
		}
		if sp.Socket != "" && !strings.HasPrefix(sp.Socket, "/") {
			errs = append(errs, fmt.Errorf("%w: %s.socket %q: want an absolute path", ErrPolicy, where, sp.Socket))
		}
	}
	check("defaults", p.Defaults)
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := zinit.ValidateName(n); err != nil {
			errs = append(errs, fmt.Errorf("%w: services: %w", ErrPolicy, err))
		}
		check("services."+n, p.Services[n])
	}
	if !strings.HasPrefix(p.SocketDir, "/") {
		errs = append(errs, fmt.Errorf("%w: socket_dir %q: want an absolute path", ErrPolicy, p.SocketDir))
	}
	return errors.Join(errs...)
}

// resolved is the policy for one service, each value with its source.
type resolved struct {
	Restart      zinit.RestartPolicy
	RestartDelay time.Duration
	MaxRestarts  int
	Interval     time.Duration
	Timeout      time.Duration
	Grace        time.Duration
	Probe        ProbeKind
	Socket       string
	Port         int
	HTTPPath     string
	Persist      bool
	// From maps a field (restart, restart_delay, max_restarts, interval,
	// timeout, grace) to where its value came from.
	From map[string]string
}

// resolve merges seed defaults, the policy's defaults and the per-service
// entry (later wins). Legacy values are merged by the planner in between.
func (p Policy) resolve(name string) resolved {
	r := resolved{
		Restart: zinit.RestartOnFailure, RestartDelay: DefaultRestartDelay, MaxRestarts: DefaultMaxRestarts,
		Interval: DefaultInterval, Timeout: DefaultTimeout, Grace: DefaultGrace, HTTPPath: DefaultHTTPPath,
		Persist: p.Persist == nil || *p.Persist,
		From: map[string]string{"restart": "seed default", "restart_delay": "seed default", "max_restarts": "seed default",
			"interval": "seed default", "timeout": "seed default", "grace": "seed default"},
	}
	r.apply(p.Defaults, "policy defaults")
	if sp, ok := p.Services[name]; ok {
		r.apply(sp, "policy services."+name)
	}
	return r
}

func (r *resolved) apply(sp ServicePolicy, from string) {
	if sp.Restart != "" {
		r.Restart, _ = zinit.ParseRestartPolicy(sp.Restart)
		r.From["restart"] = from
	}
	if sp.RestartDelayMs != nil {
		r.RestartDelay = time.Duration(*sp.RestartDelayMs) * time.Millisecond
		r.From["restart_delay"] = from
	}
	if sp.MaxRestarts != nil {
		r.MaxRestarts = *sp.MaxRestarts
		r.From["max_restarts"] = from
	}
	if sp.IntervalMs != nil {
		r.Interval = time.Duration(*sp.IntervalMs) * time.Millisecond
		r.From["interval"] = from
	}
	if sp.TimeoutMs != nil {
		r.Timeout = time.Duration(*sp.TimeoutMs) * time.Millisecond
		r.From["timeout"] = from
	}
	if sp.GraceMs != nil {
		r.Grace = time.Duration(*sp.GraceMs) * time.Millisecond
		r.From["grace"] = from
	}
	if sp.Probe != "" {
		r.Probe = ProbeKind(sp.Probe)
		r.From["probe"] = from
	}
	if sp.Socket != "" {
		r.Socket = sp.Socket
		r.From["socket"] = from
	}
	if sp.Port != 0 {
		r.Port = sp.Port
		r.From["port"] = from
	}
	if sp.HTTPPath != "" {
		r.HTTPPath = sp.HTTPPath
	}
}

// perService reports whether the per-service policy entry sets field.
func (r resolved) perService(field string) bool {
	return strings.HasPrefix(r.From[field], "policy services.")
}

// ConventionSocket is the socket the convention derives for a service
// (SocketDir/<name without "user.">.sock), or "" when the policy turns the
// convention off.
func (p Policy) ConventionSocket(name string) string {
	if !p.deriveSocket() {
		return ""
	}
	return p.conventionSocket(name)
}

// conventionSocket is the socket the convention derives for a service.
func (p Policy) conventionSocket(name string) string {
	return strings.TrimRight(p.SocketDir, "/") + "/" + strings.TrimPrefix(name, "user.") + ".sock"
}

func (p Policy) deriveSocket() bool { return p.DeriveSocket == nil || *p.DeriveSocket }
