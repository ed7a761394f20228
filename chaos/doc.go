// Package chaos is the runner: it takes scenarios and a runtime, runs each
// attempt through its phases (start, apply, steady, fault, observe, judge),
// drives faults through the in-container agent, observes the agent's event
// stream, asks the oracle for a verdict, and keeps forensics of every
// non-pass.
//
// Its rooms:
//   - chaos/oracle: the pure judge and the only model of expected timings;
//   - chaos/agent: what runs inside the container (watch, inject, probe) and
//     the wire contract (spec, event codec) the runner shares with it;
//   - chaos/runtime: Docker and local runtimes, the tracker, the image layout;
//   - chaos/chaostest: test infrastructure shared by their tests;
//   - chaos/internal/procfs: the one /proc/<pid>/stat parser (agent, runtime).
//
// It imports zinit, scenarios and its own subpackages; never migrator,
// reports or cmd. No subpackage imports chaos.
package chaos
