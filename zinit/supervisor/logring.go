package supervisor

import "sync"

// LogRingLines is how many lines of output are kept per service.
const LogRingLines = 1000

// logRing keeps the last LogRingLines lines of a service's output. Output
// readers write it from their own goroutines; it is safe for concurrent use.
type logRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newLogRing() *logRing { return &logRing{lines: make([]string, 0, 16)} }

func (r *logRing) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full && len(r.lines) < LogRingLines {
		r.lines = append(r.lines, line)
		if len(r.lines) == LogRingLines {
			r.full = true
		}
		return
	}
	r.lines[r.next] = line
	r.next = (r.next + 1) % LogRingLines
}

// tail returns the last n lines, oldest first; n <= 0 returns every kept line.
func (r *logRing) tail(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ordered := make([]string, 0, len(r.lines))
	if r.full {
		ordered = append(ordered, r.lines[r.next:]...)
		ordered = append(ordered, r.lines[:r.next]...)
	} else {
		ordered = append(ordered, r.lines...)
	}
	if n > 0 && n < len(ordered) {
		ordered = ordered[len(ordered)-n:]
	}
	return ordered
}
