package backendtest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/trak-dev/trak/internal/backend"
)

// Counting wraps a backend and keeps account of the tensors it makes (New,
// Upload) until they are freed, so that tests can check a computation's
// tensor lifetimes: Live after it should count only what is meant to
// outlive it (a model's weights). Views made with Reshape are not tensors
// of their own; freeing one, freeing a tensor twice, or freeing a tensor
// the wrapper did not make counts as a bad free (and is passed on to the
// wrapped backend, which may panic). Every other method is the wrapped
// backend's. It is safe for concurrent use.
type Counting struct {
	backend.Backend

	mu       sync.Mutex
	live     map[*backend.Tensor]int64 // tensor → bytes
	bytes    int64
	made     int
	badFrees int
}

// NewCounting returns b wrapped in a Counting.
func NewCounting(b backend.Backend) *Counting {
	return &Counting{Backend: b, live: map[*backend.Tensor]int64{}}
}

func (c *Counting) track(t *backend.Tensor) *backend.Tensor {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(t.Len()) * 4
	c.live[t] = n
	c.bytes += n
	c.made++
	return t
}

// New makes a tensor with the wrapped backend and counts it.
func (c *Counting) New(shape ...int) *backend.Tensor {
	return c.track(c.Backend.New(shape...))
}

// Upload makes a tensor with the wrapped backend and counts it.
func (c *Counting) Upload(data []float32, shape ...int) *backend.Tensor {
	return c.track(c.Backend.Upload(data, shape...))
}

// Free uncounts t (or counts a bad free) and frees it.
func (c *Counting) Free(t *backend.Tensor) {
	c.mu.Lock()
	if n, ok := c.live[t]; ok {
		delete(c.live, t)
		c.bytes -= n
	} else {
		c.badFrees++
	}
	c.mu.Unlock()
	c.Backend.Free(t)
}

// Live returns the number of tensors made and not freed, and their bytes
// (4 per element).
func (c *Counting) Live() (tensors int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live), c.bytes
}

// Made returns the number of tensors made so far.
func (c *Counting) Made() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made
}

// BadFrees returns the number of Free calls on a tensor that was not live.
func (c *Counting) BadFrees() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.badFrees
}

// LiveShapes lists the shapes of the live tensors, sorted, for messages.
func (c *Counting) LiveShapes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for t := range c.live {
		s = append(s, fmt.Sprint(t.Shape))
	}
	slices.Sort(s)
	return s
}
