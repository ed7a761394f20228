package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

func newPersistCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "persist",
		Short: "Act on the daemon's persisted state",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newPersistResumeCmd(f))
	return cmd
}

func newPersistResumeCmd(f *Factory) *cobra.Command {
	opts := &systemOptions{}
	return &cobra.Command{
		Use:   "resume",
		Short: "Make persistence writable again after a state file the daemon could not restore",
		Long: `When the daemon cannot restore its state file in full at boot (unreadable,
undecodable, from a newer zinit), it moves the file aside, restores what it
can and refuses every change that must be persisted ("zinit status" says
what was not restored, and where the file went). Once you have dealt with
the moved-aside file, "zinit persist resume" writes the state file anew
from the services the daemon holds now. It refuses while a file is back at
the state file's path: restart the daemon to restore that one instead.`,
		Args: argsNamed(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.client = clientFlags(cmd)
			return runPersistResume(cmd.Context(), f.IO.Out, opts)
		},
	}
}

func runPersistResume(ctx context.Context, out io.Writer, opts *systemOptions) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		st, err := c.PersistResume(ctx)
		if err != nil {
			return err
		}
		return writeSystemStatus(out, st)
	})
}
