package fleet

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// legacy composes the legacy config: the source's legacy files are placed
// in the config dir the container's zinit boots with, and the job model is
// what they declare: each service's exec as its start job, with its
// [lifecycle] policy when it has one (restart never otherwise), scaled.
// There is nothing to apply.
func (c *Composer) legacy(src source, st chaos.Setup, timeScale float64) (chaos.Setup, error) {
	for _, f := range src.plan.Files {
		b, err := fs.ReadFile(src.fsys, f.Name)
		if err != nil {
			return chaos.Setup{}, fmt.Errorf("legacy config %s: %w", f.File, err)
		}
		st.Files[path.Join(containerConfigDir, f.Name)] = b
	}
	byName := map[string]*migrator.Legacy{}
	for _, l := range src.inv.Files {
		if l.Role == migrator.RoleService {
			byName[l.Name] = l
		}
	}
	for _, sp := range src.plan.Services {
		l := byName[sp.Service.Name]
		if l == nil {
			continue
		}
		st.Legacy[l.Name] = true
		st.Oneshot[l.Name] = l.Oneshot
		st.Services = append(st.Services, zinit.Service{Name: l.Name, After: l.After})
		j := zinit.Job{Service: l.Name, Name: "main", Exec: l.Exec, Trigger: zinit.TriggerStart}
		if lc := l.Lifecycle; lc != nil {
			if p, err := zinit.ParseRestartPolicy(lc.Restart); err == nil {
				j.Restart = p
			}
			if lc.RestartDelayMs != nil {
				j.RestartDelay = time.Duration(*lc.RestartDelayMs) * time.Millisecond
			}
			if lc.MaxRestarts != nil {
				j.MaxRestarts = *lc.MaxRestarts
			}
		}
		j = zinit.ScaleJob(j, timeScale)
		st.Jobs = append(st.Jobs, j)
		pol := chaos.PolicyOf(l.Name, scenarios.ConfigLegacy, []zinit.Job{j}, l.Oneshot)
		if l.Check != nil {
			pol.Probe = "legacy check (" + string(l.Check.Kind) + "): " + l.Check.Exec
			pol.ProbeSource = "legacy health file"
		}
		st.Policies = append(st.Policies, pol)
		// The agent still probes the service the migrated way, to see it.
		if p, ok := agentProbe(l.Name, sp.Probe); ok {
			st.Probes = append(st.Probes, p)
		}
	}
	return st, nil
}

// migrated composes the migrated config: the container boots with an
// empty config dir and Apply applies the plan, scaled, through the
// container's zinit CLI once it answers, so the timeline holds no legacy
// incarnation being replaced (migrating a running legacy fleet is the
// migrator's own test). The job model, policies, probes and fidelity
// ledger are the plan's.
func (c *Composer) migrated(src source, st chaos.Setup, timeScale float64) (chaos.Setup, error) {
	st.Files[path.Join(containerConfigDir, "README")] = []byte("zchaos: migrated through the zinit CLI\n")
	scaled, err := src.plan.Scale(timeScale)
	if err != nil {
		return chaos.Setup{}, err
	}
	for _, sp := range scaled.Services {
		st.Services = append(st.Services, sp.Service)
		st.Jobs = append(st.Jobs, sp.Jobs...)
		st.Oneshot[sp.Service.Name] = sp.Oneshot
		pol := chaos.PolicyOf(sp.Service.Name, st.Config, sp.Jobs, sp.Oneshot)
		pol.ProbeSource = sp.Probe.Origin
		if sp.Probe.Kind != migrator.ProbeNone {
			pol.Probe = sp.Probe.String()
		}
		st.Policies = append(st.Policies, pol)
		if p, ok := agentProbe(sp.Service.Name, sp.Probe); ok {
			st.Probes = append(st.Probes, p)
		}
	}
	for _, sp := range scaled.Services {
		st.Starts = append(st.Starts, sp.Service.Name)
		for _, l := range sp.Ledger {
			st.Ledger = append(st.Ledger, scenarios.LedgerEntry{Service: l.Service, Field: l.Field,
				Fidelity: string(l.Fidelity), Detail: l.Detail})
		}
	}
	clk := c.clock()
	st.Apply = func(ctx context.Context, ct runtime.Container) error {
		t := containerTarget(ct)
		// zinit boots in the background: wait until it answers.
		if err := waitZinit(ctx, clk, t); err != nil {
			return err
		}
		_, err := migrator.Apply(ctx, scaled, t, migrator.ApplyOptions{ConfigDir: containerConfigDir, BackupRoot: containerBackupRoot})
		return err
	}
	return st, nil
}

// agentProbe turns the migrator's probe into the agent's: a socket probe,
// or an HTTP one on the URL's port; other kinds have none.
func agentProbe(svc string, p migrator.Probe) (agent.Probe, bool) {
	switch p.Kind {
	case migrator.ProbeSocket:
		return agent.Probe{Service: svc, Socket: p.Target}, true
	case migrator.ProbeHTTP:
		if n := zinit.HTTPPort(p.Target); n != 0 {
			return agent.Probe{Service: svc, HTTPPort: n}, true
		}
	}
	return agent.Probe{}, false
}
