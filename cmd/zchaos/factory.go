package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the injected output streams; TTY says whether Out is a
// terminal (tables and live progress) or not (plain lines).
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	TTY    bool
}

// Factory carries what every command needs; tests build their own.
type Factory struct {
	IO IOStreams
	// Executable is the path of the running zchaos binary (copied into
	// containers as the agent).
	Executable func() (string, error)
	// Reaper is the command of a run's host-side reaper (runtime.Reaper),
	// started detached by the Docker harness; nil: none (tests).
	Reaper func(runID string) []string
}

func newFactory() *Factory {
	return &Factory{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			TTY: term.IsTerminal(int(os.Stdout.Fd())),
		},
		Executable: os.Executable,
		Reaper: func(runID string) []string {
			self, err := os.Executable()
			if err != nil {
				return nil
			}
			return []string{self, "agent", "reap", "--run", runID}
		},
	}
}
