package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
)

// runSupervisor is the only place the CLI touches the supervisor engine.
// The daemon is I/O bound: unless GOMAXPROCS is set in the environment it
// runs on one P, which keeps an idle fleet's CPU cost down (measured by
// zinit/supervisor's BenchmarkIdle29Services) without changing its latencies.
func runSupervisor(ctx context.Context, cfg daemonConfig) error {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	return supervisor.Run(ctx, supervisor.Config{
		Socket: cfg.Socket, ConfigDir: cfg.ConfigDir, StateDir: cfg.StateDir, Log: cfg.Log,
	})
}

type initOptions struct {
	socket, configDir, stateDir string
}

func newInitCmd(f *Factory) *cobra.Command {
	opts := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Run the supervisor daemon (works as PID 1)",
		Long: `Run the supervisor daemon in the foreground until SIGTERM, SIGINT or a
shutdown request. It serves the JSON-RPC socket, starts the legacy TOML
services of the config dir and the persisted services of the state dir,
and, as PID 1, reaps every zombie.`,
		Args: argsNamed(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.socket = socketFlag(cmd)
			return runInit(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configDir, "config-dir", envOr(f, "ZINIT_CONFIG_DIR", zinit.DefaultConfigDir),
		"directory of legacy *.toml services (env ZINIT_CONFIG_DIR)")
	cmd.Flags().StringVar(&opts.stateDir, "state-dir", envOr(f, "ZINIT_STATE_DIR", zinit.DefaultStateDir),
		"directory of persisted services (env ZINIT_STATE_DIR)")
	return cmd
}

func runInit(ctx context.Context, f *Factory, opts *initOptions) error {
	if err := f.RunDaemon(ctx, daemonConfig{
		Socket: opts.socket, ConfigDir: opts.configDir, StateDir: opts.stateDir, Log: f.IO.ErrOut,
	}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}
