package reports_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/scenarios"
)

// The picture draws the shared timeline model (scenarios/timeline), the
// one the oracle judges on: an incarnation whose successor came before its
// exit ends there, an exit of unknown pid ends the current incarnation,
// and a check run killed at its timeout failed while one killed early was
// only cleaned up.
func TestHTMLTimelineDrawsTheSharedModel(t *testing.T) {
	ev := func(atMs int64, kind scenarios.EventKind, job string, pid int, sig string) scenarios.Event {
		return scenarios.Event{TNs: atMs * ms, Kind: kind, Service: embedder, Job: job, PID: pid, Signal: sig}
	}
	res := scenarios.Result{SchemaVersion: scenarios.ResultSchemaVersion, Scenarios: []scenarios.ScenarioResult{{
		Scenario: "pairing", Config: "migrated", Service: embedder, DurationMs: 1000,
		Policy: &scenarios.ServicePolicy{Service: embedder, Config: "migrated", Restart: "always", IntervalMs: 50, TimeoutMs: 100},
		Timeline: []scenarios.Event{
			ev(10, scenarios.EventSpawn, "main", 1, ""),
			ev(100, scenarios.EventCheckSpawn, "check", 40, ""),
			ev(200, scenarios.EventCheckExit, "check", 40, "SIGKILL"), // at T: timed out
			ev(300, scenarios.EventCheckSpawn, "check", 41, ""),
			ev(320, scenarios.EventCheckExit, "check", 41, "SIGKILL"), // early: cleaned up
			ev(500, scenarios.EventSpawn, "main", 2, ""),
			ev(800, scenarios.EventExit, "main", 0, ""),
		},
	}}}
	page := string(render(t, "html", res))
	assert.Contains(t, page, "pid 1 spawned at 10 ms; its exit not seen before the next spawn at 500 ms")
	assert.Contains(t, page, "pid 2 spawned at 500 ms; pid 2 gone at 800 ms")
	assert.Contains(t, page, "check pid 40, 100 ms → 200 ms (failed)")
	assert.Contains(t, page, "check pid 41, 300 ms → 320 ms</title>")
}
