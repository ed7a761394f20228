package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zchaos/zchaos/chaos"
)

// progress shows where a run is on the error stream: one line per
// finished attempt ("[7/21] pass  crash-restart/migrated#1 (3.21s)"), and
// when the stream is a terminal one live line rewritten in place: the
// count, an ETA from the pace so far, and the attempts under way with
// their phase ("7/21 · 1m12s left · [hang-detected/migrated#1 observe
// 2.1s/4.5s]"), cut to the terminal's width. It is fed from the runner's
// goroutines; now is injected so tests control the ETA.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int
	now   func() time.Time
	start time.Time
	live  map[string]chaos.ProgressEvent
	done  int
	total int
}

// runProgress is the progress of run and gate: live whenever the error
// stream is a terminal, whatever stdout is (gate --json > r.json).
func runProgress(s IOStreams) *progress {
	return newProgress(s.ErrOut, s.ErrTTY, s.ErrWidth, time.Now)
}

func newProgress(w io.Writer, tty bool, width int, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, width: width, now: now, start: now(), live: map[string]chaos.ProgressEvent{}}
}

func attemptKey(p chaos.ProgressEvent) string {
	return fmt.Sprintf("%s/%s#%d", p.Scenario, p.Config, p.Attempt)
}

func (p *progress) update(ev chaos.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = max(p.total, ev.Total)
	k := attemptKey(ev)
	if ev.Phase == chaos.PhaseDone {
		delete(p.live, k)
		p.done++
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "[%s] %-12s %s (%s)\n", p.count(), ev.Verdict, k, ev.Elapsed.Round(10*time.Millisecond))
	} else {
		p.live[k] = ev
	}
	if !p.tty {
		return
	}
	fmt.Fprint(p.w, "\r\033[K"+p.line())
}

// count is "7/21", or "7" when the total is unknown.
func (p *progress) count() string {
	if p.total > 0 {
		return fmt.Sprintf("%d/%d", p.done, p.total)
	}
	return fmt.Sprint(p.done)
}

// eta is the time left at the pace of the attempts done so far ("" before
// the first is done, or when the total is unknown).
func (p *progress) eta() string {
	if p.done == 0 || p.total <= p.done {
		return ""
	}
	left := p.now().Sub(p.start) / time.Duration(p.done) * time.Duration(p.total-p.done)
	if left < time.Second {
		return "<1s left"
	}
	return left.Round(time.Second).String() + " left"
}

// line is the live status line, at most width-1 runes (the cursor stays
// on the line).
func (p *progress) line() string {
	parts := []string{p.count()}
	if e := p.eta(); e != "" {
		parts = append(parts, e)
	}
	keys := make([]string, 0, len(p.live))
	for k := range p.live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := p.live[k]
		exp := ""
		if e.Expected > 0 {
			exp = "/" + e.Expected.Round(100*time.Millisecond).String()
		}
		parts = append(parts, fmt.Sprintf("[%s %s %s%s]", k, e.Phase, e.Elapsed.Round(100*time.Millisecond), exp))
	}
	line := strings.Join(parts, " · ")
	if p.width > 1 {
		if r := []rune(line); len(r) > p.width-1 {
			line = string(r[:p.width-2]) + "…"
		}
	}
	return line
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
