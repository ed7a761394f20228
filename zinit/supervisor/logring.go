package supervisor

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// LogRingLines is how many lines of output are kept per service.
const LogRingLines = 1000

// logEntry is one captured line and the CLOCK_MONOTONIC instant it was
// read, the clock the harness's events share, so a log line can be placed
// on a scenario's timeline.
type logEntry struct {
	monoNs int64
	line   string
}

// logRing keeps the last LogRingLines lines of a service's output. Output
// readers write it from their own goroutines; it is safe for concurrent use.
type logRing struct {
	mu      sync.Mutex
	entries []logEntry
	next    int
	full    bool
	mono    func() int64
}

func newLogRing() *logRing { return &logRing{entries: make([]logEntry, 0, 16), mono: monoNow} }

// monoNow reads CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now().UnixNano() // cannot happen on Linux
	}
	return ts.Nano()
}

func (r *logRing) add(line string) {
	e := logEntry{monoNs: r.mono(), line: line}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full && len(r.entries) < LogRingLines {
		r.entries = append(r.entries, e)
		if len(r.entries) == LogRingLines {
			r.full = true
		}
		return
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % LogRingLines
}

// tail returns the last n lines, oldest first, with the CLOCK_MONOTONIC
// instant of each; n <= 0 returns every kept line.
func (r *logRing) tail(n int) (lines []string, monoNs []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ordered := make([]logEntry, 0, len(r.entries))
	if r.full {
		ordered = append(ordered, r.entries[r.next:]...)
		ordered = append(ordered, r.entries[:r.next]...)
	} else {
		ordered = append(ordered, r.entries...)
	}
	if n > 0 && n < len(ordered) {
		ordered = ordered[len(ordered)-n:]
	}
	lines = make([]string, len(ordered))
	monoNs = make([]int64, len(ordered))
	for i, e := range ordered {
		lines[i], monoNs[i] = e.line, e.monoNs
	}
	return lines, monoNs
}
