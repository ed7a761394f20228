package main

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the injected streams; TTY says whether Out is a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	TTY    bool
}

// daemonConfig is what `zinit init` hands the supervisor.
type daemonConfig struct {
	Socket, ConfigDir, StateDir string
	Log                         io.Writer
}

// Factory carries what every command needs; tests build their own.
type Factory struct {
	IO IOStreams
	// Getenv reads the environment (ZINIT_SOCKET, ZINIT_CONFIG_DIR,
	// ZINIT_STATE_DIR).
	Getenv func(string) string
	// RunDaemon runs the supervisor until ctx ends or it is shut down.
	RunDaemon func(ctx context.Context, cfg daemonConfig) error
}

func newFactory() *Factory {
	return &Factory{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			TTY: term.IsTerminal(int(os.Stdout.Fd())),
		},
		Getenv:    os.Getenv,
		RunDaemon: runSupervisor,
	}
}
