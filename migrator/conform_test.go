package migrator_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

func live(name string, legacy bool, jobs ...zinit.JobStatus) zinit.ServiceStatus {
	return zinit.ServiceStatus{Name: name, State: zinit.StateRunning, Legacy: legacy, Jobs: jobs}
}

func startJob(restart zinit.RestartPolicy, delayMs int64, max int) zinit.JobStatus {
	return zinit.JobStatus{Name: "main", Trigger: zinit.TriggerStart, Exec: "/root/hero/bin/x serve", Restart: &restart, RestartDelayMs: &delayMs, MaxRestarts: &max}
}

func checkJob(exec string, intervalMs, timeoutMs int64) zinit.JobStatus {
	return zinit.JobStatus{Name: "check", Trigger: zinit.TriggerCheck, Exec: exec, IntervalMs: &intervalMs, TimeoutMs: &timeoutMs}
}

func codes(fs []migrator.Finding) map[string][]string {
	out := map[string][]string{}
	for _, f := range fs {
		out[f.Service] = append(out[f.Service], f.Severity.String()+" "+f.Code)
	}
	return out
}

// TestConformLiveJobs: lint's rules on the jobs a running zinit reports,
// and the policy's values compared at the image's time scale.
func TestConformLiveJobs(t *testing.T) {
	good := `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat -t 2 - UNIX-CONNECT:/s/good.sock | grep -q '"result"'`
	seed := `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:/s/seed.sock`
	done, zero := zinit.StateInactive, 0
	oneshot := live("user.seed_once", false, startJob(zinit.RestartNever, 1000, 0), checkJob(good, 3000, 1500))
	oneshot.State, oneshot.LastExit = done, &zinit.ExitStatus{Code: &zero}
	fs := migrator.Conform([]zinit.ServiceStatus{
		live("user.good", false, startJob(zinit.RestartOnFailure, 250, 20), checkJob(good, 3000, 1500)),
		live("user.seed", false, startJob(zinit.RestartOnFailure, 250, 20), checkJob(seed, 3000, 1500)),
		live("user.noop", false, startJob(zinit.RestartOnFailure, 250, 20), checkJob(`echo "No health check configured"`, 3000, 1500)),
		live("user.never", false, startJob(zinit.RestartNever, 250, 20)),
		live("user.slow", false, startJob(zinit.RestartOnFailure, 1000, 5), checkJob(good, 60000, 30000)),
		live("user.toml", true),
		live("user.empty", false),
		oneshot,
	}, migrator.DefaultPolicy(), 0.05)
	assert.Equal(t, map[string][]string{
		"user.seed":      {"warning health-ignores-answer"},
		"user.noop":      {"error health-always-passes"},
		"user.never":     {"error no-restart", "warning no-health-check"},
		"user.slow":      {"warning policy-mismatch", "warning policy-mismatch", "warning policy-mismatch", "warning policy-mismatch"},
		"user.toml":      {"error legacy-service"},
		"user.empty":     {"error no-start-job"},
		"user.seed_once": {"warning check-on-oneshot"},
	}, codes(fs), "user.good conforms: nothing to say")
	for _, f := range fs {
		if f.Service == "user.slow" && f.Message == "restart delay 1000 ms, the policy asks 250 ms" {
			assert.Equal(t, "job main", f.File)
			return
		}
	}
	t.Errorf("no restart-delay mismatch reported at scale 0.05: %+v", fs)
}
