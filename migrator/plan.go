package migrator

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// Fidelity says how a legacy field was carried into the job model.
type Fidelity string

const (
	FidelityExact           Fidelity = "exact"            // same meaning
	FidelityApproximated    Fidelity = "approximated"     // close; Detail says how
	FidelityDropped         Fidelity = "dropped"          // not carried over; Detail says why
	FidelityBehaviourChange Fidelity = "behaviour-change" // carried, but the operator will see something different
)

// LedgerEntry records how one legacy field (or one absent field whose
// absence mattered) was migrated.
type LedgerEntry struct {
	Service  string   `json:"service"`
	Field    string   `json:"field"`
	Fidelity Fidelity `json:"fidelity"`
	Detail   string   `json:"detail"`
	// Source is "file:line" of the legacy value ("" for an absent one).
	Source string `json:"source,omitempty"`
}

// ServicePlan is the job model of one migrated service.
type ServicePlan struct {
	Service zinit.Service `json:"service"`
	// Jobs: "main" (trigger start), then "check" (trigger check) for a
	// long-running service. A oneshot has only main, with restart never.
	Jobs    []zinit.Job   `json:"jobs"`
	Oneshot bool          `json:"oneshot"`
	Probe   Probe         `json:"probe"`
	Ledger  []LedgerEntry `json:"ledger"`
	// Source is the legacy file; Dialect its dialect; HealthFiles the
	// legacy health files absorbed into the check job.
	Source      string   `json:"source"`
	Dialect     Dialect  `json:"dialect"`
	HealthFiles []string `json:"health_files,omitempty"`
	// Grace is the wanted grace period; the first check runs one interval
	// after each spawn, so Interval ≥ Grace.
	Grace time.Duration `json:"-"`
}

// Job returns the job named name, or false.
func (sp ServicePlan) Job(name string) (zinit.Job, bool) {
	for _, j := range sp.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return zinit.Job{}, false
}

// Retired is a legacy unit that is removed and not re-created (a health
// file, absorbed into its service's check job).
type Retired struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// SourceFile is a legacy file the plan consumes: apply backs it up and
// moves it out of zinit's config dir.
type SourceFile struct {
	File   string `json:"file"` // as shown (label/name)
	Name   string `json:"name"` // base name in the config dir
	Unit   string `json:"unit"` // the service or health file name it defines
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// PlanVersion is the version of the Plan JSON.
const PlanVersion = 1

// Plan is the migration of a legacy config directory.
type Plan struct {
	Version int    `json:"version"`
	Dir     string `json:"dir"`
	Policy  string `json:"policy,omitempty"`
	// TimeScale is the factor every duration was scaled by (1: production).
	TimeScale float64 `json:"time_scale"`
	// Services in start order: every service after its dependencies, ties
	// by name.
	Services []ServicePlan `json:"services"`
	Retired  []Retired     `json:"retired"`
	Files    []SourceFile  `json:"files"`
}

// Names lists the migrated services in start order.
func (p *Plan) Names() []string {
	out := make([]string, len(p.Services))
	for i, s := range p.Services {
		out[i] = s.Service.Name
	}
	return out
}

// Lookup returns the plan of service name, or nil.
func (p *Plan) Lookup(name string) *ServicePlan {
	for i := range p.Services {
		if p.Services[i].Service.Name == name {
			return &p.Services[i]
		}
	}
	return nil
}

// blockingCodes are the findings that make a migration impossible.
var blockingCodes = map[string]bool{
	CodeParseError: true, CodeInvalidName: true, CodeDuplicateName: true, CodeUnknownDependency: true,
	CodeCycle: true, CodeSocketTooLong: true, CodeProbeTarget: true, CodeExecTooLong: true,
}

var blockingSentinel = map[string]error{
	CodeParseError: zinit.ErrMalformed, CodeInvalidName: ErrInvalidName, CodeDuplicateName: ErrDuplicateName,
	CodeUnknownDependency: ErrMissingDependency, CodeCycle: ErrCycle, CodeSocketTooLong: ErrUnsafeValue,
	CodeProbeTarget: ErrPolicy, CodeExecTooLong: ErrUnsafeValue,
}

// sentinelMessage is msg as an error wrapping sentinel: "sentinel: msg",
// or msg alone when it already begins with the sentinel's words (never
// "dependency cycle: dependency cycle …").
func sentinelMessage(sentinel error, msg string) error {
	if strings.HasPrefix(msg, sentinel.Error()) {
		return &wrapped{msg: msg, err: sentinel}
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

// wrapped is an error with its own text that wraps err.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// BuildPlan turns the inventory into a plan under the policy. Input that
// cannot be migrated (a parse error, a name zinit rejects, a duplicate
// name, an unknown dependency, a cycle, a socket path too long) is
// returned as errors.Join of *zinit.ConfigError, one per problem, and no plan.
// Warnings do not stop it; run Lint to see them.
func BuildPlan(inv *Inventory, pol Policy) (*Plan, error) {
	var errs []error
	for _, ce := range inv.Errors {
		errs = append(errs, ce)
	}
	a := analyse(inv, pol)
	for _, f := range lint(a, true).Findings() {
		if f.Code == CodeParseError || !blockingCodes[f.Code] || f.Severity != SeverityError {
			continue
		}
		errs = append(errs, &zinit.ConfigError{File: f.File, Line: f.Line, Key: f.Service,
			Err: sentinelMessage(blockingSentinel[f.Code], f.Message)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Plan{Version: PlanVersion, Dir: inv.Dir, Policy: pol.File, TimeScale: 1, Retired: []Retired{}}
	plans := map[string]ServicePlan{}
	for _, s := range a.services {
		sp, err := a.planService(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans[s.Name] = sp
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, name := range startOrder(plans) {
		p.Services = append(p.Services, plans[name])
	}
	for _, l := range inv.Files {
		if l.Role == RoleHealth {
			p.Retired = append(p.Retired, Retired{Name: l.Name, File: l.File,
				Reason: fmt.Sprintf("health file of %s: absorbed into its check job", l.After[0])})
		}
		p.Files = append(p.Files, SourceFile{File: l.File, Name: path.Base(l.File), Unit: l.Name, SHA256: l.SHA256, Size: l.Size})
	}
	return p, nil
}

// startOrder sorts services so each comes after its dependencies (Kahn's
// algorithm, ties by name through a min-heap). The graph is acyclic by then.
func startOrder(plans map[string]ServicePlan) []string {
	indeg := make(map[string]int, len(plans))
	users := map[string][]string{}
	for name, sp := range plans {
		indeg[name] += 0
		for _, d := range sp.Service.After {
			indeg[name]++
			users[d] = append(users[d], name)
		}
	}
	ready := &nameHeap{}
	for n, d := range indeg {
		if d == 0 {
			*ready = append(*ready, n)
		}
	}
	heap.Init(ready)
	out := make([]string, 0, len(plans))
	for ready.Len() > 0 {
		n := heap.Pop(ready).(string)
		out = append(out, n)
		for _, u := range users[n] {
			if indeg[u]--; indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	return out
}

type nameHeap []string

func (h nameHeap) Len() int           { return len(h) }
func (h nameHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h nameHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nameHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *nameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func loc(l *Legacy, field string) string {
	if n := l.Line(field); n > 0 {
		return l.File + ":" + strconv.Itoa(n)
	}
	return l.File
}

// planService builds one service's job model and its ledger.
func (a *analysis) planService(s *Legacy) (ServicePlan, error) {
	r := a.pol.resolve(s.Name)
	sp := ServicePlan{Source: s.File, Dialect: s.Dialect, Oneshot: s.Oneshot}
	led := func(field string, f Fidelity, src string, format string, args ...any) {
		sp.Ledger = append(sp.Ledger, LedgerEntry{Service: s.Name, Field: field, Fidelity: f, Source: src, Detail: fmt.Sprintf(format, args...)})
	}

	// Service and dependencies.
	svc := zinit.NewService(s.Name)
	if r.Persist {
		svc.Persist()
	}
	if s.NameFromFile {
		led("name", FidelityExact, s.File, "service %s (the file name, as legacy zinit named it)", s.Name)
	} else {
		led("name", FidelityExact, loc(s, "name"), "service %s", s.Name)
	}
	if len(s.After) == 0 && s.Line("after") > 0 {
		led("after", FidelityExact, loc(s, "after"), "no dependencies")
	}
	for _, d := range s.After {
		dep := a.service(d)
		switch {
		case dep == nil: // a health file's name: depend on the service it checks
			t := a.byName[d][0].After[0]
			svc.After(t)
			led("after", FidelityApproximated, loc(s, "after"), "after %q (a health file): --after %s, the service it checks", d, t)
		case dep.Oneshot && !s.Oneshot:
			led("after", FidelityBehaviourChange, loc(s, "after"),
				"after oneshot %q dropped: --after waits for running and a finished oneshot is inactive, so it would block forever; this service may now start before %s finishes", d, d)
		default:
			svc.After(d)
			led("after", FidelityExact, loc(s, "after"), "--after %s (waits until %s is running)", d, d)
		}
	}
	service, err := svc.Build()
	if err != nil {
		return sp, &zinit.ConfigError{File: s.File, Line: s.Line("name"), Key: "name", Err: fmt.Errorf("%w: %w", ErrInvalidName, err)}
	}
	sp.Service = service

	// Main job.
	exec := s.Exec
	if s.Dir != "" {
		exec = "cd " + zinit.ShellQuote(s.Dir) + " || exit 1; " + s.Exec
		led("dir", FidelityApproximated, loc(s, "dir"),
			"the job model has no working directory: the exec is prefixed with `cd %s || exit 1;` (the start job's pid is then that shell)", s.Dir)
	}
	quoted := ""
	if needsQuoting(s.Exec) {
		quoted = " (holds shell metacharacters: passed verbatim, quoted once for the CLI)"
	}
	led("exec", FidelityExact, loc(s, "exec"), "main job --exec, trigger start%s", quoted)
	main := zinit.NewJob(s.Name, "main").Exec(exec).Trigger(zinit.TriggerStart)
	if r.Persist {
		main.Persist()
	}
	for _, k := range sortedStrKeys(s.Env) {
		main.Env(k, s.Env[k])
		led("env."+k, FidelityExact, loc(s, "env."+k), "-e %s=… on the main job", k)
	}
	if s.Oneshot {
		led("oneshot", FidelityExact, loc(s, "oneshot"), "oneshot: start job with --restart never and no check job; it runs again when the migration starts it")
		a.planOneshotExtras(s, led)
	} else {
		a.planRestart(s, r, main, led)
	}
	mj, err := main.Build()
	if err != nil {
		return sp, &zinit.ConfigError{File: s.File, Line: s.Line("exec"), Key: "exec", Err: fmt.Errorf("%w: %w", ErrUnsafeValue, err)}
	}
	sp.Jobs = append(sp.Jobs, mj)
	a.planYAMLExtras(s, led)
	for _, k := range s.Unknown {
		led(k, FidelityDropped, loc(s, k), "unknown key, ignored (legacy zinit ignored it too)")
	}
	if s.Oneshot {
		sp.Probe = Probe{Kind: ProbeNone, Origin: "oneshot: no check job"}
		for _, h := range a.health[s.Name] {
			sp.HealthFiles = append(sp.HealthFiles, h.File)
			led("health file", FidelityDropped, h.File, "health file %s checks a oneshot: dropped (a oneshot has no check job); the file is backed up and moved out", h.Name)
		}
		return sp, nil
	}

	// Check job.
	probe, err := a.resolveProbe(s, r)
	if err != nil {
		return sp, &zinit.ConfigError{File: s.File, Key: "probe", Err: fmt.Errorf("%w: %w", ErrPolicy, err)}
	}
	sp.Probe = probe
	interval, timeout, grace := r.Interval, r.Timeout, r.Grace
	if s.Health != nil {
		if s.Health.IntervalMs > 0 && !r.perService("interval") {
			interval = time.Duration(s.Health.IntervalMs) * time.Millisecond
			led("health.interval_ms", FidelityExact, loc(s, "health.interval_ms"), "--interval-ms %d", s.Health.IntervalMs)
		}
		if s.Health.TimeoutMs > 0 && !r.perService("timeout") {
			timeout = time.Duration(s.Health.TimeoutMs) * time.Millisecond
			led("health.timeout_ms", FidelityExact, loc(s, "health.timeout_ms"), "--timeout-ms %d", s.Health.TimeoutMs)
		}
		if s.Health.GraceMs > 0 && !r.perService("grace") {
			grace = time.Duration(s.Health.GraceMs) * time.Millisecond
			led("health.grace_ms", FidelityApproximated, loc(s, "health.grace_ms"),
				"grace %d ms: no grace setting in the job model; the first check runs one interval after each spawn (see grace)", s.Health.GraceMs)
		}
		if s.Health.Retries > 1 {
			led("health.retries", FidelityBehaviourChange, loc(s, "health.retries"),
				"retries %d: the job model acts on the first failed check (F=%d), so one bad probe now kills the service", s.Health.Retries, zinit.FailedChecksBeforeKill)
		} else if s.Health.Retries == 1 {
			led("health.retries", FidelityExact, loc(s, "health.retries"), "one failed check acts (F=%d)", zinit.FailedChecksBeforeKill)
		}
	}
	if timeout > interval {
		led("check.timeout", FidelityApproximated, "", "timeout %d ms > interval %d ms: kept; a check still runs one at a time", timeout.Milliseconds(), interval.Milliseconds())
	}
	if grace > interval {
		led("grace", FidelityApproximated, "",
			"grace %d ms > interval %d ms: interval raised to %d ms, since the first check runs one interval after each spawn; checks now run every %d ms",
			grace.Milliseconds(), interval.Milliseconds(), grace.Milliseconds(), grace.Milliseconds())
		interval = grace
	} else {
		led("grace", FidelityApproximated, "",
			"the first check runs one interval (%d ms) after each spawn, so the grace after start is %d ms ≥ the %d ms wanted (%s); no separate grace setting",
			interval.Milliseconds(), interval.Milliseconds(), grace.Milliseconds(), r.From["grace"])
	}
	sp.Grace = grace
	check := zinit.NewJob(s.Name, "check").Trigger(zinit.TriggerCheck).Interval(interval).Timeout(timeout).Exec(probe.Exec(timeout))
	if r.Persist {
		check.Persist()
	}
	cj, err := check.Build()
	if err != nil {
		return sp, &zinit.ConfigError{File: s.File, Key: "check", Err: fmt.Errorf("%w: %w", ErrPolicy, err)}
	}
	sp.Jobs = append(sp.Jobs, cj)
	a.ledgerChecks(s, &sp, interval, timeout, led)
	return sp, nil
}

type ledFunc func(field string, f Fidelity, src string, format string, args ...any)

// planRestart sets the main job's restart policy from [lifecycle], the
// policy and the seed defaults, and says how it differs from legacy.
func (a *analysis) planRestart(s *Legacy, r resolved, main *zinit.JobBuilder, led ledFunc) {
	restart, delay, maxR := r.Restart, r.RestartDelay, r.MaxRestarts
	lc := s.Lifecycle
	if lc != nil && lc.Restart != "" && !r.perService("restart") {
		restart, _ = zinit.ParseRestartPolicy(lc.Restart)
		led("lifecycle.restart", FidelityExact, loc(s, "lifecycle.restart"), "--restart %s", restart)
	} else if lc != nil && lc.Restart != "" {
		led("lifecycle.restart", FidelityBehaviourChange, loc(s, "lifecycle.restart"),
			"legacy restart %s replaced by --restart %s (%s)", lc.Restart, restart, r.From["restart"])
	} else {
		led("restart", FidelityBehaviourChange, "",
			"legacy zinit never restarted it (a crash left it inactive); now --restart %s (%s): restarted %d ms after a failure, at most %s, then state failed (reason %s)",
			restart, r.From["restart"], delay.Milliseconds(), maxText(maxR), zinit.ReasonRestartLimit)
	}
	if lc != nil && lc.RestartDelayMs != nil && !r.perService("restart_delay") {
		delay = time.Duration(*lc.RestartDelayMs) * time.Millisecond
		led("lifecycle.restart_delay_ms", FidelityExact, loc(s, "lifecycle.restart_delay_ms"), "--restart-delay %d (a fixed delay, no backoff)", *lc.RestartDelayMs)
	}
	if lc != nil && lc.MaxRestarts != nil && !r.perService("max_restarts") {
		maxR = *lc.MaxRestarts
		led("lifecycle.max_restarts", FidelityApproximated, loc(s, "lifecycle.max_restarts"),
			"--max-restarts %d: counted since the last explicit start; a long healthy run does not reset the count", maxR)
	}
	main.Restart(restart)
	if restart != zinit.RestartNever {
		if delay > 0 {
			main.RestartDelay(delay)
		}
		main.MaxRestarts(maxR)
	}
	if restart == zinit.RestartOnFailure {
		led("oneshot", FidelityExact, loc(s, "oneshot"), "long-running: a clean exit 0 is not restarted (on-failure); a crash, a signal or a failed check is")
	} else {
		led("oneshot", FidelityExact, loc(s, "oneshot"), "long-running: main job with --restart %s and a check job", restart)
	}
}

func maxText(n int) string {
	if n == 0 {
		return "without limit"
	}
	return strconv.Itoa(n) + " times"
}

// planOneshotExtras records what a oneshot loses.
func (a *analysis) planOneshotExtras(s *Legacy, led ledFunc) {
	if s.Lifecycle != nil && s.Lifecycle.Restart != "" && s.Lifecycle.Restart != "never" {
		led("lifecycle.restart", FidelityBehaviourChange, loc(s, "lifecycle.restart"), "restart %s on a oneshot: dropped, oneshots get --restart never", s.Lifecycle.Restart)
	}
	if s.Health != nil {
		led("health", FidelityDropped, loc(s, "health"), "[health] on a oneshot: dropped (a oneshot has no check job)")
	}
	if s.Test != "" {
		led("test", FidelityDropped, loc(s, "test"), "test on a oneshot: dropped (a oneshot has no check job)")
	}
}

// planYAMLExtras records the YAML-only fields.
func (a *analysis) planYAMLExtras(s *Legacy, led ledFunc) {
	if s.StopSignal != "" {
		sig := strings.TrimPrefix(strings.ToUpper(s.StopSignal), "SIG")
		if sig == "TERM" {
			led("signal.stop", FidelityExact, loc(s, "signal.stop"), "zinit stop sends SIGTERM to the process group")
		} else {
			led("signal.stop", FidelityBehaviourChange, loc(s, "signal.stop"),
				"stop signal %s dropped: zinit stop sends SIGTERM to the process group (a process that ignores SIGTERM is SIGKILLed after %s)", s.StopSignal, zinit.StopTimeout)
		}
	}
	if s.Lines["shutdown_timeout"] > 0 {
		if s.ShutdownTimeout == zinit.StopTimeout {
			led("shutdown_timeout", FidelityExact, loc(s, "shutdown_timeout"), "SIGKILL %s after SIGTERM (the pinned stop timeout)", zinit.StopTimeout)
		} else {
			led("shutdown_timeout", FidelityApproximated, loc(s, "shutdown_timeout"),
				"%s dropped: the pinned stop timeout is %s (SIGTERM, then SIGKILL)", s.ShutdownTimeout, zinit.StopTimeout)
		}
	}
	if s.Log != "" {
		led("log", FidelityDropped, loc(s, "log"), "log %q: output is kept by zinit (zinit logs)", s.Log)
	}
}

// ledgerChecks records how the legacy checks map to the check job.
func (a *analysis) ledgerChecks(s *Legacy, sp *ServicePlan, interval, timeout time.Duration, led ledFunc) {
	what := probeText(sp.Probe)
	timing := fmt.Sprintf("every %d ms (timeout %d ms, first one %d ms after each spawn); one failed check SIGKILLs the process group and the restart policy applies",
		interval.Milliseconds(), timeout.Milliseconds(), interval.Milliseconds())
	fid := FidelityExact
	if strings.Contains(sp.Probe.Origin, "convention") {
		fid = FidelityApproximated
	}
	led("probe", fid, "", "%s; target from %s", what, sp.Probe.Origin)
	for _, h := range a.health[s.Name] {
		sp.HealthFiles = append(sp.HealthFiles, h.File)
		c := h.Check
		was := "ran once after start"
		switch {
		case c.AlwaysPasses:
			was += " and always passed"
		case c.IgnoresAnswer:
			was += " and passed on any answer"
		}
		led("health file", FidelityBehaviourChange, loc(h, "exec"),
			"%s (%s: %s) %s; replaced by check job: %s %s. The health unit %s is stopped, removed, and its file backed up and moved out",
			h.File, c.Kind, oneLine(c.Exec), was, what, timing, h.Name)
	}
	if s.Health != nil && s.Health.Exec != "" {
		fid := FidelityApproximated
		if sp.Probe.Kind == ProbeCommand {
			fid = FidelityExact
		}
		led("health.exec", fid, loc(s, "health.exec"), "[health] exec %q → check job: %s %s", oneLine(s.Health.Exec), what, timing)
	}
	if s.Test != "" {
		led("test", FidelityBehaviourChange, loc(s, "test"),
			"test %q was a readiness test run until it passed; now a periodic check: %s %s", oneLine(s.Test), what, timing)
	}
	if len(a.health[s.Name]) == 0 && s.Health == nil && s.Test == "" {
		led("health", FidelityBehaviourChange, "", "no legacy health check; new check job: %s %s", what, timing)
	}
}

func probeText(p Probe) string {
	switch p.Kind {
	case ProbeSocket:
		return "JSON-RPC server.health over socket " + p.Target + " (socat; passes only on a result answer)"
	case ProbeHTTP:
		return "HTTP GET " + p.Target + " (curl -f; passes only on 2xx/3xx)"
	case ProbeCommand:
		return "legacy probe command run as is"
	case ProbeLiveness:
		return "liveness only (kill -0 $ZINIT_PID): a hang is not detected"
	}
	return "no check"
}

// resolveProbe decides what the check probes and where the target came
// from: the per-service policy first, then the service's own exec flags and
// env, then its legacy health file / [health] / test, then the socket
// convention, else liveness.
func (a *analysis) resolveProbe(s *Legacy, r resolved) (Probe, error) {
	if c, ok := a.probes[s]; ok {
		return c.p, c.err
	}
	p, err := a.findProbe(s, r)
	a.probes[s] = probeResult{p, err}
	return p, err
}

type probeResult struct {
	p   Probe
	err error
}

func (a *analysis) findProbe(s *Legacy, r resolved) (Probe, error) {
	if r.Probe == ProbeLiveness {
		return Probe{Kind: ProbeLiveness, Origin: r.From["probe"]}, nil
	}
	type cand struct {
		val    string
		port   int
		origin string
	}
	var socks, ports []cand
	if r.Socket != "" {
		socks = append(socks, cand{val: r.Socket, origin: r.From["socket"]})
	}
	if r.Port != 0 {
		ports = append(ports, cand{port: r.Port, val: httpURL(a.pol, r.Port, r.HTTPPath), origin: r.From["port"]})
	}
	sock, sockFrom, port, portFrom := execTargets(s.Exec, s.Env)
	if sock != "" {
		field := "exec"
		if strings.HasPrefix(sockFrom, "env ") {
			field = "env." + strings.TrimPrefix(sockFrom, "env ")
		}
		socks = append(socks, cand{val: sock, origin: fmt.Sprintf("%s (%s)", sockFrom, loc(s, field))})
	}
	if port != 0 {
		field := "exec"
		if strings.HasPrefix(portFrom, "env ") {
			field = "env." + strings.TrimPrefix(portFrom, "env ")
		}
		ports = append(ports, cand{port: port, val: httpURL(a.pol, port, r.HTTPPath), origin: fmt.Sprintf("%s (%s)", portFrom, loc(s, field))})
	}
	var command *cand
	legacyChecks := []struct {
		c    *LegacyCheck
		from string
	}{}
	for _, h := range a.health[s.Name] {
		legacyChecks = append(legacyChecks, struct {
			c    *LegacyCheck
			from string
		}{h.Check, "health file " + loc(h, "exec")})
	}
	if s.Health != nil && s.Health.Exec != "" {
		legacyChecks = append(legacyChecks, struct {
			c    *LegacyCheck
			from string
		}{declaredCheck(s.Health.Exec), "[health] exec (" + loc(s, "health.exec") + ")"})
	}
	if s.Test != "" {
		legacyChecks = append(legacyChecks, struct {
			c    *LegacyCheck
			from string
		}{declaredCheck(s.Test), "test (" + loc(s, "test") + ")"})
	}
	for _, lc := range legacyChecks {
		switch {
		case lc.c.Socket != "":
			socks = append(socks, cand{val: lc.c.Socket, origin: lc.from + ", socat UNIX-CONNECT"})
		case lc.c.Port != 0:
			u := lc.c.URL
			if r.HTTPPath != DefaultHTTPPath && r.From["port"] == "" {
				u = httpURL(a.pol, lc.c.Port, r.HTTPPath)
			}
			ports = append(ports, cand{port: lc.c.Port, val: u, origin: lc.from + ", curl URL"})
		case lc.c.Kind == CheckOther && command == nil:
			command = &cand{val: lc.c.Exec, origin: lc.from}
		}
	}
	switch r.Probe {
	case ProbeHTTP:
		if len(ports) == 0 {
			return Probe{}, fmt.Errorf("policy asks for an http probe of %s but no port is known (set services.%s.port)", s.Name, s.Name)
		}
		return Probe{Kind: ProbeHTTP, Target: ports[0].val, Origin: ports[0].origin}, nil
	case ProbeSocket:
		if len(socks) == 0 {
			socks = append(socks, cand{val: a.pol.conventionSocket(s.Name), origin: "convention " + a.pol.SocketDir + "/<name without user.>.sock"})
		}
		return Probe{Kind: ProbeSocket, Target: socks[0].val, Origin: socks[0].origin}, nil
	}
	switch {
	case len(ports) > 0:
		return Probe{Kind: ProbeHTTP, Target: ports[0].val, Origin: ports[0].origin}, nil
	case len(socks) > 0:
		return Probe{Kind: ProbeSocket, Target: socks[0].val, Origin: socks[0].origin}, nil
	case command != nil:
		return Probe{Kind: ProbeCommand, Target: command.val, Origin: command.origin}, nil
	case a.pol.deriveSocket():
		return Probe{Kind: ProbeSocket, Target: a.pol.conventionSocket(s.Name),
			Origin: "convention " + a.pol.SocketDir + "/<name without user.>.sock"}, nil
	}
	return Probe{Kind: ProbeLiveness, Origin: "no socket or port in the files, socket convention off"}, nil
}

func httpURL(pol Policy, port int, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return fmt.Sprintf("http://%s:%d%s", pol.HTTPHost, port, p)
}

// Scale returns a copy of the plan with every duration (restart delays,
// check intervals and timeouts, and the probes' own bounds, which are
// re-rendered from the scaled timeout) multiplied by factor, rounded to
// whole milliseconds and at least 1 ms. TimeScale is multiplied too.
// Counts (max-restarts) are not scaled. factor must be > 0.
func (p *Plan) Scale(factor float64) (*Plan, error) {
	if !(factor > 0) || math.IsInf(factor, 0) {
		return nil, fmt.Errorf("time scale %v: must be a finite number > 0", factor)
	}
	out := *p
	out.TimeScale = p.TimeScale * factor
	out.Services = make([]ServicePlan, len(p.Services))
	for i, sp := range p.Services {
		ns := sp
		ns.Grace = zinit.ScaleDuration(sp.Grace, factor)
		ns.Jobs = make([]zinit.Job, len(sp.Jobs))
		for k, j := range sp.Jobs {
			j = zinit.ScaleJob(j, factor)
			if j.Trigger == zinit.TriggerCheck {
				j.Exec = sp.Probe.Exec(j.Timeout)
			}
			ns.Jobs[k] = j
		}
		ns.Ledger = append(append([]LedgerEntry(nil), sp.Ledger...), LedgerEntry{
			Service: sp.Service.Name, Field: "time scale", Fidelity: FidelityApproximated,
			Detail: fmt.Sprintf("every duration scaled by %g (rounded to whole ms, at least 1 ms): not production timing", factor),
		})
		out.Services[i] = ns
	}
	return &out, nil
}
