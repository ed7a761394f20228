package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// TestRunAuditTellsBlindProbes runs a real JSON-RPC service (socat) and
// audits two checks: one that reads the answer (passes healthy, fails hung
// and with the socket gone) and the seed's echo no-op (passes in every
// state: blind). The service and its socket are as they were afterwards.
func TestRunAuditTellsBlindProbes(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skipf("SKIP %s: socat is not installed (make deps installs it): %v", t.Name(), err)
	}
	dir, err := os.MkdirTemp("", "au")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "svc.sock")
	serve := "socat UNIX-LISTEN:" + sock + ",fork SYSTEM:'read l; echo result-ok'"
	svc := exec.Command("/bin/sh", "-c", "exec "+serve)
	svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, svc.Start())
	t.Cleanup(func() { _ = syscall.Kill(-svc.Process.Pid, syscall.SIGKILL); _ = svc.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, zinit.PollUntil(ctx, clock.RealClock{}, 10*time.Millisecond, func(context.Context) (bool, error) {
		_, err := os.Stat(sock)
		return err == nil, nil
	}))

	spec := Spec{Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: serve}},
		Probes: []Probe{{Service: "svc", Socket: sock}}}
	env := InjectEnv{Exec: func(context.Context, []string) ([]byte, error) { return nil, os.ErrNotExist }}
	good := `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat -t 1 - UNIX-CONNECT:` + sock + ` | grep -q result-ok`
	runs, err := RunAudit(ctx, AuditOptions{Spec: spec, Service: "svc", Exec: good, Timeout: 2 * time.Second}, env)
	require.NoError(t, err)
	require.Len(t, runs, 3)
	assert.Equal(t, AuditHealthy, runs[0].State)
	assert.True(t, runs[0].Passed, "%+v", runs[0])
	assert.Equal(t, AuditHung, runs[1].State)
	assert.False(t, runs[1].Passed, "%+v", runs[1])
	assert.Empty(t, runs[1].Skipped)
	assert.Equal(t, AuditSocketGone, runs[2].State)
	assert.False(t, runs[2].Passed, "%+v", runs[2])

	blind, err := RunAudit(ctx, AuditOptions{Spec: spec, Service: "svc", Exec: `echo "No health check configured"`, Timeout: time.Second}, env)
	require.NoError(t, err)
	for _, r := range blind {
		assert.True(t, r.Passed, "the no-op passes %s", r.State)
	}

	// Everything is as it was: the socket back in place, the service running.
	_, err = os.Stat(sock)
	assert.NoError(t, err, "the socket is restored")
	assert.NotEqual(t, byte('T'), procState("/proc", svc.Process.Pid), "the service was continued")

	// A check that hangs is bounded by its timeout and says so.
	slow, err := RunAudit(ctx, AuditOptions{Spec: spec, Service: "svc", Exec: "sleep 30", Timeout: 200 * time.Millisecond}, env)
	require.NoError(t, err)
	assert.True(t, slow[0].TimedOut)
	assert.Less(t, slow[0].DurationMs, 5000.0)
	assert.Equal(t, "SIGKILL", slow[0].Signal)
}
