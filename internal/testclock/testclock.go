// Package testclock is a clock for tests: it stands still at the time it was given until Advance moves it, and is
// safe for concurrent use, so a test can hand its Now to the code under test (stores, clients, the sandbox, several
// replicas at once) and decide when time passes.
package testclock

import (
	"sync"
	"time"
)

// Clock is a manually advanced clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
