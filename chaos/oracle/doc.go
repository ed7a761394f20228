// Package oracle is the judge: it turns a service's declared job model
// (restart policy and delay, max restarts, check interval and timeout)
// into an expected timeline and checks an observed event stream against
// the invariants (R1–R7, H1–H6, S1, P1, C1, recovery) with asymmetric
// tolerances. It is pure: no clock, no I/O, no goroutines; the same input
// gives the same judgement.
//
// It imports zinit and scenarios only (with scenarios/timeline, whose
// shared model of incarnations and check runs it judges on).
package oracle
