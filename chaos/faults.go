package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// Revert undoes a reversible fault and returns its revert event. It always
// runs to completion: it ignores the cancellation of ctx (it runs under
// context.WithoutCancel with its own timeout), so a cancelled run still
// continues a SIGSTOPped group. It is safe to call more than once; only the
// first call acts.
type Revert func(ctx context.Context) ([]scenarios.Event, error)

// RevertTimeout bounds one revert.
const RevertTimeout = 15 * time.Second

// FaultClient is the harness side of a fault: it runs `zchaos agent inject`
// inside a container and turns its answer into events and a Revert.
type FaultClient struct {
	// Agent is the agent binary's path in the container (default agent.Path).
	Agent string
	// SpecPath is the watch spec in the container (default agent.SpecPath),
	// from which the injector learns the jobs, probes and zinit CLI.
	SpecPath string
	// EffectTimeout bounds each effect probe (default 3 s).
	EffectTimeout time.Duration
	// CrashMinAge: see agent.InjectOptions (default 25 ms).
	CrashMinAge time.Duration
	// RestartTimeout is the supervisor-restart stop timeout (default 10 s).
	RestartTimeout time.Duration
}

// Inject performs fault f on target through the default FaultClient.
func Inject(ctx context.Context, c runtime.Container, f scenarios.Fault, target string) ([]scenarios.Event, Revert, error) {
	return FaultClient{}.Inject(ctx, c, f, target)
}

func (in FaultClient) agent() string {
	if in.Agent == "" {
		return agent.Path
	}
	return in.Agent
}

func (in FaultClient) argv(kind scenarios.FaultKind, target string, extra ...string) []string {
	spec := in.SpecPath
	if spec == "" {
		spec = agent.SpecPath
	}
	argv := []string{in.agent(), "agent", "inject", "--kind", string(kind), "--spec", spec}
	if target != "" {
		argv = append(argv, "--service", target)
	}
	if in.EffectTimeout > 0 {
		argv = append(argv, "--effect-timeout-ms", strconv.FormatInt(in.EffectTimeout.Milliseconds(), 10))
	}
	if in.CrashMinAge > 0 {
		argv = append(argv, "--crash-min-age-ms", strconv.FormatInt(in.CrashMinAge.Milliseconds(), 10))
	}
	return append(argv, extra...)
}

// run executes one agent inject and decodes its events.
func (in FaultClient) run(ctx context.Context, c runtime.Container, argv []string) ([]scenarios.Event, error) {
	res, err := c.Exec(ctx, argv, nil)
	if err != nil {
		return nil, fmt.Errorf("agent inject: %w", err)
	}
	var evs []scenarios.Event
	derr := agent.ReadEvents(bytes.NewReader(res.Stdout), func(e scenarios.Event) { evs = append(evs, e) })
	switch {
	case res.ExitCode == agent.ExitUnsupported:
		return evs, fmt.Errorf("agent inject: %s: %w", firstLine(strings.TrimSpace(string(res.Stderr))), agent.ErrUnsupportedFault)
	case res.ExitCode != 0:
		return evs, fmt.Errorf("agent inject %s: exit %d: %s", strings.Join(argv[3:], " "), res.ExitCode,
			firstLine(strings.TrimSpace(string(res.Stderr))))
	case derr != nil:
		return evs, derr
	}
	return evs, nil
}

// Inject performs fault f on the target service inside c, through the
// container's agent, and returns the fault event (timestamped at the
// injection) and its effect event. A reversible fault (hang, health-hang,
// health-error, crash-loop) also returns its Revert; the caller must call
// it. supervisor-restart restarts the container's PID 1 (the caller must
// re-attach its watching agent). monkey is the runner's, not a single
// fault. An error means the fault could not be attempted; a fault that was
// attempted but whose effect was not seen is an effect event with OK=false.
func (in FaultClient) Inject(ctx context.Context, c runtime.Container, f scenarios.Fault, target string) ([]scenarios.Event, Revert, error) {
	switch f.Kind {
	case scenarios.FaultMonkey:
		return nil, nil, fmt.Errorf("inject monkey: %w: the runner drives it", agent.ErrUnsupportedFault)
	case scenarios.FaultSupervisor:
		return in.supervisorRestart(ctx, c)
	}
	var extra []string
	if f.Signal != "" {
		extra = append(extra, "--signal", f.Signal)
	}
	if f.Kind == scenarios.FaultExit {
		extra = append(extra, "--code", strconv.Itoa(f.Code))
	}
	evs, err := in.run(ctx, c, in.argv(f.Kind, target, extra...))
	if err != nil {
		return evs, nil, err
	}
	var fault *scenarios.Event
	for i := range evs {
		if evs[i].Kind == scenarios.EventFault {
			fault = &evs[i]
		}
	}
	if fault == nil {
		return evs, nil, errors.New("agent inject: no fault event")
	}
	var rev []string
	switch f.Kind {
	case scenarios.FaultHang:
		if fault.PGID <= 0 {
			return evs, nil, nil // nothing was stopped
		}
		rev = []string{"--revert", "--pgid", strconv.Itoa(fault.PGID)}
	case scenarios.FaultHealthHang, scenarios.FaultHealthError:
		switch fault.Mechanism {
		case scenarios.MechanismControl:
			rev = []string{"--revert", "--control", fault.Control}
		case scenarios.MechanismSignal:
			rev = []string{"--revert", "--pid", strconv.Itoa(fault.PID), "--start", strconv.FormatUint(fault.TargetStart, 10)}
		case scenarios.MechanismInterpose:
			if fault.HelperPID <= 0 {
				return evs, nil, nil // no interposer took over
			}
			rev = []string{"--revert", "--socket", fault.Socket, "--aside", fault.Aside,
				"--socket-ino", strconv.FormatUint(fault.SocketIno, 10),
				"--helper-pid", strconv.Itoa(fault.HelperPID), "--helper-start", strconv.FormatUint(fault.HelperStart, 10)}
		default:
			return evs, nil, nil
		}
	case scenarios.FaultCrashLoop:
		rev = []string{"--revert"}
	default:
		return evs, nil, nil
	}
	return evs, in.revertFunc(c, in.argv(f.Kind, target, rev...)), nil
}

// revertFunc makes the once-only Revert running argv.
func (in FaultClient) revertFunc(c runtime.Container, argv []string) Revert {
	var mu sync.Mutex
	done := false
	return func(ctx context.Context) ([]scenarios.Event, error) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return nil, nil
		}
		done = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RevertTimeout)
		defer cancel()
		evs, err := in.run(rctx, c, argv)
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range evs {
			if e.Kind == scenarios.EventRevert && e.OK != nil && !*e.OK {
				errs = append(errs, fmt.Errorf("revert %s: %s", e.Fault, e.Detail))
			}
		}
		return evs, errors.Join(errs...)
	}
}

// supervisorRestart marks the fault, restarts PID 1 through the runtime,
// and waits until the supervisor answers (the effect).
func (in FaultClient) supervisorRestart(ctx context.Context, c runtime.Container) ([]scenarios.Event, Revert, error) {
	evs, err := in.run(ctx, c, in.argv(scenarios.FaultSupervisor, ""))
	if err != nil {
		return evs, nil, err
	}
	timeout := in.RestartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if err := c.Restart(ctx, timeout); err != nil {
		return evs, nil, fmt.Errorf("supervisor-restart: %w", err)
	}
	more, err := in.run(ctx, c, in.argv(scenarios.FaultSupervisor, "", "--after-restart"))
	return append(evs, more...), nil, err
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// inject performs one fault; supervisor-restart re-attaches the agent.
func (a *attempt) inject(ctx, actx context.Context, f scenarios.Fault) error {
	target := a.t.sc.Target
	if !f.Kind.NeedsTarget() {
		target = ""
	}
	if f.Kind == scenarios.FaultSupervisor {
		evs, _, err := a.faults.Inject(ctx, a.c, f, target)
		a.obs.add(evs...)
		if err != nil {
			return err
		}
		// PID 1 restarted: the old agent died with it. Attach a new one.
		if err := a.obs.waitDetached(ctx, a.r.Clock, 30*time.Second); err != nil {
			return err
		}
		if err := a.attachAgent(actx); err != nil {
			return err
		}
		return nil
	}
	evs, rev, err := a.faults.Inject(ctx, a.c, f, target)
	a.obs.add(evs...)
	if err != nil {
		return err
	}
	if rev != nil {
		a.addRevert(f, rev)
	}
	return nil
}

// addRevert keeps a revert to run at the end, or after the fault's
// duration (a goroutine owned by the attempt, stopped by runReverts).
func (a *attempt) addRevert(f scenarios.Fault, rev Revert) {
	a.revMu.Lock()
	a.reverts = append(a.reverts, pendingRevert{fault: f.Kind, revert: rev})
	a.revMu.Unlock()
	if f.DurationMs <= 0 {
		return
	}
	d := zinit.ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
	timer := a.r.Clock.NewTimer(d)
	a.revWG.Add(1)
	go func() {
		defer a.revWG.Done()
		defer timer.Stop()
		select {
		case <-timer.C():
		case <-a.stopRev:
			return
		}
		evs, err := rev(context.Background())
		a.obs.add(evs...)
		if err != nil {
			a.note("revert " + string(f.Kind) + ": " + err.Error())
		}
	}()
}

// runReverts undoes every reversible fault not undone yet (idempotent).
func (a *attempt) runReverts(ctx context.Context) {
	a.revMu.Lock()
	select {
	case <-a.stopRev:
	default:
		close(a.stopRev)
	}
	revs := a.reverts
	a.reverts = nil
	a.revMu.Unlock()
	a.revWG.Wait()
	for _, p := range revs {
		evs, err := p.revert(ctx)
		a.obs.add(evs...)
		if err != nil {
			a.note("revert " + string(p.fault) + ": " + err.Error())
		}
	}
}

// monkey kills random running non-oneshot services with SIGKILL for
// DurationMs, about every IntervalMs (exponentially distributed, from the
// seed). A service that is down (its last kill not yet restarted) is never
// picked: killing it again would have no effect to see.
func (a *attempt) monkey(ctx context.Context, f scenarios.Fault, rng *mrand.Rand) error {
	var pool []string
	for _, s := range a.setup.Services {
		if !a.setup.Oneshot[s.Name] {
			pool = append(pool, s.Name)
		}
	}
	for _, j := range a.setup.Jobs {
		if j.Trigger == zinit.TriggerStart && !a.setup.Oneshot[j.Service] && !slices.Contains(pool, j.Service) {
			pool = append(pool, j.Service)
		}
	}
	sort.Strings(pool)
	if len(pool) == 0 {
		return fmt.Errorf("monkey: no service to kill: %w", agent.ErrUnsupportedFault)
	}
	total := zinit.ScaleDuration(time.Duration(f.DurationMs)*time.Millisecond, a.r.TimeScale)
	mean := zinit.ScaleDuration(time.Duration(max(f.IntervalMs, 1))*time.Millisecond, a.r.TimeScale)
	deadline := a.r.Clock.Now().Add(total)
	for {
		gap := time.Duration(rng.ExpFloat64() * float64(mean))
		if a.r.Clock.Now().Add(gap).After(deadline) {
			return a.sleep(ctx, deadline.Sub(a.r.Clock.Now()))
		}
		if err := a.sleep(ctx, gap); err != nil {
			return err
		}
		running := a.runningOf(pool)
		if len(running) == 0 {
			// Every service is down (restarting): a kill now would hit
			// nothing, and its effect could never be seen. Wait for the next.
			continue
		}
		svc := running[rng.IntN(len(running))]
		evs, _, err := a.faults.Inject(ctx, a.c, scenarios.Fault{Kind: scenarios.FaultKill, Signal: "SIGKILL"}, svc)
		for i := range evs {
			if evs[i].Kind == scenarios.EventFault || evs[i].Kind == scenarios.EventEffect {
				evs[i].Fault = string(scenarios.FaultMonkey)
			}
		}
		a.obs.add(evs...)
		if err != nil {
			return err
		}
	}
}

// runningOf returns the services of pool the agent last saw running (a
// process of their start job alive), in pool's order.
func (a *attempt) runningOf(pool []string) []string {
	evs, _ := a.obs.snapshot0()
	var out []string
	for _, svc := range pool {
		if v := viewOf(evs, svc, a.startJob(svc)); v.running && v.state != "restarting" {
			out = append(out, svc)
		}
	}
	return out
}

// effectTimeout bounds each effect probe: long enough for a health probe
// to time out a few times.
func (a *attempt) effectTimeout() time.Duration {
	return max(3*time.Second, 3*a.spec.ProbeTimeout())
}
