// Command zchaos audits legacy zinit configs, migrates them to the zinit
// 0.4.0 job model, and proves the result under faults.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"
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

// interruptGrace is how long a command may take to unwind after the first
// SIGINT or SIGTERM (its ctx is cancelled at once: waits end, runs remove
// their containers) before zchaos exits anyway: a command stuck where no
// ctx reaches (a read of a stdin that never ends) still exits. It leaves a
// fifth of the promised second for the process to end.
const interruptGrace = 800 * time.Millisecond

func run() int {
	f := newFactory()
	args := os.Args[1:]
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grace := interruptGrace
	if ownsShutdown(newRootCmd(f), args) {
		grace = 0
	}
	done := make(chan struct{})
	defer close(done)
	go watchInterrupts(sigs, done, cancel, f.IO.ErrOut, clock.RealClock{}, grace, os.Exit)
	return execute(ctx, f, args)
}

// watchInterrupts turns signals into ctx cancellation and a bounded exit:
// the first signal cancels the command's ctx; a second one, or the
// command still running grace after the first, prints one line and calls
// exit(exitInfra) (an interrupted run is safe to retry; the containers of
// a run remove themselves when their harness is gone, and `zchaos cleanup`
// sweeps any left). grace 0 only cancels, on every signal. It returns when
// done closes (the command returned) or after calling exit.
func watchInterrupts(sigs <-chan os.Signal, done <-chan struct{}, cancel context.CancelFunc, errOut io.Writer, clk clock.Clock, grace time.Duration, exit func(int)) {
	var deadline <-chan time.Time
	var first os.Signal
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			cancel()
			if grace == 0 {
				continue
			}
			if first == nil {
				first = sig
				t := clk.NewTimer(grace)
				defer t.Stop()
				deadline = t.C()
				continue
			}
			fmt.Fprintf(errOut, "zchaos: %s after %s: exiting now\n", signalName(sig), signalName(first))
			exit(exitInfra)
			return
		case <-deadline:
			fmt.Fprintf(errOut, "zchaos: interrupted (%s) and still busy %v later: exiting now\n", signalName(first), grace)
			exit(exitInfra)
			return
		}
	}
}

// signalName is SIGINT or SIGTERM.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok && s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// ownsShutdown says whether args run a command that ends on its own terms
// after a signal: the in-container agent (`zchaos agent ...`), whose
// reverts of faults (a SIGSTOPped service continued, a socket given back)
// must finish. Every other command exits within interruptGrace.
func ownsShutdown(root *cobra.Command, args []string) bool {
	c, _, err := root.Find(args)
	if err != nil {
		return false
	}
	for ; c != nil; c = c.Parent() {
		if c.Name() == "agent" && c.Parent() == root {
			return true
		}
	}
	return false
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
