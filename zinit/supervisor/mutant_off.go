//go:build !zchaos_mutants

package supervisor

import "log/slog"

// mutant is false: only a build with MutantsTag switches defects on
// (mutants.go), so the compiler drops every mutated branch of this one.
func mutant(string) bool { return false }

// checkMutant accepts anything: this build has no defect to switch on.
func checkMutant(*slog.Logger) error { return nil }
