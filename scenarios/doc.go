// Package scenarios is plain data: the scenario schema (strictly decoded
// from YAML by Parse, checked by Scenario.Validate with file:line:path
// errors), the built-in catalogue embedded in the binary (Catalogue,
// Lookup), and the versioned result model every report renders
// (Result, DecodeResult).
//
// It is a leaf: it imports nothing of this module. Nothing in it reads the
// clock, the environment or runs anything. Its subpackage
// scenarios/timeline (which imports only scenarios) folds a scenario's
// events into the one timeline model the oracle and the reports share.
package scenarios
