// Package runtime starts the containers a scenario runs in: Docker through
// dockertest (DockerRuntime) and local zinit process trees for machines
// without an engine (LocalRuntime), behind one Runtime/Container interface;
// the Tracker that removes them on exit; each container's dead-man switch
// (StartOptions.DeadMan: run in it, its stream held by this process) and
// the host-side Reaper, so nothing outlives a killed harness; and the
// images they run (a debootstrap base and a thin hero layer, with the
// in-image layout).
//
// It imports zinit and chaos/internal/procfs only: it knows nothing of
// scenarios, the agent's protocol, the runner or the oracle.
package runtime
