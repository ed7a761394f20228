package scenarios

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Names of the two configs a scenario can run on.
const (
	ConfigMigrated = "migrated" // the fleet migrated to the job model (or declared jobs)
	ConfigLegacy   = "legacy"   // the fleet's legacy TOML configs, as hero_services writes them
	ConfigAsBuilt  = "as-built" // an image as its installer built it: its own config, nothing applied
)

// FromFleet is the ServiceSet.From value naming the built-in hero fleet.
const FromFleet = "fleet"

// TagGate marks the scenarios the promotion gate runs.
const TagGate = "gate"

// Values of Fault.When.
const (
	WhenRunning    = "running"    // the target's start job has a pid
	WhenHealthy    = "healthy"    // the agent's probe of the target passes
	WhenRestarting = "restarting" // the target waits out its restart delay
	WhenFailed     = "failed"     // the target gave up (restart limit)
	WhenNow        = "now"        // right after the previous step
)

// Values of Expectation.Outcome.
const (
	OutcomePass = "pass"
	OutcomeFail = "fail"
	OutcomeInfo = "info"
)

// FaultKinds lists every known fault kind, in documentation order.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultKill, FaultHang, FaultHealthHang, FaultHealthError, FaultSocket,
		FaultCrashLoop, FaultSupervisor, FaultReload, FaultStop, FaultStart, FaultExit, FaultMonkey}
}

// InvariantIDs lists the invariant ids of invariants.md.
func InvariantIDs() []string {
	return []string{"R1", "R2", "R3", "R4", "R5", "R6", "R7",
		"H1", "H2", "H3", "H4", "H5", "H6", "S1", "P1", "C1"}
}

// NeedsTarget says whether a fault acts on the scenario's target service.
func (k FaultKind) NeedsTarget() bool {
	switch k {
	case FaultSupervisor, FaultReload, FaultMonkey:
		return false
	}
	return true
}

// Reversible says whether the fault stays for DurationMs and is then undone.
func (k FaultKind) Reversible() bool {
	switch k {
	case FaultHang, FaultHealthHang, FaultHealthError:
		return true
	}
	return false
}

// RunConfigs returns the configs the scenario runs on: Services.Configs, or
// the default (both for fleet or config-dir services, migrated only for
// declared ones).
func (s Scenario) RunConfigs() []string {
	if len(s.Services.Configs) > 0 {
		return append([]string(nil), s.Services.Configs...)
	}
	if len(s.Services.Declared) > 0 {
		return []string{ConfigMigrated}
	}
	return []string{ConfigMigrated, ConfigLegacy}
}

// Supports says whether the scenario can run on config: its configs, and
// "as-built" for every fleet scenario that runs migrated (an image as
// built is judged like a migrated fleet; declared scenarios bring their
// own services and cannot judge an image's).
func (s Scenario) Supports(config string) bool {
	if config == ConfigAsBuilt {
		return len(s.Services.Declared) == 0 && slices.Contains(s.RunConfigs(), ConfigMigrated)
	}
	return slices.Contains(s.RunConfigs(), config)
}

// HasTag reports whether the scenario carries tag.
func (s Scenario) HasTag(tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

var (
	scenarioNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	serviceNameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	envKeyRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

var signalNames = map[string]bool{
	"HUP": true, "INT": true, "QUIT": true, "ILL": true, "TRAP": true, "ABRT": true, "BUS": true,
	"FPE": true, "KILL": true, "USR1": true, "SEGV": true, "USR2": true, "PIPE": true, "ALRM": true,
	"TERM": true, "STKFLT": true, "CHLD": true, "CONT": true, "STOP": true, "TSTP": true,
	"TTIN": true, "TTOU": true, "URG": true, "XCPU": true, "XFSZ": true, "VTALRM": true,
	"PROF": true, "WINCH": true, "IO": true, "PWR": true, "SYS": true,
}

// ValidSignal reports whether s names a Linux signal ("SIGKILL" or "KILL").
func ValidSignal(s string) bool { return signalNames[strings.TrimPrefix(s, "SIG")] }

// Validate checks the scenario against the schema's rules and returns every
// problem as a *ValidationError (joined), each with File, the line in Source
// (when Source holds the YAML) and the field's path. It returns nil for a
// valid scenario.
func (s Scenario) Validate() error {
	v := &validator{file: s.File}
	if s.Source != "" {
		if root, err := parseNode(s.File, []byte(s.Source)); err == nil {
			v.root = root
		}
	}
	v.scenario(s)
	if len(v.errs) == 0 {
		return nil
	}
	sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
	errs := make([]error, len(v.errs))
	for i, e := range v.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

type validator struct {
	file string
	root *yaml.Node
	errs []*ValidationError
}

func (v *validator) errorf(path, format string, a ...any) {
	v.errs = append(v.errs, &ValidationError{File: v.file, Line: lineOf(v.root, path), Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (v *validator) nonNegative(path string, x int64) {
	if x < 0 {
		v.errorf(path, "must not be negative (0 means the default), got %d", x)
	}
}

func (v *validator) scenario(s Scenario) {
	switch {
	case s.Name == "":
		v.errorf("name", "required")
	case !scenarioNameRE.MatchString(s.Name):
		v.errorf("name", "%q: want 1-64 lowercase letters, digits and '-', starting with a letter or digit", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		v.errorf("description", "required: say what the scenario proves")
	}
	seen := map[string]bool{}
	for i, t := range s.Tags {
		p := fmt.Sprintf("tags[%d]", i)
		if !scenarioNameRE.MatchString(t) {
			v.errorf(p, "%q: want lowercase letters, digits and '-'", t)
		}
		if seen[t] {
			v.errorf(p, "duplicate tag %q", t)
		}
		seen[t] = true
	}
	names := v.services(s.Services)
	configs := v.configs(s)
	if s.Target != "" {
		switch {
		case !serviceNameRE.MatchString(s.Target):
			v.errorf("target", "%q: want 1-128 letters, digits, '.', '_' or '-'", s.Target)
		case names != nil && !names[s.Target]:
			v.errorf("target", "%q is not among the scenario's services (%s)", s.Target, sortedKeys(names))
		}
	}
	target := s.Target
	if s.Targets.Selects() {
		v.selector(*s.Targets, s.Services)
		target = "(selected)"
	}
	v.nonNegative("steady_state.timeout_ms", s.Steady.TimeoutMs)
	if (s.Steady.Running || s.Steady.Healthy) && target == "" && len(s.Services.Declared) == 0 && s.Services.From == "" {
		v.errorf("steady_state", "needs services to run")
	}
	for i, f := range s.Faults {
		v.fault(fmt.Sprintf("faults[%d]", i), f, target)
	}
	v.nonNegative("observe_ms", s.ObserveMs)
	v.expect(s.Expect, configs)
}

// selector checks a target selector: it picks among the services present,
// so it needs a fleet (declared services name their target).
func (v *validator) selector(t TargetSpec, ss ServiceSet) {
	if len(ss.Declared) > 0 {
		v.errorf("target", "a selector picks among a fleet's services; declared services name their target")
	}
	switch t.Probe {
	case "", ProbeAny, ProbeSocket, ProbeHTTP:
	default:
		v.errorf("target.probe", "%q: want %s, %s or %s", t.Probe, ProbeSocket, ProbeHTTP, ProbeAny)
	}
	if t.Sample < 0 {
		v.errorf("target.sample", "%d: must be >= 0", t.Sample)
	}
	if t.Each && t.Sample > 0 {
		v.errorf("target", "give each or sample, not both")
	}
	for i, n := range t.Prefer {
		if !serviceNameRE.MatchString(n) {
			v.errorf(fmt.Sprintf("target.prefer[%d]", i), "%q: want 1-128 letters, digits, '.', '_' or '-'", n)
		}
	}
}

// services checks the service set and returns the names it selects (nil
// when the set is the whole fleet or a config dir: any name may be there).
func (v *validator) services(ss ServiceSet) map[string]bool {
	switch {
	case ss.From == "" && len(ss.Declared) == 0:
		v.errorf("services", "give either from (%q or a config dir) or declared services", FromFleet)
		return nil
	case ss.From != "" && len(ss.Declared) > 0:
		v.errorf("services.declared", "give either from or declared, not both")
	}
	if ss.From != "" {
		if len(ss.Select) == 0 {
			return nil
		}
		names := map[string]bool{}
		for i, n := range ss.Select {
			p := fmt.Sprintf("services.select[%d]", i)
			if !serviceNameRE.MatchString(n) {
				v.errorf(p, "%q: want 1-128 letters, digits, '.', '_' or '-'", n)
			}
			if names[n] {
				v.errorf(p, "duplicate service %q", n)
			}
			names[n] = true
		}
		return names
	}
	if len(ss.Select) > 0 {
		v.errorf("services.select", "only fits services.from")
	}
	names := map[string]bool{}
	for i, d := range ss.Declared {
		p := fmt.Sprintf("services.declared[%d]", i)
		switch {
		case d.Name == "":
			v.errorf(p+".name", "required")
		case !serviceNameRE.MatchString(d.Name):
			v.errorf(p+".name", "%q: want 1-128 letters, digits, '.', '_' or '-'", d.Name)
		case names[d.Name]:
			v.errorf(p+".name", "duplicate service %q", d.Name)
		}
		names[d.Name] = true
	}
	for i, d := range ss.Declared {
		v.declared(fmt.Sprintf("services.declared[%d]", i), d, names)
	}
	return names
}

func (v *validator) declared(p string, d DeclaredService, names map[string]bool) {
	for i, a := range d.After {
		switch {
		case a == d.Name:
			v.errorf(fmt.Sprintf("%s.after[%d]", p, i), "a service cannot start after itself")
		case !names[a]:
			v.errorf(fmt.Sprintf("%s.after[%d]", p, i), "%q is not a declared service", a)
		}
	}
	if len(d.Jobs) == 0 {
		v.errorf(p+".jobs", "a service needs at least a start job")
	}
	jobs := map[string]bool{}
	starts := 0
	for i, j := range d.Jobs {
		jp := fmt.Sprintf("%s.jobs[%d]", p, i)
		switch {
		case j.Name == "":
			v.errorf(jp+".name", "required")
		case !serviceNameRE.MatchString(j.Name):
			v.errorf(jp+".name", "%q: want 1-128 letters, digits, '.', '_' or '-'", j.Name)
		case jobs[j.Name]:
			v.errorf(jp+".name", "duplicate job %q", j.Name)
		}
		jobs[j.Name] = true
		if strings.TrimSpace(j.Exec) == "" {
			v.errorf(jp+".exec", "required")
		}
		switch j.Trigger {
		case "start":
			starts++
			if starts == 2 {
				v.errorf(jp+".trigger", "a service has one start job")
			}
		case "stop", "check":
		case "":
			v.errorf(jp+".trigger", "required: start, stop or check")
		default:
			v.errorf(jp+".trigger", "unknown trigger %q: want start, stop or check", j.Trigger)
		}
		switch j.Restart {
		case "", "always", "on-failure", "never":
		default:
			v.errorf(jp+".restart", "unknown restart policy %q: want always, on-failure or never", j.Restart)
		}
		v.nonNegative(jp+".restart_delay_ms", j.RestartDelayMs)
		v.nonNegative(jp+".max_restarts", int64(j.MaxRestarts))
		v.nonNegative(jp+".interval_ms", j.IntervalMs)
		v.nonNegative(jp+".timeout_ms", j.TimeoutMs)
		known := j.Trigger == "start" || j.Trigger == "stop" || j.Trigger == "check"
		if known && j.Trigger != "start" {
			if j.Restart != "" {
				v.errorf(jp+".restart", "only fits trigger start")
			}
			if j.RestartDelayMs != 0 {
				v.errorf(jp+".restart_delay_ms", "only fits trigger start")
			}
			if j.MaxRestarts != 0 {
				v.errorf(jp+".max_restarts", "only fits trigger start")
			}
		}
		if j.Trigger == "check" && j.IntervalMs == 0 {
			v.errorf(jp+".interval_ms", "required with trigger check")
		}
		if known && j.Trigger != "check" && j.IntervalMs != 0 {
			v.errorf(jp+".interval_ms", "only fits trigger check")
		}
		if j.Trigger == "start" && j.TimeoutMs != 0 {
			v.errorf(jp+".timeout_ms", "only fits trigger check or stop")
		}
		for _, k := range keysOf(j.Env) {
			if !envKeyRE.MatchString(k) {
				v.errorf(jp+".env."+k, "%q is not a valid variable name", k)
			}
		}
		if j.Persist && !d.Persist {
			v.errorf(jp+".persist", "a persisted job needs its service persisted too")
		}
	}
}

func (v *validator) configs(s Scenario) []string {
	seen := map[string]bool{}
	for i, c := range s.Services.Configs {
		p := fmt.Sprintf("services.configs[%d]", i)
		switch {
		case c != ConfigMigrated && c != ConfigLegacy:
			v.errorf(p, "unknown config %q: want %s or %s", c, ConfigMigrated, ConfigLegacy)
		case seen[c]:
			v.errorf(p, "duplicate config %q", c)
		case c == ConfigLegacy && len(s.Services.Declared) > 0:
			v.errorf(p, "declared services are job-model services: they have no legacy config")
		}
		seen[c] = true
	}
	return s.RunConfigs()
}

func (v *validator) fault(p string, f Fault, target string) {
	known := false
	for _, k := range FaultKinds() {
		known = known || k == f.Kind
	}
	switch {
	case f.Kind == "":
		v.errorf(p+".kind", "required")
	case !known:
		v.errorf(p+".kind", "unknown fault %q", f.Kind)
	}
	if known && f.Kind.NeedsTarget() && target == "" {
		v.errorf(p+".kind", "fault %q acts on the target: set target", f.Kind)
	}
	switch f.When {
	case "", WhenNow:
	case WhenRunning, WhenHealthy, WhenRestarting, WhenFailed:
		if target == "" {
			v.errorf(p+".when", "%q is a state of the target: set target", f.When)
		}
	default:
		v.errorf(p+".when", "unknown condition %q: want running, healthy, restarting, failed or now", f.When)
	}
	if f.Signal != "" {
		if f.Kind != FaultKill {
			v.errorf(p+".signal", "only fits kind kill")
		} else if !ValidSignal(f.Signal) {
			v.errorf(p+".signal", "unknown signal %q: want a name such as SIGKILL or SIGTERM", f.Signal)
		}
	}
	if f.Code != 0 && f.Kind != FaultExit {
		v.errorf(p+".code", "only fits kind exit")
	}
	if f.Code < 0 || f.Code > 255 {
		v.errorf(p+".code", "exit code %d: want 0-255", f.Code)
	}
	v.nonNegative(p+".delay_ms", f.DelayMs)
	v.nonNegative(p+".duration_ms", f.DurationMs)
	v.nonNegative(p+".interval_ms", f.IntervalMs)
	if known && f.DurationMs != 0 && !f.Kind.Reversible() && f.Kind != FaultMonkey {
		v.errorf(p+".duration_ms", "only fits hang, health-hang, health-error and monkey")
	}
	if f.IntervalMs != 0 && f.Kind != FaultMonkey {
		v.errorf(p+".interval_ms", "only fits kind monkey")
	}
	if f.Kind == FaultMonkey {
		if f.DurationMs <= 0 {
			v.errorf(p+".duration_ms", "monkey needs a positive duration_ms (how long it kills)")
		}
		if f.IntervalMs <= 0 {
			v.errorf(p+".interval_ms", "monkey needs a positive interval_ms (mean time between kills)")
		} else if f.DurationMs > 0 && f.IntervalMs > f.DurationMs {
			v.errorf(p+".interval_ms", "%d ms is longer than duration_ms %d: no kill would happen", f.IntervalMs, f.DurationMs)
		}
	}
}

func (v *validator) expect(e Expectation, configs []string) {
	ids := map[string]bool{}
	for _, id := range InvariantIDs() {
		ids[id] = true
	}
	seen := map[string]bool{}
	for i, id := range e.Invariants {
		p := fmt.Sprintf("expect.invariants[%d]", i)
		switch {
		case !ids[id]:
			v.errorf(p, "unknown invariant %q: want one of %s", id, strings.Join(InvariantIDs(), ", "))
		case seen[id]:
			v.errorf(p, "duplicate invariant %q", id)
		}
		seen[id] = true
	}
	runs := map[string]bool{}
	for _, c := range configs {
		runs[c] = true
	}
	for _, c := range keysOf(e.Outcome) {
		p := "expect.outcome." + c
		o := e.Outcome[c]
		if !runs[c] {
			v.errorf(p, "the scenario does not run on config %q (it runs on %s)", c, strings.Join(configs, ", "))
		}
		switch o {
		case OutcomePass, OutcomeFail:
			if e.Info {
				v.errorf(p, "an informational scenario (info: true) expects %q, got %q", OutcomeInfo, o)
			}
		case OutcomeInfo:
			if !e.Info {
				v.errorf(p, "%q needs expect.info: true", o)
			}
		default:
			v.errorf(p, "unknown outcome %q: want pass, fail or info", o)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys(m map[string]bool) string { return strings.Join(keysOf(m), ", ") }
