package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"time"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// In-container paths of a fleet scenario's legacy config.
const (
	setupConfigDir  = "/var/lib/zchaos/legacy-config" // the container boots with these TOMLs
	setupBackupRoot = "/var/lib/zchaos/migrate-backup"
)

// fleetSetup returns the SetupFunc of fleet scenarios. The legacy configs
// of the scenario (the hero fleet, a config dir, or configDir when given),
// limited to its selected services and what they need, are placed in a
// fresh config dir the container's zinit boots with for "legacy". For
// "migrated" the container boots with an empty config dir and the plan
// (made by the migrator under pol, then scaled) is applied through the
// container's zinit CLI.
func fleetSetup(pol migrator.Policy, configDir string) chaos.SetupFunc {
	return func(ctx context.Context, sc scenarios.Scenario, config string, timeScale float64) (chaos.Setup, error) {
		fsys, label := migrator.FleetFS(), "fleet"
		switch {
		case configDir != "":
			fsys, label = os.DirFS(configDir), configDir
		case sc.Services.From != "" && sc.Services.From != "fleet":
			fsys, label = os.DirFS(sc.Services.From), sc.Services.From
		}
		inv, err := migrator.Load(fsys, label)
		if err != nil {
			return chaos.Setup{}, err
		}
		plan, err := migrator.BuildPlan(inv, pol)
		if err != nil {
			return chaos.Setup{}, fmt.Errorf("plan %s: %w", label, err)
		}
		sub, err := selectPlan(plan, sc.Services.Select)
		if err != nil {
			return chaos.Setup{}, err
		}
		st := chaos.Setup{Config: config, Legacy: map[string]bool{}, Oneshot: map[string]bool{},
			Env: []string{"ZINIT_CONFIG_DIR=" + setupConfigDir}, Files: map[string][]byte{}}
		if config == scenarios.ConfigLegacy {
			for _, f := range sub.Files {
				b, err := fs.ReadFile(fsys, f.Name)
				if err != nil {
					return chaos.Setup{}, fmt.Errorf("legacy config %s: %w", f.File, err)
				}
				st.Files[path.Join(setupConfigDir, f.Name)] = b
			}
			return legacySetup(st, inv, sub, timeScale), nil
		}
		// Migrated: the container boots with an empty config dir and the
		// plan is applied to it, so the timeline holds no legacy
		// incarnation being replaced (migrating a running legacy fleet is
		// the migrator's own test).
		st.Files[path.Join(setupConfigDir, "README")] = []byte("zchaos: migrated through the zinit CLI\n")
		scaled, err := sub.Scale(timeScale)
		if err != nil {
			return chaos.Setup{}, err
		}
		for _, sp := range scaled.Services {
			st.Services = append(st.Services, sp.Service)
			st.Jobs = append(st.Jobs, sp.Jobs...)
			st.Oneshot[sp.Service.Name] = sp.Oneshot
			pol := chaos.PolicyOf(sp.Service.Name, config, sp.Jobs, sp.Oneshot)
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
		st.Apply = func(ctx context.Context, c runtime.Container) error {
			t := &migrator.CLITarget{Name: "container " + c.Name(), Zinit: chaos.ZinitCLI,
				Exec: func(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
					res, err := c.Exec(ctx, argv, nil)
					return res.Stdout, res.Stderr, res.ExitCode, err
				}}
			// zinit boots in the background: wait until it answers.
			if err := waitZinit(ctx, t); err != nil {
				return err
			}
			_, err := migrator.Apply(ctx, scaled, t, migrator.ApplyOptions{ConfigDir: setupConfigDir, BackupRoot: setupBackupRoot})
			return err
		}
		return st, nil
	}
}

// waitZinit polls the target until zinit answers (it is starting as PID 1).
func waitZinit(ctx context.Context, t migrator.Target) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := t.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("zinit never answered: %w", err)
		case <-tick.C:
		}
	}
}

// legacySetup is the job model the legacy files declare: each service's
// exec as its start job, with its [lifecycle] policy when it has one
// (restart never otherwise), scaled.
func legacySetup(st chaos.Setup, inv *migrator.Inventory, sub *migrator.Plan, timeScale float64) chaos.Setup {
	byName := map[string]*migrator.Legacy{}
	for _, l := range inv.Files {
		if l.Role == migrator.RoleService {
			byName[l.Name] = l
		}
	}
	for _, sp := range sub.Services {
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
	return st
}

// agentProbe turns the migrator's probe into the agent's.
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

// selectPlan limits a plan to the selected services and, transitively,
// the services they start after (none selected: the whole plan).
func selectPlan(p *migrator.Plan, selected []string) (*migrator.Plan, error) {
	if len(selected) == 0 {
		return p, nil
	}
	keep := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		if keep[name] {
			return nil
		}
		sp := p.Lookup(name)
		if sp == nil {
			return usageErrorf("service %q is not in the legacy config (%s)", name, p.Dir)
		}
		keep[name] = true
		for _, a := range sp.Service.After {
			if err := add(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range selected {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	out := *p
	out.Services, out.Retired, out.Files = nil, nil, nil
	files := map[string]bool{}
	for _, sp := range p.Services {
		if keep[sp.Service.Name] {
			out.Services = append(out.Services, sp)
			files[path.Base(sp.Source)] = true
			for _, h := range sp.HealthFiles {
				files[path.Base(h)] = true
			}
		}
	}
	for _, r := range p.Retired {
		if files[path.Base(r.File)] {
			out.Retired = append(out.Retired, r)
		}
	}
	for _, f := range p.Files {
		if files[f.Name] || keep[f.Unit] || slices.ContainsFunc(out.Retired, func(r migrator.Retired) bool { return r.Name == f.Unit }) {
			out.Files = append(out.Files, f)
		}
	}
	sort.SliceStable(out.Files, func(i, j int) bool { return out.Files[i].Name < out.Files[j].Name })
	return &out, nil
}
