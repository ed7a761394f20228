// Package chaos is the harness: images built without a registry, runtimes
// that start containers running zinit, the in-container agent, faults with
// effect probes, the oracle that judges observed timelines against the
// declared job model, and the runner.
//
// It imports zinit and scenarios only; never migrator, reports or cmd.
package chaos
