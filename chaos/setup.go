package chaos

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// Setup is one config of a scenario: how to bring the container to it, and
// the job model it declares.
type Setup struct {
	Config   string // "migrated" | "legacy"
	Services []zinit.Service
	// Jobs is the applied (time-scaled) job model, for the oracle and the
	// reports. For a legacy service it holds the start job derived from its
	// TOML (exec, and the [lifecycle] policy if any), so the agent can match
	// its processes.
	Jobs     []zinit.Job
	Legacy   map[string]bool // services that stay legacy TOML
	Oneshot  map[string]bool
	Policies []scenarios.ServicePolicy
	// Ledger is the migrator's fidelity ledger of this config, if migrated.
	Ledger []scenarios.LedgerEntry
	// Probes says how the agent probes each service; a service missing here
	// gets one derived from its jobs (DeriveProbe).
	Probes []agent.Probe
	// Env and Files are given to the container at start (e.g.
	// ZINIT_CONFIG_DIR pointing to an empty dir so the fleet does not boot).
	Env   []string
	Files map[string][]byte
	// Apply brings a freshly started container to this config.
	Apply func(ctx context.Context, c runtime.Container) error
	// Stops and Starts name the services Apply stops (legacy units it
	// replaces) and starts. The runner marks them with action events just
	// before Apply, so the oracle reads those exits and spawns as requests,
	// not as crashes or policy restarts.
	Stops, Starts []string
}

// SetupFunc makes the Setup of one scenario on one config at a time scale.
type SetupFunc func(ctx context.Context, sc scenarios.Scenario, config string, timeScale float64) (Setup, error)

// EmptyConfigDir is the config dir a container of declared services boots
// with, so that no legacy fleet starts.
const EmptyConfigDir = "/var/lib/zchaos/empty-config"

// ZinitCLI is the target's zinit CLI, as the harness calls it inside the
// container (on PATH in the reference image).
const ZinitCLI = "zinit"

// DeclaredSetup makes the Setup of a scenario's declared services: each is
// added through the container's zinit CLI (`zinit add service`, then its
// start job first, then its other jobs, then `zinit start`), with every
// duration scaled. The container boots with an empty config dir.
func DeclaredSetup(sc scenarios.Scenario, timeScale float64) (Setup, error) {
	st := Setup{Config: scenarios.ConfigMigrated, Legacy: map[string]bool{}, Oneshot: map[string]bool{},
		Env:   []string{"ZINIT_CONFIG_DIR=" + EmptyConfigDir},
		Files: map[string][]byte{EmptyConfigDir + "/README": []byte("zchaos: declared services only\n")}}
	for _, d := range sc.Services.Declared {
		sb := zinit.NewService(d.Name).After(d.After...)
		if d.Persist {
			sb.Persist()
		}
		svc, err := sb.Build()
		if err != nil {
			return Setup{}, fmt.Errorf("declared service %s: %w", d.Name, err)
		}
		st.Services = append(st.Services, svc)
		var jobs []zinit.Job
		for _, dj := range d.Jobs {
			j, err := declaredJob(d.Name, dj, timeScale)
			if err != nil {
				return Setup{}, err
			}
			jobs = append(jobs, j)
		}
		// The start job first: a service whose first job is not its start
		// job can go inactive at once (the seed's finding).
		for _, trig := range []zinit.Trigger{zinit.TriggerStart, zinit.TriggerCheck, zinit.TriggerStop} {
			for _, j := range jobs {
				if j.Trigger == trig {
					st.Jobs = append(st.Jobs, j)
				}
			}
		}
		pol := PolicyOf(d.Name, scenarios.ConfigMigrated, st.Jobs, false)
		pol.ProbeSource = "declared"
		st.Policies = append(st.Policies, pol)
	}
	services, jobs := st.Services, st.Jobs
	for _, s := range services {
		st.Starts = append(st.Starts, s.Name)
	}
	st.Apply = func(ctx context.Context, c runtime.Container) error {
		var steps [][]string
		for _, s := range services {
			steps = append(steps, s.Argv())
			for _, j := range jobs {
				if j.Service == s.Name {
					steps = append(steps, j.Argv())
				}
			}
		}
		for _, s := range services {
			steps = append(steps, []string{zinit.CLIName, "start", s.Name})
		}
		return RunCLI(ctx, c, ZinitCLI, steps)
	}
	return st, nil
}

func declaredJob(svc string, dj scenarios.DeclaredJob, timeScale float64) (zinit.Job, error) {
	trig, err := zinit.ParseTrigger(dj.Trigger)
	if err != nil {
		return zinit.Job{}, fmt.Errorf("declared job %s/%s: %w", svc, dj.Name, err)
	}
	b := zinit.NewJob(svc, dj.Name).Exec(ScaleExecDurations(dj.Exec, timeScale)).Trigger(trig)
	if dj.Restart != "" {
		p, err := zinit.ParseRestartPolicy(dj.Restart)
		if err != nil {
			return zinit.Job{}, fmt.Errorf("declared job %s/%s: %w", svc, dj.Name, err)
		}
		b.Restart(p)
	}
	if dj.RestartDelayMs > 0 {
		b.RestartDelay(zinit.ScaleDuration(time.Duration(dj.RestartDelayMs)*time.Millisecond, timeScale))
	}
	if dj.MaxRestarts > 0 {
		b.MaxRestarts(dj.MaxRestarts)
	}
	if dj.IntervalMs > 0 {
		b.Interval(zinit.ScaleDuration(time.Duration(dj.IntervalMs)*time.Millisecond, timeScale))
	}
	if dj.TimeoutMs > 0 {
		b.Timeout(zinit.ScaleDuration(time.Duration(dj.TimeoutMs)*time.Millisecond, timeScale))
	}
	for k, v := range dj.Env {
		b.Env(k, v)
	}
	if dj.Persist {
		b.Persist()
	}
	j, err := b.Build()
	if err != nil {
		return zinit.Job{}, fmt.Errorf("declared job %s/%s: %w", svc, dj.Name, err)
	}
	return j, nil
}

// herosimDurationRE matches the duration knobs of the stand-in service
// herosim in a command line: "--slow-start 20s", "--crash-after=1500ms".
var herosimDurationRE = regexp.MustCompile(`(--(?:slow-start|crash-after)(?:=| +))([0-9][0-9a-zµ.]*)`)

// ScaleExecDurations scales the duration knobs of herosim found in an exec
// line (--slow-start, --crash-after; Go duration syntax) with
// zinit.ScaleDuration, so a declared service keeps its timing relative to
// its scaled job model. Anything it cannot parse, and other text, is left
// as written; a time scale that is not > 0, or 1, returns exec unchanged.
func ScaleExecDurations(exec string, timeScale float64) string {
	if !(timeScale > 0) || timeScale == 1 {
		return exec
	}
	return herosimDurationRE.ReplaceAllStringFunc(exec, func(m string) string {
		sub := herosimDurationRE.FindStringSubmatch(m)
		d, err := time.ParseDuration(sub[2])
		if err != nil {
			return m
		}
		return sub[1] + zinit.ScaleDuration(d, timeScale).String()
	})
}

// RunCLI runs each step (argv whose first word is the zinit CLI, replaced
// by cli) inside c, in order, and stops at the first that fails.
func RunCLI(ctx context.Context, c runtime.Container, cli string, steps [][]string) error {
	for _, st := range steps {
		argv := append([]string{cli}, st[1:]...)
		res, err := c.Exec(ctx, argv, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", zinit.CommandLine(argv), err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("%s: exit %d: %s", zinit.CommandLine(argv), res.ExitCode,
				firstLine(strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout))))
		}
	}
	return nil
}

// PolicyOf renders a service's applied policy for the reports.
func PolicyOf(svc, config string, jobs []zinit.Job, oneshot bool) scenarios.ServicePolicy {
	p := scenarios.ServicePolicy{Service: svc, Config: config, Oneshot: oneshot, Restart: zinit.RestartNever.String()}
	haveStart, haveCheck := false, false
	for _, j := range jobs {
		if j.Service != svc {
			continue
		}
		switch {
		case j.Trigger == zinit.TriggerStart && !haveStart:
			haveStart = true
			p.Restart = j.Restart.String()
			p.RestartDelayMs = j.EffectiveRestartDelay().Milliseconds()
			p.MaxRestarts = j.MaxRestarts
		case j.Trigger == zinit.TriggerCheck && !haveCheck:
			haveCheck = true
			p.IntervalMs = j.Interval.Milliseconds()
			p.TimeoutMs = j.EffectiveTimeout().Milliseconds()
			p.Probe = "check: " + j.Exec
		}
	}
	if pr, ok := DeriveProbe(svc, jobs); ok && p.Probe == "" {
		p.Probe = pr.String()
	}
	return p
}

// DeriveProbe finds how to probe a service from its jobs with
// zinit.DetectProbe: a socket named by its check jobs, then by its start
// job (socat's UNIX-CONNECT, --socket), else an HTTP port (a curl URL,
// --http-port, --port) named by the same lines.
func DeriveProbe(svc string, jobs []zinit.Job) (agent.Probe, bool) {
	var execs []string
	for _, trig := range []zinit.Trigger{zinit.TriggerCheck, zinit.TriggerStart} {
		for _, j := range jobs {
			if j.Service == svc && j.Trigger == trig {
				execs = append(execs, j.Exec)
			}
		}
	}
	t, ok := zinit.DetectProbe(execs...)
	switch {
	case !ok:
		return agent.Probe{}, false
	case t.Socket != "":
		return agent.Probe{Service: svc, Socket: t.Socket}, true
	}
	return agent.Probe{Service: svc, HTTPPort: t.HTTPPort}, true
}
