package scenarios_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// The typed machine data of an event is omitted when empty and travels
// under its schema names otherwise.
func TestEventMachineFields(t *testing.T) {
	b, err := json.Marshal(scenarios.Event{TNs: 1, Kind: scenarios.EventProbe})
	require.NoError(t, err)
	assert.JSONEq(t, `{"t_ns":1,"kind":"probe"}`, string(b))

	e := scenarios.Event{TNs: 2, Kind: scenarios.EventFault, Source: scenarios.SourceZinitLastCheck, LastExitAtMs: 3,
		LastCheckAtMs: 4, ZombieMs: 5, Mechanism: scenarios.MechanismSignal, Control: "/c", TargetStart: 6,
		Socket: "/s.sock", Aside: "/s.sock.zchaos-orig", SocketIno: 7, HelperPID: 8, HelperStart: 9}
	b, err = json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"t_ns":2,"kind":"fault","source":"zinit-last-check","last_exit_at_ms":3,"last_check_at_ms":4,
		"zombie_ms":5,"mechanism":"signal","control":"/c","target_start":6,"socket":"/s.sock",
		"aside":"/s.sock.zchaos-orig","socket_ino":7,"helper_pid":8,"helper_start":9}`, string(b))
	var back scenarios.Event
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e, back)
}

func TestEventSourceAndMechanismNames(t *testing.T) {
	assert.Equal(t, "agent", scenarios.SourceAgent.String())
	assert.Equal(t, "zinit-last-check", scenarios.SourceZinitLastCheck.String())
	assert.Equal(t, "none", scenarios.MechanismNone.String())
	assert.Equal(t, "control", scenarios.MechanismControl.String())
	assert.Equal(t, "interpose", scenarios.MechanismInterpose.String())
}
