package scenarios_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

var present = []scenarios.TargetInfo{
	{Name: "user.a", Probe: scenarios.ProbeSocket},
	{Name: "user.b", Probe: scenarios.ProbeSocket},
	{Name: "user.c", Probe: scenarios.ProbeSocket},
	{Name: "user.ui", Probe: scenarios.ProbeHTTP},
	{Name: "user.seed", Probe: scenarios.ProbeSocket, Oneshot: true},
}

func fleetScenario(name string, spec scenarios.TargetSpec) scenarios.Scenario {
	return scenarios.Scenario{Name: name, Services: scenarios.ServiceSet{From: scenarios.FromFleet}, Targets: &spec}
}

func targetsOf(scs []scenarios.Scenario) []string {
	var out []string
	for _, s := range scs {
		out = append(out, s.Target)
	}
	return out
}

func TestExpandTargets(t *testing.T) {
	expand := func(spec scenarios.TargetSpec, names ...string) []scenarios.Scenario {
		t.Helper()
		out, err := scenarios.ExpandTargets([]scenarios.Scenario{fleetScenario("crash", spec)}, present, names, 42)
		require.NoError(t, err)
		return out
	}
	assert.Equal(t, []string{"user.b"}, targetsOf(expand(scenarios.TargetSpec{Prefer: []string{"user.b"}, Probe: "socket"})),
		"the preferred service when present")
	assert.Equal(t, []string{"user.ui"}, targetsOf(expand(scenarios.TargetSpec{Probe: "http"})))
	assert.ElementsMatch(t, []string{"user.a", "user.b", "user.c"}, targetsOf(expand(scenarios.TargetSpec{Probe: "socket", Each: true})),
		"each socket service, never the oneshot")
	two := expand(scenarios.TargetSpec{Probe: "socket", Sample: 2})
	require.Len(t, two, 2)
	assert.Equal(t, targetsOf(two), targetsOf(expand(scenarios.TargetSpec{Probe: "socket", Sample: 2})), "seeded: the same choice again")
	assert.Equal(t, []string{"user.c", "user.ui"}, targetsOf(expand(scenarios.TargetSpec{Probe: "socket"}, "user.c", "user.ui")),
		"--target replaces the selector")

	alone := expand(scenarios.TargetSpec{Prefer: []string{"user.a"}, Alone: true})
	assert.Equal(t, []string{"user.a"}, alone[0].Services.Select, "alone: the target and what it needs")
	assert.Empty(t, expand(scenarios.TargetSpec{Prefer: []string{"user.a"}})[0].Services.Select, "the whole fleet")
}

func TestExpandTargetsErrors(t *testing.T) {
	_, err := scenarios.ExpandTargets([]scenarios.Scenario{fleetScenario("crash", scenarios.TargetSpec{Probe: "http", Sample: 1})},
		present[:3], nil, 1)
	var te *scenarios.TargetError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.Equal(t, "crash: no service matches the selector (probe http, not a oneshot); services found: user.a, user.b, user.c", err.Error())

	_, err = scenarios.ExpandTargets(nil, present, []string{"user.nope"}, 1)
	assert.EqualError(t, err, `--target: no service matches "user.nope"; services found: user.a, user.b, user.c, user.seed, user.ui`)

	named := scenarios.Scenario{Name: "x", Services: scenarios.ServiceSet{From: scenarios.FromFleet}, Target: "user.gone"}
	_, err = scenarios.ExpandTargets([]scenarios.Scenario{named}, present, nil, 1)
	assert.ErrorAs(t, err, &te)

	declared := scenarios.Scenario{Name: "d", Services: scenarios.ServiceSet{Declared: []scenarios.DeclaredService{{Name: "t"}}}, Target: "t"}
	out, err := scenarios.ExpandTargets([]scenarios.Scenario{declared}, nil, nil, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"t"}, targetsOf(out), "declared scenarios name their own target")
}

func TestTargetSpecDecoding(t *testing.T) {
	base := "name: x\ndescription: d\nservices: {from: fleet}\nfaults: [{kind: kill}]\nexpect: {invariants: [R1]}\n"
	sc, err := scenarios.Parse("a.yaml", []byte(base+"target: user.a\n"))
	require.NoError(t, err)
	assert.Equal(t, "user.a", sc.Target)
	assert.Nil(t, sc.Targets, "a plain name is no selector")

	sc, err = scenarios.Parse("b.yaml", []byte(base+"target: {prefer: [user.a], probe: socket, alone: true}\n"))
	require.NoError(t, err)
	assert.Empty(t, sc.Target)
	assert.Equal(t, &scenarios.TargetSpec{Prefer: []string{"user.a"}, Probe: "socket", Alone: true}, sc.Targets)
	assert.Equal(t, "socket service (prefer user.a)", sc.TargetLabel())

	_, err = scenarios.Parse("c.yaml", []byte(base+"target: {probe: carrier-pigeon, each: true, sample: 2}\n"))
	msgs := []string{}
	for _, ve := range scenarios.ValidationErrors(err) {
		msgs = append(msgs, ve.Path+": "+ve.Msg)
	}
	assert.Contains(t, msgs, `target.probe: "carrier-pigeon": want socket, http or any`)
	assert.Contains(t, msgs, "target: give each or sample, not both")

	_, err = scenarios.Parse("d.yaml", []byte(base+"target: {prefered: [user.a]}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "d.yaml:6: target.prefered: unknown field")
}
