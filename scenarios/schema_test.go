package scenarios_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/zchaos/zchaos/scenarios"
)

// compiledSchema compiles scenarios.SchemaJSON with a draft 2020-12
// validator, as an editor would.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := scenarios.SchemaJSON()
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(scenarios.SchemaID, doc))
	sch, err := c.Compile(scenarios.SchemaID)
	require.NoError(t, err)
	return sch
}

// yamlInstance reads YAML as the JSON value a schema validator checks.
func yamlInstance(t *testing.T, src string) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(src), &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return inst
}

func TestEveryCatalogueScenarioValidatesAgainstTheSchema(t *testing.T) {
	sch := compiledSchema(t)
	list, err := scenarios.Catalogue()
	require.NoError(t, err)
	require.NotEmpty(t, list)
	for _, s := range list {
		assert.NoError(t, sch.Validate(yamlInstance(t, s.Source)), s.Name)
	}
}

// The schema refuses what the strict decoder refuses, so an editor flags
// it while typing.
func TestSchemaRefusesWhatTheDecoderRefuses(t *testing.T) {
	sch := compiledSchema(t)
	s, err := scenarios.Lookup("crash-restart")
	require.NoError(t, err)
	for name, edit := range map[string][2]string{
		"unknown field":    {"steady_state:", "steady_sate:"},
		"unknown fault":    {"kind: kill", "kind: explode"},
		"unknown when":     {"when: healthy", "when: soon"},
		"unknown config":   {"configs: [migrated, legacy]", "configs: [migrated, staging]"},
		"unknown outcome":  {"legacy: fail", "legacy: maybe"},
		"unknown probe":    {"probe: socket", "probe: carrier-pigeon"},
		"unknown rule id":  {"invariants: [R1,", "invariants: [R9,"},
		"name not string":  {"name: crash-restart", "name: [crash]"},
		"missing services": {"services:\n  from: fleet\n  configs: [migrated, legacy]\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(s.Source, edit[0], edit[1], 1)
			require.NotEqual(t, s.Source, src, "the edit applies")
			_, perr := scenarios.Parse("x.yaml", []byte(src))
			require.Error(t, perr, "the decoder refuses it too")
			assert.Error(t, sch.Validate(yamlInstance(t, src)))
		})
	}
}

// docs/scenario.schema.json, the file the examples point editors at, is
// what zchaos scenarios schema prints today.
func TestShippedSchemaIsCurrent(t *testing.T) {
	want, err := scenarios.SchemaJSON()
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("..", "docs", "scenario.schema.json"))
	require.NoError(t, err)
	assert.Equal(t, string(want)+"\n", string(got), "regenerate: go run ./cmd/zchaos scenarios schema > docs/scenario.schema.json")
}
