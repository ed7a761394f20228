//go:build zchaos_mutants

package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// selectedMutant is MutantEnv, read once.
var selectedMutant = sync.OnceValue(func() string { return os.Getenv(MutantEnv) })

func knownMutant(name string) bool {
	for _, m := range Mutants {
		if m.Name == name {
			return true
		}
	}
	return false
}

// mutant reports whether the defect called name is switched on. A name
// missing from Mutants is a bug of this build: it panics.
func mutant(name string) bool {
	if !knownMutant(name) {
		panic("supervisor: mutant " + name + " is not listed in Mutants")
	}
	return selectedMutant() == name
}

// checkMutant refuses a MutantEnv that names no defect (a typo would
// otherwise run the reference supervisor under a mutant's name) and logs
// the defect switched on.
func checkMutant(log *slog.Logger) error {
	name := selectedMutant()
	switch {
	case name == "":
		return nil
	case !knownMutant(name):
		return fmt.Errorf("%s=%q: no such mutant", MutantEnv, name)
	}
	log.Warn("mutant build: a deliberate defect is switched on", "mutant", name)
	return nil
}
