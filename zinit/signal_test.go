package zinit_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGKILL": syscall.SIGKILL, "KILL": syscall.SIGKILL, "term": syscall.SIGTERM, "SigUsr1": syscall.SIGUSR1,
		"9": syscall.SIGKILL, "64": syscall.Signal(64),
	} {
		got, err := zinit.ParseSignal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "65", "-1", "SIGBOOM", "SIG"} {
		_, err := zinit.ParseSignal(bad)
		assert.ErrorIs(t, err, zinit.ErrInvalid, "%q", bad)
	}
}

func TestSignalName(t *testing.T) {
	assert.Equal(t, "SIGKILL", zinit.SignalName(syscall.SIGKILL))
	assert.Equal(t, "40", zinit.SignalName(syscall.Signal(40)), "a real-time signal has no name")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGUSR2, syscall.Signal(40)} {
		back, err := zinit.ParseSignal(zinit.SignalName(sig))
		require.NoError(t, err)
		assert.Equal(t, sig, back, "ParseSignal reads what SignalName writes")
	}
}
