package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

func newRemoveCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Delete a service or a job",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newRemoveServiceCmd(f), newRemoveJobCmd(f))
	return cmd
}

type removeOptions struct {
	client        clientOptions
	service, name string // name is empty when removing a service
}

func newRemoveServiceCmd(f *Factory) *cobra.Command {
	opts := &removeOptions{}
	return &cobra.Command{
		Use:   "service <name>",
		Short: "Delete a service",
		Args:  argsNamed("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.service = clientFlags(cmd), args[0]
			return runRemove(cmd.Context(), opts)
		},
	}
}

func newRemoveJobCmd(f *Factory) *cobra.Command {
	opts := &removeOptions{}
	return &cobra.Command{
		Use:   "job <service> <job_name>",
		Short: "Delete a job of a service",
		Args:  argsNamed("service", "job_name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client, opts.service, opts.name = clientFlags(cmd), args[0], args[1]
			return runRemove(cmd.Context(), opts)
		},
	}
}

func runRemove(ctx context.Context, opts *removeOptions) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		if opts.name == "" {
			return c.RemoveService(ctx, opts.service)
		}
		return c.RemoveJob(ctx, opts.service, opts.name)
	})
}
