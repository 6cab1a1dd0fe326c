package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// Tests of decisions under several policies at once (a limiter with several
// quotas) and of limiters with different quotas on one key.

// combine is the contract's rule for the decision of a request under
// several policies, written out here independently of storeutil.Combine:
// Limited if any, the least Remaining, the greatest ResetAfter, and the
// greatest RetryAfter unless one is -1 (never), which wins.
func combine(each []algo.Decision) algo.Decision {
	c := algo.Decision{Remaining: each[0].Remaining}
	anyNever := false
	for _, d := range each {
		c.Limited = c.Limited || d.Limited
		c.Remaining = min(c.Remaining, d.Remaining)
		c.ResetAfter = max(c.ResetAfter, d.ResetAfter)
		c.RetryAfter = max(c.RetryAfter, d.RetryAfter)
		anyNever = anyNever || d.RetryAfter == never
	}
	if anyNever {
		c.RetryAfter = never
	}
	return c
}

// refStore is the contract's model of a store: one reference state per
// (key, policy identity), kept forever (expiry and eviction must change no
// decision), decided all or nothing.
type refStore struct {
	refs map[string]reference
}

func newRefStore() *refStore { return &refStore{refs: map[string]reference{}} }

func (r *refStore) ref(key any, p *store.Policy) reference {
	k := fmt.Sprint(key, "|", p.Key())
	ref := r.refs[k]
	if ref == nil {
		ref = newRef(*p.Params())
		r.refs[k] = ref
	}
	return ref
}

// decide decides a request of cost on key under every policy of ps (which
// must be of distinct identities): each policy's own decision, the policies
// that admit a denied request reporting a peek, and the combined decision.
func (r *refStore) decide(key any, ps []*store.Policy, now, cost int64) (algo.Decision, []algo.Decision) {
	each := make([]algo.Decision, len(ps))
	limited := false
	for i, p := range ps {
		each[i] = r.ref(key, p).try(now, cost)
		limited = limited || each[i].Limited
	}
	switch {
	case limited:
		for i, p := range ps {
			if !each[i].Limited {
				each[i] = r.ref(key, p).try(now, 0)
			}
		}
	case cost > 0:
		for _, p := range ps {
			r.ref(key, p).commit()
		}
	}
	return combine(each), each
}

// reset forgets key's states under ps.
func (r *refStore) reset(key any, ps []*store.Policy) {
	for _, p := range ps {
		delete(r.refs, fmt.Sprint(key, "|", p.Key()))
	}
}

// policyPool is a mix of algorithms and quotas, some with equal quotas
// under different algorithms, some with short periods so states expire
// during a trace.
func policyPool(t testing.TB) []*store.Policy {
	return []*store.Policy{
		policy(t, algo.TokenBucket, algo.PerSec(5)),
		policy(t, algo.FixedWindow, algo.PerSec(5)),
		policy(t, algo.GCRA, algo.PerSec(3).WithBurst(7)),
		policy(t, algo.SlidingWindow, algo.PerSec(10)),
		policy(t, algo.LeakingBucket, algo.PerMin(60).WithBurst(10)),
		policy(t, algo.FixedWindow, algo.PerDuration(7*time.Millisecond, 3)),
		policy(t, algo.TokenBucket, algo.PerDuration(time.Millisecond, 3)),
		policy(t, algo.SlidingWindow, algo.PerDuration(3*time.Millisecond, 4)),
		policy(t, algo.GCRA, algo.PerHour(7)),
		policy(t, algo.LeakingBucket, algo.PerSec(10)),
	}
}

// TestPoliciesMatchModel compares the store with the contract's model on
// random traces: requests under random sets of 1 to MaxPolicies policies
// of mixed algorithms, in random order, on a few keys, with time moving by
// random steps and sweeps in between. Both the combined decision and each
// policy's must match.
func TestPoliciesMatchModel(t *testing.T) {
	pool := policyPool(t)
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			s, clk := newTestStore(t, t2025, WithShards(1), WithMaxSize(16))
			tbl := For[int](s)
			model := newRefStore()
			for i := range 5000 {
				switch r := rng.IntN(10); {
				case r < 5:
					clk.AdvanceMicros(rng.Int64N(300))
				case r < 7:
					clk.AdvanceMicros(rng.Int64N(30 * msec))
				case r < 8:
					clk.AdvanceMicros(rng.Int64N(3 * second))
				}
				if rng.IntN(50) == 0 {
					tbl.sweepAll(clk.Now())
				}
				k := rng.IntN(4)
				n := 1 + rng.IntN(store.MaxPolicies)
				ps := make([]*store.Policy, n)
				for j, pi := range rng.Perm(len(pool))[:n] {
					ps[j] = pool[pi]
				}
				if rng.IntN(40) == 0 {
					if err := tbl.Reset(ctx, k, ps); err != nil {
						t.Fatal(err)
					}
					model.reset(k, ps)
					continue
				}
				cost := rng.Int64N(12) // includes 0 and costs above some capacities
				if rng.IntN(3) == 0 {
					cost = min(cost, 1)
				}
				want, wantEach := model.decide(k, ps, clk.Now(), cost)
				got, gotEach := decideAll(t, tbl, k, ps, cost)
				if got != want {
					t.Fatalf("step %d: key %d at %d cost %d under %v:\n got %+v\nwant %+v", i, k, clk.Now()-t2025, cost, ps, got, want)
				}
				for j := range ps {
					if gotEach[j] != wantEach[j] {
						t.Fatalf("step %d: key %d at %d cost %d: policy %d (%v):\n got %+v\nwant %+v", i, k, clk.Now()-t2025, cost, j, ps[j], gotEach[j], wantEach[j])
					}
				}
			}
			if st := s.Stats(); st.LiveEvictions != 0 {
				t.Fatalf("LiveEvictions = %d with 4 keys and room for 16", st.LiveEvictions)
			}
		})
	}
}

// TestPoliciesAllOrNothing: a request passes iff every policy admits it,
// and then every policy is charged; a request denied by one policy charges
// none, whichever policy denies, for every pair of algorithms.
func TestPoliciesAllOrNothing(t *testing.T) {
	for _, a := range algo.Algorithms {
		for _, b := range algo.Algorithms {
			t.Run(fmt.Sprintf("algos=%s+%s", a, b), func(t *testing.T) {
				s, clk := newTestStore(t, t2025)
				sec := policy(t, a, algo.PerSec(5))
				min8 := policy(t, b, algo.PerMin(8))
				ps := pols(sec, min8)
				step := func(what string, cost int64, wantLimited bool, wantSec, wantMin int64) {
					t.Helper()
					secBefore, minBefore := peek(t, s, "k", sec), peek(t, s, "k", min8)
					d, each := decideAll(t, s, "k", ps, cost)
					if d.Limited != wantLimited || each[0].Remaining != wantSec || each[1].Remaining != wantMin {
						t.Fatalf("%s: %+v, each %+v; want Limited %v, Remaining %d and %d", what, d, each, wantLimited, wantSec, wantMin)
					}
					if d != combine(each) {
						t.Fatalf("%s: combined %+v, want %+v from %+v", what, d, combine(each), each)
					}
					if !wantLimited {
						return
					}
					// Nothing charged: each policy's state is as it was, and a
					// policy that admitted reports exactly its peek.
					if got := peek(t, s, "k", sec); got != secBefore {
						t.Fatalf("%s: the per-second state changed from %+v to %+v", what, secBefore, got)
					}
					if got := peek(t, s, "k", min8); got != minBefore {
						t.Fatalf("%s: the per-minute state changed from %+v to %+v", what, minBefore, got)
					}
					if !each[0].Limited && each[0] != secBefore {
						t.Fatalf("%s: the admitting per-second policy reported %+v, want its peek %+v", what, each[0], secBefore)
					}
					if !each[1].Limited && each[1] != minBefore {
						t.Fatalf("%s: the admitting per-minute policy reported %+v, want its peek %+v", what, each[1], minBefore)
					}
				}
				for i := range int64(5) {
					step(fmt.Sprint("request ", i+1), 1, false, 4-i, 7-i)
				}
				step("the 6th, denied by the per-second policy", 1, true, 0, 3)
				step("cost 3, denied by the per-second policy", 3, true, 0, 3)
				// Two seconds later every per-second state is fresh again
				// (a sliding window needs two windows), and the per-minute
				// ones are where they were (a bucket refilled 8·2/60 of a
				// token: not a whole one).
				clk.Advance(2 * time.Second)
				step("request 6", 1, false, 4, 2)
				step("request 7", 2, false, 2, 0)
				step("request 8, denied by the per-minute policy", 1, true, 2, 0)
				step("cost 6, never passes the per-second policy", 6, true, 2, 0)
				// A fresh key: cost 6 can never pass the per-second policy,
				// and the per-minute one, which would admit it, is not charged.
				d, each := decideAll(t, s, "fresh", ps, 6)
				if !d.Limited || d.RetryAfter != never || each[0].RetryAfter != never || each[1] != (algo.Decision{Remaining: 8}) {
					t.Fatalf("cost 6 on a fresh key: %+v, each %+v; want Limited, never, the per-minute policy's fresh peek", d, each)
				}
				if n := entries(s); n != 1 {
					t.Fatalf("Keys = %d, want 1: a denial on a fresh key stores nothing", n)
				}
			})
		}
	}
}

// TestPoliciesCombine spells out the combined decision on a timeline where
// each field comes from a different policy: the least Remaining, the
// greatest ResetAfter, the greatest RetryAfter, and -1 winning in either
// position.
func TestPoliciesCombine(t *testing.T) {
	s, clk := newTestStore(t, t2025)
	a := policy(t, algo.TokenBucket, algo.PerSec(10)) // full after 1s
	b := policy(t, algo.FixedWindow, algo.PerMin(20)) // window of a minute
	type dec = algo.Decision
	type step struct {
		at    int64 // µs after t2025
		cost  int64
		swap  bool // decide under (b, a) instead of (a, b)
		want  dec
		wantA dec
		wantB dec
	}
	steps := []step{
		// Both admit: Remaining from a, ResetAfter from b.
		{0, 10, false, dec{Remaining: 0, ResetAfter: 60 * second}, dec{Remaining: 0, ResetAfter: second}, dec{Remaining: 10, ResetAfter: 60 * second}},
		// a denies: RetryAfter from a; b, which admits, reports its peek.
		{0, 1, false, dec{Limited: true, RetryAfter: 100 * msec, ResetAfter: 60 * second}, dec{Limited: true, RetryAfter: 100 * msec, ResetAfter: second}, dec{Remaining: 10, ResetAfter: 60 * second}},
		{second, 10, false, dec{Remaining: 0, ResetAfter: 59 * second}, dec{Remaining: 0, ResetAfter: second}, dec{Remaining: 0, ResetAfter: 59 * second}},
		// b denies: RetryAfter from b; a reports its peek (full again).
		{2 * second, 1, false, dec{Limited: true, RetryAfter: 58 * second, ResetAfter: 58 * second}, dec{Remaining: 10}, dec{Limited: true, RetryAfter: 58 * second, ResetAfter: 58 * second}},
		// Both deny: the greater RetryAfter.
		{2 * second, 11, false, dec{Limited: true, RetryAfter: never, ResetAfter: 58 * second}, dec{Limited: true, Remaining: 10, RetryAfter: never}, dec{Limited: true, RetryAfter: 58 * second, ResetAfter: 58 * second}},
		// -1 wins in the second position too.
		{2 * second, 11, true, dec{Limited: true, RetryAfter: never, ResetAfter: 58 * second}, dec{Limited: true, Remaining: 10, RetryAfter: never}, dec{Limited: true, RetryAfter: 58 * second, ResetAfter: 58 * second}},
	}
	for i, st := range steps {
		clk.Set(t2025 + st.at)
		ps := pols(a, b)
		if st.swap {
			ps = pols(b, a)
		}
		d, each := decideAll(t, s, "k", ps, st.cost)
		gotA, gotB := each[0], each[1]
		if st.swap {
			gotA, gotB = gotB, gotA
		}
		if d != st.want || gotA != st.wantA || gotB != st.wantB {
			t.Fatalf("step %d (at %v, cost %d):\n got %+v (a %+v, b %+v)\nwant %+v (a %+v, b %+v)",
				i, time.Duration(st.at)*time.Microsecond, st.cost, d, gotA, gotB, st.want, st.wantA, st.wantB)
		}
	}
	// With nil each, the combined decision is the same.
	if d, err := s.Decide(ctx, "k", pols(b, a), 11, nil); err != nil || d != steps[len(steps)-1].want {
		t.Fatalf("Decide with nil each = %+v, %v; want %+v", d, err, steps[len(steps)-1].want)
	}
}

// TestPoliciesIndependentLimiters: two limiters with different quotas on
// one key (the bug: a PerSec(10) and a PerHour(7) policy sharing a key's
// state) never affect each other, for every algorithm and mix of two: the
// shared key decides as two separate keys would.
func TestPoliciesIndependentLimiters(t *testing.T) {
	for _, a := range algo.Algorithms {
		for _, b := range algo.Algorithms {
			t.Run(fmt.Sprintf("algos=%s+%s", a, b), func(t *testing.T) {
				s, clk := newTestStore(t, t2025)
				perSec := policy(t, a, algo.PerSec(10))
				perHour := policy(t, b, algo.PerHour(7))
				// Spelled out: the hourly limiter's 7 leave the per-second
				// limiter's 10, and the other way round.
				for i := range int64(7) {
					if d := decide(t, s, "k", perHour, 1); d.Limited || d.Remaining != 6-i {
						t.Fatalf("hourly request %d: %+v, want allowed, Remaining %d", i+1, d, 6-i)
					}
				}
				if d := decide(t, s, "k", perHour, 1); !d.Limited {
					t.Fatalf("8th hourly request: %+v, want Limited", d)
				}
				for i := range int64(10) {
					if d := decide(t, s, "k", perSec, 1); d.Limited || d.Remaining != 9-i {
						t.Fatalf("per-second request %d after the hourly limit ran out: %+v, want allowed, Remaining %d", i+1, d, 9-i)
					}
				}
				if d := decide(t, s, "k", perSec, 1); !d.Limited {
					t.Fatalf("11th per-second request: %+v, want Limited", d)
				}
				if d := peek(t, s, "k", perHour); d.Remaining != 0 {
					t.Fatalf("hourly limit after 10 per-second requests: %+v, want Remaining 0", d)
				}
				clk.Advance(2 * time.Second)
				if d := decide(t, s, "k", perSec, 10); d.Limited {
					t.Fatalf("per-second limit 2s later: %+v, want 10 allowed", d)
				}
				if d := decide(t, s, "k", perHour, 1); !d.Limited {
					t.Fatalf("hourly limit 2s later: %+v, want Limited", d)
				}
				if err := s.Reset(ctx, "k", pols(perSec)); err != nil {
					t.Fatal(err)
				}
				if d := peek(t, s, "k", perHour); d.Remaining != 0 {
					t.Fatalf("hourly limit after resetting the per-second one: %+v, want Remaining 0", d)
				}

				// Then random interleavings against two separate models.
				rng := rand.New(rand.NewPCG(uint64(a), uint64(b)))
				model := newRefStore()
				for _, p := range []*store.Policy{perSec, perHour} {
					if err := s.Reset(ctx, "k", pols(p)); err != nil {
						t.Fatal(err)
					}
				}
				for i := range 2000 {
					if rng.IntN(3) == 0 {
						clk.AdvanceMicros(rng.Int64N(400 * msec))
					}
					p := perSec
					if rng.IntN(2) == 0 {
						p = perHour
					}
					cost := rng.Int64N(4)
					want, _ := model.decide("k", pols(p), clk.Now(), cost)
					if got := decide(t, s, "k", p, cost); got != want {
						t.Fatalf("step %d: %v at %d cost %d:\n got %+v\nwant %+v (as on a key of its own)", i, p, clk.Now()-t2025, cost, got, want)
					}
				}
			})
		}
	}
}

// TestPoliciesIdenticalShare: policies with the same algorithm and quota
// share a key's state whatever their names (and, for the windows, whatever
// their burst, which they ignore); a different burst on a bucket does not.
func TestPoliciesIdenticalShare(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			named := policy(t, a, algo.PerMin(10).WithName("api"))
			other := policy(t, a, algo.PerMin(10).WithName("burst-api"))
			burst := policy(t, a, algo.PerMin(10).WithBurst(20))
			if !named.Same(other) || named.Key() != other.Key() {
				t.Fatalf("%v and %v do not share state (keys %q, %q)", named, other, named.Key(), other.Key())
			}
			decide(t, s, "k", named, 4)
			if d := peek(t, s, "k", other); d.Remaining != 6 {
				t.Fatalf("%v after 4 under %v: %+v, want Remaining 6 (shared state)", other, named, d)
			}
			decide(t, s, "k", other, 6)
			if d := decide(t, s, "k", named, 1); !d.Limited {
				t.Fatalf("%v after 10 in all: %+v, want Limited", named, d)
			}
			wantBurst := int64(20) // a bucket of another burst keeps its own state
			if !a.IsBucket() {
				wantBurst = 0 // the windows ignore burst: the same state
			}
			if d := peek(t, s, "k", burst); d.Remaining != wantBurst || burst.Same(named) != !a.IsBucket() {
				t.Fatalf("%v: %+v, Same %v; want Remaining %d", burst, d, burst.Same(named), wantBurst)
			}
			if err := s.Reset(ctx, "k", pols(other)); err != nil {
				t.Fatal(err)
			}
			if d := peek(t, s, "k", named); d.Remaining != 10 {
				t.Fatalf("%v after resetting %v: %+v, want a fresh key", named, other, d)
			}
		})
	}
}

// doneCtx returns a context already cancelled.
func doneCtx() context.Context {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c
}

// expiredCtx returns a context whose deadline has passed.
func expiredCtx(t *testing.T) context.Context {
	c, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return c
}

// TestPoliciesBadInput: every bad input of one call, on a key that holds
// state, is a clear error, and the call writes nothing: the key's states,
// the number of keys and each are as they were.
func TestPoliciesBadInput(t *testing.T) {
	a := policy(t, algo.TokenBucket, algo.PerSec(5))
	b := policy(t, algo.SlidingWindow, algo.PerMin(7))
	cases := []struct {
		name    string
		ctx     context.Context
		key     string
		ps      []*store.Policy
		cost    int64
		each    int
		target  error  // errors.Is
		message string // in the error's text
	}{
		{"policies=nil", ctx, "k", nil, 1, 0, algo.ErrInvalid, "number of policies 0"},
		{"policies=9", ctx, "k", tooMany(t), 1, 9, algo.ErrInvalid, "number of policies 9"},
		{"policy=nil", ctx, "k", pols(a, nil), 1, 2, algo.ErrInvalid, `policy "#1: nil"`},
		{"each=1_for_2", ctx, "k", pols(a, b), 1, 1, algo.ErrInvalid, "length of each 1"},
		{"cost=-1", ctx, "k", pols(a, b), -1, 2, algo.ErrInvalid, "cost -1"},
		{"key=empty", ctx, "", pols(a, b), 1, 2, algo.ErrInvalid, `key ""`},
		{"ctx=cancelled", doneCtx(), "k", pols(a, b), 1, 2, context.Canceled, "store unavailable"},
		{"ctx=deadline", expiredCtx(t), "k", pols(a, b), 1, 2, context.DeadlineExceeded, "store unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			decideAll(t, s, "k", pols(a, b), 2)
			before := [2]algo.Decision{peek(t, s, "k", a), peek(t, s, "k", b)}
			each := make([]algo.Decision, c.each)
			for i := range each {
				each[i].Remaining = -7 // a mark: the store must not write it
			}
			d, err := s.Decide(c.ctx, c.key, c.ps, c.cost, each)
			if !errors.Is(err, c.target) || err == nil || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("Decide = %v, want an error matching %v that says %q", err, c.target, c.message)
			}
			if !strings.HasPrefix(err.Error(), "throttled: ") {
				t.Errorf("error %q does not start with %q", err, "throttled: ")
			}
			if c.target != algo.ErrInvalid && !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Decide = %v, want it to match store.ErrUnavailable", err)
			}
			if d != (algo.Decision{}) {
				t.Errorf("decision %+v with an error, want the zero Decision", d)
			}
			for i, e := range each {
				if e != (algo.Decision{Remaining: -7}) {
					t.Errorf("each[%d] = %+v, want it untouched", i, e)
				}
			}
			if after := [2]algo.Decision{peek(t, s, "k", a), peek(t, s, "k", b)}; after != before {
				t.Errorf("states changed by a refused call: %+v, were %+v", after, before)
			}
			if n := entries(s); n != 1 {
				t.Errorf("Keys = %d, want 1", n)
			}
			if c.cost < 0 || c.each != len(c.ps) {
				return // Reset takes no cost and no each
			}
			// Reset refuses the same input, and resets nothing.
			if err := s.Reset(c.ctx, c.key, c.ps); !errors.Is(err, c.target) {
				t.Errorf("Reset = %v, want an error matching %v", err, c.target)
			}
			if after := [2]algo.Decision{peek(t, s, "k", a), peek(t, s, "k", b)}; after != before {
				t.Errorf("states changed by a refused Reset: %+v, were %+v", after, before)
			}
		})
	}
}

// TestZeroPolicy: a Policy not built by NewPolicy (its zero value) is
// refused as invalid input, as a zero algo.Params was before policies: it
// must not panic, least of all inside a shard's lock, which would leave the
// shard locked for good. Each call runs with a deadline so a hang fails in
// seconds.
func TestZeroPolicy(t *testing.T) {
	a := policy(t, algo.TokenBucket, algo.PerSec(5))
	// within runs f in a goroutine, turning a panic into an error and a
	// hang into a failure after 5s.
	within := func(t *testing.T, what string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- fmt.Errorf("panic: %v", r)
				}
			}()
			done <- f()
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Second):
			t.Fatalf("%s hangs", what)
			return nil
		}
	}
	for _, ps := range [][]*store.Policy{{new(store.Policy)}, {a, new(store.Policy)}} {
		t.Run(fmt.Sprintf("policies=%d", len(ps)), func(t *testing.T) {
			s, _ := newTestStore(t, t2025, WithShards(1))
			err := within(t, "Decide", func() error { _, err := s.Decide(ctx, "k", ps, 1, nil); return err })
			if !errors.Is(err, algo.ErrInvalid) {
				t.Errorf("Decide with a zero Policy = %v, want an error matching algo.ErrInvalid", err)
			}
			err = within(t, "DecideBatch", func() error {
				errs := make([]error, 1)
				s.DecideBatch(ctx, ps, []store.Request[string]{{Key: "k", Cost: 1}}, make([]algo.Decision, 1), nil, errs)
				return errs[0]
			})
			if !errors.Is(err, algo.ErrInvalid) {
				t.Errorf("DecideBatch with a zero Policy = %v, want an error matching algo.ErrInvalid", err)
			}
			// The shard's lock is free: the store still works.
			err = within(t, "Decide after a zero Policy", func() error { _, err := s.Decide(ctx, "k", pols(a), 1, nil); return err })
			if err != nil {
				t.Errorf("Decide after a zero Policy: %v", err)
			}
		})
	}
}

// TestDoneContextFirst: a done ctx is checked first, so a call with a done
// ctx fails with store.ErrUnavailable whatever else is wrong with it, as
// the Redis store's does.
func TestDoneContextFirst(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	a := policy(t, algo.TokenBucket, algo.PerSec(5))
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Decide/cost=-1", func(c context.Context) error { _, err := s.Decide(c, "k", pols(a), -1, nil); return err }},
		{"Decide/policies=nil", func(c context.Context) error { _, err := s.Decide(c, "k", nil, 1, nil); return err }},
		{"Decide/each=3", func(c context.Context) error {
			_, err := s.Decide(c, "k", pols(a), 1, make([]algo.Decision, 3))
			return err
		}},
		{"Decide/key=empty", func(c context.Context) error { _, err := s.Decide(c, "", pols(a), 1, nil); return err }},
		{"Reset/policies=nil", func(c context.Context) error { return s.Reset(c, "k", nil) }},
		{"Reset/key=empty", func(c context.Context) error { return s.Reset(c, "", pols(a)) }},
		{"DecideBatch/key=empty", func(c context.Context) error {
			errs := make([]error, 1)
			s.DecideBatch(c, pols(a), []store.Request[string]{{Key: "", Cost: 1}}, make([]algo.Decision, 1), nil, errs)
			return errs[0]
		}},
		{"DecideBatch/cost=-1", func(c context.Context) error {
			errs := make([]error, 1)
			s.DecideBatch(c, pols(a), []store.Request[string]{{Key: "k", Cost: -1}}, make([]algo.Decision, 1), nil, errs)
			return errs[0]
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(doneCtx()); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Errorf("with a done ctx: %v, want store.ErrUnavailable wrapping context.Canceled", err)
			}
			if err := c.call(ctx); !errors.Is(err, algo.ErrInvalid) {
				t.Errorf("with a live ctx: %v, want algo.ErrInvalid", err)
			}
		})
	}
}
