package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

type reportOptions struct {
	Input  string
	Format string
	Output string
}

func newReportCmd(f *Factory) *cobra.Command {
	var opts reportOptions
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a result as a table, Markdown, JUnit XML, HTML or JSON",
		Long: `Render the result JSON written by zchaos run or zchaos gate ("-" reads stdin):
  table     one row per scenario × service × config, with recovery times
  markdown  the rollout report (policies, verdicts, behaviour diff, fidelity ledger)
  junit     JUnit XML for CI (fail → failure, inconclusive → skipped, error → error)
  html      one self-contained page with a timeline per scenario
  json      the result again, indented (schema: reports/SCHEMA.md)

A result with an unknown schema_version is refused (exit code 3). The exit
code does not depend on the verdicts inside the result.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Input = args[0]
			return runReport(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "table", "table, markdown, junit, html or json")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// maxResultFileBytes bounds a result file `report` reads: far above any
// result zchaos writes, it only stops a device or a runaway file.
const maxResultFileBytes = 512 << 20

func runReport(f *Factory, opts reportOptions) error {
	if !validReportFormat(opts.Format) {
		return usageErrorf("unknown format %q: want %s", opts.Format, strings.Join(reports.Formats(), ", "))
	}
	var in io.Reader = f.IO.In
	if opts.Input != "-" {
		// A regular file only, read without blocking: a FIFO or a device
		// is refused at once.
		data, err := zinit.ReadRegularFile(opts.Input, maxResultFileBytes)
		if err != nil {
			return &usageError{err: err}
		}
		in = bytes.NewReader(data)
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
	if err := reports.Render(&buf, res, opts.Format); err != nil {
		return err
	}
	if opts.Output == "" {
		_, err := f.IO.Out.Write(buf.Bytes())
		return err
	}
	return writeReportFile(opts.Output, buf.Bytes())
}

// checkDecision recomputes the result's decision from its scenarios and
// refuses a result whose stored summary disagrees: a report must never
// state a decision its own scenarios do not support.
func checkDecision(res scenarios.Result) error {
	if len(res.Scenarios) == 0 {
		return errors.New("the result holds no scenario: nothing to report")
	}
	if res.Decision == "" {
		return errors.New("the result holds no decision (promote, block or inconclusive): it was not written by zchaos run or gate, or was cut")
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

func validReportFormat(format string) bool {
	for _, f := range reports.Formats() {
		if f == format {
			return true
		}
	}
	return false
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
