package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func containerNameFor(runID string, t task) string {
	return fmt.Sprintf("%s-%s-%s-%d", runID, unsafeName.ReplaceAllString(t.sc.Name, "_"), t.config, t.attempt)
}

// forensics writes the bundle of a non-passing attempt under OutDir and
// returns its path relative to OutDir.
func (a *attempt) forensics(ctx context.Context, res scenarios.ScenarioResult) (string, error) {
	rel := filepath.Join("forensics", fmt.Sprintf("%s_%s_%d", unsafeName.ReplaceAllString(a.t.sc.Name, "_"), a.t.config, a.t.attempt))
	dir := filepath.Join(a.r.OutDir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rel, err
	}
	var errs []error
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	tl, _ := json.MarshalIndent(res.Timeline, "", "  ")
	write("timeline.json", tl)
	judged, _ := json.MarshalIndent(struct {
		Verdict  scenarios.Verdict          `json:"verdict"`
		Reason   string                     `json:"reason"`
		Checks   []scenarios.InvariantCheck `json:"checks"`
		Recovery scenarios.Recovery         `json:"recovery"`
		Policy   *scenarios.ServicePolicy   `json:"policy"`
		Services []scenarios.ServicePolicy  `json:"services"`
	}{res.Verdict, res.Reason, res.Checks, res.Recovery, res.Policy, a.setup.Policies}, "", "  ")
	write("judgement.json", judged)
	write("scenario.yaml", []byte(a.t.sc.Source))
	write("seed.txt", []byte(fmt.Sprintf("run seed %d\nattempt seed %d\nrun id %s\ncontainer %s\n",
		a.r.Seed, a.t.seed, a.r.RunID, containerNameOf(a.c))))
	if a.steadyList != nil {
		write("zinit-list-steady.json", a.steadyList)
	}
	if a.c == nil {
		return rel, errors.Join(errs...)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	capture := func(name string, argv ...string) {
		res, err := a.c.Exec(fctx, argv, nil)
		if err != nil {
			write(name, []byte("error: "+err.Error()+"\n"))
			return
		}
		b := res.Stdout
		if len(res.Stderr) > 0 {
			b = append(append(b, "\n--- stderr\n"...), res.Stderr...)
		}
		write(name, b)
	}
	capture("zinit-list-end.json", a.r.ZinitCLI, "list", "--json")
	capture("ps.txt", "ps", "-eo", "pid,ppid,pgid,stat,etimes,args")
	for _, svc := range a.watched() {
		capture("zinit-logs-"+unsafeName.ReplaceAllString(svc, "_")+".txt", a.r.ZinitCLI, "logs", svc)
	}
	if logs, err := a.c.Logs(fctx); err == nil {
		write("container.log", logs)
	} else {
		write("container.log", []byte("error: "+err.Error()+"\n"))
	}
	return rel, errors.Join(errs...)
}

func containerNameOf(c runtime.Container) string {
	if c == nil {
		return "(none)"
	}
	return c.Name()
}
