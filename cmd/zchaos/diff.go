package main

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
)

type diffOptions struct {
	Old, New string
	Format   string // table, wide or json
}

func newDiffCmd(f *Factory) *cobra.Command {
	var opts diffOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "Compare two results: what got worse since OLD",
		Long: `Compare two result files written by zchaos run or zchaos gate ("-" reads
one from stdin), typically the gate of the last promoted image (OLD) and
that of the candidate (NEW). A case is one scenario on one config and one
service, its attempts taken together as the gate takes them.

Regressions (exit code 1):
  - a judged case (not the legacy baseline, not informational) that did not
    fail in OLD fails in NEW;
  - a recovery time (detect, restart, healthy) of a judged case grew by more
    than the combined error bars: new - old > old error + new error + the
    NEW attempt's timer lateness (p99, which can only delay). The two
    intervals no longer overlap even when the machine's lateness is taken
    off. With repeats each side takes its median attempt; runs at different
    time scales are compared in production terms (each figure divided by
    its run's scale).

Also listed, never a regression: times that shrank beyond the same bars
(improvements), verdict flips to pass, inconclusive or error, flips of the
baseline, and scenarios, cases and services that only one run has.

Prints a table fitted to the terminal with the reasons numbered below (-o
wide: inline; plain tab-separated lines when stdout is not a terminal), or
the comparison as JSON (-o json, --json).

Exit codes: 0 no regression, 1 a regression, 3 an unreadable file, a file
that is not a result, or results of different schema versions.`,
		Example: `  zchaos diff promoted/result.json zchaos-out/result.json
  zchaos diff old.json new.json -o json`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Old, opts.New = args[0], args[1]
			var err error
			if opts.Format, err = out.value(); err != nil {
				return err
			}
			return runDiff(f, opts)
		},
	}
	out = addOutputFlag(cmd, true, "table", tableFormats...)
	return cmd
}

func runDiff(f *Factory, opts diffOptions) error {
	if opts.Old == "-" && opts.New == "-" {
		return usageErrorf("only one of OLD and NEW can be read from stdin")
	}
	var data [2][]byte
	var versions [2]int
	for i, p := range []string{opts.Old, opts.New} {
		var err error
		if data[i], err = readInput(f.IO.In, p); err != nil {
			return err
		}
		if versions[i], err = reports.SchemaVersion(data[i]); err != nil {
			return usageErrorf("%s: %w", p, err)
		}
	}
	if versions[0] != versions[1] {
		return usageErrorf("%s has result schema_version %d and %s has %d: results of different schema versions cannot be compared (re-render both with the same zchaos)",
			opts.Old, versions[0], opts.New, versions[1])
	}
	old, err := reports.DecodeComparable(data[0])
	if err != nil {
		return usageErrorf("%s: %w", opts.Old, err)
	}
	new, err := reports.DecodeComparable(data[1])
	if err != nil {
		return usageErrorf("%s: %w", opts.New, err)
	}
	c := reports.Compare(old, new)
	c.Old.File, c.New.File = opts.Old, opts.New
	if opts.Format == "json" {
		err = reports.ComparisonJSON(f.IO.Out, c)
	} else {
		err = reports.ComparisonTable(f.IO.Out, c, reports.TableOptions{Layout: f.IO.Layout(), Wide: opts.Format == "wide"})
	}
	if err != nil {
		return err
	}
	if c.Regressions > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

// readInput reads a file the user named ("-": in), naming it when it
// cannot: exit 3.
func readInput(in io.Reader, path string) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(in)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usageErrorf("cannot read %s: %w", path, err)
	}
	return data, nil
}
