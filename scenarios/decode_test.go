package scenarios_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

const validYAML = `name: demo
description: kill the target and watch it come back
tags: [gate, demo]
services:
  declared:
    - name: test.demo
      persist: true
      jobs:
        - name: main
          trigger: start
          exec: /usr/local/bin/herosim serve --name test.demo --socket /tmp/demo.sock
          restart: on-failure
          restart_delay_ms: 5000
          max_restarts: 3
          env: {A: "1"}
        - name: check
          trigger: check
          exec: "true"
          interval_ms: 60000
          timeout_ms: 30000
target: test.demo
steady_state: {running: true, healthy: true}
faults:
  - kind: kill
    signal: SIGKILL
    when: healthy
  - kind: hang
    when: running
    delay_ms: 1000
    duration_ms: 2000
expect:
  invariants: [R1, H2]
  recover: true
  outcome: {migrated: pass}
observe_ms: 9000
`

func TestParseValid(t *testing.T) {
	s, err := scenarios.Parse("demo.yaml", []byte(validYAML))
	require.NoError(t, err)
	want := scenarios.Scenario{
		Name:        "demo",
		Description: "kill the target and watch it come back",
		Tags:        []string{"gate", "demo"},
		Services: scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{
			Name: "test.demo", Persist: true,
			Jobs: []scenarios.DeclaredJob{
				{Name: "main", Trigger: "start", Exec: "/usr/local/bin/herosim serve --name test.demo --socket /tmp/demo.sock",
					Restart: "on-failure", RestartDelayMs: 5000, MaxRestarts: 3, Env: map[string]string{"A": "1"}},
				{Name: "check", Trigger: "check", Exec: "true", IntervalMs: 60000, TimeoutMs: 30000},
			},
		}}},
		Target: "test.demo",
		Steady: scenarios.SteadyState{Running: true, Healthy: true},
		Faults: []scenarios.Fault{
			{Kind: scenarios.FaultKill, Signal: "SIGKILL", When: "healthy"},
			{Kind: scenarios.FaultHang, When: "running", DelayMs: 1000, DurationMs: 2000},
		},
		Expect:    scenarios.Expectation{Invariants: []string{"R1", "H2"}, Recover: true, Outcome: map[string]string{"migrated": "pass"}},
		ObserveMs: 9000,
		Source:    validYAML,
		File:      "demo.yaml",
	}
	assert.Equal(t, want, s)
	assert.Equal(t, []string{"migrated"}, s.RunConfigs())
	assert.True(t, s.HasTag("gate"))
	assert.False(t, s.HasTag("info"))
}

// replace swaps one exact line fragment of validYAML, failing the test if
// the fragment is absent (so a case cannot silently test the valid file).
func replace(t *testing.T, old, new string) []byte {
	t.Helper()
	require.Contains(t, validYAML, old)
	return []byte(strings.Replace(validYAML, old, new, 1))
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name     string
		data     []byte
		line     int
		path     string
		contains string
	}{
		{"unknown field", replace(t, "    signal: SIGKILL\n", "    sgnal: SIGKILL\n"), 25, "faults[0].sgnal", "unknown field"},
		{"unknown top-level field", append([]byte(validYAML), "extra: 1\n"...), 36, "extra", "unknown field"},
		{"wrong type", replace(t, "delay_ms: 1000", "delay_ms: soon"), 29, "faults[1].delay_ms", `want an integer, got "soon"`},
		{"list expected", replace(t, "tags: [gate, demo]", "tags: gate"), 3, "tags", "want a list"},
		{"unknown fault", replace(t, "kind: hang", "kind: explode"), 27, "faults[1].kind", `unknown fault "explode"`},
		{"bad when", replace(t, "when: running", "when: later"), 28, "faults[1].when", `unknown condition "later"`},
		{"bad signal", replace(t, "signal: SIGKILL", "signal: SIGBOOM"), 25, "faults[0].signal", `unknown signal "SIGBOOM"`},
		{"negative duration", replace(t, "duration_ms: 2000", "duration_ms: -5"), 30, "faults[1].duration_ms", "must not be negative"},
		{"trigger misspelled", replace(t, "trigger: check", "trigger: chek"), 17, "services.declared[0].jobs[1].trigger", `unknown trigger "chek"`},
		{"restart misspelled", replace(t, "restart: on-failure", "restart: onfailure"), 12, "services.declared[0].jobs[0].restart", `unknown restart policy "onfailure"`},
		{"check needs interval", replace(t, "interval_ms: 60000", "interval_ms: 0"), 19, "services.declared[0].jobs[1].interval_ms", "required with trigger check"},
		{"restart on a check", replace(t, "          timeout_ms: 30000\n", "          timeout_ms: 30000\n          restart: always\n"), 21, "services.declared[0].jobs[1].restart", "only fits trigger start"},
		{"target outside selection", replace(t, "target: test.demo", "target: test.other"), 21, "target", `"test.other" is not among the scenario's services`},
		{"unknown config", []byte(strings.Replace(validYAML, "target: test.demo", "  configs: [migrated, staging]\ntarget: test.demo", 1)), 21, "services.configs[1]", `unknown config "staging"`},
		{"legacy for declared", []byte(strings.Replace(validYAML, "target: test.demo", "  configs: [legacy]\ntarget: test.demo", 1)), 21, "services.configs[0]", "no legacy config"},
		{"outcome value", replace(t, "outcome: {migrated: pass}", "outcome: {migrated: passed}"), 34, "expect.outcome.migrated", `unknown outcome "passed"`},
		{"outcome for a config not run", replace(t, "outcome: {migrated: pass}", "outcome: {migrated: pass, legacy: fail}"), 34, "expect.outcome.legacy", `does not run on config "legacy"`},
		{"unknown invariant", replace(t, "invariants: [R1, H2]", "invariants: [R1, Z9]"), 32, "expect.invariants[1]", `unknown invariant "Z9"`},
		{"bad name", replace(t, "name: demo\n", "name: Demo Scenario\n"), 1, "name", "lowercase"},
		{"duplicate key", replace(t, "observe_ms: 9000\n", "observe_ms: 9000\nobserve_ms: 1\n"), 36, "", `"observe_ms" already defined`},
		{"two documents", append([]byte(validYAML), "---\nname: x\n"...), 36, "", "more than one YAML document"},
		{"not a mapping", []byte("- a\n- b\n"), 1, "", "a scenario is a mapping"},
		{"empty", []byte(""), 1, "", "empty scenario file"},
		{"syntax", []byte("name: [unclosed\n"), 1, "", "did not find expected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("demo.yaml", tc.data)
			require.Error(t, err)
			var ve *scenarios.ValidationError
			require.True(t, errors.As(err, &ve), "not a *ValidationError: %v", err)
			all := scenarios.ValidationErrors(err)
			require.NotEmpty(t, all)
			var hit *scenarios.ValidationError
			for _, e := range all {
				if e.Path == tc.path && strings.Contains(e.Msg, tc.contains) {
					hit = e
				}
			}
			require.NotNil(t, hit, "no error at %q containing %q in:\n%v", tc.path, tc.contains, err)
			assert.Equal(t, "demo.yaml", hit.File)
			assert.Equal(t, tc.line, hit.Line, "line of %v", hit)
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	data := []byte(`name: crash
description: two faults
services:
  declared:
    - name: svc
      jobs:
        - name: main
          trigger: start
          exec: /bin/true
target: svc
faults:
  - kind: kill
  - kind: explode
expect: {recover: true}
`)
	_, err := scenarios.Parse("crash.yaml", data)
	require.Error(t, err)
	assert.Equal(t, `crash.yaml:13: faults[1].kind: unknown fault "explode"`, err.Error())

	// Built in code (no Source): no line, still file and path.
	s := scenarios.Scenario{Name: "x", Description: "d", File: "x.yaml",
		Services: scenarios.ServiceSet{From: "fleet"}, Faults: []scenarios.Fault{{Kind: "explode"}}}
	err = s.Validate()
	require.Error(t, err)
	assert.Equal(t, `x.yaml: faults[0].kind: unknown fault "explode"`, err.Error())

	s.File = ""
	assert.Equal(t, `faults[0].kind: unknown fault "explode"`, s.Validate().Error())
}

func TestValidateReportsEveryProblemInLineOrder(t *testing.T) {
	data := []byte(`name: many
description: ""
services:
  from: fleet
  select: [a, b]
target: c
faults:
  - kind: monkey
    duration_ms: 1000
  - kind: exit
    code: 300
expect:
  outcome: {migrated: info}
`)
	_, err := scenarios.Parse("many.yaml", data)
	all := scenarios.ValidationErrors(err)
	var got []string
	for _, e := range all {
		got = append(got, e.Path)
	}
	assert.Equal(t, []string{
		"description",
		"target",
		"faults[0].interval_ms",
		"faults[1].code",
		"expect.outcome.migrated",
	}, got)
	lines := make([]int, len(all))
	for i, e := range all {
		lines[i] = e.Line
	}
	assert.Equal(t, []int{2, 6, 8, 11, 13}, lines)
}

func TestValidateFaultRules(t *testing.T) {
	base := scenarios.Scenario{Name: "f", Description: "d", Services: scenarios.ServiceSet{From: "fleet"}}
	cases := []struct {
		name  string
		fault scenarios.Fault
		tgt   string
		path  string
	}{
		{"kill needs a target", scenarios.Fault{Kind: scenarios.FaultKill}, "", "faults[0].kind"},
		{"state needs a target", scenarios.Fault{Kind: scenarios.FaultReload, When: "healthy"}, "", "faults[0].when"},
		{"signal only for kill", scenarios.Fault{Kind: scenarios.FaultHang, Signal: "SIGSTOP"}, "x", "faults[0].signal"},
		{"code only for exit", scenarios.Fault{Kind: scenarios.FaultKill, Code: 2}, "x", "faults[0].code"},
		{"duration only for reversible", scenarios.Fault{Kind: scenarios.FaultKill, DurationMs: 5}, "x", "faults[0].duration_ms"},
		{"interval only for monkey", scenarios.Fault{Kind: scenarios.FaultKill, IntervalMs: 5}, "x", "faults[0].interval_ms"},
		{"monkey interval beyond duration", scenarios.Fault{Kind: scenarios.FaultMonkey, DurationMs: 5, IntervalMs: 10}, "", "faults[0].interval_ms"},
		{"missing kind", scenarios.Fault{}, "x", "faults[0].kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.Target = tc.tgt
			s.Faults = []scenarios.Fault{tc.fault}
			all := scenarios.ValidationErrors(s.Validate())
			require.Len(t, all, 1, "%v", s.Validate())
			assert.Equal(t, tc.path, all[0].Path)
		})
	}
	ok := base
	ok.Faults = []scenarios.Fault{{Kind: scenarios.FaultMonkey, DurationMs: 10, IntervalMs: 5}, {Kind: scenarios.FaultReload}}
	assert.NoError(t, ok.Validate())
}

func TestValidateServiceRules(t *testing.T) {
	job := scenarios.DeclaredJob{Name: "main", Trigger: "start", Exec: "x"}
	cases := []struct {
		name string
		ss   scenarios.ServiceSet
		path string
	}{
		{"neither from nor declared", scenarios.ServiceSet{}, "services"},
		{"both", scenarios.ServiceSet{From: "fleet", Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{job}}}}, "services.declared"},
		{"select without from", scenarios.ServiceSet{Select: []string{"a"}, Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{job}}}}, "services.select"},
		{"duplicate service", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{job}}, {Name: "a", Jobs: []scenarios.DeclaredJob{job}}}}, "services.declared[1].name"},
		{"after unknown", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", After: []string{"b"}, Jobs: []scenarios.DeclaredJob{job}}}}, "services.declared[0].after[0]"},
		{"no jobs", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a"}}}, "services.declared[0].jobs"},
		{"two start jobs", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{job, {Name: "b", Trigger: "start", Exec: "y"}}}}}, "services.declared[0].jobs[1].trigger"},
		{"bad env key", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{{Name: "main", Trigger: "start", Exec: "x", Env: map[string]string{"1X": "v"}}}}}}, "services.declared[0].jobs[0].env.1X"},
		{"timeout on start", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{{Name: "main", Trigger: "start", Exec: "x", TimeoutMs: 3}}}}}, "services.declared[0].jobs[0].timeout_ms"},
		{"persisted job of a transient service", scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "a", Jobs: []scenarios.DeclaredJob{{Name: "main", Trigger: "start", Exec: "x", Persist: true}}}}}, "services.declared[0].jobs[0].persist"},
		{"duplicate config", scenarios.ServiceSet{From: "fleet", Configs: []string{"migrated", "migrated"}}, "services.configs[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := scenarios.Scenario{Name: "s", Description: "d", Services: tc.ss}
			all := scenarios.ValidationErrors(s.Validate())
			require.Len(t, all, 1, "%v", s.Validate())
			assert.Equal(t, tc.path, all[0].Path)
		})
	}
}

func TestRunConfigsDefaults(t *testing.T) {
	assert.Equal(t, []string{"migrated", "legacy"}, scenarios.Scenario{Services: scenarios.ServiceSet{From: "fleet"}}.RunConfigs())
	assert.Equal(t, []string{"legacy"}, scenarios.Scenario{Services: scenarios.ServiceSet{From: "fleet", Configs: []string{"legacy"}}}.RunConfigs())
}
