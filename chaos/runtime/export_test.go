package runtime

// SeverDeadMan closes this process's end of c's dead-man switch stream
// without disarming it, as this process's death would, and returns at once.
func SeverDeadMan(c Container) {
	switch c := c.(type) {
	case *dockerContainer:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.guard != nil {
			_ = c.guard.w.Close()
		}
	case *localContainer:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.guard != nil {
			_ = c.guard.w.Close()
		}
	}
}
