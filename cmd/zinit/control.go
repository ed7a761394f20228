package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

// controlOptions serve start, stop, restart and kill.
type controlOptions struct {
	client clientOptions
	name   string
	signal string // kill only
}

func newStartCmd(f *Factory) *cobra.Command {
	return newControlCmd("start", "Start a service (also clears a failed state)",
		func(ctx context.Context, c *zinit.Client, o *controlOptions) error { return c.Start(ctx, o.name) })
}

func newStopCmd(f *Factory) *cobra.Command {
	return newControlCmd("stop", "Stop a service: stop jobs, SIGTERM, then SIGKILL after 10s; returns once stopped",
		func(ctx context.Context, c *zinit.Client, o *controlOptions) error { return c.Stop(ctx, o.name) })
}

func newRestartCmd(f *Factory) *cobra.Command {
	return newControlCmd("restart", "Stop then start a service (resets its restart count)",
		func(ctx context.Context, c *zinit.Client, o *controlOptions) error { return c.Restart(ctx, o.name) })
}

func newControlCmd(verb, short string, call func(context.Context, *zinit.Client, *controlOptions) error) *cobra.Command {
	opts := &controlOptions{}
	return &cobra.Command{
		Use:   verb + " <service>",
		Short: short,
		Args:  argsNamed("service"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.name = clientFlags(cmd), args[0]
			return runControl(cmd.Context(), opts, call)
		},
	}
}

func newKillCmd(f *Factory) *cobra.Command {
	opts := &controlOptions{}
	return &cobra.Command{
		Use:   "kill <service> <SIGNAL>",
		Short: "Send a signal to a service's main process group",
		Long: `Send a signal (a name such as SIGKILL or KILL, or a number) to the process
group of the service's start job. The restart policy then applies as for
any exit.`,
		Args: argsNamed("service", "SIGNAL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.name, opts.signal = clientFlags(cmd), args[0], strings.ToUpper(args[1])
			return runControl(cmd.Context(), opts, func(ctx context.Context, c *zinit.Client, o *controlOptions) error {
				return c.Kill(ctx, o.name, o.signal)
			})
		},
	}
}

func runControl(ctx context.Context, opts *controlOptions, call func(context.Context, *zinit.Client, *controlOptions) error) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		return call(ctx, c, opts)
	})
}
