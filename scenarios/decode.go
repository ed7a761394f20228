package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ValidationError is one problem of a scenario file, located as precisely as
// the YAML allows: File and Line (1-based; 0 when unknown, e.g. for a
// scenario built in code) and Path, the field's path such as
// "faults[1].kind". Decoding and validation errors are both of this type;
// several are joined with errors.Join, so use errors.As to get the first.
type ValidationError struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationErrors lists every *ValidationError in err (a single one or a
// join of several), in the order they were reported.
func ValidationErrors(err error) []*ValidationError {
	if err == nil {
		return nil
	}
	if ve, ok := err.(*ValidationError); ok {
		return []*ValidationError{ve}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*ValidationError
		for _, e := range j.Unwrap() {
			out = append(out, ValidationErrors(e)...)
		}
		return out
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return []*ValidationError{ve}
	}
	return nil
}

// MaxFileBytes bounds a scenario file: the readers of scenario files
// (zchaos scenarios validate, zchaos run FILE) refuse a larger one, and
// anything but a regular file, before Parse sees it.
const MaxFileBytes = 1 << 20

// Parse decodes one scenario strictly (unknown fields, wrong types, duplicate
// keys and extra documents are errors) and validates it. The returned
// Scenario keeps file and the YAML text in File and Source even when err is
// not nil, so a caller can still show it. Every error is a
// *ValidationError (several joined with errors.Join).
func Parse(file string, data []byte) (Scenario, error) {
	s := Scenario{File: file, Source: string(data)}
	root, err := parseNode(file, data)
	if err != nil {
		return s, err
	}
	var errs []error
	checkShape(file, root, reflect.TypeOf(Scenario{}), "", &errs)
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out Scenario
	if err := dec.Decode(&out); err != nil {
		// checkShape should have caught it; keep the decoder as the authority.
		return s, yamlError(file, err)
	}
	out.File, out.Source = file, string(data)
	if out.Targets != nil && out.Targets.Name != "" {
		out.Target, out.Targets = out.Targets.Name, nil
	}
	return out, out.Validate()
}

// parseNode reads exactly one YAML document and returns its top node.
func parseNode(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{File: file, Line: 1, Msg: "empty scenario file"}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ValidationError{File: file, Line: extra.Line, Msg: "more than one YAML document: want one scenario per file"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &ValidationError{File: file, Line: root.Line, Msg: "a scenario is a mapping (name: ..., services: ..., faults: ...)"}
	}
	return root, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 error into *ValidationError(s), keeping the
// line the library names.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		line := 0
		if loc := yamlLineRE.FindStringSubmatchIndex(m); loc != nil {
			line, _ = strconv.Atoi(m[loc[2]:loc[3]])
			m = m[:loc[0]] + m[loc[1]:]
		}
		errs = append(errs, &ValidationError{File: file, Line: line, Msg: m})
	}
	return errors.Join(errs...)
}

// checkShape walks the node tree against the Go type, reporting unknown
// fields and values of the wrong type with their path and line.
func checkShape(file string, n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(TargetSpec{}) && n.Kind == yaml.ScalarNode {
		return // a plain service name
	}
	bad := func(msg string) {
		*errs = append(*errs, &ValidationError{File: file, Line: n.Line, Path: path, Msg: msg})
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &ValidationError{File: file, Line: k.Line, Path: join(path, k.Value),
					Msg: fmt.Sprintf("unknown field (known: %s)", knownList(fields))})
				continue
			}
			checkShape(file, v, f.Type, join(path, k.Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("want a list")
			return
		}
		for i, c := range n.Content {
			checkShape(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			checkShape(file, k, t.Key(), join(path, k.Value), errs)
			checkShape(file, v, t.Elem(), join(path, k.Value), errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			bad("want " + describeKind(t))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			bad(fmt.Sprintf("want %s, got %q", describeKind(t), n.Value))
		}
	}
}

func describeKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func knownList(fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of path ("faults[1].kind") in the tree: the line of
// the last key or list item found, so a missing key answers the line of its
// nearest existing parent.
func lineOf(root *yaml.Node, path string) int {
	if root == nil {
		return 0
	}
	n, line := root, root.Line
	for _, seg := range splitPath(path) {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if seg.index >= 0 {
			if n.Kind != yaml.SequenceNode || seg.index >= len(n.Content) {
				return line
			}
			n = n.Content[seg.index]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg.key {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

type pathSeg struct {
	key   string
	index int // -1 for a key
}

func splitPath(path string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, pathSeg{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			out = append(out, pathSeg{index: i})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}
