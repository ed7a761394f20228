package migrator

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/zchaos/zchaos/zinit"
)

// Script is the plan as zinit CLI commands in the seed's syntax: the units
// to take down when present, then the add commands, then the starts.
type Script struct {
	Version   int     `json:"version"`
	Dir       string  `json:"dir"`
	TimeScale float64 `json:"time_scale"`
	// Remove lists the units that are stopped and removed when present,
	// before anything is added: the retired health units, then the
	// migrated services in reverse start order (dependents first).
	Remove []string `json:"remove"`
	// Add holds `zinit add service` / `zinit add job` argv, in start order,
	// each service followed by its jobs (main, then check).
	Add [][]string `json:"add"`
	// Start holds `zinit start <service>` argv, in start order.
	Start [][]string `json:"start"`
}

// Script renders the plan as zinit CLI argv (see Script).
func (p *Plan) Script() Script {
	s := Script{Version: PlanVersion, Dir: p.Dir, TimeScale: p.TimeScale, Remove: []string{}, Add: [][]string{}, Start: [][]string{}}
	for _, r := range p.Retired {
		s.Remove = append(s.Remove, r.Name)
	}
	for i := len(p.Services) - 1; i >= 0; i-- {
		s.Remove = append(s.Remove, p.Services[i].Service.Name)
	}
	for _, sp := range p.Services {
		s.Add = append(s.Add, sp.Service.Argv())
		for _, j := range sp.Jobs {
			s.Add = append(s.Add, j.Argv())
		}
	}
	for _, sp := range p.Services {
		s.Start = append(s.Start, []string{zinit.CLIName, "start", sp.Service.Name})
	}
	return s
}

// WriteScript writes the plan as a POSIX sh script: "set -eu"; each unit
// of Script.Remove stopped and removed if `zinit status` finds it; each add
// command; each start. Every argument is quoted with zinit.ShellQuote, so
// execs and env values holding quotes, $, backticks or newlines reach zinit
// byte for byte. Running it twice leaves the same state (remove-then-add).
// The legacy files must be out of zinit's config dir first (apply does
// that, with a backup), or a later `zinit reload` conflicts with them.
func WriteScript(w io.Writer, p *Plan) error {
	s := p.Script()
	for _, argv := range append(append([][]string(nil), s.Add...), s.Start...) {
		for _, a := range argv {
			if strings.IndexByte(a, 0) >= 0 {
				return fmt.Errorf("render script: %w", zinit.ErrNulInArgument)
			}
		}
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "#!/bin/sh\n")
	fmt.Fprintf(bw, "# zchaos migrate render: %d services from %s to the zinit 0.4.0 job model (time scale %g).\n",
		len(p.Services), p.Dir, p.TimeScale)
	fmt.Fprintf(bw, "# Move the legacy files out of zinit's config dir first (zchaos migrate apply does,\n")
	fmt.Fprintf(bw, "# with a backup); otherwise `zinit reload` finds them again.\n")
	fmt.Fprintf(bw, "# Idempotent: each unit is removed if present, re-added, then started.\n")
	fmt.Fprintf(bw, "set -eu\n\n")
	fmt.Fprintf(bw, "# 1. take down the legacy units and any earlier migration\n")
	for _, name := range s.Remove {
		q := zinit.ShellQuote(name)
		fmt.Fprintf(bw, "if %s status %s >/dev/null 2>&1; then %s stop %s && %s remove service %s; fi\n",
			zinit.CLIName, q, zinit.CLIName, q, zinit.CLIName, q)
	}
	fmt.Fprintf(bw, "\n# 2. add the services and their jobs\n")
	k := 0
	for _, sp := range p.Services {
		fmt.Fprintf(bw, "# %s (%s, %s)\n", sp.Service.Name, sp.Source, sp.Dialect)
		for n := 0; n <= len(sp.Jobs); n++ { // the service, then its jobs
			bw.WriteString(zinit.CommandLine(s.Add[k]))
			bw.WriteByte('\n')
			k++
		}
	}
	fmt.Fprintf(bw, "\n# 3. start each migrated service (dependencies first)\n")
	for _, argv := range s.Start {
		bw.WriteString(zinit.CommandLine(argv) + "\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("render script: %w", err)
	}
	return nil
}
