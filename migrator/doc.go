// Package migrator audits legacy zinit service configs and migrates them to
// the zinit 0.4.0 job model (docs/job-model.md).
//
// The pipeline is: Load (or LoadDir) parses every file of a legacy config
// directory, detecting its dialect per file (TOML service, TOML health file,
// TOML with zinit 0.3's [lifecycle]/[health] sections, or the older zinit
// YAML); Lint turns the inventory into findings; BuildPlan turns it into a
// Plan (one ServicePlan per service: the job-model service, its jobs, its
// probe and a fidelity ledger that says, for every legacy field, how it was
// carried over); Plan.Scale shrinks every duration for scaled runs;
// RenderScript writes the plan as an idempotent POSIX script of zinit CLI
// lines; Apply changes a running zinit (over its socket with SocketTarget, or
// through its CLI with CLITarget) after a checksummed backup of the legacy
// files, and Rollback restores them.
//
// Legacy TOML files are read by zinit.ParseLegacy, the parser the reference
// supervisor uses too; this package adds the YAML dialect, dialect and role
// detection and the inventory. Bad input is reported as *zinit.ConfigError
// (file, line, key), which callers match with errors.As, and whose Err
// matches with errors.Is zinit's parse sentinels (zinit.ErrMalformed, ...)
// or this package's Err* sentinels.
//
// migrator imports zinit only: never chaos, Docker, or cmd. Nothing here
// reads the wall clock except through ApplyOptions.Now.
package migrator
