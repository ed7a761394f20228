// Package scenarios is plain data: the scenario schema, the built-in
// catalogue, and the versioned result model every report renders.
//
// It is a leaf: it imports nothing of this module.
package scenarios
