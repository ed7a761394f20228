package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// Config is what the daemon (`zinit init`) needs. Socket is required; an
// empty ConfigDir disables legacy TOML services and an empty StateDir
// disables persistence (the CLI fills in the defaults). Log receives the
// daemon's own log (nil discards it).
type Config struct {
	Socket    string
	ConfigDir string
	StateDir  string
	Log       io.Writer

	observe        func(Event)   // tests and benchmarks of this package
	requestTimeout time.Duration // tests: RequestTimeout when 0
	maxConns       int           // tests: MaxConns when 0
}

// Run runs the daemon until ctx is cancelled or a system.shutdown RPC; it
// returns after an orderly shutdown (every service stopped in reverse
// --after order within zinit.ShutdownTimeout) with its goroutines ended.
//
// It makes the process a child subreaper (PR_SET_CHILD_SUBREAPER); when
// that works, or the process is PID 1, it reaps every child, so orphans
// re-parented to it never stay zombies. Signals (SIGTERM, SIGINT) are the
// caller's to map onto ctx.
func Run(ctx context.Context, cfg Config) error {
	w := cfg.Log
	if w == nil {
		w = io.Discard
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	clk := clock.RealClock{}

	if err := checkMutant(log); err != nil {
		return err
	}
	ln, err := listen(ctx, cfg.Socket)
	if err != nil {
		return err
	}
	reapAll := os.Getpid() == 1
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Warn("cannot become a child subreaper; orphans will not be reaped unless PID 1", "err", err)
	} else {
		reapAll = true
	}
	if mutant("orphans-not-reaped") {
		reapAll = false
	}
	sp, err := NewProcSpawner(clk, log, reapAll)
	if err != nil {
		ln.Close()
		return err
	}
	sp.Start()
	e := NewEngine(Options{
		Clock: clk, Spawner: sp, Log: log, ConfigDir: cfg.ConfigDir, StateDir: cfg.StateDir, Observe: cfg.observe,
	})
	log.Info("zinit daemon starting", "socket", cfg.Socket, "config_dir", cfg.ConfigDir, "state_dir", cfg.StateDir,
		"pid", os.Getpid(), "reap_all", reapAll)
	e.Boot()
	srv := newServer(e, ln, log, cfg.requestTimeout, cfg.maxConns)
	srv.start()

	loopErr := e.Loop(ctx)
	srv.close()
	spErr := sp.Close()
	if loopErr != nil {
		log.Error("shutdown", "err", loopErr)
	} else {
		log.Info("zinit daemon stopped")
	}
	if err := errors.Join(loopErr, spErr); err != nil {
		return fmt.Errorf("zinit daemon: %w", err)
	}
	return nil
}
