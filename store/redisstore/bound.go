package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// boundWatches counts the bounds whose Done was asked (tests read it).
var boundWatches atomic.Int64

// bound returns ctx bounded by the store's timeout, and the bound to
// release once the call has returned (nil, with ctx itself, when the store
// has no timeout; release is safe on nil). The bound, not a release
// function, comes back, as a method value would cost an allocation a call.
//
// The bound's deadline is the store's timeout from now, rounded up to the
// next millisecond, or the parent's deadline when that is sooner; and it
// starts no timer of its own. rueidis makes a call on a connection with no
// other call in flight on the caller's goroutine, reading only the
// context's Deadline and setting it on the socket; a call that waits in
// its pipeline (concurrent calls, or any call on a connection that once
// had several in flight) waits on Done. The bounds whose deadlines round to
// the same millisecond share one timer (deadlineBucket), which closes
// their Done: a timer a call cost a pipelined serial Decide 1.4–2.2 µs
// (the runtime may wake the thread sleeping in the network poller to
// re-arm it), and 16 goroutines' Decide 3.3 µs of client CPU a call.
func (s *Store) bound(ctx context.Context) (context.Context, *lazyDeadline) {
	if s.timeout == 0 {
		return ctx, nil
	}
	b := &lazyDeadline{parent: ctx, deadline: ceilMilli(time.Now().Add(s.timeout))}
	if d, ok := ctx.Deadline(); ok && d.Before(b.deadline) {
		b.deadline, b.parentFirst = d, true
	}
	return b, b
}

// ceilMilli rounds t up to a whole millisecond (wall clock).
func ceilMilli(t time.Time) time.Time {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return time.UnixMilli(ms)
}

// lazyDeadline is a context done at its deadline or when its parent is.
// Its Done is, by what the parent is: the parent's own when the parent's
// deadline comes first; the deadline's shared channel when the parent is
// never done (context.Background); else that of a
// context.WithCancelCause of the parent, which the deadline's bucket
// cancels.
type lazyDeadline struct {
	parent      context.Context
	deadline    time.Time
	parentFirst bool // the parent's deadline is the bound's

	mu       sync.Mutex
	done     <-chan struct{}         // nil until Done is asked
	child    context.Context         // the parent's WithCancelCause, if made
	cancel   context.CancelCauseFunc // the child's
	bucket   *deadlineBucket         // where the child is registered
	slot     int
	released bool
}

// Deadline returns the bound's deadline: the earlier of the store's
// timeout (rounded up to the millisecond) and the parent's deadline.
func (b *lazyDeadline) Deadline() (time.Time, bool) { return b.deadline, true }

// Value returns the parent's value for key.
func (b *lazyDeadline) Value(key any) any { return b.parent.Value(key) }

// Done returns a channel closed at the deadline or when the parent is
// done; and, when the parent can be done, once the bound is released.
func (b *lazyDeadline) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done != nil {
		return b.done
	}
	boundWatches.Add(1)
	switch {
	case b.parentFirst:
		b.done = b.parent.Done()
	case b.parent.Done() == nil:
		b.done = bucketFor(b.deadline).done
	default:
		b.child, b.cancel = context.WithCancelCause(b.parent)
		b.done = b.child.Done()
		if b.released {
			b.cancel(context.Canceled)
		} else {
			b.bucket = bucketFor(b.deadline)
			b.slot = b.bucket.register(b.cancel)
		}
	}
	return b.done
}

// Err returns nil until the bound is done, then why: the parent's error,
// context.DeadlineExceeded past the deadline, or context.Canceled once
// released when the parent can be done (Done is closed then; when the
// parent is never done, a released bound is done only at its deadline).
func (b *lazyDeadline) Err() error {
	b.mu.Lock()
	done, child, released := b.done, b.child, b.released
	b.mu.Unlock()
	if done == nil { // never watched: as Done would be
		if err := b.parent.Err(); err != nil {
			return err
		}
		if !time.Now().Before(b.deadline) {
			return context.DeadlineExceeded
		}
		if released && b.parent.Done() != nil {
			return context.Canceled
		}
		return nil
	}
	select {
	case <-done:
	default:
		return nil
	}
	if err := b.parent.Err(); err != nil {
		return err
	}
	if child != nil {
		return context.Cause(child) // DeadlineExceeded from the bucket, Canceled from release
	}
	return context.DeadlineExceeded
}

// release ends the bound: a context made for it on the parent's behalf is
// canceled (Err is context.Canceled from then on) and leaves its deadline's
// bucket. A nil b (no timeout) has nothing to release.
func (b *lazyDeadline) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.released = true
	cancel, bucket, slot := b.cancel, b.bucket, b.slot
	b.bucket = nil
	b.mu.Unlock()
	if bucket != nil {
		bucket.unregister(slot)
	}
	if cancel != nil {
		cancel(context.Canceled)
	}
}

// deadlineBucket is the timer of every bound whose deadline is end: at
// end it closes done and cancels the contexts registered with it.
type deadlineBucket struct {
	key  int64 // end, in ms since the epoch
	end  time.Time
	done chan struct{}

	mu      sync.Mutex
	fired   bool
	cancels []context.CancelCauseFunc // nil where a bound has left
}

// register adds cancel to those called at end (at once when end has
// passed) and returns its slot for unregister.
func (k *deadlineBucket) register(cancel context.CancelCauseFunc) int {
	k.mu.Lock()
	if k.fired {
		k.mu.Unlock()
		cancel(context.DeadlineExceeded)
		return -1
	}
	k.cancels = append(k.cancels, cancel)
	slot := len(k.cancels) - 1
	k.mu.Unlock()
	return slot
}

// unregister drops the cancel function at slot (from register).
func (k *deadlineBucket) unregister(slot int) {
	k.mu.Lock()
	if !k.fired && slot >= 0 {
		k.cancels[slot] = nil
	}
	k.mu.Unlock()
}

// fire closes done and cancels the registered contexts, their cause
// context.DeadlineExceeded.
func (k *deadlineBucket) fire() {
	buckets.mu.Lock()
	delete(buckets.byKey, k.key)
	buckets.mu.Unlock()
	k.mu.Lock()
	k.fired = true
	cancels := k.cancels
	k.cancels = nil
	k.mu.Unlock()
	close(k.done)
	for _, cancel := range cancels {
		if cancel != nil {
			cancel(context.DeadlineExceeded)
		}
	}
}

// buckets are the deadlines' buckets not yet fired, by key; last is the
// one most recently asked for, which a store's calls, their deadlines
// rising with time, mostly ask for again.
var buckets struct {
	mu    sync.Mutex
	byKey map[int64]*deadlineBucket
	last  atomic.Pointer[deadlineBucket]
}

// bucketFor returns the bucket of deadline d, a whole millisecond,
// starting its timer when it is new.
func bucketFor(d time.Time) *deadlineBucket {
	key := d.UnixMilli()
	if k := buckets.last.Load(); k != nil && k.key == key {
		return k
	}
	buckets.mu.Lock()
	defer buckets.mu.Unlock()
	k := buckets.byKey[key]
	if k == nil {
		if buckets.byKey == nil {
			buckets.byKey = map[int64]*deadlineBucket{}
		}
		k = &deadlineBucket{key: key, end: d, done: make(chan struct{})}
		buckets.byKey[key] = k
		time.AfterFunc(time.Until(d), k.fire)
	}
	buckets.last.Store(k)
	return k
}
