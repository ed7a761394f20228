package agent

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// exitWaker wakes the scanner the moment a watched process exits: a pidfd
// (pidfd_open) becomes readable when its process ends, and one epoll set
// waits on all of them. Exits are then dated by the waker, not by the
// next periodic scan, so the scan can be slow (cheap) without blurring
// exit times. Its methods other than run are called by the scanner's
// goroutine only.
//
// The date is a span, both ends witnessed: the waker waits at most
// witnessPeriod at a time, and a wait that returns without a pidfd (its
// events did not fill the buffer) proves that every process it watches
// was alive when that wait began, since a pidfd already readable then
// would have been returned at once. An exit that fires in a later wait
// lies between the start of the wait before it and the moment it fired.
type exitWaker struct {
	ep   int         // epoll set of pidfds, and of stop
	stop int         // eventfd that ends run
	fds  map[int]int // pid → its pidfd
	mono Mono

	witness atomic.Int64 // the start of the last wait that found no exit

	mu    sync.Mutex
	fired map[int]exitSpan // pidfd → the span its exit lies in
	reg   map[int]watched  // pidfd → how it came to be watched
}

// watched is when a pidfd joined the epoll set (at) and when the scanner
// last saw its process alive before that (alive).
type watched struct{ at, alive int64 }

// exitSpan is what run knows of an exit: it lies in [lo, hi] (mono ns).
type exitSpan struct{ lo, hi int64 }

// witnessPeriod bounds each wait of the waker, and so the length of an
// exit's span (plus the machine's lateness in waking it).
const witnessPeriod = 5 * time.Millisecond

func newExitWaker(mono Mono) (*exitWaker, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, stop, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(stop)}); err != nil {
		unix.Close(ep)
		unix.Close(stop)
		return nil, err
	}
	return &exitWaker{ep: ep, stop: stop, fds: map[int]int{}, mono: mono, fired: map[int]exitSpan{}, reg: map[int]watched{}}, nil
}

// watch starts watching pid, which the scanner saw alive at alive; a
// process already gone is left to the scan.
func (w *exitWaker) watch(pid int, alive int64) {
	if w == nil || w.fds[pid] != 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return
	}
	w.fds[pid] = fd
	w.mu.Lock()
	w.reg[fd] = watched{at: w.mono(), alive: alive}
	w.mu.Unlock()
}

// forget stops watching pid (it exited, or is no longer of interest).
func (w *exitWaker) forget(pid int) {
	if w == nil {
		return
	}
	if fd, ok := w.fds[pid]; ok {
		_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_DEL, fd, nil)
		unix.Close(fd)
		delete(w.fds, pid)
		w.mu.Lock()
		delete(w.fired, fd)
		delete(w.reg, fd)
		w.mu.Unlock()
	}
}

// exited is the span pid's exit lies in, as the waker witnessed it (ok
// false: it did not see it fire).
func (w *exitWaker) exited(pid int) (exitSpan, bool) {
	if w == nil {
		return exitSpan{}, false
	}
	fd, ok := w.fds[pid]
	if !ok {
		return exitSpan{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sp, ok := w.fired[fd]
	return sp, ok
}

// quiet says whether pid is watched and has not exited: its exit would
// wake the scanner, so a step need not re-read it to notice one.
func (w *exitWaker) quiet(pid int) bool {
	if w == nil {
		return false
	}
	fd, ok := w.fds[pid]
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, fired := w.fired[fd]
	return !fired
}

// run signals wake (without blocking) each time a watched process exits,
// until close. Each pidfd fires once (EPOLLONESHOT): the scan that follows
// sees the exit and forgets the pid.
func (w *exitWaker) run(wake chan<- struct{}) {
	evs := make([]unix.EpollEvent, 64)
	var alive int64 // every watched process was alive at this instant (0: no wait has shown it yet)
	for {
		start := w.mono()
		n, err := unix.EpollWait(w.ep, evs, int(witnessPeriod/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		now := w.mono()
		for _, e := range evs[:n] {
			if int(e.Fd) == w.stop {
				return
			}
			w.mu.Lock()
			// The waits' witness counts only from a wait that began
			// with the pidfd in the set; before, the scanner's does.
			r := w.reg[int(e.Fd)]
			lo := r.alive
			if alive >= r.at {
				lo = max(lo, alive)
			}
			w.fired[int(e.Fd)] = exitSpan{lo: lo, hi: now}
			w.mu.Unlock()
		}
		if n < len(evs) {
			// Nothing else was readable when this wait began.
			alive = start
			w.witness.Store(alive)
		}
		if n == 0 {
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// shutdown ends run (the caller then waits for it) and closes every fd.
func (w *exitWaker) shutdown() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(w.stop, one[:])
}

func (w *exitWaker) close() {
	for pid := range w.fds {
		w.forget(pid)
	}
	unix.Close(w.stop)
	unix.Close(w.ep)
}
