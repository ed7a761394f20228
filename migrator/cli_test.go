package migrator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

var (
	zinitBinOnce sync.Once
	zinitBin     string
	zinitBinErr  error
)

// buildZinit builds cmd/zinit once per test run.
func buildZinit(t *testing.T) string {
	t.Helper()
	zinitBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "migrator-zinit-")
		if err != nil {
			zinitBinErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		zinitBin = filepath.Join(dir, "zinit")
		cmd := exec.Command("go", "build", "-o", zinitBin, "./cmd/zinit")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			zinitBinErr = errors.New(string(out))
		}
	})
	require.NoError(t, zinitBinErr, "build cmd/zinit")
	return zinitBin
}

// localExec runs argv on this machine: what `docker exec` does for a
// container.
func localExec(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.Bytes(), errOut.Bytes(), ee.ExitCode(), nil
	}
	return out.Bytes(), errOut.Bytes(), 0, err
}

// startDaemonProcess runs `zinit init` as a child process (its reaper then
// only sees its own children) and waits until it answers.
func startDaemonProcess(t *testing.T, bin, configDir string) string {
	t.Helper()
	dir := zinittest.SocketDir(t)
	sock := filepath.Join(dir, "zinit.sock")
	cmd := exec.Command(bin, "init", "--socket", sock, "--config-dir", configDir, "--state-dir", filepath.Join(dir, "state"))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * zinit.ShutdownTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	zinittest.WaitAnswering(t, sock, nil)
	return sock
}

// Apply and roll back through the zinit CLI (the container path), with the
// file moves done by sh -c through the same exec function.
func TestCLITargetRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds cmd/zinit and drives a real daemon through its CLI")
	}
	bin := buildZinit(t)
	cfg, orig := fleetConfigDir(t)
	sock := startDaemonProcess(t, bin, cfg)
	tg := &migrator.CLITarget{Exec: localExec, Zinit: bin, Socket: sock, Name: "local cli"}
	inv, err := migrator.LoadDir(cfg)
	require.NoError(t, err)
	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	plan, err = plan.Scale(0.05)
	require.NoError(t, err)
	ctx := context.Background()
	opts := migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: filepath.Join(t.TempDir(), "backup dir"), Now: fixedNow}

	rep, err := migrator.Apply(ctx, plan, tg, opts)
	require.NoError(t, err)
	assert.Empty(t, readDir(t, cfg))
	assert.Equal(t, orig, readDir(t, filepath.Join(rep.Backup, "files")))
	legacy, migrated := listNames(t, tg)
	assert.Empty(t, legacy)
	assert.Equal(t, sortedNames(plan), migrated)

	again, err := migrator.Apply(ctx, plan, tg, opts)
	require.NoError(t, err)
	assert.Empty(t, again.Changes)

	_, err = migrator.Rollback(ctx, rep.Backup, tg, migrator.RollbackOptions{})
	require.NoError(t, err)
	assert.Equal(t, orig, readDir(t, cfg))
	legacy, migrated = listNames(t, tg)
	assert.Equal(t, legacyNames(plan), legacy)
	assert.Empty(t, migrated)
}

// The rendered script, run by sh against the real zinit CLI and daemon,
// gives jobs whose exec and env are byte-identical to the plan's.
func TestScriptRoundTripRealZinit(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds cmd/zinit")
	}
	bin := buildZinit(t)
	sock := startDaemonProcess(t, bin, t.TempDir())
	p, err := migrator.BuildPlan(messy(t, "quoting"), migrator.DefaultPolicy())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, migrator.WriteScript(&buf, p))
	binDir := t.TempDir()
	require.NoError(t, os.Symlink(bin, filepath.Join(binDir, "zinit")))
	for run := 1; run <= 2; run++ {
		cmd := exec.Command("sh", "-s")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "ZINIT_SOCKET="+sock)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "run %d: %s", run, out)

		status, errOut, code, err := localExec(context.Background(), []string{bin, "status", "--json", "--socket", sock, "user.nasty"})
		require.NoError(t, err)
		require.Equal(t, 0, code, string(errOut))
		var st zinit.ServiceStatus
		require.NoError(t, json.Unmarshal(status, &st))
		sp := p.Services[0]
		require.Len(t, st.Jobs, len(sp.Jobs))
		for i, j := range sp.Jobs {
			assert.Equal(t, j.Exec, st.Jobs[i].Exec, "run %d: exec byte for byte", run)
			if len(j.Env) > 0 {
				assert.Equal(t, j.Env, st.Jobs[i].Env, "run %d", run)
			}
		}
		assert.False(t, st.Legacy)
	}
}
