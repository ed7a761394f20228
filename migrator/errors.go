package migrator

import (
	"errors"
)

// Sentinel causes of a *zinit.ConfigError the migrator adds to those of
// zinit.ParseLegacy (zinit.ErrMalformed, zinit.ErrWrongType,
// zinit.ErrNotAService, zinit.ErrMissingExec); match them with errors.Is.
var (
	ErrInvalidName       = errors.New("name zinit would reject")          // see zinit.ValidateName
	ErrDuplicateName     = errors.New("duplicate service name")           // two files claim one name
	ErrMissingDependency = errors.New("dependency on an unknown service") // after names no service
	ErrCycle             = errors.New("dependency cycle")                 // after edges form a cycle
	ErrUnsafeValue       = errors.New("value cannot be passed to zinit")  // e.g. a NUL byte
	ErrPolicy            = errors.New("invalid policy")                   // a bad policy file
)
