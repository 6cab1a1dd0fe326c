package typed_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// Two kinds of tests of Wait. Most run in a testing/synctest bubble on a
// store whose clock follows the bubble's time.Now: that clock is not a
// store.Sleeper, so Wait sleeps on timers, which use virtual time; it
// moves only when every goroutine of the bubble is blocked, so durations
// are exact and nothing really sleeps. The others run on a store with a
// store.FakeClock, which is a Sleeper: Wait sleeps on the fake clock, and
// the test moves it once the limiter is asleep (FakeClock.Sleepers).

// bubbleDeadline bounds, in real time, a test in a synctest bubble. Virtual
// time passes at once there, so a Wait that loops forever (sleeping
// RetryAfter again and again, or never blocking) would never end on its
// own: it would run until go test's timeout. Each bubble test takes
// milliseconds.
const bubbleDeadline = 10 * time.Second

// inBubble runs f in a synctest bubble, as synctest.Test does, within
// bubbleDeadline of real time: past it, the test binary panics naming the
// test, so a Wait that never returns fails in seconds.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	name := t.Name()
	watchdog := time.AfterFunc(bubbleDeadline, func() {
		panic(fmt.Sprintf("%s: its synctest bubble still runs after %v of real time (a Wait that never returns?)", name, bubbleDeadline))
	})
	defer watchdog.Stop()
	synctest.Test(t, f)
}

// bubbleStore returns a memory store that reads the bubble's virtual
// clock. Call it inside the bubble.
func bubbleStore(t *testing.T) *memstore.Store {
	t.Helper()
	return must(memstore.New(memstore.WithClock(clock.Func(func() int64 { return time.Now().UnixMicro() })))).of(t)
}

// newBubbleLimiter returns a string limiter on a fresh bubble store.
func newBubbleLimiter(t *testing.T, opts ...typed.Option) *typed.Limiter[string] {
	t.Helper()
	return must(typed.New[string](append([]typed.Option{typed.WithStore(bubbleStore(t))}, opts...)...)).of(t)
}

// timed runs f and returns the virtual time it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// fill drains key with one Limit of cost n, which must pass.
func fill(t *testing.T, l interface {
	Limit(context.Context, string, int64) (typed.Result, error)
}, key string, n int64) {
	t.Helper()
	if r := must(l.Limit(ctx, key, n)).of(t); r.Limited {
		t.Fatalf("fill: Limit(%d) = %v, want allowed", n, r)
	}
}

// TestWaitSleepsExactlyRetryAfter: for every algorithm, a limited Wait
// sleeps exactly the RetryAfter that Limit reports, then passes.
func TestWaitSleepsExactlyRetryAfter(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				// The bubble's clock starts at 2000-01-01T00:00:00Z, on a
				// window boundary; step off it so windows have an offset.
				time.Sleep(250 * time.Millisecond)
				l := newBubbleLimiter(t, typed.WithAlgorithm(a), typed.WithQuota(algo.PerSec(10).WithBurst(3)))
				capacity := must(l.Peek(ctx, "k")).of(t).Limit
				fill(t, l, "k", capacity)
				time.Sleep(30 * time.Millisecond)
				probe := must(l.Limit(ctx, "k", 2)).of(t)
				if !probe.Limited || probe.State.RetryAfter <= 0 || probe.State.RetryAfter == typed.Never {
					t.Fatalf("Limit(2) after filling = %v, want limited with a finite RetryAfter", probe)
				}
				var res typed.Result
				var err error
				elapsed := timed(func() { res, err = l.Wait(ctx, "k", 2) })
				if err != nil || res.Limited {
					t.Fatalf("Wait = %v, %v; want allowed", res, err)
				}
				if elapsed != probe.State.RetryAfter {
					t.Fatalf("Wait took %v, want exactly RetryAfter %v", elapsed, probe.State.RetryAfter)
				}
			})
		})
	}
}

func TestWaitExactValues(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		// 10 per second, burst 1: one token every 100ms.
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(1)))
		// Allowed at once: no sleep.
		if d := timed(func() { must(l.Wait(ctx, "k", 1)).of(t) }); d != 0 {
			t.Fatalf("allowed Wait took %v", d)
		}
		// Limited: sleeps the 100ms until the next token.
		if d := timed(func() { must(l.Wait(ctx, "k", 1)).of(t) }); d != 100*time.Millisecond {
			t.Fatalf("Wait took %v, want 100ms", d)
		}
		// Part of the token back already: sleeps the rest.
		time.Sleep(30 * time.Millisecond)
		if d := timed(func() { must(l.Wait(ctx, "k", 1)).of(t) }); d != 70*time.Millisecond {
			t.Fatalf("Wait took %v, want 70ms", d)
		}
		// Cost 0 never waits.
		if d := timed(func() { must(l.Wait(ctx, "k", 0)).of(t) }); d != 0 {
			t.Fatalf("Wait(cost 0) took %v", d)
		}
	})
	inBubble(t, func(t *testing.T) {
		// A timeout equal to RetryAfter is enough: Wait gives up only when
		// RetryAfter exceeds the time left.
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(1)), typed.WithTimeout(100*time.Millisecond))
		fill(t, l, "k", 1)
		var res typed.Result
		var err error
		if d := timed(func() { res, err = l.Wait(ctx, "k", 1) }); d != 100*time.Millisecond || err != nil || res.Limited {
			t.Fatalf("Wait with timeout = RetryAfter: %v, %v after %v; want allowed after 100ms", res, err, d)
		}
	})
}

// TestWaitNever: a cost above the capacity can never pass, so Wait returns
// at once with a *LimitedError and RetryAfter Never, even with no deadline.
func TestWaitNever(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				l := newBubbleLimiter(t, typed.WithAlgorithm(a), typed.WithQuota(algo.PerMin(5).WithBurst(7)))
				capacity := int64(5)
				if a.IsBucket() {
					capacity = 7
				}
				var res typed.Result
				var err error
				d := timed(func() { res, err = l.Wait(context.Background(), "k", capacity+1) })
				if d != 0 {
					t.Fatalf("Wait took %v, want no wait at all", d)
				}
				want := denied(st(capacity, capacity, 0, typed.Never))
				wantLimited(t, "Wait(capacity+1)", err, want)
				if !sameResult(res, want) {
					t.Fatalf("Wait returned %v, want %v", res, want)
				}
				// Do with a timeout does not wait either.
				lt := newBubbleLimiter(t, typed.WithAlgorithm(a), typed.WithQuota(algo.PerMin(5).WithBurst(7)),
					typed.WithCost(capacity+1), typed.WithTimeout(time.Hour))
				if d := timed(func() { err = lt.Do(ctx, "k", func(context.Context) error { t.Error("fn ran"); return nil }) }); d != 0 {
					t.Fatalf("Do took %v", d)
				}
				wantLimited(t, "Do(capacity+1)", err, want)
			})
		})
	}
}

// TestWaitGivesUp: while limited, Wait returns at once, with the last
// Result and a *LimitedError, when RetryAfter exceeds the time left before
// its deadline, the earlier of ctx's deadline and now+WithTimeout.
func TestWaitGivesUp(t *testing.T) {
	q := typed.WithQuota(algo.PerSec(10).WithBurst(1)) // RetryAfter 100ms when drained
	wantRes := denied(st(1, 0, 100*time.Millisecond, 100*time.Millisecond))
	check := func(t *testing.T, l *typed.Limiter[string], ctx context.Context) {
		t.Helper()
		fill(t, l, "k", 1)
		var res typed.Result
		var err error
		if d := timed(func() { res, err = l.Wait(ctx, "k", 1) }); d != 0 {
			t.Fatalf("Wait took %v, want it to give up at once", d)
		}
		wantLimited(t, "Wait", err, wantRes)
		if !sameResult(res, wantRes) {
			t.Fatalf("Wait returned %v, want the last Result %v", res, wantRes)
		}
	}
	t.Run("timeout", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			check(t, newBubbleLimiter(t, q, typed.WithTimeout(99*time.Millisecond)), context.Background())
		})
	})
	t.Run("ctx deadline before timeout", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			check(t, newBubbleLimiter(t, q, typed.WithTimeout(time.Second)), c)
		})
	})
	t.Run("timeout before ctx deadline", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			check(t, newBubbleLimiter(t, q, typed.WithTimeout(50*time.Millisecond)), c)
		})
	})
	t.Run("ctx deadline only", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), 99*time.Millisecond)
			defer cancel()
			check(t, newBubbleLimiter(t, q), c)
		})
	})
	t.Run("ctx deadline passed", func(t *testing.T) {
		// A done ctx fails the first decision itself (stores check ctx
		// before anything else): Wait returns at once with the store's
		// ErrUnavailable wrapping ctx's error, and nothing is charged.
		inBubble(t, func(t *testing.T) {
			c, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			l := newBubbleLimiter(t, q)
			var res typed.Result
			var err error
			if d := timed(func() { res, err = l.Wait(c, "k", 1) }); d != 0 {
				t.Fatalf("Wait took %v, want it to return at once", d)
			}
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) || !reflect.DeepEqual(res, typed.Result{}) {
				t.Fatalf("Wait = %v, %v; want ErrUnavailable wrapping DeadlineExceeded", res, err)
			}
			if got := peekRemaining(t, l, "k"); got != 1 {
				t.Fatalf("%d left after Wait with a done ctx, want 1", got)
			}
		})
	})
	t.Run("one deadline across retries", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			// 10 per second, burst 2: drained at 0, a Wait for 2 tokens
			// (RetryAfter 200ms) within a 250ms timeout sleeps 200ms. A
			// rival takes 1 token at 150ms, so at 200ms the waiter needs
			// 100ms more with only 50ms left: it gives up then, instead of
			// starting a new 250ms timeout.
			l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(2)), typed.WithTimeout(250*time.Millisecond))
			fill(t, l, "k", 2)
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(150 * time.Millisecond)
				fill(t, l, "k", 1)
			}()
			var res typed.Result
			var err error
			d := timed(func() { res, err = l.Wait(ctx, "k", 2) })
			<-done
			if d != 200*time.Millisecond {
				t.Fatalf("Wait took %v, want 200ms", d)
			}
			want := denied(st(2, 1, 100*time.Millisecond, 100*time.Millisecond))
			wantLimited(t, "Wait", err, want)
			if !sameResult(res, want) {
				t.Fatalf("Wait returned %v, want %v", res, want)
			}
		})
	})
}

// TestWaitCancel: cancelling ctx while Wait sleeps makes it return at
// once with ctx's error and the last Result.
func TestWaitCancel(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(1)))
		fill(t, l, "k", 1)
		c, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(30 * time.Millisecond)
			cancel()
		}()
		var res typed.Result
		var err error
		d := timed(func() { res, err = l.Wait(c, "k", 1) })
		if d != 30*time.Millisecond {
			t.Fatalf("Wait took %v, want 30ms (until cancelled)", d)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait error = %v, want context.Canceled", err)
		}
		if want := denied(st(1, 0, 100*time.Millisecond, 100*time.Millisecond)); !sameResult(res, want) {
			t.Fatalf("Wait returned %v, want the last Result %v", res, want)
		}
		// The cancelled wait took nothing: the token comes back on time.
		time.Sleep(70 * time.Millisecond)
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Limited {
			t.Fatalf("Limit after the cancelled Wait = %v, want allowed", r)
		}
	})
	inBubble(t, func(t *testing.T) {
		// Cancelled while Do waits: fn does not run, ctx's error comes back.
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(1)), typed.WithTimeout(time.Second))
		fill(t, l, "k", 1)
		c, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		err := l.Do(c, "k", func(context.Context) error { t.Error("fn ran"); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do error = %v, want context.Canceled", err)
		}
	})
}

// TestWaitNoDeadline: with neither a timeout nor a ctx deadline, Wait
// waits as long as it takes.
func TestWaitNoDeadline(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerHour(1)))
		fill(t, l, "k", 1)
		var res typed.Result
		var err error
		if d := timed(func() { res, err = l.Wait(context.Background(), "k", 1) }); d != time.Hour || err != nil || res.Limited {
			t.Fatalf("Wait = %v, %v after %v; want allowed after 1h", res, err, d)
		}
	})
	inBubble(t, func(t *testing.T) {
		// Three waiters on one token every 100ms: passed at 0, 100ms, 200ms.
		l := newBubbleLimiter(t, typed.WithQuota(algo.PerSec(10).WithBurst(1)))
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if r := must(l.Wait(ctx, "k", 1)).of(t); r.Limited {
					t.Errorf("Wait = %v", r)
				}
				mu.Lock()
				at = append(at, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(at) != 3 || at[0] != 0 || at[1] != 100*time.Millisecond || at[2] != 200*time.Millisecond {
			t.Fatalf("waiters passed at %v, want [0s 100ms 200ms]", at)
		}
	})
}

// TestDoWrapWait: with WithTimeout, Do, Wrap and WrapFunc wait and retry
// as Wait does; without, they decide at once.
func TestDoWrapWait(t *testing.T) {
	q := typed.WithQuota(algo.PerSec(10).WithBurst(1))
	calls := func(l *typed.Limiter[string], ran *int) map[string]func() error {
		fn := func(context.Context) error { *ran++; return nil }
		wf := typed.WrapFunc(l, func(s string) string { return s }, func(ctx context.Context, s string) (int, error) { return 0, fn(ctx) })
		return map[string]func() error{
			"Do":       func() error { return l.Do(ctx, "k", fn) },
			"Wrap":     func() error { return typed.Wrap(l, "k", fn)(ctx) },
			"WrapFunc": func() error { _, err := wf(ctx, "k"); return err },
		}
	}
	for _, name := range []string{"Do", "Wrap", "WrapFunc"} {
		t.Run(name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				ran := 0
				call := calls(newBubbleLimiter(t, q, typed.WithTimeout(time.Second)), &ran)[name]
				if err := call(); err != nil || ran != 1 {
					t.Fatalf("first call: %v, ran %d", err, ran)
				}
				var err error
				if d := timed(func() { err = call() }); d != 100*time.Millisecond || err != nil || ran != 2 {
					t.Fatalf("with a timeout: %v after %v, ran %d; want it to wait 100ms and run", err, d, ran)
				}
			})
			inBubble(t, func(t *testing.T) {
				ran := 0
				call := calls(newBubbleLimiter(t, q), &ran)[name]
				if err := call(); err != nil || ran != 1 {
					t.Fatalf("first call: %v, ran %d", err, ran)
				}
				var err error
				d := timed(func() { err = call() })
				if d != 0 || ran != 1 {
					t.Fatalf("without a timeout: took %v and ran %d, want no wait and no run", d, ran)
				}
				wantLimited(t, "without a timeout", err, denied(st(1, 0, 100*time.Millisecond, 100*time.Millisecond)))
			})
			inBubble(t, func(t *testing.T) {
				ran := 0
				call := calls(newBubbleLimiter(t, q, typed.WithTimeout(50*time.Millisecond)), &ran)[name]
				if err := call(); err != nil || ran != 1 {
					t.Fatalf("first call: %v, ran %d", err, ran)
				}
				var err error
				d := timed(func() { err = call() })
				if d != 0 || ran != 1 {
					t.Fatalf("timeout below RetryAfter: took %v and ran %d, want no wait and no run", d, ran)
				}
				wantLimited(t, "timeout below RetryAfter", err, denied(st(1, 0, 100*time.Millisecond, 100*time.Millisecond)))
			})
		})
	}
}

// TestWaitRetryAsThrottledPy is throttled-py's wait-and-retry example: GCRA, 100 per
// second with burst 100, timeout 1s, 1000 calls from 4 workers.
// throttled-py reports 8 of 1000 denied at about 111 req/s.
//
// Bounds from the quota, with E the virtual time taken and T = 10ms the
// emission interval: GCRA admits at most 100 + ⌊E/T⌋ in [0, E]. Every
// denied call had RetryAfter ≤ T and so waited more than 1s − T before
// giving up, so each worker is denied at most ⌊E/(1s − T)⌋ times. And
// while calls remain some worker is always waiting, so no slot is
// wasted: E ≤ (admitted − 100)·T + 1s.
func TestWaitRetryAsThrottledPy(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		const (
			calls   = 1000
			workers = 4
			burst   = 100
			T       = 10 * time.Millisecond
		)
		l := newBubbleLimiter(t, typed.WithAlgorithm(algo.GCRA), typed.WithQuota(algo.PerSec(100).WithBurst(burst)),
			typed.WithTimeout(time.Second))
		var next, admitted, deniedN atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= calls {
					r, err := l.Wait(ctx, "/ping", 1)
					switch {
					case err == nil && !r.Limited:
						admitted.Add(1)
					case errors.Is(err, typed.ErrLimited) && r.Limited:
						deniedN.Add(1)
					default:
						t.Errorf("Wait = %v, %v", r, err)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		a, d := admitted.Load(), deniedN.Load()
		t.Logf("admitted %d, denied %d, virtual time %v (%.0f req/s)", a, d, elapsed, float64(calls)/elapsed.Seconds())
		if a+d != calls {
			t.Fatalf("admitted %d + denied %d != %d", a, d, calls)
		}
		if limit := burst + int64(elapsed/T); a > limit {
			t.Fatalf("admitted %d in %v, more than the quota allows (%d)", a, elapsed, limit)
		}
		if maxDenied := workers * int64(elapsed/(time.Second-T)); d > maxDenied {
			t.Fatalf("denied %d in %v, more than %d workers giving up once per %v", d, elapsed, workers, time.Second-T)
		}
		if maxElapsed := time.Duration(a-burst)*T + time.Second; elapsed > maxElapsed {
			t.Fatalf("took %v to admit %d, want at most %v: slots were wasted", elapsed, a, maxElapsed)
		}
		// Hence nearly all pass, in about 9s.
		if a < calls-40 || elapsed < 8600*time.Millisecond || elapsed > 10*time.Second {
			t.Fatalf("admitted %d in %v, want nearly all 1000 in about 9s", a, elapsed)
		}
	})
}

// watchdog is how long, in real time, a test of Wait on a fake clock waits
// for the limiter to fall asleep or return before it fails: a Wait that
// does not sleep on the fake clock would otherwise hang the test.
const watchdog = 10 * time.Second

// waitCall is a Wait (or Do) running in its own goroutine.
type waitCall struct {
	done chan struct{}
	res  typed.Result
	err  error
}

// startWait runs l.Wait(c, key, cost) in a new goroutine.
func startWait[K comparable](l *typed.Limiter[K], c context.Context, key K, cost int64) *waitCall {
	w := &waitCall{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.res, w.err = l.Wait(c, key, cost)
	}()
	return w
}

// startDo runs l.Do(c, key, fn) in a new goroutine.
func startDo[K comparable](l *typed.Limiter[K], c context.Context, key K, fn func(context.Context) error) *waitCall {
	w := &waitCall{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = l.Do(c, key, fn)
	}()
	return w
}

// result waits for the call to return, failing t after the watchdog.
func (w *waitCall) result(t *testing.T) (typed.Result, error) {
	t.Helper()
	select {
	case <-w.done:
		return w.res, w.err
	case <-time.After(watchdog):
		t.Fatalf("Wait did not return within %v of real time", watchdog)
		return typed.Result{}, nil
	}
}

// running fails t if the call has returned.
func (w *waitCall) running(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.done:
		t.Fatalf("%s: Wait returned %v, %v; want it still asleep", what, w.res, w.err)
	default:
	}
}

// awaitSleepers waits until n goroutines sleep on fc, failing t after the
// watchdog (a Wait sleeping on a timer instead never shows up).
func awaitSleepers(t *testing.T, fc *store.FakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(watchdog)
	for fc.Sleepers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines asleep on the fake clock after %v, want %d", fc.Sleepers(), watchdog, n)
		}
		time.Sleep(50 * time.Microsecond) // polling, not timing: the fake clock does not move
	}
}

// watchdogCtx returns a context cancelled after the watchdog, so a Wait
// that would hang ends (with ctx's error) and the test fails fast.
func watchdogCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), watchdog)
	t.Cleanup(cancel)
	return c
}

// TestWaitFakeClock: on a store with a store.FakeClock, Wait sleeps on the
// fake clock exactly the RetryAfter that Limit reports, for every
// algorithm, on the memory store and on Redis: it is still asleep a
// microsecond before and passes once the clock gets there.
func TestWaitFakeClock(t *testing.T) {
	for _, b := range backends(t) {
		for _, a := range algo.Algorithms {
			t.Run(b.name+"/"+a.String(), func(t *testing.T) {
				b.fc.Advance(250 * time.Millisecond) // off the window boundaries
				l := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(algo.PerSec(10).WithBurst(3)))).of(t)
				key := "wait-" + a.String()
				capacity := must(l.Peek(ctx, key)).of(t).Limit
				fill(t, l, key, capacity)
				b.fc.Advance(30 * time.Millisecond)
				probe := must(l.Limit(ctx, key, 2)).of(t)
				retry := probe.State.RetryAfter
				if !probe.Limited || retry <= time.Microsecond || retry == typed.Never {
					t.Fatalf("Limit(2) after filling = %v, want limited with a finite RetryAfter", probe)
				}
				w := startWait(l, watchdogCtx(t), key, 2)
				awaitSleepers(t, b.fc, 1)
				b.fc.Advance(retry - time.Microsecond)
				w.running(t, "a microsecond before RetryAfter")
				if n := b.fc.Sleepers(); n != 1 {
					t.Fatalf("%d sleepers a microsecond before RetryAfter, want 1", n)
				}
				b.fc.Advance(time.Microsecond)
				res, err := w.result(t)
				if err != nil || res.Limited {
					t.Fatalf("Wait = %v, %v; want allowed once the clock reached RetryAfter", res, err)
				}
			})
		}
	}
}

// TestWaitFakeClockNoRealSleep: a Wait of an hour on the fake clock takes
// no real hour, and a limiter with typed keys on a string store sleeps on
// that store's fake clock too.
func TestWaitFakeClockNoRealSleep(t *testing.T) {
	rs, fc := newRecStore(t)
	l := must(typed.New[userID](typed.WithStore(rs), typed.WithQuota(algo.PerHour(1)))).of(t)
	if r := must(l.Limit(ctx, 1, 1)).of(t); r.Limited {
		t.Fatal(r)
	}
	start := time.Now()
	w := startWait(l, watchdogCtx(t), 1, 1)
	awaitSleepers(t, fc, 1)
	fc.Advance(time.Hour)
	if res, err := w.result(t); err != nil || res.Limited {
		t.Fatalf("Wait = %v, %v", res, err)
	}
	if d := time.Since(start); d > watchdog {
		t.Fatalf("an hour's Wait on the fake clock took %v of real time", d)
	}
}

// TestWaitFakeClockTimeout: the timeout is measured on the fake clock, and
// one deadline holds across retries. 10 per second, burst 2, timeout
// 250ms: drained at 0, a Wait for 2 tokens sleeps 200ms; a rival takes a
// token at 150ms, so at 200ms the waiter needs 100ms more with 50ms left
// on the fake clock: it gives up then. Measured on the real clock, hardly
// any time would have passed and it would sleep again.
func TestWaitFakeClockTimeout(t *testing.T) {
	ms := time.Millisecond
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := must(typed.New[string](typed.WithStore(b.s), typed.WithQuota(algo.PerSec(10).WithBurst(2)), typed.WithTimeout(250*ms))).of(t)
			fill(t, l, "k", 2)
			w := startWait(l, watchdogCtx(t), "k", 2)
			awaitSleepers(t, b.fc, 1)
			b.fc.Advance(150 * ms)
			w.running(t, "at 150ms")
			fill(t, l, "k", 1)
			b.fc.Advance(50 * ms)
			res, err := w.result(t)
			want := denied(st(2, 1, 100*ms, 100*ms))
			wantLimited(t, "Wait", err, want)
			if !sameResult(res, want) {
				t.Fatalf("Wait returned %v, want %v", res, want)
			}
			if n := b.fc.Sleepers(); n != 0 {
				t.Fatalf("%d sleepers left", n)
			}
		})
	}
	t.Run("timeout equal to RetryAfter", func(t *testing.T) {
		s, fc := newStore(t)
		l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(10).WithBurst(1)), typed.WithTimeout(100*ms))).of(t)
		fill(t, l, "k", 1)
		w := startWait(l, watchdogCtx(t), "k", 1)
		awaitSleepers(t, fc, 1)
		fc.Advance(100 * ms)
		if res, err := w.result(t); err != nil || res.Limited {
			t.Fatalf("Wait = %v, %v; want allowed", res, err)
		}
	})
	t.Run("timeout below RetryAfter", func(t *testing.T) {
		s, fc := newStore(t)
		l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(10).WithBurst(1)), typed.WithTimeout(99*ms))).of(t)
		fill(t, l, "k", 1)
		res, err := startWait(l, watchdogCtx(t), "k", 1).result(t)
		wantLimited(t, "Wait", err, denied(st(1, 0, 100*ms, 100*ms)))
		if res.State.RetryAfter != 100*ms || fc.Sleepers() != 0 || fc.Now() != t0 {
			t.Fatalf("Wait = %v; sleepers %d; clock moved by %dµs", res, fc.Sleepers(), fc.Now()-t0)
		}
	})
	t.Run("ctx deadline does not end the sleep early on a fake clock", func(t *testing.T) {
		// On a fake clock only ctx.Done ends a sleep: a ctx deadline in
		// real time is not compared with fake durations.
		s, fc := newStore(t)
		l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerHour(1)))).of(t)
		fill(t, l, "k", 1)
		c, cancel := context.WithTimeout(ctx, time.Minute) // real minute < fake hour
		defer cancel()
		w := startWait(l, c, "k", 1)
		awaitSleepers(t, fc, 1)
		fc.Advance(time.Hour)
		if res, err := w.result(t); err != nil || res.Limited {
			t.Fatalf("Wait = %v, %v; want allowed after the fake hour", res, err)
		}
	})
}

// TestWaitFakeClockCancel: cancelling ctx while Wait sleeps on the fake
// clock returns ctx's error and the last Result at once, leaves no
// sleeper, and charges nothing.
func TestWaitFakeClockCancel(t *testing.T) {
	s, fc := newStore(t)
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(10).WithBurst(1)))).of(t)
	fill(t, l, "k", 1)
	c, cancel := context.WithCancel(watchdogCtx(t))
	w := startWait(l, c, "k", 1)
	awaitSleepers(t, fc, 1)
	fc.Advance(30 * time.Millisecond)
	cancel()
	res, err := w.result(t)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait error = %v, want context.Canceled", err)
	}
	if want := denied(st(1, 0, 100*time.Millisecond, 100*time.Millisecond)); !sameResult(res, want) {
		t.Fatalf("Wait returned %v, want the last Result %v", res, want)
	}
	if n := fc.Sleepers(); n != 0 {
		t.Fatalf("%d sleepers after the cancelled Wait", n)
	}
	fc.Advance(70 * time.Millisecond)
	if r := must(l.Limit(ctx, "k", 1)).of(t); r.Limited {
		t.Fatalf("Limit after the cancelled Wait = %v, want allowed: it took nothing", r)
	}
}

// TestWaitFakeClockQueue: three waiters on one token every 100ms pass at
// 0, 100ms and 200ms of the fake clock.
func TestWaitFakeClockQueue(t *testing.T) {
	s, fc := newStore(t)
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(10).WithBurst(1)))).of(t)
	c := watchdogCtx(t)
	ws := []*waitCall{startWait(l, c, "k", 1), startWait(l, c, "k", 1), startWait(l, c, "k", 1)}
	finished := func() int {
		n := 0
		for _, w := range ws {
			select {
			case <-w.done:
				if w.err != nil || w.res.Limited {
					t.Fatalf("Wait = %v, %v", w.res, w.err)
				}
				n++
			default:
			}
		}
		return n
	}
	for step := range 3 {
		// Every waiter not yet through is asleep; the one through has
		// returned (its goroutine may lag: wait for it).
		awaitSleepers(t, fc, 2-step)
		deadline := time.Now().Add(watchdog)
		for finished() != step+1 {
			if time.Now().After(deadline) {
				t.Fatalf("at %v: %d waiters through, want %d", time.Duration(fc.Now()-t0)*time.Microsecond, finished(), step+1)
			}
			time.Sleep(50 * time.Microsecond)
		}
		fc.Advance(100 * time.Millisecond)
	}
}

// TestWaitFakeClockQuotas: with several quotas Wait sleeps the greatest
// RetryAfter, when every quota admits the request, and Do with a timeout
// waits the same way.
func TestWaitFakeClockQuotas(t *testing.T) {
	ms := time.Millisecond
	qs := typed.WithQuotas(algo.PerSec(10).WithBurst(1), algo.PerSec(4).WithBurst(1).WithAlgorithm(algo.GCRA)) // 100ms and 250ms a request
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := must(typed.New[string](typed.WithStore(b.s), qs, typed.WithTimeout(time.Second))).of(t)
			fill(t, l, "k", 1)
			w := startWait(l, watchdogCtx(t), "k", 1)
			awaitSleepers(t, b.fc, 1)
			b.fc.Advance(249 * ms)
			w.running(t, "at 249ms")
			b.fc.Advance(ms)
			if res, err := w.result(t); err != nil || res.Limited || len(res.Quotas) != 2 {
				t.Fatalf("Wait = %v, %v; want allowed at 250ms", res, err)
			}
			ran := false
			d := startDo(l, watchdogCtx(t), "k", func(context.Context) error { ran = true; return nil })
			awaitSleepers(t, b.fc, 1)
			b.fc.Advance(250 * ms)
			if _, err := d.result(t); err != nil || !ran {
				t.Fatalf("Do = %v, ran %v", err, ran)
			}
		})
	}
}

// TestWaitNonSleeperClock: a store whose clock is not a store.Sleeper, or
// that does not tell its clock, makes Wait sleep on timers (here in a
// synctest bubble), with typed keys encoded for a string store too.
func TestWaitNonSleeperClock(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		s := bubbleStore(t)
		for i, opt := range []typed.Option{typed.WithStore(plainStore[string]{s}), typed.WithStore(&recStore{s: s})} {
			l := must(typed.New[userID](opt, typed.WithQuota(algo.PerSec(10).WithBurst(1)))).of(t)
			key := userID(i)
			if r := must(l.Limit(ctx, key, 1)).of(t); r.Limited {
				t.Fatal(r)
			}
			if d := timed(func() { must(l.Wait(ctx, key, 1)).of(t) }); d != 100*time.Millisecond {
				t.Fatalf("Wait took %v, want 100ms", d)
			}
		}
	})
}
