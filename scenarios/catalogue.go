package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed catalogue/*.yaml
var catalogueFS embed.FS

// ErrUnknownScenario is wrapped by Lookup when no built-in scenario has the
// name.
var ErrUnknownScenario = errors.New("unknown scenario")

// Catalogue parses and returns the built-in scenarios, sorted by name. Each
// call decodes afresh, so callers may modify what they get. An error means
// the binary was built with a broken catalogue (a test guards against it).
func Catalogue() ([]Scenario, error) {
	files, err := fs.Glob(catalogueFS, "catalogue/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list catalogue: %w", err)
	}
	out := make([]Scenario, 0, len(files))
	var errs []error
	for _, f := range files {
		data, err := catalogueFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		s, err := Parse(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := strings.TrimSuffix(path.Base(f), ".yaml"); s.Name != want {
			errs = append(errs, &ValidationError{File: f, Line: lineOf(mustNode(data), "name"), Path: "name",
				Msg: fmt.Sprintf("%q does not match the file name %q", s.Name, want)})
			continue
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("built-in catalogue: %w", errors.Join(errs...))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lookup returns the built-in scenario called name; the error wraps
// ErrUnknownScenario when there is none.
func Lookup(name string) (Scenario, error) {
	all, err := Catalogue()
	if err != nil {
		return Scenario{}, err
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("%w %q (see zchaos scenarios list)", ErrUnknownScenario, name)
}

// WithTag returns the scenarios that carry tag, in their order; an empty tag
// returns them all.
func WithTag(list []Scenario, tag string) []Scenario {
	var out []Scenario
	for _, s := range list {
		if tag == "" || s.HasTag(tag) {
			out = append(out, s)
		}
	}
	return out
}

func mustNode(data []byte) *yaml.Node {
	n, err := parseNode("", data)
	if err != nil {
		return nil
	}
	return n
}
