package supervisor

import (
	"container/heap"
	"time"
)

// timer is one pending deadline of the engine. It is owned by the engine
// goroutine; cancel marks it dead and the heap drops it lazily.
type timer struct {
	at        time.Time
	seq       uint64
	fire      func(now time.Time)
	cancelled bool
	index     int
}

func (t *timer) cancel() {
	if t != nil {
		t.cancelled = true
	}
}

// timerHeap orders timers by deadline, then by arming order, so timers due
// at the same instant fire in the order they were armed.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return t
}

// schedule arms fire at at and returns the timer to cancel it.
func (e *Engine) schedule(at time.Time, fire func(now time.Time)) *timer {
	e.timerSeq++
	t := &timer{at: at, seq: e.timerSeq, fire: fire}
	heap.Push(&e.timers, t)
	return t
}

// NextDeadline is the earliest pending timer, if any. Engine goroutine only.
func (e *Engine) NextDeadline() (time.Time, bool) {
	for len(e.timers) > 0 && e.timers[0].cancelled {
		heap.Pop(&e.timers)
	}
	if len(e.timers) == 0 {
		return time.Time{}, false
	}
	return e.timers[0].at, true
}

// FireTimers runs every timer due at the clock's now, in deadline order,
// then settles the engine. Tests call it after stepping a fake clock.
func (e *Engine) FireTimers() {
	now := e.clock.Now()
	for len(e.timers) > 0 {
		t := e.timers[0]
		if t.cancelled {
			heap.Pop(&e.timers)
			continue
		}
		if t.at.After(now) {
			break
		}
		heap.Pop(&e.timers)
		t.cancelled = true
		t.fire(now)
	}
	e.settle()
}
