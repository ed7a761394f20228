// Package timeline is the one account of what happened in a scenario,
// built from its events: Merge joins zinit's reports (last_exit,
// last_check) to what the agent saw, once, when the runner stores the
// events.
//
// It is pure: it imports only scenarios and the standard library, and
// reads no clock, no environment and does no I/O.
package timeline
