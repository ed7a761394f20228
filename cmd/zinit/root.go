package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

// defaultTimeout bounds one client command; it leaves room for a stop
// (stop jobs, then SIGTERM and StopTimeout) and for a shutdown.
const defaultTimeout = zinit.ShutdownTimeout + zinit.StopTimeout + zinit.StopJobTimeout

func newRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "zinit",
		Short: "Supervise services with the zinit 0.4.0 job model",
		Long: `zinit supervises services made of jobs: a start job (the main process, with a
restart policy), check jobs (periodic health probes that kill a hung
process) and stop jobs. "zinit init" runs the daemon; every other command
is a client of its JSON-RPC socket.

Exit codes: 0 success, 2 any error (one line on stderr).`,
		SilenceUsage:       true,
		SilenceErrors:      true,
		DisableSuggestions: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.PersistentFlags().String("socket", envOr(f, "ZINIT_SOCKET", zinit.DefaultSocket),
		"daemon socket path (env ZINIT_SOCKET)")
	root.PersistentFlags().Duration("timeout", defaultTimeout,
		"give up on the daemon after this long (0: no limit; client commands)")
	root.AddCommand(
		newInitCmd(f),
		newAddCmd(f),
		newRemoveCmd(f),
		newListCmd(f),
		newStatusCmd(f),
		newStartCmd(f),
		newStopCmd(f),
		newRestartCmd(f),
		newKillCmd(f),
		newLogsCmd(f),
		newReloadCmd(f),
		newPersistCmd(f),
		newShutdownCmd(f),
		newVersionCmd(f),
	)
	return root
}

func envOr(f *Factory, key, def string) string {
	if v := f.Getenv(key); v != "" {
		return v
	}
	return def
}

// socketFlag reads the inherited --socket flag.
func socketFlag(cmd *cobra.Command) string {
	s, _ := cmd.Flags().GetString("socket")
	return s
}

// clientOptions are the connection settings every client command shares.
type clientOptions struct {
	socket  string
	timeout time.Duration
}

func clientFlags(cmd *cobra.Command) clientOptions {
	t, _ := cmd.Flags().GetDuration("timeout")
	return clientOptions{socket: socketFlag(cmd), timeout: t}
}

// withClient dials the daemon, runs fn within the command's timeout, and
// closes the connection.
func withClient(ctx context.Context, o clientOptions, fn func(ctx context.Context, c *zinit.Client) error) error {
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %v: must be >= 0", o.timeout)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	c, err := zinit.Dial(ctx, o.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// argsNamed accepts exactly the named positionals, with a one-line error
// naming them.
func argsNamed(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		want := "no arguments"
		if len(names) > 0 {
			want = "<" + strings.Join(names, "> <") + ">"
		}
		return fmt.Errorf("%s takes %s, got %d argument(s)%s", cmd.CommandPath(), want, len(args), quoteArgs(args))
	}
}

// argsUpTo accepts the named positionals or fewer (each optional, in
// order), with a one-line error naming them.
func argsUpTo(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= len(names) {
			return nil
		}
		return fmt.Errorf("%s takes at most [<%s>], got %d argument(s)%s", cmd.CommandPath(),
			strings.Join(names, "> <"), len(args), quoteArgs(args))
	}
}

func quoteArgs(args []string) string {
	if len(args) == 0 {
		return ""
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return ": " + strings.Join(q, " ")
}

// groupRunE rejects a call of a command group without a known subcommand.
func groupRunE(cmd *cobra.Command, args []string) error {
	var subs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			subs = append(subs, c.Name())
		}
	}
	what := "no subcommand"
	if len(args) > 0 {
		what = fmt.Sprintf("unknown subcommand %q", args[0])
	}
	return fmt.Errorf("%s: %s, want one of: %s", cmd.CommandPath(), what, strings.Join(subs, ", "))
}
