package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

type reportOptions struct {
	Input  string
	Format string // -o/--output
	Out    string // --out: a file instead of stdout; with --merge, the directory of the merged result
	Merge  bool   // --merge: the arguments are shard results to join
}

func newReportCmd(f *Factory) *cobra.Command {
	var opts reportOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a result as a table, Markdown, JUnit XML, HTML or JSON",
		Long: `Render the result JSON written by zchaos run or zchaos gate ("-" reads stdin)
in the format -o names:
  table     one row per scenario × service × config with its restart and
            healthy times, fitted to the terminal, the reasons of what did
            not pass numbered below (plain tab-separated lines, the reason
            last, when the output is not a terminal)
  wide      the table with every column: machine lateness, time to detect,
            the reason inline
  md        the rollout note in Markdown: the decision, the baseline,
            expected behaviour at production timings, what changes for
            operators, the rollback command (also: markdown)
  md-details  the full ledger and every check's details in Markdown
            (also: markdown-details, details)
  junit     JUnit XML for CI (fail → failure, inconclusive → skipped, error → error)
  html      one self-contained page with a timeline per scenario
  json      the result again, indented (schema: reports/SCHEMA.md)

--out FILE writes it to FILE (atomically) instead of stdout. An unknown
format, or a result with an unknown schema_version, is refused (exit code
3). The exit code does not depend on the verdicts inside the result.`,
		Example: `  zchaos report zchaos-out/result.json
  zchaos report zchaos-out/result.json -o json
  zchaos report zchaos-out/result.json -o md --out report.md`,
		Args: usageArgs(reportArgs(&opts)),
		RunE: func(_ *cobra.Command, args []string) error {
			var err error
			if opts.Format, err = out.value(); err != nil {
				return err
			}
			if opts.Merge {
				dir := opts.Out
				if dir == "" {
					dir = "zchaos-out"
				}
				return runReportMerge(f, args, dir, opts.Format)
			}
			opts.Input = args[0]
			return runReport(f, opts)
		},
	}
	out = addOutputFlag(cmd, false, "table", resultFormats...)
	addFormatAlias(cmd, out)
	cmd.Flags().StringVar(&opts.Out, "out", "", "write to this file instead of stdout (with --merge: the directory of the merged result and its reports, default zchaos-out)")
	addMergeFlags(cmd, &opts)
	return cmd
}

func runReport(f *Factory, opts reportOptions) error {
	var in io.Reader = f.IO.In
	if opts.Input != "-" {
		file, err := os.Open(opts.Input)
		if err != nil {
			return &usageError{err: err}
		}
		defer file.Close()
		in = file
	}
	res, err := scenarios.DecodeResult(in)
	if err != nil {
		// A wrong schema_version (*scenarios.SchemaVersionError) or a file that
		// is not a result is the user's input: exit 3.
		return usageErrorf("%s: %w", opts.Input, err)
	}
	if err := checkDecision(res); err != nil {
		return usageErrorf("%s: %w", opts.Input, err)
	}
	var buf bytes.Buffer
	layout := f.IO.Layout()
	if opts.Out != "" {
		layout = reports.Layout{Plain: true} // a file is not a terminal
	}
	if err := writeResultFormat(&buf, layout, res, opts.Format); err != nil {
		return err
	}
	if opts.Out == "" {
		_, err := f.IO.Out.Write(buf.Bytes())
		return err
	}
	return writeReportFile(opts.Out, buf.Bytes())
}

// checkDecision recomputes the result's decision from its scenarios and
// refuses a result whose stored summary disagrees: a report must never
// state a decision its own scenarios do not support.
func checkDecision(res scenarios.Result) error {
	if len(res.Scenarios) == 0 {
		return errors.New("the result holds no scenario: nothing to report")
	}
	again := res
	again.Scenarios = slices.Clone(res.Scenarios)
	again.Decide(res.Require)
	if again.Decision != res.Decision || again.Verdict != res.Verdict {
		return fmt.Errorf("stored decision %q (verdict %s) disagrees with its scenarios, which give %q (verdict %s): the file was edited or is damaged",
			res.Decision, res.Verdict, again.Decision, again.Verdict)
	}
	return nil
}

// writeReportFile writes data to a temporary file next to path and renames
// it into place, so a reader never sees half a report.
func writeReportFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
