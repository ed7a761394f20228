package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ory/dockertest/v3/docker"
)

// ReaperGrace is how long a run's reaper waits after its harness died
// before it removes what is left: longer than a container's own dead-man
// switch takes (chaos/agent DeadmanGrace, 3 s, and its SIGTERM), so the
// reaper only takes what no switch guards.
const ReaperGrace = 6 * time.Second

// Reaper is the host-side backstop of the containers' dead-man switches: a
// process of this binary, in its own session, whose stdin is a pipe only
// this process holds. When this process dies, the reaper removes every
// container of the run it was told of, but the kept ones. It covers what
// no switch guards: a container between the engine's start and its
// switch's arming, and a container during a supervisor restart (the engine
// restarts it; its switch dies with the old init until the new one is
// armed). Its methods are safe on nil and for concurrent use.
type Reaper struct {
	mu   sync.Mutex
	w    *os.File
	done chan struct{}
}

// Reaper protocol lines (stdin).
const (
	reaperKeep   = "keep "
	reaperDisarm = "disarm"
	reaperArmed  = "armed"
)

// StartReaper starts argv (the reaper command, see RunReaper) detached in
// its own session and returns once it holds its stream.
func StartReaper(argv []string) (*Reaper, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("reaper: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = pr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal signals; it must outlive this process
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("reaper: %w", err), pr.Close(), pw.Close())
	}
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("reaper: %w", err), pr.Close(), pw.Close())
	}
	_ = pr.Close()
	rp := &Reaper{w: pw, done: make(chan struct{})}
	armed := make(chan bool, 1)
	go func() { // owned by the reaper: ends when the reaper process does
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == reaperArmed
		armed <- ok
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(rp.done)
	}()
	select {
	case ok := <-armed:
		if ok {
			return rp, nil
		}
	case <-time.After(deadManArmTimeout):
	}
	_ = cmd.Process.Kill()
	_ = pw.Close()
	return nil, fmt.Errorf("reaper %s: not armed", argv[0])
}

// Keep tells the reaper to leave container id alone.
func (r *Reaper) Keep(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		_, _ = io.WriteString(r.w, reaperKeep+id+"\n")
	}
}

// Release disarms the reaper (this process ends on purpose) and waits
// briefly for it to exit. Idempotent.
func (r *Reaper) Release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.w != nil {
		_, _ = io.WriteString(r.w, reaperDisarm+"\n")
		_ = r.w.Close()
		r.w = nil
	}
	r.mu.Unlock()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
	}
}

// RunReaper is the reaper's side: it prints its armed line on armed, reads
// in, and returns nil when disarmed or when ctx ends. When in ends without
// a disarm (the harness died), it waits grace, then calls reap with the
// containers it was told to keep.
func RunReaper(ctx context.Context, in io.Reader, armed io.Writer, grace time.Duration,
	reap func(ctx context.Context, keep map[string]bool) error) error {
	keep := map[string]bool{}
	lines := make(chan string)
	ended := make(chan struct{})
	go func() { // ends with in
		defer close(ended)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	_, _ = io.WriteString(armed, reaperArmed+"\n")
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-lines:
			if l == reaperDisarm {
				return nil
			}
			if id, ok := strings.CutPrefix(l, reaperKeep); ok {
				keep[id] = true
			}
			continue
		case <-ended:
		}
		break
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return reap(rctx, keep)
}

// SetReaper makes Keep tell rp about kept containers.
func (r *DockerRuntime) SetReaper(rp *Reaper) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reaper = rp
}

func (r *DockerRuntime) getReaper() *Reaper {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reaper
}

// RemoveRun removes every container of runID but those in keep (IDs) and
// returns their names.
func (r *DockerRuntime) RemoveRun(ctx context.Context, runID string, keep map[string]bool) ([]string, error) {
	if runID == "" {
		return nil, errors.New("remove run: no run ID")
	}
	list, err := r.cl.ListContainers(docker.ListContainersOptions{All: true, Context: ctx,
		Filters: map[string][]string{"label": {LabelRun + "=" + runID}}})
	if err != nil {
		return nil, fmt.Errorf("remove run %s: %w", runID, err)
	}
	var names []string
	var errs []error
	for _, c := range list {
		if keep[c.ID] {
			continue
		}
		err := r.cl.RemoveContainer(docker.RemoveContainerOptions{ID: c.ID, Force: true, RemoveVolumes: true, Context: ctx})
		var nsc *docker.NoSuchContainer
		if err != nil && !errors.As(err, &nsc) && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.ID[:12], err))
			continue
		}
		names = append(names, strings.TrimPrefix(strings.Join(c.Names, ","), "/"))
	}
	return names, errors.Join(errs...)
}
