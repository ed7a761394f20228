package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
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

// newAgentReapCmd is a run's host-side reaper (see runtime.Reaper): the
// Docker harness starts it detached, its stdin held by the harness; when
// the harness dies it removes the run's containers, but the kept ones.
func newAgentReapCmd(f *Factory) *cobra.Command {
	var run string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:    "reap --run ID",
		Short:  "Hold the harness's stream on stdin; when it ends, remove the run's containers (a host-side backstop)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run == "" || grace <= 0 {
				return usageErrorf("--run is required, --grace must be > 0")
			}
			ctx, stop := agentContext(cmd.Context(), nil, false)
			defer stop()
			return runtime.RunReaper(ctx, f.IO.In, f.IO.Out, grace, func(ctx context.Context, keep map[string]bool) error {
				rt, err := runtime.NewDockerRuntime(ctx)
				if err != nil {
					return err
				}
				_, err = rt.RemoveRun(ctx, run, keep)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "the run whose containers are removed")
	cmd.Flags().DurationVar(&grace, "grace", runtime.ReaperGrace, "how long after the stream ended they are removed")
	return cmd
}
