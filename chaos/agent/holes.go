package agent

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/scenarios"
)

// A process can live and die between two looks at /proc: a crash loop's
// incarnation that exits at once, on a loaded machine. The scan cannot
// count what it never saw, but the kernel can: every exec opens its file,
// and inotify reports each open. The spawn counter watches each start
// job's binary; an exec the scanner never matched to a spawn, once the
// scanner has had time to see it, is a hole in the agent's view, reported
// as a hole event so the oracle judges around it instead of from it.

// holeGrace is how long after an exec the scanner may take to see its
// process before the exec counts as missed.
const holeGrace = 250 * time.Millisecond

// spawnCounter counts the execs of the start jobs' binaries and the spawns
// the scanner saw of them. run reads inotify; the other methods are the
// scanner's.
type spawnCounter struct {
	f    *os.File
	jobs map[int32][]int // wd → the start jobs whose binary it is
	wdOf map[int]int32   // start job → wd
	mono Mono
	// since is when the watches were set up: a spawn seen to start before
	// it had no exec to count.
	since   int64
	lastCut int64 // the previous holes call's cut: a hole reported now lies after it

	mu    sync.Mutex
	opens map[int32][]int64 // wd → exec times not yet past the grace

	seen     map[int32][]int64 // wd → lower bounds of the spawns the scanner saw, not yet past the grace
	execs    map[int32]int     // execs past the grace
	spawns   map[int32]int     // spawns past the grace
	reported map[int32]int     // execs already reported missing
}

// newSpawnCounter watches the binary of every start job whose exec names
// one (absolute, or found on PATH; not a shell). No such job: nil.
func newSpawnCounter(jobs []Job, matchers []execMatcher, mono Mono) (*spawnCounter, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	c := &spawnCounter{jobs: map[int32][]int{}, wdOf: map[int]int32{}, mono: mono, opens: map[int32][]int64{},
		seen: map[int32][]int64{}, execs: map[int32]int{}, spawns: map[int32]int{}, reported: map[int32]int{}}
	for i, j := range jobs {
		if j.Trigger != "start" && j.Trigger != "" {
			continue
		}
		bin := binaryOf(matchers[i].words)
		if bin == "" {
			continue
		}
		// Closes are watched only to keep opens apart: inotify merges an
		// event with an identical one still unread before it, so two
		// quick execs would count once; an exit's close between them
		// keeps both.
		wd, err := unix.InotifyAddWatch(fd, bin, unix.IN_OPEN|unix.IN_CLOSE_NOWRITE)
		if err != nil {
			continue
		}
		c.jobs[int32(wd)] = append(c.jobs[int32(wd)], i)
		c.wdOf[i] = int32(wd)
	}
	if len(c.wdOf) == 0 {
		unix.Close(fd)
		return nil, nil
	}
	c.f = os.NewFile(uintptr(fd), "inotify-spawns")
	c.since = mono()
	return c, nil
}

// binaryOf is the file an exec line runs: its first word, absolute or on
// PATH, unless it is a shell (those run everything) or a builtin.
func binaryOf(words []string) string {
	if len(words) == 0 {
		return ""
	}
	w := words[0]
	if shells[filepath.Base(w)] {
		return ""
	}
	if !strings.Contains(w, "/") {
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			p := filepath.Join(dir, w)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
		return ""
	}
	return w
}

// run records every open of a watched binary until close.
func (c *spawnCounter) run() {
	buf := make([]byte, 4096)
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			return
		}
		now := c.mono()
		c.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			if mask&unix.IN_OPEN != 0 {
				c.opens[wd] = append(c.opens[wd], now)
			}
			off += unix.SizeofInotifyEvent + size
		}
		c.mu.Unlock()
	}
}

// saw records a spawn of start job job the scanner saw, no earlier than lo.
func (c *spawnCounter) saw(job int, lo int64) {
	if c == nil {
		return
	}
	if wd, ok := c.wdOf[job]; ok && lo >= c.since {
		c.seen[wd] = append(c.seen[wd], lo)
	}
}

// holes reports the execs past the grace at now that no spawn the scanner
// saw accounts for: one hole event per binary, naming its service when
// one start job runs it.
func (c *spawnCounter) holes(jobs []Job, now int64) []scenarios.Event {
	if c == nil {
		return nil
	}
	cut := now - int64(holeGrace)
	from := max(c.lastCut, c.since)
	c.lastCut = cut
	c.mu.Lock()
	for wd, ts := range c.opens {
		c.opens[wd] = pastGrace(ts, cut, func() { c.execs[wd]++ })
	}
	c.mu.Unlock()
	var out []scenarios.Event
	for wd, idx := range c.jobs {
		c.seen[wd] = pastGrace(c.seen[wd], cut, func() { c.spawns[wd]++ })
		missed := c.execs[wd] - c.spawns[wd] - c.reported[wd]
		if missed <= 0 {
			continue
		}
		c.reported[wd] += missed
		ev := scenarios.Event{TNs: cut, ErrNs: max(0, cut-from), Kind: scenarios.EventHole, Missed: missed,
			Detail: fmt.Sprintf("%d exec(s) of %s's binary never seen as a process (they lived and died between looks)", missed, jobs[idx[0]].Service)}
		if len(idx) == 1 {
			ev.Service, ev.Job = jobs[idx[0]].Service, jobs[idx[0]].Job
		} else {
			var names []string
			for _, i := range idx {
				names = append(names, jobs[i].Service)
			}
			ev.Detail = fmt.Sprintf("%d exec(s) of a binary %s share never seen as a process", missed, strings.Join(names, ", "))
		}
		out = append(out, ev)
	}
	return out
}

// pastGrace counts (through count) the times up to cut and returns the rest.
func pastGrace(ts []int64, cut int64, count func()) []int64 {
	keep := ts[:0]
	for _, t := range ts {
		if t <= cut {
			count()
		} else {
			keep = append(keep, t)
		}
	}
	return keep
}

func (c *spawnCounter) close() { _ = c.f.Close() }
