package runtime

import (
	"context"
	"errors"
	"sort"
	"sync"
)

// Tracker remembers the containers a runtime started until they are
// removed, so that one deferred RemoveAll purges whatever is left: on a
// normal return, on an error, and on SIGINT/SIGTERM (zchaos turns those into
// ctx cancellation; Remove runs with a fresh deadline, so a cancelled ctx
// still cleans up). A killed harness (SIGKILL) leaves nothing behind when its
// containers carry a dead-man switch (StartOptions.DeadMan); whatever is
// left carries the LabelTool/LabelRun labels and is removed by
// Runtime.Cleanup, i.e. `zchaos cleanup`. Container.Keep takes a container
// out of the tracker. The zero value is ready to use; it is safe for
// concurrent use.
//
// Typical use in the runner:
//
//	rt, err := chaos.NewDockerRuntime(ctx)
//	...
//	defer rt.RemoveAll(ctx) // skipped for kept containers with --keep-on-failure
type Tracker struct {
	mu   sync.Mutex
	live map[string]Container
}

// Add records c as live.
func (t *Tracker) Add(c Container) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		t.live = map[string]Container{}
	}
	t.live[c.ID()] = c
}

// Forget drops a container without removing it (e.g. one kept for
// forensics).
func (t *Tracker) Forget(id string) { t.forget(id) }

func (t *Tracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, id)
}

// Live lists the tracked containers by name.
func (t *Tracker) Live() []Container {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Container, 0, len(t.live))
	for _, c := range t.live {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// RemoveAll removes every tracked container and returns the joined errors.
// Removed containers untrack themselves.
func (t *Tracker) RemoveAll(ctx context.Context) error {
	var errs []error
	for _, c := range t.Live() {
		if err := c.Remove(ctx); err != nil {
			errs = append(errs, err)
		}
		t.forget(c.ID())
	}
	return errors.Join(errs...)
}
