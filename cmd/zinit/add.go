package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

func newAddCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Create a service or a job",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newAddServiceCmd(f), newAddJobCmd(f))
	return cmd
}

type addServiceOptions struct {
	client  clientOptions
	name    string
	persist bool
	after   []string
}

func newAddServiceCmd(f *Factory) *cobra.Command {
	opts := &addServiceOptions{}
	cmd := &cobra.Command{
		Use:   "service <name> [--persist] [--after <svc>]...",
		Short: "Create a service (inactive until started)",
		Long: `Create a service. A new service is inactive: adding it or its jobs never
starts it; "zinit start <name>" does.`,
		Args: argsNamed("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.name = clientFlags(cmd), args[0]
			return runAddService(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.persist, "persist", false, "keep the service across daemon restarts")
	cmd.Flags().StringArrayVar(&opts.after, "after", nil, "start only once this service is running (repeatable)")
	return cmd
}

func runAddService(ctx context.Context, opts *addServiceOptions) error {
	b := zinit.NewService(opts.name).After(opts.after...)
	if opts.persist {
		b.Persist()
	}
	s, err := b.Build()
	if err != nil {
		return err
	}
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		return c.AddService(ctx, s)
	})
}

// addJobOptions hold the flags as typed: numbers are parsed (and checked)
// by parseJob so that each bad value gets its own clear message.
type addJobOptions struct {
	client                    clientOptions
	service, name             string
	exec, trigger, restart    string
	restartDelay, maxRestarts string
	interval, timeout         string
	env                       []string
	persist                   bool
	changed                   func(flag string) bool
}

func newAddJobCmd(f *Factory) *cobra.Command {
	opts := &addJobOptions{}
	cmd := &cobra.Command{
		Use:   "job <service> <job_name> --exec <cmd> --trigger start|stop|check [flags]",
		Short: "Add a job to a service",
		Long: `Add a job to a service. Flags and the two positionals may come in any order.

  --trigger start   the service's main process; --restart, --restart-delay and
                    --max-restarts apply (defaults: never, 1000 ms, 0 = unlimited)
  --trigger check   a health probe run every --interval-ms (required), killed and
                    counted as failed after --timeout-ms (default: the interval);
                    a failed run kills the main process
  --trigger stop    runs on "zinit stop" before SIGTERM, bounded by --timeout-ms

The exec runs as "sh -c <cmd>" in its own process group.`,
		Example: `  zinit add job --exec "/root/hero/bin/hero_embedder_server serve" \
    --trigger start --restart on-failure --restart-delay 5000 --max-restarts 20 \
    user.hero_embedder_server main`,
		Args: argsNamed("service", "job_name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.service, opts.name = clientFlags(cmd), args[0], args[1]
			opts.changed = cmd.Flags().Changed
			return runAddJob(cmd.Context(), cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.exec, "exec", "", "command line, run as sh -c (required)")
	fl.StringVar(&opts.trigger, "trigger", "", "start, stop or check (required)")
	fl.StringVar(&opts.restart, "restart", "", "always, on-failure or never (start jobs; default never)")
	fl.StringVar(&opts.restartDelay, "restart-delay", "", "ms between an exit and the restart (start jobs; default 1000)")
	fl.StringVar(&opts.maxRestarts, "max-restarts", "", "automatic restarts before failed (start jobs; default 0 = unlimited)")
	fl.StringVar(&opts.interval, "interval-ms", "", "ms between check runs, and grace after each start (check jobs; required)")
	fl.StringVar(&opts.timeout, "timeout-ms", "", "ms a check or stop run may take (default: the interval; 10000 for stop)")
	fl.StringArrayVarP(&opts.env, "env", "e", nil, "KEY=VALUE added to the job's environment (repeatable)")
	fl.BoolVar(&opts.persist, "persist", false, "keep the job across daemon restarts")
	fl.SortFlags = false
	return cmd
}

func runAddJob(ctx context.Context, cmd *cobra.Command, opts *addJobOptions) error {
	j, err := parseJob(opts)
	if err != nil {
		return err
	}
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		res, err := c.AddJob(ctx, j)
		if err != nil {
			return err
		}
		if res.Warning != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), oneLine("zinit: warning: "+res.Warning))
		}
		return nil
	})
}

// parseJob turns the flags into a Job through the SDK's builder, which
// validates it (names, flags that fit the trigger, positive numbers).
func parseJob(opts *addJobOptions) (zinit.Job, error) {
	changed := opts.changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	b := zinit.NewJob(opts.service, opts.name).Exec(opts.exec)
	if changed("trigger") {
		t, err := zinit.ParseTrigger(opts.trigger)
		if err != nil {
			return zinit.Job{}, fmt.Errorf("--trigger: %w", err)
		}
		b.Trigger(t)
	}
	if changed("restart") {
		p, err := zinit.ParseRestartPolicy(opts.restart)
		if err != nil {
			return zinit.Job{}, fmt.Errorf("--restart: %w", err)
		}
		b.Restart(p)
	}
	durations := []struct {
		flag string
		val  string
		set  func(time.Duration) *zinit.JobBuilder
	}{
		{"restart-delay", opts.restartDelay, b.RestartDelay},
		{"interval-ms", opts.interval, b.Interval},
		{"timeout-ms", opts.timeout, b.Timeout},
	}
	for _, d := range durations {
		if !changed(d.flag) {
			continue
		}
		ms, err := parseCount("--"+d.flag, d.val, 1, math.MaxInt64/int64(time.Millisecond))
		if err != nil {
			return zinit.Job{}, err
		}
		d.set(time.Duration(ms) * time.Millisecond)
	}
	if changed("max-restarts") {
		n, err := parseCount("--max-restarts", opts.maxRestarts, 0, math.MaxInt32)
		if err != nil {
			return zinit.Job{}, err
		}
		b.MaxRestarts(int(n))
	}
	seen := map[string]bool{}
	for _, kv := range opts.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return zinit.Job{}, fmt.Errorf("-e %q: want KEY=VALUE", kv)
		}
		if seen[k] {
			return zinit.Job{}, fmt.Errorf("-e %s: given twice", k)
		}
		seen[k] = true
		b.Env(k, v)
	}
	if opts.persist {
		b.Persist()
	}
	return b.Build()
}

// parseCount reads a whole number in [lo, hi] given to flag.
func parseCount(flag, s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a whole number", flag, s)
	}
	if n < lo {
		if lo == 1 {
			return 0, fmt.Errorf("%s %d: must be > 0", flag, n)
		}
		return 0, fmt.Errorf("%s %d: must be >= %d", flag, n, lo)
	}
	if n > hi {
		return 0, fmt.Errorf("%s %d: must be <= %d", flag, n, hi)
	}
	return n, nil
}
