package proptest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// Minimized cases the property tests found. Each is a timeline on one key.

type step struct {
	at   int64 // µs since the epoch
	cost int64
	want algo.Decision // checked when check is set
	// check marks the steps the test asserts (the others set up the state).
	check bool
}

func runTimeline(t *testing.T, s store.Store[string], clk *store.FakeClock, ps []*store.Policy, steps []step) {
	t.Helper()
	for i, st := range steps {
		clk.Set(st.at)
		d, err := s.Decide(context.Background(), "k", ps, st.cost, nil)
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
// The durations hold in the caller's time (t0 + 0.5s), which here is also
// the key's: the clock is behind the key's expiry, not its state.
//
// The Redis store decides exactly that. The memory store once did only
// when there was no Peek in between: the Peek found the entry expired and
// deleted it, so the key was fresh again at t0+0.5s and the request was
// allowed (Remaining 0, ResetAfter 1000000 for the buckets): the two stores
// differed, a Peek changed what a later request decides, and the key
// admitted 2 where the quota allows 1. Reads now drop nothing.
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
	run := func(t *testing.T, newStore func(*testing.T, *store.FakeClock) store.Store[string]) {
		for _, c := range cases {
			t.Run("algo="+c.alg.String(), func(t *testing.T) {
				ps := []*store.Policy{mustPolicy(t, algo.PerSec(1).WithAlgorithm(c.alg))}
				clk := store.NewFakeClock(t0)
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
				runTimeline(t, newStore(t, clk), clk, ps, steps)
			})
		}
	}
	t.Run("store=memory", func(t *testing.T) {
		run(t, func(t *testing.T, clk *store.FakeClock) store.Store[string] { return newMemStore(t, clk) })
	})
	t.Run("store=redis", func(t *testing.T) {
		c := redistest.Client(t, redistest.Standalone(t).Addr())
		run(t, func(t *testing.T, clk *store.FakeClock) store.Store[string] { return newRedisStore(t, c, clk) })
	})
}

// TestRegressionEmptyKey: the empty key is invalid input (DESIGN §3: "Reject
// ... empty key ... with a clear error") on every store.Store[string], as
// storeutil.CheckKey says, in Decide, Reset and DecideBatch (where it fails
// its request alone), with a *algo.DataError matching algo.ErrInvalid. The
// memory store's string methods once accepted it and kept state under "",
// so the two stores answered the same call differently: memory
// {Limited:false Remaining:0 ...}, Redis an error.
func TestRegressionEmptyKey(t *testing.T) {
	ps := []*store.Policy{mustPolicy(t, algo.PerSec(1).WithAlgorithm(algo.TokenBucket))}
	ctx := context.Background()
	check := func(t *testing.T, s store.Store[string]) {
		if d, err := s.Decide(ctx, "", ps, 1, nil); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("Decide(\"\", cost 1) = %+v, %v; want algo.ErrInvalid", d, err)
		}
		if err := s.Reset(ctx, "", ps); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("Reset(\"\") = %v; want algo.ErrInvalid", err)
		}
		b, ok := s.(store.Batcher[string])
		if !ok {
			t.Fatalf("%T is not a store.Batcher[string]", s)
		}
		out, errs := make([]algo.Decision, 2), make([]error, 2)
		b.DecideBatch(ctx, ps, []store.Request[string]{{Key: "", Cost: 1}, {Key: "x", Cost: 1}}, out, nil, errs)
		if !errors.Is(errs[0], algo.ErrInvalid) || errs[1] != nil {
			t.Errorf("DecideBatch([\"\", \"x\"]) errors = %v; want algo.ErrInvalid for \"\" only", errs)
		}
		// "x"'s first request takes the one token, back after 1s.
		if want := (algo.Decision{ResetAfter: 1_000_000}); out[1] != want {
			t.Errorf("DecideBatch([\"\", \"x\"]): \"x\" decided %+v, want %+v", out[1], want)
		}
	}
	t.Run("store=memory", func(t *testing.T) {
		check(t, newMemStore(t, store.NewFakeClock(1)))
	})
	t.Run("store=redis", func(t *testing.T) {
		check(t, newRedisStore(t, redistest.Client(t, redistest.Standalone(t).Addr()), store.NewFakeClock(1)))
	})
}

// policyStep is a step of a timeline whose requests name their policies.
type policyStep struct {
	at, cost int64
	ps       []*store.Policy
	want     algo.Decision
}

// runPolicyTimeline plays steps on key "k" of s and of the exact models
// (one per policy identity, as the machines keep them), and checks every
// step's decision against want, which the models must give too (else the
// test, not the store, is wrong).
func runPolicyTimeline(t *testing.T, s store.Store[string], clk *store.FakeClock, steps []policyStep) {
	t.Helper()
	models := map[quotaID]*model{}
	for i, st := range steps {
		ms := make([]*model, len(st.ps))
		for j, p := range st.ps {
			id := idOf(p.Algorithm(), p.Quota())
			if models[id] == nil {
				models[id] = newModel(p.Algorithm(), p.Quota())
			}
			ms[j] = models[id]
		}
		if d, _, _ := conjunction(ms, st.at, st.cost); d != st.want {
			t.Fatalf("step %d: the models decide %+v, the test wants %+v (test bug)", i, d, st.want)
		}
		clk.Set(st.at)
		d, err := s.Decide(context.Background(), "k", st.ps, st.cost, nil)
		if err != nil {
			t.Fatalf("step %d (at %d cost %d %v): %v", i, st.at, st.cost, st.ps, err)
		}
		if d != st.want {
			t.Errorf("step %d (at %d cost %d %v): got %+v, want %+v", i, st.at, st.cost, st.ps, d, st.want)
		}
	}
}

// TestRegressionOtherPolicyDropsExpiredState (found by
// TestLimitersShareOnlySameQuotas): a write under one policy must not
// drop another policy's state of the key that a clock stepping back can
// still see. Policies A (token bucket, 1 per ms) and B (fixed window, 1
// per ms) on one key, t0 = 1s:
//
//	t0        A cost 1  allowed: A's bucket empty, full again at t0+1ms
//	t0 + 1ms  B cost 1  allowed: B's window [t0+1ms, t0+2ms) counts 1
//	t0 + 0.5ms A cost 1  the clock stepped back 0.5ms
//
// The last request is 0.5ms after A's admission at t0: A's bucket holds
// 0.5 token, so it is denied (RetryAfter = ResetAfter = 500µs), and
// admitting it would pass 2 in 0.5ms where the bucket allows
// B + ⌊0.5ms·L/P⌋ = 1 (DESIGN §3: never over-admit because a clock
// stepped; store.Clock: "no store over-admits because of it"). The Redis
// store, which keeps each policy's state under a key of its own, decides
// that. The memory store allows it (Remaining 0, ResetAfter 1000): when B
// wrote its state at t0+1ms, entry.put (store/memstore/shard.go) put it in
// the slot of A's state, expired at that time, so at t0+0.5ms A's state is
// gone and the key fresh under A. With one policy the same reuse is
// harmless (the new state's time is past the old one's expiry, and a
// clock stepping back decides at that time); across policies it forgets a
// state whose time is still ahead of a clock that steps back, with no
// memory pressure at all, and the two stores disagree.
func TestRegressionOtherPolicyDropsExpiredState(t *testing.T) {
	const t0 = int64(1_000_000)
	a := []*store.Policy{mustPolicy(t, algo.PerDuration(time.Millisecond, 1).WithAlgorithm(algo.TokenBucket))}
	b := []*store.Policy{mustPolicy(t, algo.PerDuration(time.Millisecond, 1).WithAlgorithm(algo.FixedWindow))}
	steps := []policyStep{
		{at: t0, cost: 1, ps: a, want: algo.Decision{ResetAfter: 1000}},
		{at: t0 + 1000, cost: 1, ps: b, want: algo.Decision{ResetAfter: 1000}},
		{at: t0 + 500, cost: 1, ps: a, want: algo.Decision{Limited: true, RetryAfter: 500, ResetAfter: 500}},
	}
	t.Run("store=memory", func(t *testing.T) {
		clk := store.NewFakeClock(t0)
		runPolicyTimeline(t, newMemStore(t, clk), clk, steps)
	})
	t.Run("store=redis", func(t *testing.T) {
		clk := store.NewFakeClock(t0)
		runPolicyTimeline(t, newRedisStore(t, redistest.Client(t, redistest.Standalone(t).Addr()), clk), clk, steps)
	})
}

// TestRegressionSlidingLagPast2p53 (found by TestMemoryRedisStandalone,
// quota family sliding-bound): durations in the caller's time can pass
// 2^53, where Lua's doubles are no longer exact. A sliding window of 1 per
// 2^52µs (the longest period algo.Compile accepts) admits 1 at 2^52 (the
// latest time), at the start of its window: the estimate ⌊1·(P−e)/P⌋ is 0
// from e = 1 of the next window, P + 1 later. Then the clock reads 0,
// 2^52 behind: the key decides as at 2^52 and adds the lag, so a 1 is
// denied with RetryAfter = ResetAfter = P + 1 + 2^52 = 2^53 + 1 (exact
// in the model and in the memory store), and a peek shows ResetAfter
// 2^53 + 1. The Redis store reports 2^53: the script's later(reset, lag)
// and retry + lag sum to 2^53 + 1, which a double rounds to 2^53
// (DESIGN §4: every value must stay below 2^53). Either fix passes: both
// stores exact, or algo.Compile refusing the quota as not exact (it is
// the only sliding window whose longest duration, P + 1, exceeds 2^52).
func TestRegressionSlidingLagPast2p53(t *testing.T) {
	const p = maxSafe // µs
	pol, err := store.NewPolicy(algo.PerDuration(time.Duration(p)*time.Microsecond, 1).WithAlgorithm(algo.SlidingWindow))
	if errors.Is(err, algo.ErrInvalid) {
		t.Logf("algo.Compile refuses the quota, so no store sees it: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	ps := []*store.Policy{pol}
	steps := []policyStep{
		{at: maxSafe, cost: 1, ps: ps, want: algo.Decision{ResetAfter: p + 1}},
		{at: 0, cost: 1, ps: ps, want: algo.Decision{Limited: true, RetryAfter: p + 1 + maxSafe, ResetAfter: p + 1 + maxSafe}},
		{at: 0, cost: 0, ps: ps, want: algo.Decision{ResetAfter: p + 1 + maxSafe}},
	}
	t.Run("store=memory", func(t *testing.T) {
		clk := store.NewFakeClock(0)
		runPolicyTimeline(t, newMemStore(t, clk), clk, steps)
	})
	t.Run("store=redis", func(t *testing.T) {
		clk := store.NewFakeClock(0)
		runPolicyTimeline(t, newRedisStore(t, redistest.Client(t, redistest.Standalone(t).Addr()), clk), clk, steps)
	})
}

// TestRegressionClusterBraceKeySeveralQuotas (found by
// TestLimitersMemoryRedis with the key "}d"; store/redisstore's
// TestClusterKeyStartingWithBrace pins the store calls): a limiter with
// two quotas on a Redis Cluster, given a key that starts with '}'. The
// store's key layout prefix + policy + ":{" + key + "}" then holds an
// empty hash tag "{}", so Redis hashes each whole key, the two quotas'
// keys fall in different slots, and rueidis panics ("multi key command
// with different key slots are not allowed") inside Limit and LimitAll:
// user input crashes the caller. They must decide as on any other key.
func TestRegressionClusterBraceKeySeveralQuotas(t *testing.T) {
	clk := store.NewFakeClock(1_000_000)
	s := newRedisStore(t, redistest.Client(t, redistest.Cluster(t).Addrs()...), clk)
	qs := []algo.Quota{algo.PerSec(2).WithAlgorithm(algo.GCRA), algo.PerMin(3).WithAlgorithm(algo.FixedWindow)}
	l, err := typed.New[string](typed.WithStore(s), typed.WithQuotas(qs...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, key := range []string{"}d", "}", "}{x}"} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("key %q: panic: %v", key, v)
				}
			}()
			if r, err := l.Limit(ctx, key, 1); err != nil || r.Limited {
				t.Errorf("Limit(%q, 1): %v, %v; want allowed (the key's first request)", key, r, err)
			}
			res, err := l.LimitAll(ctx, []typed.Request[string]{{Key: key, Cost: 1}, {Key: "other", Cost: 0}})
			if err != nil || res[0].Limited {
				t.Errorf("LimitAll(%q cost 1): %v, %v; want allowed (its second request of 2/s and 3/m)", key, res, err)
			}
		}()
	}
}
