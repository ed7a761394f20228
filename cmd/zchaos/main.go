// Command zchaos audits legacy zinit configs, migrates them to the zinit
// 0.4.0 job model, and proves the result under faults.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run()) }

// Exit codes (README, "Exit codes").
const (
	exitPass         = 0
	exitFail         = 1
	exitInconclusive = 2
	exitUsage        = 3
	exitInfra        = 4
)

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, newFactory(), os.Args[1:])
}

// execute runs the root command with args and maps its error to an exit
// code, printing the error as one line on the error stream. Tests call it
// with injected streams.
func execute(ctx context.Context, f *Factory, args []string) int {
	root := newRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitPass
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.err != nil {
			fmt.Fprintln(f.IO.ErrOut, "zchaos:", ex.err)
		}
		return ex.code
	}
	fmt.Fprintln(f.IO.ErrOut, "zchaos:", err)
	return exitCodeFor(err)
}

// exitError carries an explicit exit code out of a command.
type exitError struct {
	code int
	err  error // printed when not nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags, arguments or config: exit 3.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// exitCodeFor maps an error to an exit code. Only cmd does this.
func exitCodeFor(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitInfra
}
