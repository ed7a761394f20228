package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/agent"
)

// newAgentDeadmanCmd is the container's dead-man switch (see
// agent.RunDeadman): the runtime runs it in every container with its
// stdin held by the harness; when the harness dies, it stops the
// container.
func newAgentDeadmanCmd(f *Factory) *cobra.Command {
	var grace, stopTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "deadman",
		Short: "Hold the harness's stream on stdin; when it ends, stop the container's init (the dead-man switch)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace <= 0 || stopTimeout <= 0 {
				return usageErrorf("--grace %v, --stop-timeout %v: must be > 0", grace, stopTimeout)
			}
			st, err := agent.NewStopper()
			if err != nil {
				return err
			}
			ctx, stop := agentContext(cmd.Context(), nil, false)
			defer stop()
			_, err = agent.RunDeadman(ctx, f.IO.In, agent.DeadmanOptions{
				Grace: grace, StopTimeout: stopTimeout, Stopper: st, Log: f.IO.ErrOut, Armed: f.IO.Out,
			})
			return err
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", agent.DeadmanGrace, "how long after the stream ended the container is stopped")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", agent.DeadmanStopTimeout, "SIGTERM to SIGKILL")
	return cmd
}
