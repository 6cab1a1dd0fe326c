package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// boundTimers counts the bounds whose timer started (tests read it).
var boundTimers atomic.Int64

// bound returns ctx bounded by the store's timeout, and the bound to
// release once the call has returned (nil, with ctx itself, when the store
// has no timeout; release is safe on nil). The bound, not a release
// function, comes back, as a method value would cost an allocation a call.
//
// The bound starts no timer until something waits on its Done. rueidis
// makes a call on a connection with no other call in flight on the
// caller's goroutine, reading only the context's Deadline and setting it
// on the socket; only a call that waits in its pipeline waits on Done. So
// a serial caller makes no timer a call. A timer costs a serial call more
// than its own work (the runtime may wake the thread sleeping in the
// network poller to re-arm it). Serial calls through a proxy adding 200 µs
// of round trip, interleaved in a shuffled order (as in
// BenchmarkSerialInterleaved), three runs: the floor script's call took
// 10–13 µs longer at the median with a context.WithTimeout of its own than
// without; a Decide of the default store, with this bound, −2 to +5 µs
// against WithTimeout(0).
func (s *Store) bound(ctx context.Context) (context.Context, *lazyDeadline) {
	if s.timeout == 0 {
		return ctx, nil
	}
	b := &lazyDeadline{parent: ctx, deadline: time.Now().Add(s.timeout)}
	if d, ok := ctx.Deadline(); ok && d.Before(b.deadline) {
		b.deadline = d
	}
	return b, b
}

// lazyDeadline is a context done at deadline or when its parent is, whose
// timer starts at the first call of Done (context.WithDeadline then).
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	ctx      context.Context // nil until Done is called
	cancel   context.CancelFunc
	released bool
}

// Deadline returns the earlier of the bound's and the parent's deadline.
func (b *lazyDeadline) Deadline() (time.Time, bool) { return b.deadline, true }

// Value returns the parent's value for key.
func (b *lazyDeadline) Value(key any) any { return b.parent.Value(key) }

// Done returns a channel closed at the deadline, when the parent is done,
// or once the bound is released, starting the timer on the first call.
func (b *lazyDeadline) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil {
		boundTimers.Add(1)
		b.ctx, b.cancel = context.WithDeadline(b.parent, b.deadline)
		if b.released {
			b.cancel()
		}
	}
	return b.ctx.Done()
}

// Err returns nil until the bound is done, then why: the parent's error,
// context.DeadlineExceeded past the deadline, or context.Canceled once
// released.
func (b *lazyDeadline) Err() error {
	b.mu.Lock()
	ctx, released := b.ctx, b.released
	b.mu.Unlock()
	if ctx != nil {
		return ctx.Err()
	}
	if err := b.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(b.deadline) {
		return context.DeadlineExceeded
	}
	if released {
		return context.Canceled
	}
	return nil
}

// release ends the bound: its timer, if one started, stops, and Done is
// closed from then on. A nil b (no timeout) has nothing to release.
func (b *lazyDeadline) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.released = true
	cancel := b.cancel
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
