package main

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
