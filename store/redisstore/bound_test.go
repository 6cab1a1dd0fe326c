package redisstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// TestBoundContext checks the per-call bound as a context: its deadline
// (the store's timeout rounded up to the millisecond, or the parent's when
// sooner), its values, and that it is done at its deadline and with its
// parent, whether Done was asked before or after, with the errors
// context.WithDeadline would give; and what release does, by the kind of
// parent: a parent that can be done gets a context of the bound's own,
// which release cancels (context.Canceled); under a parent that is never
// done (context.Background) the bound shares its deadline's channel and
// stays live until the deadline.
func TestBoundContext(t *testing.T) {
	type key struct{}
	never := context.WithValue(context.Background(), key{}, "v")
	cancelable, cancelParent := context.WithCancel(never)
	defer cancelParent()
	s := &Store{timeout: time.Hour}

	closed := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	for _, parent := range []context.Context{never, cancelable} {
		canBeDone := parent.Done() != nil
		start := time.Now()
		ctx, b := s.bound(parent)
		if d, ok := ctx.Deadline(); !ok || d.Before(start.Add(time.Hour)) || d.After(time.Now().Add(time.Hour+time.Millisecond)) || d.UnixNano()%1e6 != 0 {
			t.Errorf("Deadline() = %v, %v; want an hour from now rounded up to a whole millisecond", d, ok)
		}
		if v := ctx.Value(key{}); v != "v" {
			t.Errorf("Value = %v, want the parent's", v)
		}
		if err := ctx.Err(); err != nil || closed(ctx) {
			t.Errorf("a live bound is done: %v", err)
		}
		b.release()
		if got := closed(ctx); got != canBeDone {
			t.Errorf("parent can be done %v: a released bound is done %v", canBeDone, got)
		}
		if err := ctx.Err(); canBeDone && !errors.Is(err, context.Canceled) || !canBeDone && err != nil {
			t.Errorf("parent can be done %v: Err() of a released bound = %v", canBeDone, err)
		}

		// Released before anything waited: the same.
		ctx, b = s.bound(parent)
		b.release()
		if err := ctx.Err(); canBeDone && !errors.Is(err, context.Canceled) || !canBeDone && err != nil {
			t.Errorf("parent can be done %v: Err() of a bound released unwatched = %v", canBeDone, err)
		}
		if got := closed(ctx); got != canBeDone {
			t.Errorf("parent can be done %v: a bound released before Done was asked is done %v", canBeDone, got)
		}
	}

	// A sooner parent deadline is the bound's, and the parent's Done.
	soon, cancel := context.WithTimeout(never, time.Minute)
	pd, _ := soon.Deadline()
	ctx, b := s.bound(soon)
	if d, _ := ctx.Deadline(); !d.Equal(pd) {
		t.Errorf("Deadline() = %v, want the parent's sooner %v", d, pd)
	}
	done := ctx.Done()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a bound with its parent's deadline is not done with the parent")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() after the sooner parent's cancellation = %v", ctx.Err())
	}
	b.release()

	// Done at the deadline: asked before, and never asked, under both
	// kinds of parent.
	s.timeout = 20 * time.Millisecond
	for _, parent := range []context.Context{never, cancelable} {
		for _, watch := range []bool{true, false} {
			ctx, b := s.bound(parent)
			if watch {
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("a watched bound is not done at its deadline")
				}
			} else {
				time.Sleep(30 * time.Millisecond)
			}
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Errorf("watched %v: Err() past the deadline = %v, want context.DeadlineExceeded", watch, ctx.Err())
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done, asked past the deadline, is not closed")
			}
			b.release()
		}
	}

	// Done with its parent: watched, and never watched.
	s.timeout = time.Hour
	for _, watch := range []bool{true, false} {
		p, cancelParent := context.WithCancel(context.Background())
		ctx, b := s.bound(p)
		var done <-chan struct{}
		if watch {
			done = ctx.Done()
		}
		cancelParent()
		if watch {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a watched bound is not done with its parent")
			}
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("watched %v: Err() after the parent's cancellation = %v", watch, ctx.Err())
		}
		b.release()
	}
}

// TestBoundShared checks that bounds share their deadline's timer: under
// a parent that is never done, the bounds made in a few milliseconds have
// as many distinct Done channels as milliseconds (give or take one), not
// one each; under a parent that can be done, a released bound leaves its
// bucket, which then holds no reference to it.
func TestBoundShared(t *testing.T) {
	s := &Store{timeout: time.Hour}
	chans := map[<-chan struct{}]bool{}
	start := time.Now()
	const n = 1000
	for range n {
		ctx, b := s.bound(context.Background())
		chans[ctx.Done()] = true
		b.release()
	}
	ms := int(time.Since(start)/time.Millisecond) + 2
	if len(chans) > ms {
		t.Errorf("%d bounds in %d ms have %d distinct Done channels, want at most one a millisecond", n, ms, len(chans))
	}

	p, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, b := s.bound(p)
	ctx.Done()
	k, slot := b.bucket, b.slot
	if k == nil || k.cancels[slot] == nil {
		t.Fatal("a watched bound under a cancelable parent is not registered with its deadline's bucket")
	}
	b.release()
	k.mu.Lock()
	left := k.cancels[slot] == nil
	k.mu.Unlock()
	if !left {
		t.Error("a released bound is still registered with its deadline's bucket")
	}
}

// TestBoundConcurrent asks a bound's Done and Err from several goroutines
// while it is released (under a cancelable parent) or reaches its deadline
// (under context.Background), for the race detector.
func TestBoundConcurrent(t *testing.T) {
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		parent  context.Context
		timeout time.Duration
	}{
		{cancelable, time.Hour},
		{context.Background(), 2 * time.Millisecond},
	} {
		s := &Store{timeout: c.timeout}
		for range 50 {
			ctx, b := s.bound(c.parent)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					<-ctx.Done()
					if ctx.Err() == nil {
						t.Error("Err() = nil once Done is closed")
					}
				})
			}
			b.release()
			wg.Wait()
		}
	}
}

// TestBoundTimers checks what the lazy Done is for: serial decisions,
// which rueidis makes on the caller's goroutine reading only the
// deadline, (almost) never ask for it; once calls are pipelined (rueidis
// then waits on Done), the timeout still bounds a call to a server that
// stopped answering.
func TestBoundTimers(t *testing.T) {
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithCoalescing(0), WithTimeout(100*time.Millisecond))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(1_000_000))}
	ctx := context.Background()

	// The first call connects, waiting on its context's Done, and the one
	// after it may find the connection's setup still in flight, and wait
	// in the pipeline.
	for range 3 {
		if _, err := s.Decide(ctx, "serial", ps, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := boundWatches.Load()
	for range 20 {
		if _, err := s.Decide(ctx, "serial", ps, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Now and then rueidis still sends one of them through its pipeline
	// (1 in 20 runs of this test, one call each time).
	if n := boundWatches.Load() - before; n > 2 {
		t.Errorf("20 serial decisions asked for Done %d times, want at most 2", n)
	}

	// Concurrent calls put the connection's calls in rueidis's pipeline.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Decide(ctx, "concurrent", ps, 1, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	before = boundWatches.Load()
	srv.Pause(t)
	start := time.Now()
	_, err := s.Decide(ctx, "k", ps, 1, nil)
	took := time.Since(start)
	srv.Resume(t)
	wantUnavailable(t, "a pipelined call to a paused server", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match context.DeadlineExceeded", err)
	}
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("a pipelined call to a paused server failed after %v, want 100ms (and at most 2s more)", took)
	}
	if boundWatches.Load() == before {
		t.Error("the pipelined call never asked for Done, yet was bounded: the test did not reach rueidis's pipeline")
	}
}
