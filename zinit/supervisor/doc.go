// Package supervisor is the reference zinit supervisor: it implements the
// job model of docs/job-model.md (services, start/stop/check
// jobs, restart policies with a fixed delay and an exact limit, health
// checks with grace, legacy TOML services, reload, persistence) behind the
// JSON-RPC 2.0 protocol of package zinit.
//
// Design: an Engine owns every service's state and is driven by one
// goroutine (Loop) that waits for a timer, a process exit or an RPC request
// and runs one synchronous step. Every state change goes through
// transition, a pure function. Time comes from an injected clock and
// processes from a Spawner, so unit tests drive the engine with a fake clock
// and a fake spawner, with no sleeps. ProcSpawner is the real one: `sh -c`
// in its own process group, every child reaped by one wait4 loop on SIGCHLD.
//
// Decisions where the job model is silent (each is tested):
//   - status "restarts" counts automatic restarts since the service was
//     created (or the daemon booted) and never decreases (C1); the limit
//     counter, reset by every explicit start, is internal.
//   - when a start job's or a check run's leader exits, its whole process
//     group is SIGKILLed, so nothing of an old incarnation survives (S1, H4).
//   - a check that cannot be spawned is recorded in last_check and retried
//     after interval: broken infrastructure is not a verdict on the service.
//   - an explicit start while restarting spawns at once with N fresh
//     restarts; a start while stopping is queued until the service is down;
//     a restart after the delay does not wait for --after dependencies again.
//   - removing a service, or the start job of one that is not down, stops
//     it first; service.kill on a service with no process is -32602.
//   - a legacy oneshot that exited 0 satisfies --after of its dependents.
//   - a state file that cannot be restored in full is moved aside and makes
//     persistence read-only until persist.resume (persist.go); changes are
//     persisted before they are committed, so a failed write changes nothing.
//   - the daemon reads only regular files (zinit.ReadRegularFile), within limits, and
//     gives every request line RequestTimeout and at most MaxConns
//     connections (server.go), so no client and no file can hold its loop.
//
// Run is the daemon's entry point (cmd/zinit calls it). This package
// imports only package zinit of this module.
package supervisor
