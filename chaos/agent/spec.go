package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// Paths of the agent inside a container.
const (
	// Path is where the reference image holds the static zchaos
	// binary; for a user's image the runner copies it there.
	Path = "/usr/local/bin/zchaos"
	// SpecPath is where the runner writes the watch spec.
	SpecPath = "/run/zchaos/agent-spec.json"
	// PidFile is where a watching agent writes its pid, so that
	// `zchaos agent stop` can end it.
	PidFile = "/run/zchaos/agent.pid"
	// ControlDir is the herosim control-file convention: herosim reads
	// ControlDir/<name> when HEROSIM_CONTROL_DIR names it (or --control is
	// given).
	ControlDir = "/root/hero/var/control"
)

// Spec tells `zchaos agent watch` what to observe. It is JSON;
// durations are milliseconds.
type Spec struct {
	Jobs   []Job   `json:"jobs"`   // processes to match to jobs
	Probes []Probe `json:"probes"` // services the agent probes itself
	// Status lists the services whose `zinit status <svc> --json` is polled.
	Status []string `json:"status"`
	// ZinitCLI is the path (or name on PATH) of the target's zinit CLI.
	ZinitCLI string `json:"zinit_cli"`

	ProcPeriodMs   float64 `json:"proc_period_ms"`   // /proc poll period (default DefaultProcPeriod; an exec of a watched binary, or a job leader's exit, also wakes it)
	ProbePeriodMs  float64 `json:"probe_period_ms"`  // own probe period (default 100)
	ProbeTimeoutMs float64 `json:"probe_timeout_ms"` // own probe timeout (default 1000)
	StatusPeriodMs float64 `json:"status_period_ms"` // zinit status period (default 100); an unchanged status is repeated every 4 periods
	ZombieAfterMs  float64 `json:"zombie_after_ms"`  // report zombies older than this (default 1000)
	StrayAfterMs   float64 `json:"stray_after_ms"`   // report group members left this long after their leader (default 500)
	// CanaryPeriodMs is the timer-lateness canary's period (default 10; a
	// negative value turns it off); CanaryWindowMs how many milliseconds
	// each canary event sums up (default 250).
	CanaryPeriodMs float64 `json:"canary_period_ms,omitempty"`
	CanaryWindowMs float64 `json:"canary_window_ms,omitempty"`
	// MaxDurationMs ends the watch after this long (0: no bound), so an
	// agent left in a kept container stops burning CPU.
	MaxDurationMs float64 `json:"max_duration_ms"`
	// Proc is the proc root (default /proc); tests point it at a fake tree.
	Proc string `json:"proc,omitempty"`
	// Scope, when set, is the socket of the `zinit init` whose process
	// tree is the container: only its descendants (and members of their
	// process groups) are matched to jobs or reported as zombies and
	// strays; every other process on the machine is ignored. Empty: every
	// process of the proc root counts (a container's own pid namespace).
	// ReadSpec sets it on the local runtime (see runtime.LocalRuntime).
	Scope string `json:"scope,omitempty"`
}

// Job is one job whose processes the agent reports.
type Job struct {
	Service string `json:"service"`
	Job     string `json:"job"`
	Trigger string `json:"trigger"` // start, stop or check
	Exec    string `json:"exec"`
}

// Probe is one service the agent probes: JSON-RPC server.health over
// a Unix socket, or GET /health over HTTP on 127.0.0.1.
type Probe struct {
	Service  string `json:"service"`
	Socket   string `json:"socket,omitempty"`
	HTTPPort int    `json:"http_port,omitempty"`
}

// DefaultProcPeriod is the /proc scan's period. The scan no longer dates
// what it sees: an exec of a watched binary wakes it at once (inotify), a
// job leader's exit too (its pidfd), spawns are dated by their starttime
// (within a 10 ms tick) and exits by the pidfd's wake-up. What is left to
// the period is noticing a process none of those announce, and the cost:
// at 5 ms the scan took about a third of the agent's CPU (make bench).
const DefaultProcPeriod = 20 * time.Millisecond

func ms(v float64, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return time.Duration(v * float64(time.Millisecond))
}

func (s Spec) ProcPeriod() time.Duration   { return ms(s.ProcPeriodMs, DefaultProcPeriod) }
func (s Spec) probePeriod() time.Duration  { return ms(s.ProbePeriodMs, 100*time.Millisecond) }
func (s Spec) ProbeTimeout() time.Duration { return ms(s.ProbeTimeoutMs, time.Second) }
func (s Spec) statusPeriod() time.Duration { return ms(s.StatusPeriodMs, 100*time.Millisecond) }
func (s Spec) zombieAfter() time.Duration  { return ms(s.ZombieAfterMs, time.Second) }
func (s Spec) strayAfter() time.Duration   { return ms(s.StrayAfterMs, 500*time.Millisecond) }
func (s Spec) procRoot() string {
	if s.Proc == "" {
		return "/proc"
	}
	return s.Proc
}
func (s Spec) zinitCLI() string {
	if s.ZinitCLI == "" {
		return "zinit"
	}
	return s.ZinitCLI
}

// ReadSpec reads a spec file. Inside a local-runtime container
// (ZCHAOS_LOCAL_ROOT set), a spec without a Scope gets the container's
// zinit socket (ZINIT_SOCKET, else the image's socket under the root) as
// its Scope: the agent shares the host's /proc with other containers.
func ReadSpec(path string) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("agent spec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("agent spec %s: %w", path, err)
	}
	if root := os.Getenv("ZCHAOS_LOCAL_ROOT"); root != "" && s.Scope == "" {
		s.Scope = os.Getenv("ZINIT_SOCKET")
		if s.Scope == "" {
			s.Scope = root + zinit.DefaultSocket
		}
	}
	return s, nil
}

// Mono is a CLOCK_MONOTONIC reading in nanoseconds: the clock every event
// of a container shares.
type Mono func() int64

// MonoNow reads the kernel's CLOCK_MONOTONIC.
func MonoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// CLOCK_MONOTONIC cannot fail on Linux; keep a sane value anyway.
		return time.Now().UnixNano()
	}
	return ts.Nano()
}

// WatchOptions are the injectables of Watch.
type WatchOptions struct {
	Clock clock.WithTicker // tickers of the poll loops (default: real)
	Mono  Mono             // event timestamps (default MonoNow)
	// Exec runs a command and returns its stdout (default: os/exec); the
	// status poller uses it for `zinit status`.
	Exec func(ctx context.Context, argv []string) ([]byte, error)
}

// Watch streams the agent's observations as JSON lines (scenarios.Event) on
// out until ctx ends or spec.MaxDurationMs passes; it returns nil then. The
// first event is agent_start. It blocks, and every goroutine it starts has
// ended when it returns. Events of one kind from one source (the /proc
// scanner, a prober, the status poller) are written in time order. The
// agent_start event's PID is the agent's own.
// Besides the processes it sees, it reports each new last_check zinit's
// status shows as a check_exit with PID 0 and Source
// scenarios.SourceZinitLastCheck: a check run can be over before a /proc
// poll sees it.
func Watch(ctx context.Context, spec Spec, out io.Writer, opts WatchOptions) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Mono == nil {
		opts.Mono = MonoNow
	}
	statusExec := opts.Exec
	if statusExec == nil {
		// The supervisor's socket when it speaks the reference protocol,
		// else its CLI (see rpcStatus).
		rs := &rpcStatus{socket: statusSocket(), cli: execOutput}
		defer rs.close()
		statusExec = rs.exec
	}
	if spec.MaxDurationMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ms(spec.MaxDurationMs, 0))
		defer cancel()
	}
	em := newEmitter(out)
	em.emit(scenarios.Event{TNs: opts.Mono(), Kind: scenarios.EventAgentStart, PID: os.Getpid(),
		Detail: fmt.Sprintf("pid=%d proc_period_ms=%g", os.Getpid(), spec.ProcPeriod().Seconds()*1000)})

	events := make(chan scenarios.Event, 256)
	g, gctx := errgroup.WithContext(ctx)
	var producers sync.WaitGroup
	produce := func(f func(ctx context.Context, emit func(scenarios.Event))) {
		producers.Add(1)
		g.Go(func() error {
			defer producers.Done()
			f(gctx, func(e scenarios.Event) {
				select {
				case events <- e:
				case <-gctx.Done():
				}
			})
			return nil
		})
	}
	// One thread ticks for the canary and wakes the scanner at exits
	// (exitWaker).
	wake := make(chan struct{}, 1)
	var waker *exitWaker
	var cn *canary
	if spec.CanaryPeriodMs >= 0 {
		cn = &canary{window: int64(ms(spec.CanaryWindowMs, defaultCanaryWindow))}
	}
	if cn != nil || len(spec.Jobs) > 0 {
		if x, err := newExitWaker(opts.Mono, ms(spec.CanaryPeriodMs, defaultTick)); err == nil {
			waker = x
			defer x.close() // after g.Wait: no producer uses it any more
			produce(func(ctx context.Context, emit func(scenarios.Event)) {
				stop := context.AfterFunc(ctx, x.shutdown)
				defer stop()
				x.run(wake, cn, emit)
			})
		}
	}
	if len(spec.Jobs) > 0 {
		ps := newProcScanner(spec)
		ps.exits = waker
		produce(func(ctx context.Context, emit func(scenarios.Event)) {
			ps.loop(ctx, opts.Clock, opts.Mono, wake, emit)
		})
	}
	for _, p := range spec.Probes {
		pr := prober{probe: p, timeout: spec.ProbeTimeout(), mono: opts.Mono}
		produce(func(ctx context.Context, emit func(scenarios.Event)) {
			pr.loop(ctx, opts.Clock, spec.probePeriod(), emit)
		})
	}
	if len(spec.Status) > 0 {
		sp := statusPoller{cli: spec.zinitCLI(), services: spec.Status, mono: opts.Mono, exec: statusExec,
			last: map[string]statusKey{}, heartbeat: 4 * spec.statusPeriod(), wall: opts.Clock.Now}
		produce(func(ctx context.Context, emit func(scenarios.Event)) {
			sp.loop(ctx, opts.Clock, spec.statusPeriod(), emit)
		})
	}
	// The writer drains events until every producer has ended.
	done := make(chan struct{})
	go func() { producers.Wait(); close(done) }()
	for {
		select {
		case e := <-events:
			em.emit(e)
			continue
		case <-done:
		}
		break
	}
	// Drain what was queued before the producers ended.
	for {
		select {
		case e := <-events:
			em.emit(e)
			continue
		default:
		}
		break
	}
	_ = g.Wait()
	return em.err
}

// emitter writes events as JSON lines, flushing each.
type emitter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func newEmitter(out io.Writer) *emitter {
	w := bufio.NewWriter(out)
	return &emitter{w: w, enc: json.NewEncoder(w)}
}

func (e *emitter) emit(ev scenarios.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	if err := e.enc.Encode(ev); err != nil {
		e.err = err
		return
	}
	e.err = e.w.Flush()
}

// WriteEvent writes one event as a JSON line.
func WriteEvent(w io.Writer, ev scenarios.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadEvents decodes JSON-line events until EOF, calling f for each. A
// line that is not an event is returned as an error.
func ReadEvents(r io.Reader, f func(scenarios.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var ev scenarios.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("agent output %q: %w", abbrev(line), err)
		}
		f(ev)
	}
	return sc.Err()
}

func abbrev(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// String describes the probe for people.
func (p Probe) String() string {
	switch {
	case p.Socket != "":
		return "server.health over " + p.Socket
	case p.HTTPPort > 0:
		return "GET /health on port " + strconv.Itoa(p.HTTPPort)
	}
	return "none"
}
