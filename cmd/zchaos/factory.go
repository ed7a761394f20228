package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/zchaos/zchaos/reports"
)

// IOStreams are the injected output streams. TTY says whether Out is a
// terminal (box tables fitted to Width) or not (plain tab-separated
// lines); ErrTTY whether ErrOut is one (a live progress line, at most
// ErrWidth wide), whatever Out is: `gate --json > r.json` keeps it.
type IOStreams struct {
	In       io.Reader
	Out      io.Writer
	ErrOut   io.Writer
	TTY      bool
	Width    int // Out's width in columns on a terminal (0: unbounded)
	ErrTTY   bool
	ErrWidth int // ErrOut's width in columns on a terminal (0: unbounded)
}

// Layout is how tables are drawn on Out.
func (s IOStreams) Layout() reports.Layout {
	return reports.Layout{Width: s.Width, Plain: !s.TTY}
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
	out, outWidth := terminal(os.Stdout)
	errTTY, errWidth := terminal(os.Stderr)
	return &Factory{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			TTY: out, Width: outWidth, ErrTTY: errTTY, ErrWidth: errWidth,
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

// terminal says whether f is a terminal, and its width (80 when the
// terminal does not say).
func terminal(f *os.File) (bool, int) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false, 0
	}
	if w, _, err := term.GetSize(fd); err == nil && w > 0 {
		return true, w
	}
	return true, 80
}
