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
// (the store's timeout, or the parent's when sooner), its values, and
// that it is done at its deadline, with its parent, or once released,
// whether Done was asked before or after, with the error
// context.WithDeadline would give.
func TestBoundContext(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")
	s := &Store{timeout: time.Hour}

	start := time.Now()
	ctx, b := s.bound(parent)
	if d, ok := ctx.Deadline(); !ok || d.Before(start.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Errorf("Deadline() = %v, %v; want about an hour from now", d, ok)
	}
	if v := ctx.Value(key{}); v != "v" {
		t.Errorf("Value = %v, want the parent's", v)
	}
	if err := ctx.Err(); err != nil {
		t.Errorf("Err() of a live bound = %v", err)
	}
	select {
	case <-ctx.Done():
		t.Error("a live bound is done")
	default:
	}
	b.release()
	select {
	case <-ctx.Done():
	default:
		t.Error("a released bound is not done")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() of a released bound = %v, want context.Canceled", ctx.Err())
	}

	// Released before anything waited: done all the same.
	ctx, b = s.bound(parent)
	b.release()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() of a bound released unwatched = %v, want context.Canceled", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Error("a bound released before Done was asked is not done")
	}

	// A sooner parent deadline is the bound's.
	soon, cancel := context.WithTimeout(parent, time.Minute)
	defer cancel()
	pd, _ := soon.Deadline()
	ctx, b = s.bound(soon)
	if d, _ := ctx.Deadline(); !d.Equal(pd) {
		t.Errorf("Deadline() = %v, want the parent's sooner %v", d, pd)
	}
	b.release()

	// Done at the deadline: asked before, and never asked.
	s.timeout = 20 * time.Millisecond
	for _, watch := range []bool{true, false} {
		ctx, b := s.bound(context.Background())
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
		b.release()
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

// TestBoundConcurrent asks a bound's Done and Err from several goroutines
// while it is released, for the race detector.
func TestBoundConcurrent(t *testing.T) {
	s := &Store{timeout: time.Hour}
	for range 50 {
		ctx, b := s.bound(context.Background())
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

// TestBoundTimers checks what the lazy timer is for: serial decisions,
// which rueidis makes on the caller's goroutine reading only the
// deadline, start (almost) no timer; once calls are pipelined (rueidis then waits
// on Done), the timeout still bounds a call to a server that stopped
// answering.
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
	before := boundTimers.Load()
	for range 20 {
		if _, err := s.Decide(ctx, "serial", ps, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Now and then rueidis still sends one of them through its pipeline
	// (1 in 20 runs of this test, one call each time).
	if n := boundTimers.Load() - before; n > 2 {
		t.Errorf("20 serial decisions started %d timers, want at most 2", n)
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
	before = boundTimers.Load()
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
	if boundTimers.Load() == before {
		t.Error("the pipelined call started no timer, yet was bounded: the test did not reach rueidis's pipeline")
	}
}
