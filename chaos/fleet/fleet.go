// Package fleet composes the configs of fleet scenarios: it loads the
// scenario's legacy fleet (the hero fleet fixture, a config dir, or the
// Composer's), plans its migration with the migrator, limits the plan to
// the scenario's services, and makes the chaos.Setup of one config from
// that source:
//   - legacy: the container boots with the legacy TOMLs; the job model is
//     what those files declare;
//   - migrated: the container boots with an empty config dir and the plan,
//     scaled, is applied through the container's zinit CLI.
//
// Each migrator-made config is one entry of a table (composers); the third
// kind, an image as built (asbuilt.go), is discovered from the image
// itself (Discover) and composed from what it declares.
//
// It also runs the migrator against a container by name (DockerTarget),
// for `zchaos migrate --container`.
//
// It is the one room of chaos that imports migrator: it imports chaos,
// chaos/runtime, chaos/agent, migrator, scenarios and zinit; chaos never
// imports it.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

// In-container paths of a fleet scenario's legacy config.
const (
	containerConfigDir  = "/var/lib/zchaos/legacy-config"  // the container's zinit boots with this config dir
	containerBackupRoot = "/var/lib/zchaos/migrate-backup" // the migrated config's apply keeps its backup here
)

var (
	// ErrUnknownService is a scenario selecting a service its legacy
	// config does not have: bad input.
	ErrUnknownService = errors.New("not in the legacy config")
	// ErrUnknownConfig is a config no composer makes.
	ErrUnknownConfig = errors.New("no such fleet config")
)

// Composer makes the chaos.Setup of fleet scenarios; its Setup method is a
// chaos.SetupFunc. It holds no state between calls, so one Composer serves
// every attempt of a run at once.
type Composer struct {
	// Policy is the migrator's policy the plan is made under (required;
	// migrator.DefaultPolicy is the built-in one).
	Policy migrator.Policy
	// ConfigDir, when set, is the legacy config dir every scenario uses,
	// instead of its own services.from (default: the hero fleet fixture).
	ConfigDir string
	// Clock paces the wait for the container's zinit (default: real).
	Clock clock.Clock
	// Built is the image as built (Discover), for the as-built config:
	// its services are the targets, and what it declares the job model.
	Built *Built
	// Calibration is how --time-scale auto chose the run's scale.
	Calibration *scenarios.Calibration
}

// source is what every config of a fleet scenario is composed from.
type source struct {
	fsys  fs.FS // the legacy config files
	label string
	inv   *migrator.Inventory
	plan  *migrator.Plan // limited to the scenario's services (selectPlan)
}

// composeFunc makes one config of a fleet scenario from its source and
// base (the Setup every config shares: its config name, env and empty
// maps).
type composeFunc func(c *Composer, src source, base chaos.Setup, timeScale float64) (chaos.Setup, error)

// composers are the config kinds a fleet scenario can run on, by config
// name. Adding a kind is adding an entry.
var composers = map[string]composeFunc{
	scenarios.ConfigLegacy:   (*Composer).legacy,
	scenarios.ConfigMigrated: (*Composer).migrated,
}

// Setup makes the Setup of scenario sc on config at timeScale: the legacy
// configs of its source (Composer.ConfigDir, else sc.Services.From, else
// the hero fleet), limited to its selected services and, transitively,
// those they start after. A config without a composer is an error wrapping
// ErrUnknownConfig; a selected service the source lacks, one wrapping
// ErrUnknownService; bad legacy files and plans, the migrator's errors.
func (c *Composer) Setup(_ context.Context, sc scenarios.Scenario, config string, timeScale float64) (chaos.Setup, error) {
	if config == scenarios.ConfigAsBuilt {
		return c.asBuilt(sc)
	}
	compose, ok := composers[config]
	if !ok {
		return chaos.Setup{}, fmt.Errorf("config %q: %w", config, ErrUnknownConfig)
	}
	src, err := c.source(sc)
	if err != nil {
		return chaos.Setup{}, err
	}
	base := chaos.Setup{Config: config, Legacy: map[string]bool{}, Oneshot: map[string]bool{},
		Env: []string{"ZINIT_CONFIG_DIR=" + containerConfigDir}, Files: map[string][]byte{}}
	return compose(c, src, base, timeScale)
}

// source loads and plans the legacy fleet of sc.
func (c *Composer) source(sc scenarios.Scenario) (source, error) {
	src := source{fsys: migrator.FleetFS(), label: "fleet"}
	switch {
	case c.ConfigDir != "":
		src.fsys, src.label = migrator.DirFS(c.ConfigDir), c.ConfigDir
	case sc.Services.From != "" && sc.Services.From != "fleet":
		src.fsys, src.label = migrator.DirFS(sc.Services.From), sc.Services.From
	}
	inv, err := migrator.Load(src.fsys, src.label)
	if err != nil {
		return source{}, err
	}
	plan, err := migrator.BuildPlan(inv, c.Policy)
	if err != nil {
		return source{}, fmt.Errorf("plan %s: %w", src.label, err)
	}
	sub, err := selectPlan(plan, sc.Services.Select)
	if err != nil {
		return source{}, err
	}
	src.inv, src.plan = inv, sub
	return src, nil
}

func (c *Composer) clock() clock.Clock {
	if c.Clock == nil {
		return clock.RealClock{}
	}
	return c.Clock
}

// selectPlan limits a plan to the selected services and, transitively,
// the services they start after (none selected: the whole plan), with the
// retired health files and the files of the services kept.
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
			return fmt.Errorf("service %q is %w (%s)", name, ErrUnknownService, p.Dir)
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

// Targets lists the services of sc's fleet source a target selector may
// pick, each with the kind of probe its migration gives it.
func (c *Composer) Targets(sc scenarios.Scenario) ([]scenarios.TargetInfo, error) {
	if c.Built != nil {
		return c.Built.targets(c.Policy), nil
	}
	sc.Services.Select = nil
	src, err := c.source(sc)
	if err != nil {
		return nil, err
	}
	out := make([]scenarios.TargetInfo, 0, len(src.plan.Services))
	for _, sp := range src.plan.Services {
		info := scenarios.TargetInfo{Name: sp.Service.Name, Oneshot: sp.Oneshot}
		switch sp.Probe.Kind {
		case migrator.ProbeSocket:
			info.Probe = scenarios.ProbeSocket
		case migrator.ProbeHTTP:
			info.Probe = scenarios.ProbeHTTP
		}
		out = append(out, info)
	}
	return out, nil
}

// Expand resolves the targets of fleet scenarios against their fleet
// sources (scenarios.ExpandTargets); names (--target) replace every
// selector. Declared scenarios pass through. On an image as built, a
// selector that matches none of its services leaves its scenario out
// (listed in the returned skipped): it does not apply to this image.
func (c *Composer) Expand(scs []scenarios.Scenario, names []string, seed int64) (out []scenarios.Scenario, skipped []string, err error) {
	for _, sc := range scs {
		if len(sc.Services.Declared) > 0 {
			out = append(out, sc)
			continue
		}
		present, err := c.Targets(sc)
		if err != nil {
			return nil, nil, err
		}
		x, err := scenarios.ExpandTargets([]scenarios.Scenario{sc}, present, names, seed)
		var te *scenarios.TargetError
		if c.Built != nil && len(names) == 0 && errors.As(err, &te) {
			skipped = append(skipped, err.Error())
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, x...)
	}
	return out, skipped, nil
}
