package fleet

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// An image as built is judged as it boots: its own entrypoint and config
// create its zinit services (legacy TOMLs, a boot script calling zinit add
// service/job, persisted state); zchaos applies nothing. Discover learns
// what it declares through its own zinit CLI, checks it against the
// policy (Conform) and audits its checks; the as-built composer then runs
// the fault scenarios on fresh containers of the image, each service
// judged against the policy it declares.

var (
	// ErrNoZinit is an image whose containers have no zinit CLI: the
	// user's mistake (exit 3).
	ErrNoZinit = errors.New("the image has no zinit CLI")
	// ErrZinitSilent is a zinit that never answered within the wait: safe
	// to retry (exit 4).
	ErrZinitSilent = errors.New("zinit never answered")
)

// DiscoverOptions tune Discover. The zero value of each field takes its
// default.
type DiscoverOptions struct {
	RunID    string          // labels the discovery container
	ZinitCLI string          // the image's zinit CLI (default chaos.ZinitCLI)
	Wait     time.Duration   // bound of the wait for zinit to answer (default 60 s)
	Settle   time.Duration   // the service list must hold still this long (default 2 s)
	Agent    []byte          // copied to agent.Path for an image without the agent (nil: it has one)
	Policy   migrator.Policy // the conformance's policy
	// TimeScale is the scale the image was built at (1: production
	// timings): the policy's durations are compared scaled by it.
	TimeScale float64
	Clock     clock.Clock
}

func (o *DiscoverOptions) defaults() {
	if o.ZinitCLI == "" {
		o.ZinitCLI = chaos.ZinitCLI
	}
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// Built is what an image declares once booted, and how it conforms.
type Built struct {
	Image       string
	Services    []zinit.ServiceStatus
	Conformance []scenarios.Finding
	Audit       []scenarios.ProbeAudit
}

// auditSpecPath is where Discover writes the agent spec its audits read.
const auditSpecPath = "/run/zchaos/audit-spec.json"

// Discover starts a container of image as it boots, waits until its zinit
// answers and its service list holds still (a boot script may still be
// adding jobs), and returns what it declares, its conformance to the
// policy (the migrator's rules on the live jobs, and lint on its legacy
// TOMLs, read from its config dir) and the audit of every check job. The
// container is removed. ErrNoZinit and ErrZinitSilent are wrapped.
func Discover(ctx context.Context, rt runtime.Runtime, image string, o DiscoverOptions) (*Built, error) {
	o.defaults()
	files := map[string][]byte{}
	if o.Agent != nil {
		files[agent.Path] = o.Agent
	}
	c, err := rt.Start(ctx, runtime.StartOptions{Image: image, RunID: o.RunID, Name: o.RunID + "-discover", Files: files,
		DeadMan: chaos.DeadMan()})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", image, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.Remove(rctx)
	}()
	svcs, err := declared(ctx, c, o)
	if err != nil {
		return nil, err
	}
	b := &Built{Image: image, Services: svcs}
	for _, f := range migrator.Conform(svcs, o.Policy, o.TimeScale) {
		b.Conformance = append(b.Conformance, finding(f))
	}
	legacy, err := legacyFindings(ctx, c, svcs, o.Policy)
	if err != nil {
		return nil, err
	}
	b.Conformance = append(b.Conformance, legacy...)
	if b.Audit, err = auditChecks(ctx, c, svcs, o); err != nil {
		return nil, err
	}
	return b, nil
}

// declared polls `zinit list --json` until it answers and the list has
// not changed for Settle.
func declared(ctx context.Context, c runtime.Container, o DiscoverOptions) ([]zinit.ServiceStatus, error) {
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	var last []zinit.ServiceStatus
	var since time.Time
	lastErr := "no answer yet"
	err := zinit.PollUntil(wctx, o.Clock, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		res, err := c.Exec(ctx, []string{o.ZinitCLI, "list", "--json"}, nil)
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("zinit list: %w", err)
		}
		stderr := strings.TrimSpace(string(res.Stderr))
		if res.ExitCode == 126 || res.ExitCode == 127 || strings.Contains(stderr, "executable file not found") {
			return false, fmt.Errorf("%w (%s: %s)", ErrNoZinit, o.ZinitCLI, firstLine(stderr))
		}
		if res.ExitCode != 0 {
			lastErr = firstLine(stderr)
			return false, nil
		}
		var now []zinit.ServiceStatus
		if err := json.Unmarshal(res.Stdout, &now); err != nil {
			lastErr = "zinit list --json: " + err.Error()
			return false, nil
		}
		if last == nil || !sameDeclaration(last, now) {
			last, since = now, o.Clock.Now()
			return false, nil
		}
		return o.Clock.Since(since) >= o.Settle, nil
	})
	if err == nil {
		// A oneshot is told from a service no crash restarts only once it
		// ran: wait (within the bound) until no restart-never service is
		// still waiting for its --after services or starting.
		err = zinit.PollUntil(wctx, o.Clock, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			res, err := c.Exec(ctx, []string{o.ZinitCLI, "list", "--json"}, nil)
			if err != nil || res.ExitCode != 0 || json.Unmarshal(res.Stdout, &last) != nil {
				return false, nil
			}
			for _, s := range last {
				if !s.Legacy && restartsNever(s) && s.State == zinit.StateBlocked {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil && ctx.Err() == nil {
			err = nil // still blocked at the bound: conformance says so
		}
	}
	switch {
	case err == nil:
		return last, nil
	case errors.Is(err, ErrNoZinit):
		return nil, err
	case last != nil && ctx.Err() == nil:
		return last, nil // it answered; the list kept changing until the wait ended
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("%w within %s on socket %s: %s", ErrZinitSilent, o.Wait, socketOf(ctx, c), lastErr)
}

// sameDeclaration compares what two lists declare (names and jobs), not
// their live state.
func sameDeclaration(a, b []zinit.ServiceStatus) bool {
	type decl struct {
		Name   string
		Legacy bool
		Jobs   []zinit.JobStatus
	}
	norm := func(l []zinit.ServiceStatus) []decl {
		out := make([]decl, len(l))
		for i, s := range l {
			jobs := make([]zinit.JobStatus, len(s.Jobs))
			for k, j := range s.Jobs {
				j.PID, j.Restarts, j.LastCheck = nil, 0, nil
				jobs[k] = j
			}
			out[i] = decl{s.Name, s.Legacy, jobs}
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// socketOf names the socket the container's zinit CLI uses.
func socketOf(ctx context.Context, c runtime.Container) string {
	res, err := c.Exec(ctx, []string{"sh", "-c", `printf %s "${ZINIT_SOCKET:-` + zinit.DefaultSocket + `}"`}, nil)
	if err != nil || res.ExitCode != 0 || len(res.Stdout) == 0 {
		return zinit.DefaultSocket + " (the default; ZINIT_SOCKET unread)"
	}
	return string(res.Stdout)
}

func finding(f migrator.Finding) scenarios.Finding {
	return scenarios.Finding{Service: f.Service, Severity: f.Severity.String(), Code: f.Code, Message: f.Message, Where: f.Location()}
}

// legacyFindings lints the legacy TOMLs of the legacy services, read from
// the container's config dir: what a legacy service really runs.
func legacyFindings(ctx context.Context, c runtime.Container, svcs []zinit.ServiceStatus, pol migrator.Policy) ([]scenarios.Finding, error) {
	legacy := map[string]bool{}
	for _, s := range svcs {
		if s.Legacy {
			legacy[s.Name] = true
		}
	}
	if len(legacy) == 0 {
		return nil, nil
	}
	res, err := c.Exec(ctx, []string{"sh", "-c", `d="${ZINIT_CONFIG_DIR:-` + zinit.DefaultConfigDir + `}"; cd "$d" && printf '%s\n' "$d" >&2 && tar cf - .`}, nil)
	if err != nil {
		return nil, fmt.Errorf("read the legacy config: %w", err)
	}
	dir := strings.TrimSpace(string(res.Stderr))
	if res.ExitCode != 0 {
		return []scenarios.Finding{{Service: "(config dir)", Severity: scenarios.SeverityWarning, Code: "config-unreadable",
			Message: "the legacy config dir could not be read: " + firstLine(dir)}}, nil
	}
	fsys := fstest.MapFS{}
	tr := tar.NewReader(bytes.NewReader(res.Stdout))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the legacy config: %w", err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || strings.Contains(name, "/") {
			continue // zinit reads the top of its config dir only
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("read the legacy config: %w", err)
		}
		fsys[name] = &fstest.MapFile{Data: data}
	}
	inv, err := migrator.Load(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []scenarios.Finding
	for _, f := range migrator.Lint(inv, pol).Findings() {
		if legacy[f.Service] && f.Severity >= migrator.SeverityWarning {
			out = append(out, finding(f))
		}
	}
	return out, nil
}

// auditChecks runs `zchaos agent probe-audit` on every check job of every
// job-model service, once its service runs.
func auditChecks(ctx context.Context, c runtime.Container, svcs []zinit.ServiceStatus, o DiscoverOptions) ([]scenarios.ProbeAudit, error) {
	spec := agent.Spec{ZinitCLI: o.ZinitCLI}
	for _, s := range svcs {
		for _, j := range s.Jobs {
			job := j.Name
			if s.Legacy {
				job = ""
			}
			spec.Jobs = append(spec.Jobs, agent.Job{Service: s.Name, Job: job, Trigger: j.Trigger.String(), Exec: j.Exec})
		}
		if p, ok := probeOf(s, o.Policy); ok {
			spec.Probes = append(spec.Probes, p)
		}
	}
	specJSON, _ := json.Marshal(spec)
	if err := c.CopyIn(ctx, map[string][]byte{auditSpecPath: specJSON}); err != nil {
		return nil, fmt.Errorf("probe audit: %w", err)
	}
	var out []scenarios.ProbeAudit
	for _, s := range svcs {
		if s.Legacy {
			continue // legacy health files are linted, not audited: they run once
		}
		for _, j := range s.Jobs {
			if j.Trigger != zinit.TriggerCheck {
				continue
			}
			a, err := auditOne(ctx, c, s, j, o)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// auditOne audits one check job and judges its runs.
func auditOne(ctx context.Context, c runtime.Container, s zinit.ServiceStatus, j zinit.JobStatus, o DiscoverOptions) (scenarios.ProbeAudit, error) {
	timeout := msOr(j.TimeoutMs, msOr(j.IntervalMs, 30000))
	a := scenarios.ProbeAudit{Service: s.Name, Job: j.Name, Exec: j.Exec, TimeoutMs: timeout}
	t0 := o.Clock.Now()
	defer func() { a.DurationMs = float64(o.Clock.Since(t0).Microseconds()) / 1000 }()
	if err := waitRunning(ctx, c, s.Name, o); err != nil {
		a.Verdict, a.Reason = scenarios.VerdictInconclusive, "the service never ran: "+err.Error()
		return a, nil
	}
	argv := []string{agent.Path, "agent", "probe-audit", "--spec", auditSpecPath, "--service", s.Name,
		"--exec", j.Exec, "--timeout-ms", strconv.FormatInt(timeout, 10)}
	for k, v := range j.Env {
		argv = append(argv, "--env", k+"="+v)
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Duration(timeout)*time.Millisecond+30*time.Second)
	defer cancel()
	res, err := c.Exec(actx, argv, nil)
	if err != nil {
		return a, fmt.Errorf("probe audit of %s/%s: %w", s.Name, j.Name, err)
	}
	var runs []agent.AuditRun
	if res.ExitCode != 0 || json.Unmarshal(res.Stdout, &runs) != nil {
		a.Verdict, a.Reason = scenarios.VerdictInconclusive, "the audit did not run: "+firstLine(strings.TrimSpace(string(res.Stderr)))
		return a, nil
	}
	for _, r := range runs {
		a.Runs = append(a.Runs, scenarios.ProbeRun{State: r.State, Passed: r.Passed, TimedOut: r.TimedOut,
			DurationMs: r.DurationMs, Output: r.Output, Skipped: r.Skipped})
	}
	a.Verdict, a.Reason = judgeAudit(a)
	return a, nil
}

// judgeAudit: a check must pass on the healthy service and fail when it
// hangs or its socket is gone. Passing a hung service is a blind probe.
func judgeAudit(a scenarios.ProbeAudit) (scenarios.Verdict, string) {
	quoted := fmt.Sprintf("%q", a.Exec)
	var skipped []string
	for _, r := range a.Runs {
		switch {
		case r.Skipped != "":
			skipped = append(skipped, r.State+": "+r.Skipped)
		case r.State == agent.AuditHealthy && !r.Passed:
			why := "failed"
			if r.TimedOut {
				why = fmt.Sprintf("timed out after %d ms", a.TimeoutMs)
			}
			return scenarios.VerdictFail, fmt.Sprintf("the check %s on the healthy service: zinit would kill it every interval: %s", why, quoted)
		case r.State == agent.AuditHung && r.Passed:
			return scenarios.VerdictFail, fmt.Sprintf("blind probe: it passed while the service was hung (SIGSTOP), so a hang is never caught: %s", quoted)
		case r.State == agent.AuditSocketGone && r.Passed:
			return scenarios.VerdictFail, fmt.Sprintf("blind probe: it passed while the service's socket was gone: %s", quoted)
		}
	}
	if len(skipped) > 0 {
		return scenarios.VerdictInconclusive, strings.Join(skipped, "; ")
	}
	if len(a.Runs) < 3 {
		return scenarios.VerdictPass, "passes on the healthy service, fails it hung (it does not use the socket)"
	}
	return scenarios.VerdictPass, "passes on the healthy service, fails it hung and without its socket"
}

// waitRunning waits until zinit reports the service running.
func waitRunning(ctx context.Context, c runtime.Container, svc string, o DiscoverOptions) error {
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	state := "unknown"
	err := zinit.PollUntil(wctx, o.Clock, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		res, err := c.Exec(ctx, []string{o.ZinitCLI, "status", svc, "--json"}, nil)
		if err != nil || res.ExitCode != 0 {
			return false, nil
		}
		var st zinit.ServiceStatus
		if json.Unmarshal(res.Stdout, &st) != nil {
			return false, nil
		}
		state = st.State.String()
		return st.State == zinit.StateRunning, nil
	})
	if err != nil {
		return fmt.Errorf("state %s after %s", state, o.Wait)
	}
	return nil
}

// jobsOf turns a service's reported jobs into the job model, as declared.
func jobsOf(s zinit.ServiceStatus) []zinit.Job {
	out := make([]zinit.Job, 0, len(s.Jobs))
	for _, j := range s.Jobs {
		job := zinit.Job{Service: s.Name, Name: j.Name, Exec: j.Exec, Trigger: j.Trigger, Env: j.Env, Persist: j.Persist,
			RestartDelay: time.Duration(msOr(j.RestartDelayMs, 0)) * time.Millisecond,
			Interval:     time.Duration(msOr(j.IntervalMs, 0)) * time.Millisecond,
			Timeout:      time.Duration(msOr(j.TimeoutMs, 0)) * time.Millisecond}
		if j.Restart != nil {
			job.Restart = *j.Restart
		}
		if j.MaxRestarts != nil {
			job.MaxRestarts = *j.MaxRestarts
		}
		out = append(out, job)
	}
	return out
}

func msOr(v *int64, def int64) int64 {
	if v == nil {
		return def
	}
	return *v
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// asBuilt composes the as-built config: the image boots with its own
// config and nothing is applied; the job model is what it declares
// (Composer.Built), unscaled (the image's own timings). Apply waits until
// its zinit declares every service discovery saw.
func (c *Composer) asBuilt(sc scenarios.Scenario) (chaos.Setup, error) {
	b := c.Built
	if b == nil {
		return chaos.Setup{}, fmt.Errorf("config %s: no image was discovered (fleet.Discover)", scenarios.ConfigAsBuilt)
	}
	st := chaos.Setup{Config: scenarios.ConfigAsBuilt, Legacy: map[string]bool{}, Oneshot: map[string]bool{}}
	var names []string
	for _, s := range b.Services {
		names = append(names, s.Name)
		jobs := jobsOf(s)
		oneshot := isOneshot(s)
		st.Services = append(st.Services, zinit.Service{Name: s.Name, After: s.After, Persist: s.Persist})
		st.Jobs = append(st.Jobs, jobs...)
		st.Legacy[s.Name], st.Oneshot[s.Name] = s.Legacy, oneshot
		pol := chaos.PolicyOf(s.Name, scenarios.ConfigAsBuilt, jobs, oneshot)
		pol.ProbeSource = "declared by the image"
		st.Policies = append(st.Policies, pol)
		if p, ok := probeOf(s, c.Policy); ok {
			st.Probes = append(st.Probes, p)
		}
	}
	st.Apply = func(ctx context.Context, ct runtime.Container) error {
		o := DiscoverOptions{Clock: c.clock()}
		o.defaults()
		svcs, err := declared(ctx, ct, o)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, s := range svcs {
			have[s.Name] = true
		}
		for _, n := range names {
			if !have[n] {
				return fmt.Errorf("service %s, declared at discovery, is missing from this boot", n)
			}
		}
		return nil
	}
	return st, nil
}

// restartsNever: the service's start job does not restart.
func restartsNever(s zinit.ServiceStatus) bool {
	for _, j := range s.Jobs {
		if j.Trigger == zinit.TriggerStart && j.Restart != nil && *j.Restart != zinit.RestartNever {
			return false
		}
	}
	return true
}

// isOneshot: the job model says nothing of oneshots; a service whose
// start job restarts never and that ended with exit 0 ran once.
func isOneshot(s zinit.ServiceStatus) bool {
	return restartsNever(s) && s.State == zinit.StateInactive && s.LastExit != nil && s.LastExit.Code != nil && *s.LastExit.Code == 0
}

// probeOf is how the agent probes a declared service: what its jobs name
// (a check's UNIX-CONNECT, a --socket, a port), else, for a legacy service
// that names none, the policy's socket convention, as the migrator would.
func probeOf(s zinit.ServiceStatus, pol migrator.Policy) (agent.Probe, bool) {
	if p, ok := chaos.DeriveProbe(s.Name, jobsOf(s)); ok {
		return p, true
	}
	if sock := pol.ConventionSocket(s.Name); s.Legacy && sock != "" {
		return agent.Probe{Service: s.Name, Socket: sock}, true
	}
	return agent.Probe{}, false
}

// targets are the services of the image a selector may pick.
func (b *Built) targets(pol migrator.Policy) []scenarios.TargetInfo {
	var out []scenarios.TargetInfo
	for _, s := range b.Services {
		info := scenarios.TargetInfo{Name: s.Name, Oneshot: isOneshot(s)}
		if p, ok := probeOf(s, pol); ok {
			switch {
			case p.Socket != "":
				info.Probe = scenarios.ProbeSocket
			case p.HTTPPort != 0:
				info.Probe = scenarios.ProbeHTTP
			}
		}
		out = append(out, info)
	}
	return out
}
