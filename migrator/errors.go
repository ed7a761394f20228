package migrator

import (
	"errors"
	"fmt"
)

// Sentinel causes of a ConfigError; match them with errors.Is.
var (
	ErrMalformed         = errors.New("malformed")                        // the file does not parse
	ErrWrongType         = errors.New("wrong type")                       // a known key holds the wrong kind of value
	ErrNotAService       = errors.New("not a zinit service file")         // no [service] table, or empty
	ErrMissingExec       = errors.New("exec is required")                 // a service without exec
	ErrInvalidName       = errors.New("name zinit would reject")          // see zinit.ValidateName
	ErrDuplicateName     = errors.New("duplicate service name")           // two files claim one name
	ErrMissingDependency = errors.New("dependency on an unknown service") // after names no service
	ErrCycle             = errors.New("dependency cycle")                 // after edges form a cycle
	ErrUnsafeValue       = errors.New("value cannot be passed to zinit")  // e.g. a NUL byte
	ErrPolicy            = errors.New("invalid policy")                   // a bad policy file
)

// ConfigError is bad input: a legacy config file or a policy file that
// cannot be read, parsed or migrated. Line is 1-based (0 when the problem
// is the file as a whole); Key is the dotted key concerned, if any.
type ConfigError struct {
	File string
	Line int
	Key  string
	Err  error
}

// Error renders one line: "file:line: key: cause".
func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

// Unwrap exposes the cause (one of the Err* sentinels, usually wrapped).
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(file string, line int, key string, sentinel error, format string, a ...any) *ConfigError {
	var err error
	if format == "" {
		err = sentinel
	} else {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)
	}
	return &ConfigError{File: file, Line: line, Key: key, Err: err}
}
