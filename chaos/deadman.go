package chaos

import (
	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
)

// DeadMan is the dead-man switch of every container the harness starts:
// the agent's (`zchaos agent deadman`, see agent.RunDeadman). When the
// harness dies, however it dies, the container's init is stopped after
// agent.DeadmanGrace and the container goes away.
func DeadMan() runtime.DeadMan {
	return runtime.DeadMan{Argv: agent.DeadmanArgv(), Disarm: agent.DeadmanDisarm, Armed: agent.DeadmanArmed}
}
