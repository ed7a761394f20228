package scenarios

import (
	"encoding/json"
	"reflect"
	"sort"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the scenario JSON Schema.
const SchemaID = "https://github.com/zchaos/zchaos/scenarios/scenario.schema.json"

// JSONSchema is the JSON Schema (draft 2020-12) of a scenario file, made
// by reflection from the Go types as the YAML decoder reads them (their
// yaml tags: field names, what is skipped), for editors' completion and
// checking (yaml-language-server: $schema=…). It states what the strict
// decoder states: unknown fields are refused, the closed vocabularies
// (fault kinds, conditions, configs, probes, triggers, restart policies,
// invariant ids, outcomes) are enums. Rules across fields (a selector
// needs a fleet, a target must be a declared service, …) stay with
// Validate: `zchaos scenarios validate` is the authority.
func JSONSchema() *jsonschema.Schema {
	r := jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true, // only what Validate requires, below
		ExpandedStruct:             true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			switch t {
			case reflect.TypeFor[FaultKind]():
				var kinds []any
				for _, k := range FaultKinds() {
					kinds = append(kinds, string(k))
				}
				return &jsonschema.Schema{Type: "string", Enum: kinds}
			case reflect.TypeFor[TargetSpec]():
				// A plain service name, or a selector mapping.
				sel := (&jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: true, ExpandedStruct: true}).ReflectFromType(reflect.TypeFor[targetSelector]())
				sel.Version, sel.ID = "", ""
				return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
					{Type: "string", Description: "the service under test, by name"},
					sel,
				}}
			}
			return nil
		},
	}
	s := r.Reflect(&Scenario{})
	s.ID = SchemaID
	s.Title = "zchaos scenario"
	s.Description = "A chaos scenario: which services run, the steady state to reach, the faults to inject, what each config must show. Durations are milliseconds at production timings."
	s.Required = []string{"name", "description", "services"}
	enumProp(s, "Fault", "when", WhenRunning, WhenHealthy, WhenRestarting, WhenFailed, WhenNow)
	enumItems(s, "ServiceSet", "configs", ConfigMigrated, ConfigLegacy)
	enumProp(s, "DeclaredJob", "trigger", "start", "stop", "check")
	enumProp(s, "DeclaredJob", "restart", "always", "on-failure", "never")
	ids := InvariantIDs()
	enumItems(s, "Expectation", "invariants", ids...)
	if d := s.Definitions["Expectation"]; d != nil {
		if p, ok := d.Properties.Get("outcome"); ok {
			p.PropertyNames = &jsonschema.Schema{Enum: anys(ConfigMigrated, ConfigLegacy, ConfigAsBuilt)}
			p.AdditionalProperties = &jsonschema.Schema{Type: "string", Enum: anys(OutcomePass, OutcomeFail, OutcomeInfo)}
		}
	}
	if d := s.Definitions["DeclaredService"]; d != nil {
		d.Required = []string{"name", "jobs"}
	}
	if d := s.Definitions["DeclaredJob"]; d != nil {
		d.Required = []string{"name", "exec", "trigger"}
	}
	if d := s.Definitions["Fault"]; d != nil {
		d.Required = []string{"kind"}
	}
	return s
}

// targetSelector is TargetSpec as a mapping (its name is the plain-string
// form), for the schema.
type targetSelector struct {
	Prefer []string `yaml:"prefer,omitempty" jsonschema:"description=services taken first, in order, when present"`
	Probe  string   `yaml:"probe,omitempty" jsonschema:"enum=socket,enum=http,enum=any,description=keep the services whose health can be probed this way"`
	Sample int      `yaml:"sample,omitempty" jsonschema:"minimum=0,description=how many targets to pick (default 1), seeded"`
	Each   bool     `yaml:"each,omitempty" jsonschema:"description=pick every matching service"`
	Alone  bool     `yaml:"alone,omitempty" jsonschema:"description=run the target with only what it needs"`
}

// SchemaJSON is JSONSchema, indented.
func SchemaJSON() ([]byte, error) { return json.MarshalIndent(JSONSchema(), "", "  ") }

func anys(vs ...string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func enumProp(s *jsonschema.Schema, def, prop string, vs ...string) {
	if d := s.Definitions[def]; d != nil {
		if p, ok := d.Properties.Get(prop); ok {
			p.Enum = anys(vs...)
		}
	}
}

func enumItems(s *jsonschema.Schema, def, prop string, vs ...string) {
	sort.Strings(vs)
	if d := s.Definitions[def]; d != nil {
		if p, ok := d.Properties.Get(prop); ok && p.Items != nil {
			p.Items.Enum = anys(vs...)
		}
	}
}
