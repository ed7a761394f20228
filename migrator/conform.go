package migrator

import (
	"fmt"
	"sort"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// Codes of the live job config's findings beyond lint's own.
const (
	CodeNoStartJob     = "no-start-job"    // error: zinit start leaves it inactive
	CodeLegacyService  = "legacy-service"  // error: a legacy TOML service in an image meant to run the job model
	CodePolicyMismatch = "policy-mismatch" // warning: a declared value differs from the policy's
)

// Conform audits a live job config, the services and jobs a running zinit
// reports (`zinit list --json`), against the policy at the time scale the
// image was built at (1: production values). It applies lint's rules where
// they mean the same on live jobs (no restart on failure, no health check,
// a check that always passes or ignores the answer, a check on a oneshot)
// and compares each declared value with the policy's. A service is taken
// for a oneshot when its start job restarts never and it ended with exit 0.
// Legacy services (loaded from TOML) are one error each: lint their files
// for the rest. Findings come per service, worst first; File names the job.
func Conform(live []zinit.ServiceStatus, pol Policy, timeScale float64) []Finding {
	var out []Finding
	for _, s := range live {
		out = append(out, conformService(s, pol, timeScale)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Severity > out[j].Severity
	})
	return out
}

func conformService(s zinit.ServiceStatus, pol Policy, timeScale float64) []Finding {
	var out []Finding
	add := func(sev Severity, code, job, format string, args ...any) {
		out = append(out, Finding{Service: s.Name, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...), File: job})
	}
	if s.Legacy {
		add(SeverityError, CodeLegacyService, "", "a legacy TOML service: zinit runs it the legacy way (no restart unless [lifecycle], no check job)")
		return out
	}
	var start *zinit.JobStatus
	var checks []zinit.JobStatus
	for i, j := range s.Jobs {
		switch j.Trigger {
		case zinit.TriggerStart:
			if start == nil {
				start = &s.Jobs[i]
			}
		case zinit.TriggerCheck:
			checks = append(checks, j)
		}
	}
	if start == nil {
		add(SeverityError, CodeNoStartJob, "", "no start job: zinit start leaves it inactive")
		return out
	}
	restart := zinit.RestartNever
	if start.Restart != nil {
		restart = *start.Restart
	}
	if restart == zinit.RestartNever && s.State == zinit.StateBlocked {
		add(SeverityInfo, CodeNoRestart, "job "+start.Name, "restart never, still waiting for its --after services: a oneshot, or a service no crash restarts")
		return out
	}
	if restart == zinit.RestartNever && oneshotLike(s) {
		for _, c := range checks {
			add(SeverityWarning, CodeCheckOnOneshot, "job "+c.Name, "a check on a oneshot (it ran once and ended with exit 0): a oneshot has nothing to probe")
		}
		return out
	}
	want := pol.resolve(s.Name)
	scaled := func(d time.Duration) int64 { return zinit.ScaleDuration(d, timeScale).Milliseconds() }
	where := "job " + start.Name
	if restart == zinit.RestartNever {
		add(SeverityError, CodeNoRestart, where, "no restart on failure (restart never): after a crash it stays down")
	} else {
		if restart != want.Restart {
			add(SeverityInfo, CodePolicyMismatch, where, "restart %s, the policy asks %s", restart, want.Restart)
		}
		if d := msOr(start.RestartDelayMs, zinit.DefaultRestartDelay.Milliseconds()); d != scaled(want.RestartDelay) {
			add(SeverityWarning, CodePolicyMismatch, where, "restart delay %d ms, the policy asks %d ms", d, scaled(want.RestartDelay))
		}
		if n := intOr(start.MaxRestarts, 0); n != want.MaxRestarts {
			add(SeverityWarning, CodePolicyMismatch, where, "max restarts %d, the policy asks %d", n, want.MaxRestarts)
		}
	}
	if len(checks) == 0 {
		add(SeverityWarning, CodeNoHealthCheck, "", "no health check at all: a hung process is never detected")
		return out
	}
	for _, c := range checks {
		where := "job " + c.Name
		if f, ok := checkFinding(declaredCheck(c.Exec), "check job "+c.Name); ok {
			add(f.Severity, f.Code, where, "%s", f.Message)
		}
		interval := msOr(c.IntervalMs, 0)
		if interval != scaled(want.Interval) {
			add(SeverityWarning, CodePolicyMismatch, where, "check interval %d ms, the policy asks %d ms", interval, scaled(want.Interval))
		}
		if t := msOr(c.TimeoutMs, interval); t != scaled(want.Timeout) {
			add(SeverityWarning, CodePolicyMismatch, where, "check timeout %d ms, the policy asks %d ms", t, scaled(want.Timeout))
		}
	}
	return out
}

// oneshotLike: a service whose start job ran once and ended well.
func oneshotLike(s zinit.ServiceStatus) bool {
	return s.State == zinit.StateInactive && s.LastExit != nil && s.LastExit.Code != nil && *s.LastExit.Code == 0
}

func msOr(v *int64, def int64) int64 {
	if v == nil {
		return def
	}
	return *v
}

func intOr(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}
