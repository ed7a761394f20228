package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/scenarios"
)

// fakeNow is a clock the test steps.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

func TestProgressTerminalCountAndETA(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}
	var b bytes.Buffer
	p := newProgress(&b, true, 0, clk.now)
	ev := func(sc string, phase chaos.Phase) chaos.ProgressEvent {
		return chaos.ProgressEvent{Scenario: sc, Config: "migrated", Attempt: 1, Phase: phase, Total: 4,
			Elapsed: 1200 * time.Millisecond, Expected: 3 * time.Second, Verdict: scenarios.VerdictPass}
	}
	p.update(ev("crash-restart", chaos.PhaseObserve))
	assert.Equal(t, "0/4", lastLine(b.String())[:3], "no ETA before the first attempt is done")
	assert.NotContains(t, b.String(), "left")

	clk.t = clk.t.Add(36 * time.Second)
	p.update(ev("crash-restart", chaos.PhaseDone))
	assert.Contains(t, b.String(), "[1/4] pass         crash-restart/migrated#1 (1.2s)\n")
	assert.Equal(t, "1/4 · 1m48s left", lastLine(b.String()))

	clk.t = clk.t.Add(4 * time.Second) // 40 s for 2 of 4: 40 s left
	p.update(ev("hang-detected", chaos.PhaseDone))
	p.update(ev("socket-removed", chaos.PhaseObserve))
	line := lastLine(b.String())
	assert.True(t, strings.HasPrefix(line, "2/4 · 40s left · [socket-removed/migrated#1 "), line)
	assert.True(t, strings.HasSuffix(line, " 1.2s/3s]"), line)
	p.finish()
	assert.True(t, strings.HasSuffix(b.String(), "\r\033[K"))
}

// Not a terminal: one line per finished attempt, with the count, and no
// control characters.
func TestProgressPlain(t *testing.T) {
	clk := &fakeNow{t: time.Now()}
	var b bytes.Buffer
	p := newProgress(&b, false, 0, clk.now)
	p.update(chaos.ProgressEvent{Scenario: "a", Config: "migrated", Attempt: 1, Phase: chaos.PhaseDone, Total: 2, Verdict: scenarios.VerdictFail})
	p.update(chaos.ProgressEvent{Scenario: "b", Config: "legacy", Attempt: 1, Phase: chaos.PhaseObserve, Total: 2})
	p.finish()
	assert.Equal(t, "[1/2] fail         a/migrated#1 (0s)\n", b.String())
}

// The live line never wraps the terminal: it is cut to its width.
func TestProgressLineFitsWidth(t *testing.T) {
	clk := &fakeNow{t: time.Now()}
	var b bytes.Buffer
	p := newProgress(&b, true, 40, clk.now)
	for _, sc := range []string{"a-long-scenario-name", "another-long-scenario-name"} {
		p.update(chaos.ProgressEvent{Scenario: sc, Config: "migrated", Attempt: 1, Phase: chaos.PhaseObserve, Total: 9})
	}
	line := lastLine(b.String())
	assert.Len(t, []rune(line), 39, line)
	assert.True(t, strings.HasSuffix(line, "…"), line)
}

// lastLine is what a terminal shows on the live line: the text after the
// last carriage return and erase.
func lastLine(s string) string {
	i := strings.LastIndex(s, "\r\033[K")
	if i < 0 {
		return s
	}
	return s[i+len("\r\033[K"):]
}

// gate --json > r.json: stdout is a file, stderr a terminal; the progress
// stays live on stderr. Piped stderr gets plain lines whatever stdout is.
func TestRunProgressFollowsStderr(t *testing.T) {
	var out, errOut bytes.Buffer
	p := runProgress(IOStreams{Out: &out, ErrOut: &errOut, TTY: false, ErrTTY: true, ErrWidth: 100})
	p.update(chaos.ProgressEvent{Scenario: "a", Config: "migrated", Attempt: 1, Phase: chaos.PhaseObserve, Total: 3})
	assert.Equal(t, "\r\033[K0/3 · [a/migrated#1 observe 0s]", errOut.String())
	assert.Empty(t, out.String())

	errOut.Reset()
	p = runProgress(IOStreams{Out: &out, ErrOut: &errOut, TTY: true, ErrTTY: false})
	p.update(chaos.ProgressEvent{Scenario: "a", Config: "migrated", Attempt: 1, Phase: chaos.PhaseObserve, Total: 3})
	assert.Empty(t, errOut.String())
}
