package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// cliRun is what one zchaos invocation printed and returned.
type cliRun struct {
	out, err string
	code     int
}

// runZchaosCLI runs zchaos with args through main's execute, with
// injected streams.
func runZchaosCLI(t *testing.T, tty bool, stdin string, args ...string) cliRun {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:         IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, TTY: tty},
		Executable: os.Executable,
	}
	code := execute(context.Background(), f, args)
	return cliRun{out: out.String(), err: errOut.String(), code: code}
}

func cliGolden(t *testing.T) *goldie.Goldie {
	return goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
}

func TestScenariosHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"scenarios_help":          {"scenarios", "--help"},
		"scenarios_list_help":     {"scenarios", "list", "--help"},
		"scenarios_show_help":     {"scenarios", "show", "--help"},
		"scenarios_validate_help": {"scenarios", "validate", "--help"},
		"report_help":             {"report", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runZchaosCLI(t, false, "", args...)
			require.Equal(t, exitPass, r.code, r.err)
			cliGolden(t).Assert(t, name, []byte(r.out))
		})
	}
}

func TestScenariosList(t *testing.T) {
	plain := runZchaosCLI(t, false, "", "scenarios", "list")
	require.Equal(t, exitPass, plain.code, plain.err)
	cliGolden(t).Assert(t, "scenarios_list_plain", []byte(plain.out))

	table := runZchaosCLI(t, true, "", "scenarios", "list", "--tag", "gate")
	require.Equal(t, exitPass, table.code, table.err)
	cliGolden(t).Assert(t, "scenarios_list_gate_tty", []byte(table.out))
	assert.NotContains(t, table.out, "restart-counter-reset", "the informational scenario is not tagged gate")

	js := runZchaosCLI(t, false, "", "scenarios", "list", "--tag", "info", "--json")
	require.Equal(t, exitPass, js.code, js.err)
	cliGolden(t).Assert(t, "scenarios_list_info_json", []byte(js.out))
	var got []scenarios.Scenario
	require.NoError(t, json.Unmarshal([]byte(js.out), &got))
	require.Len(t, got, 1)
	assert.Equal(t, "restart-counter-reset", got[0].Name)
	assert.True(t, got[0].Expect.Info)

	all := runZchaosCLI(t, false, "", "scenarios", "list", "--json")
	require.NoError(t, json.Unmarshal([]byte(all.out), &got))
	cat, err := scenarios.Catalogue()
	require.NoError(t, err)
	assert.Len(t, got, len(cat))

	none := runZchaosCLI(t, false, "", "scenarios", "list", "--tag", "no-such-tag")
	assert.Equal(t, exitUsage, none.code)
	assert.Equal(t, "zchaos: no scenario has tag \"no-such-tag\"\n", none.err)

	extra := runZchaosCLI(t, false, "", "scenarios", "list", "surprise")
	assert.Equal(t, exitUsage, extra.code)

	sub := runZchaosCLI(t, false, "", "scenarios", "bogus")
	assert.Equal(t, exitUsage, sub.code)
	assert.Contains(t, sub.err, `unknown command "bogus"`)
}

func TestScenariosShow(t *testing.T) {
	r := runZchaosCLI(t, false, "", "scenarios", "show", "crash-restart")
	require.Equal(t, exitPass, r.code, r.err)
	src, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "catalogue", "crash-restart.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(src), r.out, "show prints the YAML source as written")
	cliGolden(t).Assert(t, "scenarios_show_crash_restart", []byte(r.out))

	unknown := runZchaosCLI(t, false, "", "scenarios", "show", "nope")
	assert.Equal(t, exitUsage, unknown.code)
	assert.Equal(t, "zchaos: unknown scenario \"nope\" (see zchaos scenarios list)\n", unknown.err)

	missing := runZchaosCLI(t, false, "", "scenarios", "show")
	assert.Equal(t, exitUsage, missing.code)
}

func TestScenariosValidate(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	r := runZchaosCLI(t, false, "", "scenarios", "show", "hang-detected")
	require.NoError(t, os.WriteFile(good, []byte(r.out), 0o644))

	ok := runZchaosCLI(t, false, "", "scenarios", "validate", good)
	assert.Equal(t, cliRun{out: "ok " + good + "\n", code: exitPass}, ok)

	bad := runZchaosCLI(t, false, "", "scenarios", "validate",
		"testdata/scenarios_bad.yaml", "testdata/scenarios_unknown_field.yaml", good, "testdata/no-such-file.yaml")
	assert.Equal(t, exitUsage, bad.code)
	assert.Equal(t, "ok "+good+"\n", bad.out)
	cliGolden(t).Assert(t, "scenarios_validate_errors", []byte(bad.err))

	none := runZchaosCLI(t, false, "", "scenarios", "validate")
	assert.Equal(t, exitUsage, none.code)
}

// validate --json says the same as the text form, one entry per file.
func TestScenariosValidateJSON(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	r := runZchaosCLI(t, false, "", "scenarios", "show", "hang-detected")
	require.NoError(t, os.WriteFile(good, []byte(r.out), 0o644))
	files := []string{"testdata/scenarios_bad.yaml", good, "testdata/no-such-file.yaml"}

	text := runZchaosCLI(t, false, "", append([]string{"scenarios", "validate"}, files...)...)
	js := runZchaosCLI(t, false, "", append([]string{"scenarios", "validate", "--json"}, files...)...)
	assert.Equal(t, exitUsage, js.code)
	assert.Equal(t, "zchaos: invalid scenario files: 2 of 3\n", js.err, "only the summary on stderr")
	var got []validation
	require.NoError(t, json.Unmarshal([]byte(js.out), &got))
	require.Len(t, got, 3)
	assert.Equal(t, validation{File: good, Valid: true, Errors: []validationError{}}, got[1])
	assert.Equal(t, validation{File: files[2], Errors: []validationError{{Message: "no such file or directory"}}}, got[2])
	assert.False(t, got[0].Valid)
	// Every line of the text form is one error of the JSON form.
	var lines []string
	for _, e := range got[0].Errors {
		require.Positive(t, e.Line, "%+v", e)
		lines = append(lines, fmt.Sprintf("%s:%d: %s: %s", files[0], e.Line, e.Path, e.Message))
	}
	for _, l := range lines {
		assert.Contains(t, text.err, l+"\n")
	}
	assert.Equal(t, len(lines)+2, strings.Count(text.err, "\n"), "no error only in the text form: %s", text.err)
}

// scenarios schema prints the schema the scenarios package generates.
func TestScenariosSchemaCommand(t *testing.T) {
	r := runZchaosCLI(t, false, "", "scenarios", "schema")
	require.Equal(t, exitPass, r.code, r.err)
	want, err := scenarios.SchemaJSON()
	require.NoError(t, err)
	assert.Equal(t, string(want)+"\n", r.out)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc))
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
}
