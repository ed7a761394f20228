// Package reports renders a scenarios.Result as a terminal table, a Markdown
// rollout report, JUnit XML, indented JSON (the versioned schema of
// SCHEMA.md) or one self-contained HTML page with a timeline picture per
// scenario.
//
// Every renderer is a pure function of the Result: no clock, no
// environment, no exec; the same Result always renders to the same bytes.
// The package imports only scenarios and scenarios/timeline (and
// libraries); it never imports chaos or Docker. The timeline picture draws
// scenarios/timeline's model, the one the oracle judged on.
package reports
