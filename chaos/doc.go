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
//   - chaos/fleet: the configs of fleet scenarios (legacy, migrated), composed
//     from the migrator's plan, and the migrator's Docker exec target; the
//     one room that imports migrator;
//   - chaos/chaostest: test infrastructure shared by their tests;
//   - chaos/internal/procfs: the one /proc/<pid>/stat parser (agent, runtime).
//
// It imports zinit, scenarios (and scenarios/timeline) and its subpackages
// other than chaos/fleet; never migrator, reports or cmd. Of its
// subpackages only chaos/fleet imports chaos (it makes the runner's
// SetupFunc).
package chaos
