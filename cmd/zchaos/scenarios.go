package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/scenarios"
)

func newScenariosCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List, show and validate chaos scenarios",
		Long: `Scenarios are YAML experiments: which services run (the hero fleet or jobs
declared in the file), the steady state to reach, the faults to inject, and
what each config (migrated, legacy) must show. A catalogue is built in;
scenarios tagged "gate" make up the promotion gate.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newScenariosListCmd(f), newScenariosShowCmd(f), newScenariosValidateCmd(f), newScenariosSchemaCmd(f))
	return cmd
}

type scenariosListOptions struct {
	Tag    string
	Format string // table, wide or json
}

func newScenariosListCmd(f *Factory) *cobra.Command {
	var opts scenariosListOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios",
		Long: `List the built-in scenarios: a table fitted to the terminal's width, one
tab-separated line per scenario (name, tags, configs, target, description)
when the output is not a terminal, or every scenario in full with -o json.
-o wide is the table (it always shows every column).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			var err error
			if opts.Format, err = out.value(); err != nil {
				return err
			}
			return runScenariosList(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tag, "tag", "", "only scenarios with this tag (e.g. gate)")
	out = addOutputFlag(cmd, true, "table", tableFormats...)
	return cmd
}

func runScenariosList(f *Factory, opts scenariosListOptions) error {
	all, err := scenarios.Catalogue()
	if err != nil {
		return err
	}
	list := scenarios.WithTag(all, opts.Tag)
	switch {
	case opts.Format == "json":
		if list == nil {
			list = []scenarios.Scenario{}
		}
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(list)
	case len(list) == 0:
		return usageErrorf("no scenario has tag %q", opts.Tag)
	case f.IO.TTY:
		return f.IO.Layout().Catalogue(f.IO.Out, list)
	}
	for _, s := range list {
		if _, err := fmt.Fprintf(f.IO.Out, "%s\t%s\t%s\t%s\t%s\n", s.Name, strings.Join(s.Tags, ","),
			strings.Join(s.RunConfigs(), ","), s.TargetLabel(), s.Description); err != nil {
			return err
		}
	}
	return nil
}

func newScenariosShowCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in scenario's YAML",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := scenarios.Lookup(args[0])
			if errors.Is(err, scenarios.ErrUnknownScenario) {
				return &usageError{err: err}
			}
			if err != nil {
				return err
			}
			_, err = io.WriteString(f.IO.Out, s.Source)
			return err
		},
	}
}

func newScenariosValidateCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files against the schema",
		Long: `Decode each file strictly (unknown fields are errors) and validate it. Every
problem is printed as FILE:LINE: PATH: MESSAGE on stderr; valid files are
listed as "ok FILE" on stdout. With --json, one JSON array on stdout instead:
{file, valid, errors: [{line, path, message}]} per file. Exit code 3 when any
file is invalid.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error { return runScenariosValidate(f, args, asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome of every file as a JSON array")
	return cmd
}

// validation is one file's outcome in scenarios validate --json.
type validation struct {
	File   string            `json:"file"`
	Valid  bool              `json:"valid"`
	Errors []validationError `json:"errors"`
}

type validationError struct {
	Line    int    `json:"line,omitempty"` // 0: no line known
	Path    string `json:"path,omitempty"` // the field, e.g. faults[0].when
	Message string `json:"message"`
}

func runScenariosValidate(f *Factory, files []string, asJSON bool) error {
	bad := 0
	all := []validation{}
	for _, file := range files {
		v := validation{File: file, Valid: true, Errors: []validationError{}}
		data, err := os.ReadFile(file)
		if err != nil {
			msg := err.Error()
			var pe *fs.PathError
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			v.Valid, v.Errors = false, append(v.Errors, validationError{Message: msg})
			if !asJSON {
				fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", file, msg)
			}
		} else if _, err := scenarios.Parse(file, data); err != nil {
			v.Valid = false
			for _, ve := range scenarios.ValidationErrors(err) {
				v.Errors = append(v.Errors, validationError{Line: ve.Line, Path: ve.Path, Message: ve.Msg})
				if !asJSON {
					fmt.Fprintln(f.IO.ErrOut, ve)
				}
			}
		} else if !asJSON {
			fmt.Fprintf(f.IO.Out, "ok %s\n", file)
		}
		if !v.Valid {
			bad++
		}
		all = append(all, v)
	}
	if asJSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(all); err != nil {
			return err
		}
	}
	if bad > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("invalid scenario files: %d of %d", bad, len(files))}
	}
	return nil
}

func newScenariosSchemaCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files (for editors)",
		Long: `Print the JSON Schema (draft 2020-12) of a scenario file, generated from the
Go types the decoder reads: field names, types, the closed vocabularies (fault
kinds, conditions, configs, invariant ids, ...) and no unknown fields. Point an
editor's YAML support at it, e.g. with yaml-language-server:

  zchaos scenarios schema > scenario.schema.json
  # yaml-language-server: $schema=./scenario.schema.json     (first line of a scenario)

Rules across fields (a target must be a declared service, ...) are checked by
zchaos scenarios validate, the authority.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			b, err := scenarios.SchemaJSON()
			if err != nil {
				return err
			}
			_, err = f.IO.Out.Write(append(b, '\n'))
			return err
		},
	}
}
