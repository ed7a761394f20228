// Package zinit speaks the zinit 0.4.0 job model as this project pins it
// (see docs/job-model.md): typed services and jobs with
// validating builders, rendering to the zinit CLI and to POSIX shell, and a
// JSON-RPC 2.0 client over the daemon's Unix socket.
//
// It imports nothing of this module; migrator, chaos and cmd import it.
// Subpackage supervisor is the reference supervisor engine.
package zinit
