package clock

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MinResolution is the finest resolution a [Coarse] clock accepts.
	// Smaller values passed to [NewCoarse] are raised to it. Note that the
	// Go runtime does not guarantee sub-millisecond timer wake-ups (on Linux
	// an otherwise idle process sleeps in whole milliseconds), so with
	// resolutions below 1ms the observed lag can still approach 1ms.
	MinResolution = 100 * time.Microsecond

	// DefaultResolution is the suggested resolution for a [Coarse] clock:
	// fine enough for rate limiting, and cheap to maintain (1000 wake-ups a
	// second).
	DefaultResolution = time.Millisecond
)

// closed is stored in Coarse.now once the refresh goroutine has stopped. A
// real reading can never equal it.
const closed = math.MinInt64

// Coarse is a clock whose Now is a single atomic load of a cached reading
// that a background goroutine refreshes every resolution from the package's
// [Real] clock (the one [System] is initialized to, so Coarse and System
// readings are directly comparable).
//
// Accuracy: a reading may lag real time by up to one resolution, plus however
// long the refresh goroutine is delayed by the scheduler. It never runs
// ahead of real time and never decreases. For rate limiting this means
// decisions are made as of a slightly earlier time, which is conservative for
// token buckets: a limiter observes at most as much refill as has really
// happened, never more.
//
// Each Coarse owns a goroutine until [Coarse.Close] is called. After Close,
// Now remains correct: it reads the real clock on every call (and so costs as
// much as [Real.Now]).
//
// Coarse is safe for concurrent use. The zero value is not usable; create one
// with [NewCoarse].
type Coarse struct {
	now        atomic.Int64 // cached reading, or closed
	resolution time.Duration
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
}

// NewCoarse returns a Coarse clock refreshed every resolution and starts its
// refresh goroutine. Resolutions below [MinResolution] (including zero and
// negative values) are raised to MinResolution; [DefaultResolution] (1ms) is a
// good default. Call [Coarse.Close] when the clock is no longer needed.
func NewCoarse(resolution time.Duration) *Coarse {
	resolution = max(resolution, MinResolution)
	c := &Coarse{
		resolution: resolution,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.now.Store(systemReal.Now())
	go c.run()
	return c
}

func (c *Coarse) run() {
	defer close(c.done)
	t := time.NewTicker(c.resolution)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// Only this goroutine stores readings, and systemReal never
			// runs backwards, so the cached value never decreases.
			c.now.Store(systemReal.Now())
		case <-c.stop:
			return
		}
	}
}

// Now returns the most recently cached reading in microseconds since the Unix
// epoch. It may lag real time by up to one resolution plus scheduling delay.
// After Close, Now reads the real clock directly.
func (c *Coarse) Now() int64 {
	if v := c.now.Load(); v != closed {
		return v
	}
	// Every cached value was an earlier reading of systemReal, so this is
	// never smaller than anything returned before Close.
	return systemReal.Now()
}

// Resolution returns the refresh interval, after raising it to
// [MinResolution] if necessary.
func (c *Coarse) Resolution() time.Duration {
	return c.resolution
}

// Close stops the refresh goroutine and waits for it to exit. Now keeps
// working afterwards, reading the real clock on each call. Close is
// idempotent and safe to call concurrently.
func (c *Coarse) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		// The goroutine has exited, so nothing overwrites this.
		c.now.Store(closed)
	})
}
