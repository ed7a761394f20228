package agent

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/scenarios"
)

// exitWaker wakes the scanner the moment a watched process exits: a pidfd
// (pidfd_open) becomes readable when its process ends, and one epoll set
// waits on all of them. Exits are then dated by the waker, not by the
// next periodic scan, so the scan can be slow (cheap) without blurring
// exit times. Its methods other than run are called by the scanner's
// goroutine only.
//
// The date is a span, both ends witnessed: the waker's waits end at least
// every tick, and a wait that returns without a pidfd (its events did not
// fill the buffer) proves that every process it watches was alive when
// that wait began, since a pidfd already readable then would have been
// returned at once, and when it collected its events, which for a tick is
// after the tick's deadline. An exit that fires in a later wait lies
// between that witness and the moment it fired.
//
// The tick is the timer-lateness canary's (cyclictest's method): a
// timerfd on CLOCK_MONOTONIC armed with absolute deadlines a period apart,
// in the same epoll set, so one thread serves both, and how late each
// deadline is seen is the canary's sample. One thread waking 100 times a
// second, where a canary thread and a witness each woke on their own,
// halves the wake-ups that made most of the agent's CPU (make bench).
type exitWaker struct {
	ep   int         // epoll set of pidfds, and of stop and tick
	stop int         // eventfd that ends run
	tick int         // timerfd of the canary's deadlines
	due  int64       // the next deadline (mono ns); run's
	per  int64       // the tick period (ns)
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

// defaultTick is the waker's tick: it bounds an exit's span (plus the
// machine's lateness in waking it) and is the canary's period.
const defaultTick = 10 * time.Millisecond

// newExitWaker makes a waker whose waits end every period (the canary's
// deadlines, the first one a period from now).
func newExitWaker(mono Mono, period time.Duration) (*exitWaker, error) {
	w := &exitWaker{ep: -1, stop: -1, tick: -1, fds: map[int]int{}, mono: mono, per: int64(period),
		fired: map[int]exitSpan{}, reg: map[int]watched{}}
	var err error
	if w.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if w.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err == nil {
		w.tick, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK)
	}
	for _, fd := range []int{w.stop, w.tick} {
		if err == nil {
			err = unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
		}
	}
	if err == nil {
		w.due = mono() + w.per
		spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(w.per), Value: unix.NsecToTimespec(w.due)}
		err = unix.TimerfdSettime(w.tick, unix.TFD_TIMER_ABSTIME, &spec, nil)
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
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
// and hands each tick's lateness to c (nil: none kept), whose windows go
// to emit, until shutdown. Each pidfd fires once (EPOLLONESHOT): the scan
// that follows sees the exit and forgets the pid. It runs on a thread of
// its own (the Go scheduler's lateness would otherwise hide in the
// canary's figure).
func (w *exitWaker) run(wake chan<- struct{}, c *canary, emit func(scenarios.Event)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	evs := make([]unix.EpollEvent, 64)
	var alive int64 // every watched process was alive at this instant (0: no wait has shown it yet)
	var buf [8]byte
	for {
		start := w.mono()
		n, err := unix.EpollWait(w.ep, evs, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		now := w.mono()
		exits := 0
		witness := start
		for _, e := range evs[:n] {
			switch int(e.Fd) {
			case w.stop:
				return
			case w.tick:
				// k deadlines have passed since the last read: the
				// earliest is the one this wake-up answers, late by
				// now − due; the ones it swallowed are not counted again.
				if m, err := unix.Read(w.tick, buf[:]); err != nil || m != 8 {
					continue
				}
				k := int64(binary.NativeEndian.Uint64(buf[:]))
				if c != nil {
					if ev, ok := c.tick(w.due, now); ok && emit != nil {
						emit(ev)
					}
				}
				// The wait collected its events after the latest of
				// these deadlines: a pidfd it did not return was not
				// readable then.
				witness = max(witness, w.due+(k-1)*w.per)
				w.due += k * w.per
				continue
			}
			exits++
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
			// Nothing else was readable when this wait began, nor when
			// it collected a tick.
			alive = witness
			w.witness.Store(alive)
		}
		if exits == 0 {
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// shutdown ends run (the caller then waits for it).
func (w *exitWaker) shutdown() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(w.stop, one[:])
}

func (w *exitWaker) close() {
	for pid := range w.fds {
		w.forget(pid)
	}
	for _, fd := range []int{w.tick, w.stop, w.ep} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
