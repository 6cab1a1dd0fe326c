package proptest

import (
	"context"
	"errors"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// Minimized cases the property tests found. Each is a timeline on one key.

type step struct {
	at   int64 // µs since the epoch
	cost int64
	want algo.Decision // checked when check is set
	// check marks the steps the test asserts (the others set up the state).
	check bool
}

func runTimeline(t *testing.T, s store.Store, clk *clock.Fake, p *algo.Params, steps []step) {
	t.Helper()
	for i, st := range steps {
		clk.Set(st.at)
		d, err := s.Decide(context.Background(), "k", p, st.cost)
		if err != nil {
			t.Fatalf("step %d (at %d cost %d): %v", i, st.at, st.cost, err)
		}
		if st.check && d != st.want {
			t.Errorf("step %d (at %d cost %d): got %+v, want %+v", i, st.at, st.cost, d, st.want)
		}
	}
}

// TestRegressionExpiredRewind: a clock that steps back past a key's expiry,
// after a request that kept nothing found the key expired.
//
// Quota 1 per second (P = 1e6µs, L = B = 1), t0 = 1000s (window-aligned):
//
//	t0          cost 1  allowed, the key is now at its limit
//	t0 + 1s(+1) cost 0  a Peek at the key's ResetAfter: back at its initial state
//	t0 + 0.5s   cost 1  the clock has stepped back half a second
//
// The last request is 0.5s after the admission at t0, and DESIGN §3 says
// time never runs backwards inside a key and a stepped clock never
// over-admits. So it must be denied, exactly as without the Peek:
//
//   - token bucket / leaky bucket / GCRA: level 0 + 0.5s·1/s = 0.5 < 1:
//     denied, Remaining ⌊0.5⌋ = 0, RetryAfter ⌈0.5·1s⌉ = 500000µs,
//     ResetAfter 500000µs; admitting would pass 2 in [t0, t0+0.5s], over
//     the bound B + ⌊0.5s·L/P⌋ = 1;
//   - fixed window: the window [t0, t0+1s) already counts 1 = L: denied,
//     RetryAfter = ResetAfter = 500000µs (the window's end); admitting
//     would count 2 > L in one aligned window;
//   - sliding window: curr = 1 = L in the same window: denied; the estimate
//     ⌊1·(P−e)/P⌋ is 0 from offset e = 1 of the next window on, so
//     RetryAfter = ResetAfter = 500001µs.
//
// The Redis store decides exactly that. The memory store decides it too
// when there is no Peek in between, but the Peek found the entry expired and
// deleted it (memstore.go, decideLocked: "expired: equivalent to absent"),
// so the key is fresh again at t0+0.5s and the request is allowed
// (Remaining 0, ResetAfter 1000000 for the buckets): the two stores differ,
// a Peek changed what a later request decides, and the key admits 2 where
// the quota allows 1. The janitor's sweep and a full shard's sweep drop
// expired entries the same way.
func TestRegressionExpiredRewind(t *testing.T) {
	const t0, sec = int64(1_000_000_000), int64(1_000_000)
	denied := func(retry, reset int64) algo.Decision {
		return algo.Decision{Limited: true, RetryAfter: retry, ResetAfter: reset}
	}
	cases := []struct {
		alg   algo.Algorithm
		reset int64 // ResetAfter of the admission at t0
		want  algo.Decision
	}{
		{algo.TokenBucket, sec, denied(sec/2, sec/2)},
		{algo.LeakingBucket, sec, denied(sec/2, sec/2)},
		{algo.GCRA, sec, denied(sec/2, sec/2)},
		{algo.FixedWindow, sec, denied(sec/2, sec/2)},
		{algo.SlidingWindow, sec + 1, denied(sec/2+1, sec/2+1)},
	}
	run := func(t *testing.T, newStore func(*testing.T, *clock.Fake) store.Store) {
		for _, c := range cases {
			t.Run("algo="+c.alg.String(), func(t *testing.T) {
				p, err := algo.Compile(c.alg, algo.PerSec(1))
				if err != nil {
					t.Fatal(err)
				}
				clk := clock.NewFake(t0)
				steps := []step{
					{at: t0, cost: 1, want: algo.Decision{ResetAfter: c.reset}, check: true},
					{at: t0 + c.reset, cost: 0, want: algo.Decision{Remaining: 1}, check: true},
					{at: t0 + sec/2, cost: 1, want: c.want, check: true},
				}
				// The exact model the property tests use agrees.
				m := newModel(c.alg, algo.PerSec(1))
				for _, st := range steps {
					if d, _ := m.decide(st.at, st.cost); d != st.want {
						t.Fatalf("model at %d: %+v, want %+v (test bug)", st.at, d, st.want)
					}
				}
				runTimeline(t, newStore(t, clk), clk, &p, steps)
			})
		}
	}
	t.Run("store=memory", func(t *testing.T) {
		run(t, func(t *testing.T, clk *clock.Fake) store.Store {
			s := memstore.New(memstore.WithClock(clk), memstore.WithSweepInterval(0))
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("store=redis", func(t *testing.T) {
		c := newClient(t, redistest.Standalone(t).Addr())
		run(t, func(t *testing.T, clk *clock.Fake) store.Store { return newRedisStore(t, c, clk) })
	})
}

// TestRegressionEmptyKey: the empty key is invalid input (DESIGN §3: "Reject
// ... empty key ... with a clear error") on every store.Store, as
// store.CheckKey says. The Redis store refuses it in Decide, Reset and
// DecideBatch with a *algo.DataError matching algo.ErrInvalid. The memory
// store's string methods (Store.Decide, Store.Reset, Store.DecideBatch)
// accept it and keep state under "" (memstore.go: Table.Decide checks
// params, cost and time but not the key), so the two stores answer the same
// call differently: memory {Limited:false Remaining:0 ...}, Redis an error.
// (typed.Limiter refuses "" before any store, so the facade is not affected.)
func TestRegressionEmptyKey(t *testing.T) {
	p, err := algo.Compile(algo.TokenBucket, algo.PerSec(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(t *testing.T, s store.Store) {
		if d, err := s.Decide(ctx, "", &p, 1); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("Decide(\"\", cost 1) = %+v, %v; want algo.ErrInvalid", d, err)
		}
		if err := s.Reset(ctx, "", algo.TokenBucket); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("Reset(\"\") = %v; want algo.ErrInvalid", err)
		}
		if b, ok := s.(store.Batcher[string]); ok {
			out, errs := make([]algo.Decision, 2), make([]error, 2)
			b.DecideBatch(ctx, &p, []store.Request[string]{{Key: "", Cost: 1}, {Key: "x", Cost: 1}}, out, errs)
			if !errors.Is(errs[0], algo.ErrInvalid) || errs[1] != nil {
				t.Errorf("DecideBatch([\"\", \"x\"]) errors = %v; want algo.ErrInvalid for \"\" only", errs)
			}
		}
	}
	t.Run("store=memory", func(t *testing.T) {
		s := memstore.New(memstore.WithSweepInterval(0))
		defer s.Close()
		check(t, s)
	})
	t.Run("store=redis", func(t *testing.T) {
		check(t, newRedisStore(t, newClient(t, redistest.Standalone(t).Addr()), clock.NewFake(1)))
	})
}
