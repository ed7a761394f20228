// Command herosim is a stand-in hero service for the chaos harness: it
// answers JSON-RPC 2.0 server.health and server.ping on a Unix socket (and
// optionally GET /health over HTTP), appends one line per start to a ledger,
// and carries fault knobs (slow start, crash after a delay, crash loop,
// health hang and health error toggled by signals or a control file).
//
//	herosim serve --name NAME --socket PATH [--http-port N] [--ledger FILE]
//	      [--slow-start DUR] [--exit-code N] [--crash-after DUR] [--crash-loop]
//	      [--control FILE] [--health-hang-signal USR1] [--health-error-signal USR2]
//	herosim oneshot --name NAME [--exit-code N] [--ledger FILE]
//	herosim version
//
// Multi-call: invoked under another name (a link such as
// /root/hero/bin/hero_embedder_server, as the hero installer's exec lines
// name them), herosim stands in for that service: `NAME serve [--port N]`
// serves as NAME on /root/hero/var/sockets/NAME.sock (and HTTP on port N);
// `NAME` alone is `NAME serve`; any other subcommand runs once and exits 0.
// The serve flags above are accepted too; other flags are ignored with a
// warning, since real hero binaries take flags herosim does not know.
//
// Environment: HEROSIM_FAULT=hang|error sets the initial health mode;
// HEROSIM_CONTROL_DIR, when --control is not given, makes the control file
// HEROSIM_CONTROL_DIR/<name>. The control file holds ok, hang or error (the
// health mode, read at each request) or "exit N" (exit with code N within
// 50 ms; the file is removed so the next start runs normally).
// SIGTERM and SIGINT end serve with exit code 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(commandLine(os.Args, os.Stderr), os.Stdout, os.Stderr)) }

// HeroSocketDir is where a hero service's socket lives by convention:
// HeroSocketDir/<binary name>.sock.
const HeroSocketDir = "/root/hero/var/sockets"

// commandLine returns herosim's own arguments for argv: argv[1:] when
// invoked as herosim, else the multi-call translation of argv (see the
// package doc).
func commandLine(argv []string, stderr io.Writer) []string {
	if len(argv) == 0 {
		return nil
	}
	name := filepath.Base(argv[0])
	if strings.HasPrefix(name, "herosim") { // herosim, or its test binary
		return argv[1:]
	}
	return asService(name, argv[1:], stderr)
}

// asService translates `NAME [serve] [flags]` into herosim serve flags,
// and any other subcommand into a oneshot of that name.
func asService(name string, args []string, stderr io.Writer) []string {
	if len(args) > 0 && args[0] == "version" {
		return args
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "serve" {
		return []string{"oneshot", "--name", name + " " + args[0]}
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	known := serveFlags(&Config{}, new(string), new(string))
	out := []string{"serve"}
	given := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		flagName, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			fmt.Fprintf(stderr, "herosim (as %s): ignoring argument %q\n", name, a)
			continue
		}
		if flagName == "port" {
			flagName = "http-port"
		}
		f := known.Lookup(flagName)
		if f == nil {
			fmt.Fprintf(stderr, "herosim (as %s): ignoring unknown flag %s\n", name, a)
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++ // its value
			}
			continue
		}
		given[flagName] = true
		if hasValue {
			out = append(out, "--"+flagName+"="+value)
			continue
		}
		out = append(out, "--"+flagName)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !(ok && bf.IsBoolFlag()) && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	if !given["name"] {
		out = append(out, "--name", name)
	}
	if !given["socket"] {
		out = append(out, "--socket", filepath.Join(HeroSocketDir, name+".sock"))
	}
	return out
}

// Exit codes of herosim itself (a crash uses --exit-code instead).
const (
	exitOK    = 0
	exitUsage = 2
	exitError = 3
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: herosim serve|oneshot|version [flags]")
		return exitUsage
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "herosim", version)
		return exitOK
	case "serve":
		cfg, err := parseServe(args[1:], stderr)
		if err != nil {
			return exitUsage
		}
		return serveMain(cfg, stderr)
	case "oneshot":
		return oneshotMain(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "herosim: unknown command %q (want serve, oneshot or version)\n", args[0])
		return exitUsage
	}
}

// serveFlags is serve's flag set, bound to cfg and the two signal names.
func serveFlags(cfg *Config, hangSig, errSig *string) *flag.FlagSet {
	fs := flag.NewFlagSet("herosim serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Name, "name", "", "service name (required)")
	fs.StringVar(&cfg.Socket, "socket", "", "Unix socket path (required)")
	fs.IntVar(&cfg.HTTPPort, "http-port", 0, "also serve GET /health on 127.0.0.1:N")
	fs.StringVar(&cfg.Ledger, "ledger", "", "append one JSON line per start to this file")
	fs.DurationVar(&cfg.SlowStart, "slow-start", 0, "wait this long before the socket appears")
	fs.IntVar(&cfg.ExitCode, "exit-code", 1, "exit code of a crash (--crash-after, --crash-loop)")
	fs.DurationVar(&cfg.CrashAfter, "crash-after", 0, "exit with --exit-code after this long")
	fs.BoolVar(&cfg.CrashLoop, "crash-loop", false, "exit with --exit-code at once, every start")
	fs.StringVar(&cfg.Control, "control", "", "file whose content sets the health mode (ok, hang, error) or asks for an exit (exit N); default $HEROSIM_CONTROL_DIR/<name>")
	fs.StringVar(hangSig, "health-hang-signal", "USR1", "signal that toggles health hang")
	fs.StringVar(errSig, "health-error-signal", "USR2", "signal that toggles health error")
	return fs
}

func parseServe(args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	var hangSig, errSig string
	fs := serveFlags(&cfg, &hangSig, &errSig)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("--name is required"))
	}
	if dir := os.Getenv("HEROSIM_CONTROL_DIR"); cfg.Control == "" && dir != "" && cfg.Name != "" {
		cfg.Control = filepath.Join(dir, cfg.Name)
	}
	if cfg.Socket == "" {
		errs = append(errs, errors.New("--socket is required"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	var err error
	if cfg.HangSignal, err = parseSignal(hangSig); err != nil {
		errs = append(errs, err)
	}
	if cfg.ErrorSignal, err = parseSignal(errSig); err != nil {
		errs = append(errs, err)
	}
	if cfg.InitialMode, err = parseMode(os.Getenv("HEROSIM_FAULT")); err != nil {
		errs = append(errs, fmt.Errorf("HEROSIM_FAULT: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "herosim serve:", err)
		return cfg, err
	}
	return cfg, nil
}

// serveMain runs the server until a crash knob fires or SIGTERM/SIGINT.
func serveMain(cfg Config, stderr io.Writer) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, cfg.HangSignal, cfg.ErrorSignal)
	defer signal.Stop(sigs)
	cfg.Log = stderr
	code, err := Serve(context.Background(), cfg, sigs, time.Now)
	if err != nil {
		fmt.Fprintln(stderr, "herosim:", err)
	}
	return code
}

func oneshotMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herosim oneshot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "service name (required)")
	code := fs.Int("exit-code", 0, "exit code")
	ledger := fs.String("ledger", "", "append one JSON line per start to this file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *name == "" {
		fmt.Fprintln(stderr, "herosim oneshot: --name is required")
		return exitUsage
	}
	if *ledger != "" {
		if err := appendLedger(*ledger, *name, os.Getpid(), time.Now()); err != nil {
			fmt.Fprintln(stderr, "herosim:", err)
			return exitError
		}
	}
	fmt.Fprintf(stdout, "herosim oneshot %s done (exit %d)\n", *name, *code)
	return *code
}

// parseSignal reads a toggle signal (zinit.ParseSignal's spellings): only
// one herosim can catch without side effects, USR1, USR2 or HUP.
func parseSignal(s string) (syscall.Signal, error) {
	sig, err := zinit.ParseSignal(s)
	if err != nil || (sig != syscall.SIGUSR1 && sig != syscall.SIGUSR2 && sig != syscall.SIGHUP) {
		return 0, fmt.Errorf("unsupported signal %q (want USR1, USR2 or HUP)", s)
	}
	return sig, nil
}
