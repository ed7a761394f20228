package agent

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// exitWaker wakes the scanner the moment a watched process exits: a pidfd
// (pidfd_open) becomes readable when its process ends, and one epoll set
// waits on all of them. Exits are then dated by the wake-up, not by the
// next periodic scan, so the scan can be slow (cheap) without blurring
// exit times. Its methods other than run are called by the scanner's
// goroutine only.
type exitWaker struct {
	ep   int         // epoll set of pidfds, and of stop
	stop int         // eventfd that ends run
	fds  map[int]int // pid → its pidfd
	mono Mono

	mu    sync.Mutex
	fired map[int]int64 // pidfd → when run saw it fire (mono ns)
}

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
	return &exitWaker{ep: ep, stop: stop, fds: map[int]int{}, mono: mono, fired: map[int]int64{}}, nil
}

// watch starts watching pid; a process already gone is left to the scan.
func (w *exitWaker) watch(pid int) {
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
		w.mu.Unlock()
	}
}

// exitedAt is when pid's exit woke the waker (ok false: it did not): the
// kernel makes a pidfd readable as its process exits, so the exit lies
// just before, within the wake-up's latency.
func (w *exitWaker) exitedAt(pid int) (int64, bool) {
	if w == nil {
		return 0, false
	}
	fd, ok := w.fds[pid]
	if !ok {
		return 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.fired[fd]
	return t, ok
}

// run signals wake (without blocking) each time a watched process exits,
// until close. Each pidfd fires once (EPOLLONESHOT): the scan that follows
// sees the exit and forgets the pid.
func (w *exitWaker) run(wake chan<- struct{}) {
	evs := make([]unix.EpollEvent, 16)
	for {
		n, err := unix.EpollWait(w.ep, evs, -1)
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
			w.fired[int(e.Fd)] = now
			w.mu.Unlock()
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
