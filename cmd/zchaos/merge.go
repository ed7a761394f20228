package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/scenarios"
)

// addMergeFlags adds report's --merge mode: the arguments become the
// result.json of every shard of one run (--shard i/n).
func addMergeFlags(cmd *cobra.Command, opts *reportOptions) {
	cmd.Use = "report RESULT.json | --merge SHARD.json..."
	cmd.Long += `

With --merge, the arguments are the result.json of every shard of one run
(zchaos gate --shard i/n, i = 1..n): they are joined into one result with one
decision, written with every report (result.json, report.md, junit.xml,
report.html) to --out, and the exit code is the gate's (0 promote, 1 block,
2 inconclusive, 4 a harness error inside a shard). Shards that disagree on
image, seed, time scale or catalogue, that overlap, or a set missing a shard
are refused (exit code 3).`
	cmd.Flags().BoolVar(&opts.Merge, "merge", false, "join the shard results given as arguments into one result and decide it")
}

// reportArgs is one result, or with --merge at least one shard result.
func reportArgs(opts *reportOptions) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if opts.Merge {
			return cobra.MinimumNArgs(1)(cmd, args)
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
}

// runReportMerge reads every shard result, merges them (scenarios.Merge)
// and writes the merged result and its reports into out, like gate.
func runReportMerge(f *Factory, files []string, out, format string) error {
	var in []scenarios.ShardInput
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			return &usageError{err: err}
		}
		res, err := scenarios.DecodeResult(fh)
		fh.Close()
		if err != nil {
			return usageErrorf("%s: %w", file, err)
		}
		if len(res.Scenarios) > 0 { // a shard may hold nothing
			if err := checkDecision(res); err != nil {
				return usageErrorf("%s: %w", file, err)
			}
		}
		in = append(in, scenarios.ShardInput{Name: file, Result: res})
	}
	res, err := scenarios.Merge(in)
	var me *scenarios.MergeError
	if errors.As(err, &me) {
		return usageErrorf("--merge: %w", err)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return usageErrorf("--out: %w", err)
	}
	if err := copyForensics(files, in, out); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if err := writeReports(out, res); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	fmt.Fprintf(f.IO.ErrOut, "zchaos report --merge: %d shards, %d attempts, wall time %.1f s from the first shard's start to the last one's end\n",
		len(in), len(res.Scenarios), float64(res.DurationMs)/1000)
	d := scenarios.Gate(res, res.Require)
	repeat := 1
	for _, s := range res.Scenarios {
		repeat = max(repeat, s.Attempt)
	}
	if err := printGate(f.IO.Out, f.IO.Layout(), res, d, gateOptions{harnessOptions: harnessOptions{Out: out, Repeat: repeat}, Require: res.Require, Format: format}); err != nil {
		return err
	}
	return verdictExit(d.Verdict)
}

// copyForensics copies the forensics bundles each shard wrote next to its
// result.json into out, so the merged result's bundle paths (relative to
// its out dir) lead to them. Bundles are named per scenario × config ×
// attempt, so shards never collide; one already in place is kept, and a
// shard whose bundles were not kept beside its result is skipped.
func copyForensics(files []string, in []scenarios.ShardInput, out string) error {
	for i, s := range in {
		dir := filepath.Dir(files[i])
		for _, sc := range s.Result.Scenarios {
			if sc.Forensics == "" || !filepath.IsLocal(sc.Forensics) {
				continue
			}
			src, dst := filepath.Join(dir, sc.Forensics), filepath.Join(out, sc.Forensics)
			if st, err := os.Stat(src); err != nil || !st.IsDir() {
				continue
			}
			if _, err := os.Stat(dst); err == nil {
				continue
			}
			if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
				return fmt.Errorf("forensics of %s: %w", sc.Key(), err)
			}
		}
	}
	return nil
}
