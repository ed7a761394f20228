package scenarios_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zchaos/zchaos/scenarios"
)

// FuzzParse: the scenario decoder never panics and never hangs on any
// bytes (a YAML alias bomb included); a refusal is one or more
// *ValidationError naming the file, each with a message; what it accepts
// validates and decodes the same again.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("catalogue", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		validYAML, "", "---", "name: x\n---\nname: y\n", "faults: [", "name: [1, 2]\n", "\x00",
		"a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n",
		"name: x\nname: y\n", "faults:\n  - kind: kill\n    at_ms: -1\n", "services: {from: ../../etc}\n",
		"name: x\nunknown: 1\n", "? [a]\n: b\n", "name: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		s, err := scenarios.Parse(file, data)
		if s.File != file || s.Source != string(data) {
			t.Fatalf("Parse(%q) lost the file or the source", data)
		}
		if err != nil {
			ves := scenarios.ValidationErrors(err)
			if len(ves) == 0 {
				t.Fatalf("Parse(%q): %v is no *ValidationError", data, err)
			}
			for _, ve := range ves {
				if ve.File != file || ve.Line < 0 || ve.Msg == "" {
					t.Fatalf("Parse(%q): an error without its place or message: %#v", data, ve)
				}
			}
			return
		}
		if verr := s.Validate(); verr != nil {
			t.Fatalf("Parse(%q) accepted a scenario that does not validate: %v", data, verr)
		}
		again, err := scenarios.Parse(file, data)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("Parse(%q) is not deterministic: %v", data, err)
		}
	})
}
