package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

// TestEndToEndSeedLines runs the real supervisor in-process on a temp socket
// (zinittest.StartSupervisor) and drives the CLI through the seed's command
// lines, start, status --json, kill, list --json and shutdown.
//
// Two substitutions are made to the seed's lines: /root/hero becomes a temp
// dir holding a stand-in hero_embedder_server (a shell script that sleeps),
// and under -short the restart delay of 5000 ms becomes 200 ms.
func TestEndToEndSeedLines(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "hero_embedder_server"),
		[]byte("#!/bin/sh\nexec sleep 600\n"), 0o755))
	delay := 5000 * time.Millisecond
	b, err := os.ReadFile(filepath.Join("testdata", "seed_lines.sh"))
	require.NoError(t, err)
	script := strings.ReplaceAll(string(b), "/root/hero", root)
	if testing.Short() {
		delay = 200 * time.Millisecond
		script = strings.ReplaceAll(script, "--restart-delay 5000", "--restart-delay 200")
	}
	argvs := shellArgv(t, script) // before the daemon runs: it reaps every child of this process
	require.Len(t, argvs, 3)

	sup := zinittest.StartSupervisor(t, supervisor.Config{
		ConfigDir: filepath.Join(root, "etc"), StateDir: filepath.Join(root, "state"), Log: &testLog{t: t},
	})
	env := map[string]string{"ZINIT_SOCKET": sup.Socket}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, argv := range argvs {
		r := runCLI(t, env, argv...)
		require.Equal(t, 0, r.code, "zinit %q: %s", argv, r.errOut)
		require.Empty(t, r.errOut)
	}
	status := func() zinit.ServiceStatus {
		r := runCLI(t, env, "status", "user.hero_embedder_server", "--json")
		require.Equal(t, 0, r.code, r.errOut)
		var st zinit.ServiceStatus
		require.NoError(t, json.Unmarshal([]byte(r.out), &st))
		return st
	}
	st := status()
	assert.Equal(t, zinit.StateInactive, st.State, "adding a service and its jobs never starts it")

	r := runCLI(t, env, "start", "user.hero_embedder_server")
	require.Equal(t, 0, r.code, r.errOut)
	st = status()
	require.Equal(t, zinit.StateRunning, st.State)
	require.NotNil(t, st.PID)
	firstPID := *st.PID
	assert.Equal(t, 0, st.Restarts)
	require.Len(t, st.Jobs, 2)
	jobs := map[string]zinit.JobStatus{}
	for _, j := range st.Jobs {
		jobs[j.Name] = j
	}
	mainJob, check := jobs["main"], jobs["check"]
	assert.Equal(t, zinit.TriggerStart, mainJob.Trigger)
	assert.Equal(t, filepath.Join(root, "bin/hero_embedder_server")+" serve", mainJob.Exec)
	if assert.NotNil(t, mainJob.Restart) {
		assert.Equal(t, zinit.RestartOnFailure, *mainJob.Restart)
	}
	if assert.NotNil(t, mainJob.RestartDelayMs) {
		assert.Equal(t, delay.Milliseconds(), *mainJob.RestartDelayMs)
	}
	if assert.NotNil(t, mainJob.MaxRestarts) {
		assert.Equal(t, 20, *mainJob.MaxRestarts)
	}
	assert.Equal(t, zinit.TriggerCheck, check.Trigger)
	if assert.NotNil(t, check.IntervalMs) && assert.NotNil(t, check.TimeoutMs) {
		assert.Equal(t, int64(60000), *check.IntervalMs)
		assert.Equal(t, int64(30000), *check.TimeoutMs)
	}
	assert.Nil(t, check.LastCheck, "no check before the grace period of 60 s")

	r = runCLI(t, env, "kill", "user.hero_embedder_server", "SIGKILL")
	require.Equal(t, 0, r.code, r.errOut)
	// on-failure: a death by signal is restarted after the delay.
	require.NoError(t, zinit.PollUntil(ctx, clock.RealClock{}, 20*time.Millisecond, func(context.Context) (bool, error) {
		st = status()
		return st.State == zinit.StateRunning && st.PID != nil && *st.PID != firstPID, nil
	}))
	assert.Equal(t, 1, st.Restarts)
	if assert.NotNil(t, st.LastExit) && assert.NotNil(t, st.LastExit.Signal) {
		assert.Equal(t, "SIGKILL", *st.LastExit.Signal)
	}

	r = runCLI(t, env, "list", "--json")
	require.Equal(t, 0, r.code, r.errOut)
	var list []zinit.ServiceStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "user.hero_embedder_server", list[0].Name)
	assert.Equal(t, zinit.StateRunning, list[0].State)
	assert.Equal(t, 1, list[0].Restarts)

	r = runCLI(t, env, "status", "ghost")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.errOut, "(code -32000)")

	r = runCLI(t, env, "shutdown")
	require.Equal(t, 0, r.code, r.errOut)
	require.NoError(t, sup.Wait(ctx), "the daemon returns after shutdown")
	r = runCLI(t, env, "list")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.errOut, "daemon not running")
}

// testLog sends the daemon's log to t.Log while the test runs.
type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	if l.t == nil {
		return 0, errors.New("closed")
	}
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
