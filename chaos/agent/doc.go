// Package agent is the side of the harness that runs inside the container,
// as `zchaos agent …`: it watches /proc, probes services and polls zinit
// (Watch), injects faults and proves their effect (RunInject), runs the
// detached helpers some faults leave behind (CrashLoop; RunInterposer,
// which answers for a service on its Unix socket), and speaks the wire
// contract the runner reads: the watch Spec (JSON) and the event stream
// (WriteEvent, ReadEvents), all on the container's CLOCK_MONOTONIC. It is
// also each container's dead-man switch (RunDeadman): when the harness
// dies, it stops the container's init.
//
// It imports zinit, scenarios and chaos/internal/procfs only: it knows
// nothing of runtimes, images, the runner or the oracle.
package agent
