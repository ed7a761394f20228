package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

func TestRunUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"time scale":       {"run", "--time-scale", "0", "crash-restart"},
		"parallel":         {"run", "--parallel", "-1", "crash-restart"},
		"unknown scenario": {"run", "no-such-scenario"},
		"bad flag":         {"run", "--no-such-flag"},
		"config not a dir": {"run", "--config", filepath.Join(t.TempDir(), "absent"), "crash-restart"},
		"unknown runtime":  {"run", "--runtime", "podman", "crash-restart"},
		"local with image": {"run", "--runtime", "local", "--image", "zchaos/hero:x", "crash-restart"},
		"gate runtime":     {"gate", "--runtime", "podman"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", args...)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.err)
		})
	}
}

func TestVerdictExitCodes(t *testing.T) {
	code := func(v scenarios.Verdict) int {
		err := verdictExit(v)
		if err == nil {
			return exitPass
		}
		var ex *exitError
		require.True(t, errors.As(err, &ex))
		return ex.code
	}
	assert.Equal(t, exitPass, code(scenarios.VerdictPass))
	assert.Equal(t, exitPass, code(scenarios.VerdictInfo))
	assert.Equal(t, exitFail, code(scenarios.VerdictFail))
	assert.Equal(t, exitInconclusive, code(scenarios.VerdictInconclusive))
	assert.Equal(t, exitInfra, code(scenarios.VerdictError))
}

// TestFleetSetup checks the migrator-backed setup of a fleet scenario:
// selected service only, scaled jobs, legacy files only for legacy.
func TestFleetSetup(t *testing.T) {
	sc, err := scenarios.Lookup("crash-restart")
	require.NoError(t, err)
	setup := fleetSetup(migrator.DefaultPolicy(), "")
	mig, err := setup(context.Background(), sc, scenarios.ConfigMigrated, 0.05)
	require.NoError(t, err)
	require.Len(t, mig.Services, 1)
	assert.Equal(t, sc.Target, mig.Services[0].Name)
	assert.Equal(t, []string{sc.Target}, mig.Starts)
	require.NotEmpty(t, mig.Jobs)
	for _, j := range mig.Jobs {
		if j.RestartDelay > 0 {
			assert.Equal(t, int64(250), j.RestartDelay.Milliseconds(), "5 s scaled by 0.05")
		}
	}
	require.Len(t, mig.Probes, 1)
	assert.NotEmpty(t, mig.Probes[0].Socket)
	assert.Len(t, mig.Files, 1, "migrated boots with an empty config dir")
	assert.NotEmpty(t, mig.Ledger, "the fidelity ledger is carried to the result")

	leg, err := setup(context.Background(), sc, scenarios.ConfigLegacy, 0.05)
	require.NoError(t, err)
	assert.True(t, leg.Legacy[sc.Target])
	assert.Nil(t, leg.Apply, "legacy services boot from their files")
	assert.GreaterOrEqual(t, len(leg.Files), 1)
	require.Len(t, leg.Jobs, 1)
	assert.Equal(t, "never", leg.Policies[0].Restart)

	_, err = setup(context.Background(), scenarios.Scenario{Services: scenarios.ServiceSet{From: "fleet", Select: []string{"nope"}}}, scenarios.ConfigMigrated, 1)
	var ue *usageError
	assert.ErrorAs(t, err, &ue)
}
