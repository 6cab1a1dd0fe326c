package clock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Fake is a manually controlled clock for tests.
//
// Its reading changes only through Set, Advance and AdvanceMicros. Unlike the
// other clocks in this package, a Fake may be moved backwards, so tests can
// exercise a limiter's handling of time that appears to go back.
//
// Fake is safe for concurrent use. The zero value is ready to use and reads 0
// (the Unix epoch).
type Fake struct {
	now atomic.Int64

	mu      sync.Mutex
	waiters []waiter // Sleep calls not yet woken
}

// waiter is a Sleep call waiting for the clock to reach until.
type waiter struct {
	until int64
	wake  chan struct{}
}

// NewFake returns a Fake clock that reads startMicros, in microseconds since
// the Unix epoch.
func NewFake(startMicros int64) *Fake {
	f := &Fake{}
	f.now.Store(startMicros)
	return f
}

// Now returns the fake clock's current reading in microseconds since the
// Unix epoch.
func (f *Fake) Now() int64 {
	return f.now.Load()
}

// Set sets the clock's reading to micros, which may be earlier than the
// current reading.
func (f *Fake) Set(micros int64) {
	f.now.Store(micros)
	f.wake()
}

// Advance moves the clock by d, truncated toward zero to whole microseconds
// (so 1500ns advances by 1µs, and -1500ns steps back by 1µs). A negative d
// moves the clock backwards. Concurrent calls are applied atomically: no
// advance is lost.
func (f *Fake) Advance(d time.Duration) {
	f.now.Add(int64(d / time.Microsecond))
	f.wake()
}

// AdvanceMicros moves the clock by n microseconds. A negative n moves the
// clock backwards. Concurrent calls are applied atomically: no advance is
// lost.
func (f *Fake) AdvanceMicros(n int64) {
	f.now.Add(n)
	f.wake()
}

// Sleep blocks until the clock has been moved to at least d (truncated to
// whole microseconds) past its reading when Sleep was called, or until ctx
// is done, in which case it returns ctx's error. A d of 0 or less returns at
// once. Moving the clock wakes every Sleep whose time has come.
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	until := f.now.Load() + int64(d/time.Microsecond)
	if until <= f.now.Load() {
		f.mu.Unlock()
		return nil
	}
	w := waiter{until: until, wake: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	select {
	case <-w.wake:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		for i, o := range f.waiters {
			if o.wake == w.wake {
				f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
				break
			}
		}
		f.mu.Unlock()
		select {
		case <-w.wake: // woken while giving up: the time did come
			return nil
		default:
			return ctx.Err()
		}
	}
}

// Sleepers returns how many Sleep calls are waiting, so a test can move the
// clock once a goroutine is asleep.
func (f *Fake) Sleepers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// wake releases the Sleep calls whose time has come.
func (f *Fake) wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now.Load()
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if now >= w.until {
			close(w.wake)
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}
