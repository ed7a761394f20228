package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// Every command that prints in more than one format takes -o/--output
// FORMAT (as kubectl and gh do); a file or directory to write is always
// --out. --json, where a command has it, is short for -o json.

// outputFlag is the value of -o/--output.
type outputFlag struct {
	format  string   // canonical
	given   string   // what -o said ("" when not given)
	json    bool     // --json was given
	formats []string // the valid formats, in the order errors list them
}

// outputAliases are other spellings of a format.
var outputAliases = map[string]string{"markdown": "md", "xml": "junit", "markdown-details": "md-details", "details": "md-details"}

func (o *outputFlag) String() string { return o.format }
func (o *outputFlag) Type() string   { return "format" }

func (o *outputFlag) Set(v string) error {
	canon := v
	if a, ok := outputAliases[v]; ok {
		canon = a
	}
	if !slices.Contains(o.formats, canon) {
		hint := ""
		if strings.ContainsAny(v, "./") {
			hint = fmt.Sprintf(" (-o is the format; to write a file use --out %s)", v)
		}
		return fmt.Errorf("unknown format %q: want %s%s", v, strings.Join(o.formats, ", "), hint)
	}
	o.format, o.given = canon, canon
	return nil
}

// value is the format asked for; --json with another -o is a usage error.
func (o *outputFlag) value() (string, error) {
	if o.json {
		if o.given != "" && o.given != "json" {
			return "", usageErrorf("--json and -o %s: pick one", o.given)
		}
		return "json", nil
	}
	return o.format, nil
}

// addOutputFlag registers -o/--output on cmd with the default def, the
// valid formats (shell completion offers them) and, with json, --json.
func addOutputFlag(cmd *cobra.Command, json bool, def string, formats ...string) *outputFlag {
	o := &outputFlag{format: def, formats: formats}
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
	if json {
		cmd.Flags().BoolVar(&o.json, "json", false, "short for -o json")
	}
	return o
}

// addFormatAlias keeps an older --format flag working as a hidden,
// deprecated spelling of -o/--output; using it says so on the error
// stream (never on stdout, which may be JSON).
func addFormatAlias(cmd *cobra.Command, o *outputFlag) {
	cmd.Flags().Var(o, "format", "deprecated: use -o/--output")
	_ = cmd.Flags().MarkHidden("format")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("format") {
			fmt.Fprintln(c.ErrOrStderr(), "zchaos: --format is deprecated: use -o/--output")
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// Format sets for the commands.
var (
	resultFormats = []string{"table", "wide", "json", "md", "md-details", "junit", "html"}
	tableFormats  = []string{"table", "wide", "json"}
)

func isTableFormat(format string) bool { return format == "table" || format == "wide" }

// writeResultFormat writes res in one of resultFormats: the verdict table
// (narrow, or every column with wide) and an image's tables in the layout
// l, or a rendering of the result.
func writeResultFormat(w io.Writer, l reports.Layout, res scenarios.Result, format string) error {
	switch format {
	case "table", "wide":
		if err := reports.Table(w, res, reports.TableOptions{Layout: l, Wide: format == "wide"}); err != nil {
			return err
		}
		return l.ImageTables(w, res)
	case "json":
		return reports.JSON(w, res)
	}
	return reports.Render(w, res, format)
}
