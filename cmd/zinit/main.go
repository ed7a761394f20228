// Command zinit is the reference supervisor of the zinit 0.4.0 job model
// (zinit init) and its command-line client (every other command), a client
// of the daemon's JSON-RPC socket through the zinit package.
//
// Exit codes: 0 success; 2 any error (bad input, an error answered by the
// daemon, the daemon not running), reported as one line on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/zchaos/zchaos/zinit"
)

func main() { os.Exit(run()) }

// Exit codes.
const (
	exitOK    = 0
	exitError = 2
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runArgs(ctx, newFactory(), os.Args[1:])
}

// runArgs runs the command line args (without the program name) and
// returns the exit code. Every error is printed as one line on f.IO.ErrOut.
func runArgs(ctx context.Context, f *Factory, args []string) int {
	root := newRootCmd(f)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		printError(f.IO.ErrOut, err)
		return exitError
	}
	return exitOK
}

// printError writes err as one line prefixed "zinit: " (a daemon's
// *RPCError already carries that prefix).
func printError(w io.Writer, err error) {
	msg := err.Error()
	var re *zinit.RPCError
	if !errors.As(err, &re) || !strings.HasPrefix(msg, "zinit: ") {
		msg = "zinit: " + msg
	}
	fmt.Fprintln(w, oneLine(msg))
}

// oneLine folds a multi-line message (errors.Join, a value holding
// newlines) into one line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "; ")
}
