package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/reports"
)

type lintOptions struct {
	IO     IOStreams
	Dir    string
	Policy string
	JSON   bool
}

func newLintCmd(f *Factory) *cobra.Command {
	opts := lintOptions{IO: f.IO}
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "lint DIR",
		Short: "Audit a legacy zinit config directory",
		Long: `Audit a legacy zinit config directory as the installer writes it: one row per
service with its findings, each with a severity (error, warning, info), then a
summary line. Each file's dialect is detected and shown: toml-service,
toml-health (a oneshot probe whose after names the service it checks),
toml-0.3-lifecycle ([lifecycle]/[health]) or yaml (the older zinit format).

Findings: no restart on failure, a health check that always passes or ignores
the answer, a check that runs once, none at all, a check on a oneshot, a
dependency on an unknown service or on a oneshot, a cycle, a duplicate name,
a name zinit would reject, a socket path too long for the kernel, unknown
keys, values that need shell quoting, files that do not parse.

Exit codes: 0 no error finding, 1 at least one error finding, 3 bad usage or
an unreadable directory or policy.`,
		Example: `  zchaos lint /etc/zinit
  zchaos lint ./fleet --policy policy.yaml --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runLint(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Policy, "policy", "", "policy file (YAML or TOML): socket convention and overrides")
	out = addOutputFlag(cmd, true, "table", "table", "json")
	return cmd
}

func runLint(_ context.Context, opts lintOptions) error {
	inv, pol, err := loadInput(opts.Dir, opts.Policy)
	if err != nil {
		return err
	}
	if len(inv.Files) == 0 && len(inv.Errors) == 0 {
		return usageErrorf("%s: no service files (*.toml, *.yaml, *.yml) to lint", opts.Dir)
	}
	rep := migrator.Lint(inv, pol)
	if opts.JSON {
		if err := writeIndentedJSON(opts.IO.Out, rep); err != nil {
			return err
		}
	} else if err := printLint(opts.IO.Out, opts.IO.Layout(), rep); err != nil {
		return err
	}
	if rep.Summary.Errors > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

// printLint writes one row per service: on a terminal a table (fitted to
// its width) whose last cell lists the findings one per line; otherwise the service line followed
// by one indented line per finding. Then the summary line.
func printLint(w io.Writer, l reports.Layout, rep migrator.LintReport) error {
	if !l.Plain {
		rows := make([][]string, 0, len(rep.Rows))
		for _, r := range rep.Rows {
			var fs []string
			for _, f := range r.Findings {
				fs = append(fs, fmt.Sprintf("%s %s (%s): %s", f.Severity, f.Code, f.Location(), f.Message))
			}
			rows = append(rows, []string{r.Service, dashIfEmpty(string(r.Dialect)), worst(r), strings.Join(fs, "\n")})
		}
		if err := printTable(w, l, []string{"Service", "Dialect", "Worst", "Findings"}, rows); err != nil {
			return err
		}
	} else {
		for _, r := range rep.Rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Service, dashIfEmpty(string(r.Dialect)), worst(r), pluralCount(len(r.Findings), "finding"))
			for _, f := range r.Findings {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", f.Severity, f.Code, f.Location(), f.Message)
			}
		}
	}
	_, err := fmt.Fprintln(w, rep.Summary.String())
	return err
}

func worst(r migrator.LintRow) string {
	if w := r.Worst(); w != 0 {
		return w.String()
	}
	return "ok"
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pluralCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// loadInput reads the legacy dir and the policy (the seed defaults when
// path is empty). Bad input is a usage error (exit 3).
func loadInput(dir, policyPath string) (*migrator.Inventory, migrator.Policy, error) {
	pol := migrator.DefaultPolicy()
	if policyPath != "" {
		p, err := migrator.LoadPolicy(policyPath)
		if err != nil {
			return nil, pol, &usageError{err: err}
		}
		pol = p
	}
	inv, err := migrator.LoadDir(dir)
	if err != nil {
		return nil, pol, &usageError{err: err}
	}
	return inv, pol, nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// configErrors prints each problem of a joined error on its own line and
// returns the usage error that exits 3.
func configErrors(w io.Writer, what string, err error) error {
	var lines []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			lines = append(lines, e.Error())
		}
	} else {
		lines = []string{err.Error()}
	}
	if len(lines) == 1 {
		return &usageError{err: err}
	}
	for _, l := range lines {
		fmt.Fprintln(w, "zchaos:", l)
	}
	return &usageError{err: fmt.Errorf("%s: %d problems, nothing done", what, len(lines))}
}
