package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "zchaos",
		Short: "Prove a zinit-supervised fleet self-heals before its image is promoted",
		Long: `zchaos audits legacy zinit service configs, migrates them to the zinit 0.4.0
job model (restart policies, real health checks), and proves the result under
faults in containers: kills, hangs, broken health endpoints, crash loops and
supervisor restarts, judged against the declared policy.

Exit codes: 0 all pass, 1 a failure, 2 inconclusive, 3 usage or config error,
4 harness or infrastructure error.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	root.AddCommand(
		// commands: one constructor per command, newXCmd(f)
		newAgentCmd(f),
		newRunCmd(f),
		newGateCmd(f),
		newImageCmd(f),
		newCleanupCmd(f),
		newScenariosCmd(f),
		newReportCmd(f),
		newDiffCmd(f),
		newLintCmd(f),
		newMigrateCmd(f),
	)
	strictGroups(root)
	addCompletions(root)
	return root
}

// strictGroups makes every command that groups others (the root,
// migrate, scenarios, ...) answer an unknown subcommand with a usage error
// (exit 3, with cobra's suggestions) and print its help when called bare.
func strictGroups(c *cobra.Command) {
	if c.HasSubCommands() {
		c.SuggestionsMinimumDistance = 2
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return &usageError{err: errors.New(msg)}
		}
		if c.Run == nil && c.RunE == nil {
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
}

// usageArgs wraps a cobra positional-args validator so that a wrong
// argument count exits with the usage code.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err: err}
		}
		return nil
	}
}
