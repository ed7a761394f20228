// Package timeline is the one account of what happened in a scenario,
// built from its events, that the oracle judges and the reports draw, so a
// picture cannot disagree with its verdict:
//
//   - Merge joins zinit's reports (last_exit, last_check) to what the agent
//     saw, once, when the runner stores the events;
//   - Build folds the events into a Timeline: per Service, the
//     Incarnations of its main process (pid, spawn, exit, code or signal,
//     with their errors), its CheckRuns (pid, start, end, and their
//     Outcome against the check's timeout), its probes, zinit's status
//     reports and the StateSpans they make; and scenario-wide, what the
//     harness did (faults, effects, reverts, actions), zombies and strays.
//
// Build's pairing rules are the oracle's, on which verdicts are based; the
// oracle adds its own judging on top (why each incarnation ended, what the
// model expects next, which fault each effect belongs to).
//
// It is pure: it imports only scenarios and the standard library, and
// reads no clock, no environment and does no I/O.
package timeline
