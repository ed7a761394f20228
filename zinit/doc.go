// Package zinit speaks the zinit 0.4.0 job model as this project pins it
// (see docs/job-model.md): typed services and jobs with
// validating builders, rendering to the zinit CLI and to POSIX shell, and a
// JSON-RPC 2.0 client over the daemon's Unix socket. It is also the one home
// of the domain vocabulary its users share: the legacy zinit 0.3 TOML
// parser (ParseLegacy, ConfigError), signals (ParseSignal, SignalName),
// command lines (SplitWords, the inverse of CommandLine), probe targets
// named by command lines (DetectProbe), time scaling (ScaleDuration,
// ScaleJob) and the one safe read of a user's file (ReadRegularFile: a
// regular file within a size limit, never blocking on a FIFO or device).
//
// PollUntil is the project's one wait loop: every wait for a state nobody
// announces (a socket, a service state, an exec's end) polls through it,
// paced by an injected clock. It lives here because zinit is the lowest
// package migrator, chaos and cmd all import.
//
// It imports nothing of this module; migrator, chaos and cmd import it.
// Subpackage supervisor is the reference supervisor engine; subpackage
// zinittest holds the test daemons (a scripted fake and the reference
// supervisor on a short temp socket).
package zinit
