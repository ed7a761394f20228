package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

type logsOptions struct {
	client clientOptions
	name   string
	lines  int
	mono   bool
}

func newLogsCmd(f *Factory) *cobra.Command {
	opts := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs <service> [-n N]",
		Short: "Print the captured output of a service",
		Args:  argsNamed("service"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.name = clientFlags(cmd), args[0]
			return runLogs(cmd.Context(), f.IO.Out, opts)
		},
	}
	cmd.Flags().IntVarP(&opts.lines, "lines", "n", 0, "print only the last N lines (0: every kept line)")
	cmd.Flags().BoolVar(&opts.mono, "mono", false, "prefix each line with its CLOCK_MONOTONIC capture time in seconds, as [1234.567890]")
	return cmd
}

func runLogs(ctx context.Context, out io.Writer, opts *logsOptions) error {
	if opts.lines < 0 {
		return fmt.Errorf("-n %d: must be >= 0", opts.lines)
	}
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		res, err := c.LogsTimed(ctx, opts.name, opts.lines)
		if err != nil {
			return err
		}
		for i, l := range res.Lines {
			if opts.mono && res.MonoNs != nil {
				ns := res.MonoNs[i]
				fmt.Fprintf(out, "[%d.%06d] %s\n", ns/1e9, ns%1e9/1e3, l)
				continue
			}
			fmt.Fprintln(out, l)
		}
		return nil
	})
}

type systemOptions struct{ client clientOptions }

func newReloadCmd(f *Factory) *cobra.Command {
	opts := &systemOptions{}
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the config dir: start new, stop removed, restart changed legacy services",
		Long: `Re-read the config dir: start the services of new *.toml files, stop those
whose file is gone, restart those whose file changed. Services created with
"zinit add service" are never touched. A file that cannot be used (it does
not parse, is not a regular file, or names a service created through the
API) is skipped, its service left as it was: each is printed as
"skipped: FILE:LINE: reason", and the exit code is then 2.`,
		Args: argsNamed(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.client = clientFlags(cmd)
			return runReload(cmd.Context(), f.IO.Out, opts)
		},
	}
}

func runReload(ctx context.Context, out io.Writer, opts *systemOptions) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		res, err := c.Reload(ctx)
		if err != nil {
			return err
		}
		writeReload(out, res)
		if n := len(res.Skipped); n > 0 {
			return fmt.Errorf("reload: %d config file(s) skipped, first %s", n, res.Skipped[0])
		}
		return nil
	})
}

// writeReload prints one line per kind of change, then one per skipped
// file, or "nothing changed" when there is neither.
func writeReload(out io.Writer, res zinit.ReloadResult) {
	for _, sk := range res.Skipped {
		fmt.Fprintf(out, "skipped: %s\n", printable(sk.String()))
	}
	changed := len(res.Skipped) > 0
	for _, k := range []struct {
		label string
		names []string
	}{{"started", res.Started}, {"stopped", res.Stopped}, {"restarted", res.Restarted}} {
		if len(k.names) > 0 {
			fmt.Fprintf(out, "%s: %s\n", k.label, strings.Join(k.names, " "))
			changed = true
		}
	}
	if !changed {
		fmt.Fprintln(out, "nothing changed")
	}
}

func newShutdownCmd(f *Factory) *cobra.Command {
	opts := &systemOptions{}
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop every service and the daemon",
		Args:  argsNamed(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.client = clientFlags(cmd)
			return withClient(cmd.Context(), opts.client, func(ctx context.Context, c *zinit.Client) error {
				return c.Shutdown(ctx)
			})
		},
	}
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this zinit",
		Args:  argsNamed(),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(f.IO.Out, "zinit %s (build %s)\n", zinit.Version, version)
			return err
		},
	}
}
