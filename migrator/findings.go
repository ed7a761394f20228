package migrator

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/zchaos/zchaos/zinit"
)

// Severity ranks a finding.
type Severity int

const (
	SeverityInfo    Severity = iota + 1 // worth knowing; nothing to fix
	SeverityWarning                     // works, but weaker than it looks
	SeverityError                       // broken, or blocks the migration
)

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "info", "warning" or "error".
func (s *Severity) UnmarshalText(b []byte) error {
	for _, v := range []Severity{SeverityInfo, SeverityWarning, SeverityError} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", b)
}

// Finding codes.
const (
	CodeParseError          = "parse-error"           // error: the file does not parse
	CodeUnknownKey          = "unknown-key"           // warning: keys no dialect defines (ignored)
	CodeInvalidName         = "invalid-name"          // error: a name zinit would reject
	CodeDuplicateName       = "duplicate-name"        // error: two files claim one name
	CodeUnknownDependency   = "unknown-dependency"    // error: after names no service
	CodeCycle               = "dependency-cycle"      // error: after edges form a cycle
	CodeNoRestart           = "no-restart"            // error: a crash leaves it down for good
	CodeHealthAlwaysPasses  = "health-always-passes"  // error: the check cannot fail
	CodeHealthIgnoresAnswer = "health-ignores-answer" // warning: the check passes on any answer
	CodeHealthRunsOnce      = "health-runs-once"      // warning: a oneshot check, never repeated
	CodeNoHealthCheck       = "no-health-check"       // warning: no check at all
	CodeCheckOnOneshot      = "check-on-oneshot"      // warning: a health check of a oneshot
	CodeAfterOneshot        = "after-oneshot"         // warning: --after a oneshot would block forever
	CodeSocketTooLong       = "socket-path-too-long"  // error: longer than the kernel's sun_path
	CodeLivenessOnly        = "liveness-only"         // warning: no socket or port: kill -0 only
	CodeNeedsQuoting        = "needs-quoting"         // info: quotes, $, backticks or newlines
	CodeNameFromFile        = "name-from-file"        // info: no name key; the file name is used
	CodeProbeTarget         = "probe-target"          // error: the policy asks for a probe with no target
	CodeExecTooLong         = "exec-too-long"         // error: exec/env over the kernel's argument limits or the daemon's request limit
)

// Finding is one problem (or remark) about one service.
type Finding struct {
	Service  string   `json:"service"`
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
}

// Location is "file:line" (or "file").
func (f Finding) Location() string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// LintRow is one service (or one unparseable or orphan file) with its
// findings, worst first.
type LintRow struct {
	Service  string    `json:"service"`
	Dialect  Dialect   `json:"dialect"`
	File     string    `json:"file"`
	Health   []string  `json:"health_files,omitempty"`
	Findings []Finding `json:"findings"`
}

// Worst is the highest severity of the row (0 with no finding).
func (r LintRow) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// LintSummary counts files, services and findings.
type LintSummary struct {
	Files       int `json:"files"`
	Services    int `json:"services"`
	HealthFiles int `json:"health_files"`
	Unparsed    int `json:"unparsed"`
	Errors      int `json:"errors"`
	Warnings    int `json:"warnings"`
	Infos       int `json:"infos"`
}

// String is the summary line.
func (s LintSummary) String() string {
	return fmt.Sprintf("%d services, %d health files, %d unparsed (%d files): %d errors, %d warnings, %d info",
		s.Services, s.HealthFiles, s.Unparsed, s.Files, s.Errors, s.Warnings, s.Infos)
}

// LintReport is the audit of a legacy config directory.
type LintReport struct {
	Dir     string      `json:"dir"`
	Rows    []LintRow   `json:"services"`
	Summary LintSummary `json:"summary"`
}

// Findings lists every finding of the report, row by row.
func (r LintReport) Findings() []Finding {
	var out []Finding
	for _, row := range r.Rows {
		out = append(out, row.Findings...)
	}
	return out
}

// Lint audits the inventory under the policy (the policy decides derived
// sockets, hence socket-path-too-long and liveness-only). It never fails:
// unparseable files are rows with a parse-error finding.
func Lint(inv *Inventory, pol Policy) LintReport {
	return lint(analyse(inv, pol), false)
}

// lint builds the report; blockingOnly skips every finding that does not
// block a migration (BuildPlan's fast path).
func lint(a *analysis, blockingOnly bool) LintReport {
	inv, pol := a.inv, a.pol
	rep := LintReport{Dir: inv.Dir}
	rows := map[string]*LintRow{}
	row := func(name string, l *Legacy) *LintRow {
		if r, ok := rows[name]; ok {
			return r
		}
		r := &LintRow{Service: name}
		if l != nil {
			r.Dialect, r.File = l.Dialect, l.File
		}
		rows[name] = r
		return r
	}
	add := func(r *LintRow, l *Legacy, sev Severity, code, field, format string, args ...any) {
		if blockingOnly && !blockingCodes[code] {
			return
		}
		f := Finding{Service: r.Service, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)}
		if l != nil {
			f.File, f.Line = l.File, l.Line(field)
		}
		r.Findings = append(r.Findings, f)
	}
	for _, ce := range inv.Errors {
		r := row(strings.TrimSuffix(path.Base(ce.File), path.Ext(ce.File)), nil)
		r.File = ce.File
		r.Findings = append(r.Findings, Finding{Service: r.Service, Severity: SeverityError, Code: CodeParseError,
			Message: parseMessage(ce), File: ce.File, Line: ce.Line})
	}
	for _, s := range a.services {
		r := row(s.Name, s)
		a.lintFile(r, s, add)
		for _, h := range a.health[s.Name] {
			r.Health = append(r.Health, h.File)
			a.lintFile(r, h, add)
			if s.Oneshot {
				add(r, h, SeverityWarning, CodeCheckOnOneshot, "after",
					"health file %s checks a oneshot; the check is dropped (a oneshot has no check job)", h.File)
				continue
			}
			a.lintCheck(r, h, h.Check, "exec", "health file "+h.File, add)
			add(r, h, SeverityWarning, CodeHealthRunsOnce, "oneshot",
				"health file %s is a oneshot: it runs once after start, so a later hang is never detected", h.File)
		}
		for _, d := range s.After {
			switch {
			case !a.known(d):
				add(r, s, SeverityError, CodeUnknownDependency, "after", "after %q: no such service", d)
			case a.service(d) != nil && a.service(d).Oneshot && !s.Oneshot:
				add(r, s, SeverityWarning, CodeAfterOneshot, "after",
					"after oneshot %q: the job model's --after waits for running, and a finished oneshot is inactive; the dependency is dropped", d)
			}
		}
		for _, c := range a.cycles {
			if contains(c[:len(c)-1], s.Name) {
				add(r, s, SeverityError, CodeCycle, "after", "dependency cycle %s", strings.Join(c, " → "))
			}
		}
		if s.Oneshot {
			if s.Health != nil || s.Test != "" {
				add(r, s, SeverityWarning, CodeCheckOnOneshot, "health", "a check on a oneshot is dropped (a oneshot has no check job)")
			}
			continue
		}
		if s.Lifecycle == nil || s.Lifecycle.Restart == "" || s.Lifecycle.Restart == "never" {
			field := "oneshot"
			if s.Line("oneshot") == 0 {
				field = "exec"
			}
			if s.Line("lifecycle") > 0 {
				field = "lifecycle.restart"
			}
			add(r, s, SeverityError, CodeNoRestart, field,
				"no restart on failure: after a crash zinit marks it inactive and nothing restarts it")
		}
		hasCheck := len(a.health[s.Name]) > 0
		if s.Health != nil && s.Health.Exec != "" {
			hasCheck = true
			a.lintCheck(r, s, declaredCheck(s.Health.Exec), "health.exec", "[health] exec", add)
		}
		if s.Test != "" {
			hasCheck = true
			a.lintCheck(r, s, declaredCheck(s.Test), "test", "test", add)
		}
		if !hasCheck {
			add(r, s, SeverityWarning, CodeNoHealthCheck, "name", "no health check at all: a hung process is never detected")
		}
		p, perr := a.resolveProbe(s, pol.resolve(s.Name))
		switch {
		case perr != nil:
			add(r, s, SeverityError, CodeProbeTarget, "name", "%v", perr)
		case p.Kind == ProbeSocket && len(p.Target) > zinit.MaxSocketPathLen:
			add(r, s, SeverityError, CodeSocketTooLong, "exec",
				"socket path %s is %d bytes; the kernel allows %d (sun_path): nothing can connect to it", p.Target, len(p.Target), zinit.MaxSocketPathLen)
		case p.Kind == ProbeLiveness:
			add(r, s, SeverityWarning, CodeLivenessOnly, "name",
				"no socket or port known: the check only sees that the process exists (kill -0), not a hang")
		}
	}
	for _, h := range a.orphans {
		r := row(h.Name, h)
		a.lintFile(r, h, add)
		add(r, h, SeverityError, CodeUnknownDependency, "after", "health file checks %q: no such service", h.After[0])
	}
	for name, ls := range a.byName {
		if len(ls) < 2 {
			continue
		}
		r := row(name, ls[0])
		for _, l := range ls {
			others := []string{}
			for _, o := range ls {
				if o != l {
					others = append(others, o.File)
				}
			}
			add(r, l, SeverityError, CodeDuplicateName, "name", "name %q also claimed by %s", name, strings.Join(others, ", "))
		}
	}
	for _, r := range rows {
		sort.SliceStable(r.Findings, func(i, j int) bool {
			fi, fj := r.Findings[i], r.Findings[j]
			if fi.Severity != fj.Severity {
				return fi.Severity > fj.Severity
			}
			if fi.File != fj.File {
				return fi.File < fj.File
			}
			if fi.Line != fj.Line {
				return fi.Line < fj.Line
			}
			return fi.Code < fj.Code
		})
		if r.Findings == nil {
			r.Findings = []Finding{}
		}
		rep.Rows = append(rep.Rows, *r)
		for _, f := range r.Findings {
			switch f.Severity {
			case SeverityError:
				rep.Summary.Errors++
			case SeverityWarning:
				rep.Summary.Warnings++
			case SeverityInfo:
				rep.Summary.Infos++
			}
		}
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rep.Rows[i].Service < rep.Rows[j].Service })
	rep.Summary.Files = len(inv.Files) + len(inv.Errors)
	rep.Summary.Unparsed = len(inv.Errors)
	for _, l := range inv.Files {
		if l.Role == RoleHealth {
			rep.Summary.HealthFiles++
		}
	}
	rep.Summary.Services = len(a.services)
	return rep
}

type addFunc func(r *LintRow, l *Legacy, sev Severity, code, field, format string, args ...any)

// lintFile reports what is wrong with one file whatever its role.
func (a *analysis) lintFile(r *LintRow, l *Legacy, add addFunc) {
	if err := zinit.ValidateName(l.Name); err != nil {
		add(r, l, SeverityError, CodeInvalidName, "name", "name %q: zinit accepts 1-%d letters, digits, '.', '_' or '-'", l.Name, zinit.MaxNameLen)
	}
	if len(l.Unknown) > 0 {
		add(r, l, SeverityWarning, CodeUnknownKey, l.Unknown[0], "unknown keys in %s (ignored): %s", l.File, strings.Join(l.Unknown, ", "))
	}
	if l.NameFromFile && l.Dialect != DialectYAML {
		add(r, l, SeverityInfo, CodeNameFromFile, "", "no name key: the file name %q is the name", l.Name)
	}
	if l.Role != RoleService {
		return // a health file's exec is not carried over
	}
	if err := zinit.CheckExecLimits(l.Exec, l.Env); err != nil {
		add(r, l, SeverityError, CodeExecTooLong, "exec", "%s", strings.TrimPrefix(err.Error(), zinit.ErrInvalid.Error()+": "))
	}
	if needsQuoting(l.Exec) {
		add(r, l, SeverityInfo, CodeNeedsQuoting, "exec", "exec holds quotes, $, backticks, backslashes or newlines: quoted for the shell, checked by round trip")
	}
	for _, k := range sortedStrKeys(l.Env) {
		if needsQuoting(l.Env[k]) {
			add(r, l, SeverityInfo, CodeNeedsQuoting, "env."+k, "env %s holds quotes, $, backticks, backslashes or newlines: quoted for the shell", k)
		}
	}
}

// lintCheck reports what a legacy probe cannot see.
func (a *analysis) lintCheck(r *LintRow, l *Legacy, c *LegacyCheck, field, what string, add addFunc) {
	if f, ok := checkFinding(c, what); ok {
		add(r, l, f.Severity, f.Code, field, "%s", f.Message)
	}
}

// checkFinding is the rule on a probe, legacy or live (what names it): one
// that always passes cannot catch a hang; one that passes on any answer
// cannot tell an error from health.
func checkFinding(c *LegacyCheck, what string) (Finding, bool) {
	switch {
	case c.AlwaysPasses:
		style, blind := c.Style()
		if blind == "" {
			blind = "it cannot fail"
		}
		return Finding{Severity: SeverityError, Code: CodeHealthAlwaysPasses,
			Message: fmt.Sprintf("%s always passes (%s: %s), so a hang is never caught: %s", what, style, blind, oneLine(c.Exec))}, true
	case c.IgnoresAnswer:
		return Finding{Severity: SeverityWarning, Code: CodeHealthIgnoresAnswer,
			Message: fmt.Sprintf("%s passes on any answer (it never looks at it): %s", what, oneLine(c.Exec))}, true
	}
	return Finding{}, false
}

func needsQuoting(s string) bool { return strings.ContainsAny(s, "'\"$`\\\n") }

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

func sortedStrKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseMessage is a ConfigError's cause without its location.
func parseMessage(ce *zinit.ConfigError) string {
	msg := ce.Err.Error()
	if ce.Key != "" && !errors.Is(ce.Err, zinit.ErrMalformed) {
		msg = ce.Key + ": " + msg
	}
	return msg
}
