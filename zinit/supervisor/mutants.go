package supervisor

// The gate's self-test builds this supervisor with deliberate defects and
// shows that zchaos catches each one. Each defect sits behind a
// mutant(NAME) switch at the one place of the engine it breaks. mutant is
// a constant false in every build but one made with the MutantsTag build
// tag (mutant_on.go), where MutantEnv names the defect switched on; the
// shipped zinit carries no defect switch: the compiler drops every mutated
// branch.
const (
	MutantsTag = "zchaos_mutants" // go build -tags zchaos_mutants
	MutantEnv  = "ZINIT_MUTANT"   // the mutant a tagged zinit runs with; empty: none
)

// Mutant is one deliberate defect of the reference supervisor.
type Mutant struct {
	Name   string // the value of MutantEnv that switches it on
	Rule   string // the invariant of docs/invariants.md it breaks, or the pinned rule it names
	Defect string // what the mutated supervisor does
}

// Mutants lists every defect a tagged build can switch on, grouped by the
// rule they break.
var Mutants = []Mutant{
	{"restart-early", "R1", "restarts half the restart delay after the exit"},
	{"restart-no-delay", "R1", "restarts at once, with no delay"},
	{"restart-slightly-early", "R1", "restarts at 0.9 of the restart delay after the exit"},
	{"exit0-restarted", "R2", "on-failure restarts after exit 0"},
	{"always-ignores-exit0", "R2", "always does not restart after exit 0"},
	{"stop-is-failure", "R3", "the exit a stop caused goes through the restart policy as a failure"},
	{"stop-keeps-restart", "R4", "a stop during the restart delay leaves the restart timer armed"},
	{"limit-off-by-one", "R5", "allows N+1 automatic restarts"},
	{"limit-reason-missing", "R6", "gives up at the limit with no reason"},
	{"failed-not-sticky", "R6", "drops from failed to inactive one restart delay after giving up"},
	{"start-keeps-budget", "R7", "an explicit start does not reset the restart budget"},
	{"no-grace", "H1", "runs the first check right after each spawn"},
	{"check-no-kill", "H2", "a failed check marks the service but never kills it (the Docker trap)"},
	{"check-timeout-ignored", "H4", "a check outliving its timeout is not killed: its own exit is awaited"},
	{"check-group-left", "H4", "signals a check run's leader, never its process group: what the run forked outlives it"},
	{"check-kill-bypasses-policy", "H5", "a check kill respawns at once, uncounted, whatever the policy"},
	{"check-state-carried", "H6", "checks keep the previous incarnation's schedule across a respawn"},
	{"leader-exit-leaves-group", "S1", "leaves the process group of an exited start job alive"},
	{"orphans-not-reaped", "P1", "reaps only its own children: orphans reparented to it stay zombies"},
	{"restarts-not-counted", "C1", "does not count automatic restarts in its status"},
	{"reload-wipes-api-services", "reload", "zinit reload stops and removes services created through the API"},
	{"persist-not-restored", "persist", "restores no persisted service at boot"},
}
