package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
)

// Durations in microseconds, for reading timelines.
const (
	msec   int64 = 1_000
	second int64 = 1_000 * msec
	minute int64 = 60 * second
	hour   int64 = 60 * minute
)

// never is the RetryAfter of a request that can never pass (algo's is
// unexported; the contract spells it -1).
const never int64 = -1

// t2025 is 2025-01-01T00:00:00Z in µs since the epoch: a multiple of every
// period the tests use, so windows start there.
const t2025 = 1_735_689_600 * second

var ctx = context.Background()

// userKey is a typed key of the kind typed.Limiter[K] passes to For[K].
type userKey struct {
	Tenant uint32
	User   uint64
}

// newTestStore returns a store on a fake clock reading start.
func newTestStore(t testing.TB, start int64, opts ...Option) (*Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	s, err := New(append([]Option{WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clk
}

// policy compiles q under algorithm a (q's own algorithm, when set, is
// replaced).
func policy(t testing.TB, a algo.Algorithm, q algo.Quota) *store.Policy {
	t.Helper()
	p, err := store.NewPolicy(q.WithAlgorithm(a))
	if err != nil {
		t.Fatalf("NewPolicy(%s, %s): %v", a, q, err)
	}
	return p
}

// pols is a policy list, for readability at call sites.
func pols(ps ...*store.Policy) []*store.Policy { return ps }

// decide decides one request under the single policy p and fails the test
// on an error.
func decide[K comparable](t testing.TB, st store.Store[K], key K, p *store.Policy, cost int64) algo.Decision {
	t.Helper()
	d, err := st.Decide(ctx, key, pols(p), cost, nil)
	if err != nil {
		t.Fatalf("Decide(%v, %s, cost %d): %v", key, p, cost, err)
	}
	return d
}

// decideAll decides one request under every policy of ps and returns the
// combined decision and each policy's.
func decideAll[K comparable](t testing.TB, st store.Store[K], key K, ps []*store.Policy, cost int64) (algo.Decision, []algo.Decision) {
	t.Helper()
	each := make([]algo.Decision, len(ps))
	d, err := st.Decide(ctx, key, ps, cost, each)
	if err != nil {
		t.Fatalf("Decide(%v, %v, cost %d): %v", key, ps, cost, err)
	}
	return d, each
}

// peek is decide with cost 0.
func peek[K comparable](t testing.TB, st store.Store[K], key K, p *store.Policy) algo.Decision {
	t.Helper()
	return decide(t, st, key, p, 0)
}

func entries(s *Store) int { return s.Stats().Keys }

// held returns key's entry, nil when t holds none.
func (t *Table[K]) held(key K) *entry[K] {
	h, sh := t.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.idx.get(h, key)
}

// statesOf returns the number of states key holds, 0 when t holds none.
func (t *Table[K]) statesOf(key K) int {
	h, sh := t.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.idx.get(h, key)
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return sh.states(e)
}

// keys returns every key t holds.
func (t *Table[K]) keys() []K {
	var ks []K
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.idx.each(func(_ uint64, e *entry[K]) { ks = append(ks, e.key) })
		sh.mu.Unlock()
	}
	return ks
}

// sweepAll sweeps every shard of t at now, as a full shard does when it
// needs room: the tests call it where the old janitor ran.
func (t *Table[K]) sweepAll(now int64) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

// ---------------------------------------------------------------------------
// 1. Zero allocations per decision.

// TestDecideAllocs checks that deciding on an existing key allocates nothing,
// for every algorithm, on the allowed, denied and peek paths, through the
// string API and through typed tables, with one policy and with two.
func TestDecideAllocs(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			strKey := fmt.Sprintf("user:%d", 42) // built at run time, like a real key
			tk := userKey{Tenant: 7, User: 42}
			// A second policy that never limits, for the two-policy case.
			roomy := policy(t, a, algo.PerSec(2_000_000_000).WithName("roomy"))
			paths := []struct {
				name      string
				q         algo.Quota
				cost      int64
				wantLimit bool
			}{
				// 1e9 per second: 1001 requests at a frozen instant all pass.
				{"allowed", algo.PerSec(1_000_000_000), 1, false},
				// One per minute, taken before measuring: every request is denied.
				{"denied", algo.PerMin(1), 1, true},
				{"peek", algo.PerMin(1), 0, false},
			}
			for _, path := range paths {
				p := policy(t, a, path.q)
				for _, ps := range [][]*store.Policy{{p}, {p, roomy}} {
					// One key per (path, policies, API), held by the caller as
					// a real one would be. The "denied" and "peek" keys are
					// exhausted first, so the peek reads a stored state.
					strKey := fmt.Sprintf("%s/%s/%d", strKey, path.name, len(ps))
					forKey := strKey + "/for"
					tk := userKey{Tenant: tk.Tenant + uint32(len(ps)), User: tk.User + uint64(len(path.name))}
					strTable, typed := For[string](s), For[userKey](s)
					each := make([]algo.Decision, len(ps))
					apis := []struct {
						name   string
						decide func(cost int64) (algo.Decision, error)
					}{
						{"api=Store.Decide", func(c int64) (algo.Decision, error) { return s.Decide(ctx, strKey, ps, c, nil) }},
						{"api=For[string]", func(c int64) (algo.Decision, error) { return strTable.Decide(ctx, forKey, ps, c, nil) }},
						{"api=For[struct]", func(c int64) (algo.Decision, error) { return typed.Decide(ctx, tk, ps, c, nil) }},
						{"api=For[struct]/each", func(c int64) (algo.Decision, error) { return typed.Decide(ctx, tk, ps, c, each) }},
					}
					for _, api := range apis {
						t.Run(fmt.Sprintf("%s/policies=%d/%s", path.name, len(ps), api.name), func(t *testing.T) {
							if _, err := api.decide(1); err != nil { // the key exists from here on
								t.Fatal(err)
							}
							before := entries(s)
							bad := 0
							allocs := testing.AllocsPerRun(1000, func() {
								d, err := api.decide(path.cost)
								if err != nil || d.Limited != path.wantLimit {
									bad++
								}
							})
							if bad > 0 {
								t.Fatalf("%d decisions failed or were not on the %s path", bad, path.name)
							}
							if allocs != 0 {
								t.Errorf("AllocsPerRun = %v, want 0", allocs)
							}
							if got := entries(s); got != before {
								t.Errorf("Keys = %d after deciding on an existing key, want %d", got, before)
							}
						})
					}
				}
			}
		})
	}
}

// Looking a table up again is free too, so callers may call For per request.
func TestForAllocs(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	For[userKey](s)
	if n := testing.AllocsPerRun(1000, func() { For[userKey](s) }); n != 0 {
		t.Errorf("For[userKey] of an existing table: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { For[string](s) }); n != 0 {
		t.Errorf("For[string]: %v allocs, want 0", n)
	}
}

// An expired state is reused in place: deciding on it does not allocate
// either, with one policy or two (whose states are both replaced).
func TestDecideAllocsExpiredEntry(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025)
			p := policy(t, a, algo.PerDuration(time.Millisecond, 1))
			p2 := policy(t, a, algo.PerDuration(2*time.Millisecond, 1))
			tbl := For[userKey](s)
			for n, ps := range [][]*store.Policy{{p}, {p, p2}} {
				k := userKey{1, uint64(n)}
				decideAll(t, tbl, k, ps, 1)
				allocs := testing.AllocsPerRun(1000, func() {
					clk.Advance(time.Hour) // the stored states have expired
					if d, err := tbl.Decide(ctx, k, ps, 1, nil); err != nil || d.Limited {
						t.Errorf("Decide on an expired key = %+v, %v; want allowed", d, err)
					}
				})
				if allocs != 0 {
					t.Errorf("%d policies: AllocsPerRun = %v, want 0", len(ps), allocs)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 2. Semantics through the store match the step functions.

// row is one request of a timeline: at (µs since the epoch), cost, and the
// Decision it must get.
type row struct {
	at        int64
	cost      int64
	limited   bool
	remaining int64
	retry     int64
	reset     int64
}

type timeline struct {
	name  string
	quota algo.Quota
	rows  []row
}

// bucketTimelines hold for the token bucket, the leaking bucket and GCRA.
var bucketTimelines = []timeline{
	{"per_min(60,burst=10)", algo.PerMin(60).WithBurst(10), []row{
		{0, 1, false, 9, 0, 1 * second},
		{0, 1, false, 8, 0, 2 * second},
		{0, 1, false, 7, 0, 3 * second},
		{0, 1, false, 6, 0, 4 * second},
		{0, 1, false, 5, 0, 5 * second},
		{0, 1, false, 4, 0, 6 * second},
		{0, 1, false, 3, 0, 7 * second},
		{0, 1, false, 2, 0, 8 * second},
		{0, 1, false, 1, 0, 9 * second},
		{0, 1, false, 0, 0, 10 * second},
		{0, 1, true, 0, 1 * second, 10 * second}, // the eleventh
		{0, 0, false, 0, 0, 10 * second},         // peek: the denial took nothing
		{second - 1, 1, true, 0, 1, 9*second + 1},
		{second, 1, false, 0, 0, 10 * second}, // one token a second
		{second, 1, true, 0, 1 * second, 10 * second},
		{second, 11, true, 0, never, 10 * second},
		{11 * second, 0, false, 10, 0, 0}, // full again: the state has expired
		{11 * second, 10, false, 0, 0, 10 * second},
	}},
	{"fractional_refill_kept", algo.PerSec(3), []row{
		{0, 3, false, 0, 0, 1 * second},
		{333_333, 0, false, 0, 0, 666_667},
		{333_333, 1, true, 0, 1, 666_667},
		{333_334, 1, false, 0, 0, 1 * second},
		{666_667, 1, false, 0, 0, 1 * second}, // the ⅔ µs-token kept
	}},
	{"clock_back", algo.PerSec(10), []row{
		{10 * second, 10, false, 0, 0, 1 * second},
		// Decided as at 10s; the 5s lag is added to the durations, so they
		// hold in the caller's time: it passes at 5s+5.1s = 10.1s.
		{5 * second, 1, true, 0, 5*second + 100*msec, 6 * second},
		{5 * second, 0, false, 0, 0, 6 * second},
		{10*second + 100*msec - 1, 1, true, 0, 1, 900*msec + 1},
		{10*second + 100*msec, 1, false, 0, 0, 1 * second},
	}},
}

var fixedWindowTimelines = []timeline{
	{"per_min(60)", algo.PerMin(60), []row{
		{0, 1, false, 59, 0, 60 * second},
		{0, 0, false, 59, 0, 60 * second},
		{0, 60, true, 59, 60 * second, 60 * second},
		{0, 61, true, 59, never, 60 * second},
		{30 * second, 59, false, 0, 0, 30 * second},
		{30 * second, 1, true, 0, 30 * second, 30 * second},
		{60*second - 1, 1, true, 0, 1, 1},
		{60 * second, 0, false, 60, 0, 0},
		{60 * second, 60, false, 0, 0, 60 * second},
	}},
	{"window_boundaries/realistic_epoch", algo.PerMin(3), []row{
		{t2025 - 1, 3, false, 0, 0, 1},
		{t2025 - 1, 1, true, 0, 1, 1},
		{t2025, 3, false, 0, 0, 60 * second},
		{t2025 + 59*second, 1, true, 0, 1 * second, 1 * second},
	}},
	{"clock_back", algo.PerMin(3), []row{
		{30 * second, 3, false, 0, 0, 30 * second},
		// Decided as at 30s, in the window [0, 60s): 20s of lag added.
		{10 * second, 1, true, 0, 50 * second, 50 * second},
		{60 * second, 1, false, 2, 0, 60 * second},
	}},
}

var slidingWindowTimelines = []timeline{
	{"per_min(60)", algo.PerMin(60), []row{
		{0, 1, false, 59, 0, 60*second + 1},
		{0, 0, false, 59, 0, 60*second + 1},
		{0, 60, true, 59, 60*second + 1, 60*second + 1},
		{0, 61, true, 59, never, 60*second + 1},
		{60 * second, 60, true, 59, 1, 1},
		{60*second + 1, 60, false, 0, 0, 119 * second},
	}},
	{"weighting", algo.PerSec(10), []row{
		{0, 10, false, 0, 0, 1_900_001},
		{999_999, 1, true, 0, 2, 900_002},
		{1_000_000, 0, false, 0, 0, 900_001},
		{1_000_001, 0, false, 1, 0, 900_000},
		{1_500_000, 0, false, 5, 0, 400_001},
		{1_500_000, 5, false, 0, 0, 1_300_001},
		{1_500_000, 6, true, 0, 500_001, 1_300_001},
		{1_500_000, 1, true, 0, 1, 1_300_001},
		{1_600_000, 1, false, 0, 0, 1_233_334},
		{2_000_000, 0, false, 4, 0, 833_334},
		{2_833_333, 0, false, 9, 0, 1},
		{2_833_334, 0, false, 10, 0, 0},
	}},
}

func timelinesFor(a algo.Algorithm) []timeline {
	switch a {
	case algo.FixedWindow:
		return fixedWindowTimelines
	case algo.SlidingWindow:
		return slidingWindowTimelines
	}
	return bucketTimelines
}

// TestTimeline plays timelines through the store on a fake clock, through
// the string API and a typed table, and with a second policy that never
// limits (which must change no decision).
func TestTimeline(t *testing.T) {
	for _, a := range algo.Algorithms {
		for _, tl := range timelinesFor(a) {
			t.Run("algo="+a.String()+"/"+tl.name, func(t *testing.T) {
				s, clk := newTestStore(t, 0)
				p := policy(t, a, tl.quota)
				roomy := policy(t, algo.TokenBucket, algo.PerSec(1_000_000))
				for i, r := range tl.rows {
					clk.Set(r.at)
					want := algo.Decision{Limited: r.limited, Remaining: r.remaining, RetryAfter: r.retry, ResetAfter: r.reset}
					if got := decide(t, s, "k", p, r.cost); got != want {
						t.Fatalf("row %d (at=%d cost=%d) via Store.Decide:\n got %+v\nwant %+v", i, r.at, r.cost, got, want)
					}
					if got := decide(t, For[userKey](s), userKey{1, 1}, p, r.cost); got != want {
						t.Fatalf("row %d (at=%d cost=%d) via For[userKey]:\n got %+v\nwant %+v", i, r.at, r.cost, got, want)
					}
					if _, each := decideAll(t, For[int](s), 1, pols(p, roomy), r.cost); each[0] != want {
						t.Fatalf("row %d (at=%d cost=%d) with a second policy:\n got %+v\nwant %+v", i, r.at, r.cost, each[0], want)
					}
				}
			})
		}
	}
}

// The eleventh of ten instant requests on PerMin(60).WithBurst(10), spelled out.
func TestTokenBucketBurst(t *testing.T) {
	s, clk := newTestStore(t, t2025)
	p := policy(t, algo.TokenBucket, algo.PerMin(60).WithBurst(10))
	for i := range 10 {
		d := decide(t, s, "/ping", p, 1)
		if d.Limited || d.Remaining != int64(9-i) {
			t.Fatalf("request %d: %+v, want allowed with Remaining %d", i+1, d, 9-i)
		}
	}
	d := decide(t, s, "/ping", p, 1)
	if !d.Limited || d.RetryAfter != 1_000_000 {
		t.Fatalf("eleventh request: %+v, want Limited with RetryAfter 1_000_000µs", d)
	}
	clk.Advance(time.Second)
	if d := decide(t, s, "/ping", p, 1); d.Limited {
		t.Fatalf("after 1s: %+v, want allowed", d)
	}
	if d := decide(t, s, "/ping", p, 1); !d.Limited {
		t.Fatalf("second request after 1s: %+v, want Limited", d)
	}
}

// refKey runs a step function the plain way: state kept forever, Init when
// there is none, saved when allowed with cost > 0. Expiry and eviction in
// the store must not change any decision.
type refKey[S any] struct {
	p    algo.Params
	init func(algo.Params, int64) S
	step func(S, algo.Params, int64, int64) (S, algo.Decision)
	has  bool
	s    S
	next S // the state try computed, saved by commit
}

// try decides a request without saving the state it leads to.
func (r *refKey[S]) try(now, cost int64) algo.Decision {
	s := r.s
	if !r.has {
		s = r.init(r.p, now)
	}
	ns, d := r.step(s, r.p, now, cost)
	r.next = ns
	return d
}

// commit saves the state the last try computed.
func (r *refKey[S]) commit() { r.s, r.has = r.next, true }

func (r *refKey[S]) decide(now, cost int64) algo.Decision {
	d := r.try(now, cost)
	if !d.Limited && cost > 0 {
		r.commit()
	}
	return d
}

// reference is a key's state under one policy, kept by refKey.
type reference interface {
	decide(now, cost int64) algo.Decision
	try(now, cost int64) algo.Decision
	commit()
}

func newRef(p algo.Params) reference {
	switch p.Algorithm {
	case algo.FixedWindow:
		return &refKey[algo.FixedWindowState]{p: p, init: algo.FixedWindowInit, step: algo.FixedWindowStep}
	case algo.SlidingWindow:
		return &refKey[algo.SlidingWindowState]{p: p, init: algo.SlidingWindowInit, step: algo.SlidingWindowStep}
	case algo.TokenBucket:
		return &refKey[algo.TokenBucketState]{p: p, init: algo.TokenBucketInit, step: algo.TokenBucketStep}
	case algo.LeakingBucket:
		return &refKey[algo.LeakingBucketState]{p: p, init: algo.LeakingBucketInit, step: algo.LeakingBucketStep}
	case algo.GCRA:
		return &refKey[algo.GCRAState]{p: p, init: algo.GCRAInit, step: algo.GCRAStep}
	}
	panic("unknown algorithm")
}

// TestMatchesStepFunctions compares the store with the step functions on
// random traces over a few keys, with time moving forward by random steps
// (often past a key's expiry) and sweeps in between.
func TestMatchesStepFunctions(t *testing.T) {
	quotas := []algo.Quota{
		algo.PerSec(5), algo.PerSec(3).WithBurst(7), algo.PerMin(60).WithBurst(10),
		algo.PerDuration(time.Millisecond, 3), algo.PerDuration(7*time.Millisecond, 2).WithBurst(1),
	}
	for _, a := range algo.Algorithms {
		for qi, q := range quotas {
			t.Run(fmt.Sprintf("algo=%s/quota=%s", a, q), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(a), uint64(qi)))
				s, clk := newTestStore(t, t2025, WithShards(1), WithMaxSize(16))
				p := policy(t, a, q)
				const nKeys = 4
				refs := make([]reference, nKeys)
				for i := range refs {
					refs[i] = newRef(*p.Params())
				}
				period := p.Params().Period
				for i := range 5000 {
					switch r := rng.IntN(10); {
					case r < 5:
						clk.AdvanceMicros(rng.Int64N(period/p.Params().Limit + 2))
					case r < 8:
						clk.AdvanceMicros(rng.Int64N(3 * period))
					}
					if rng.IntN(50) == 0 {
						For[int](s).sweepAll(clk.Now())
					}
					k := rng.IntN(nKeys)
					cost := rng.Int64N(p.Max() + 2) // includes 0 and cost > capacity
					if rng.IntN(4) == 0 {
						cost = min(cost, 1)
					}
					want := refs[k].decide(clk.Now(), cost)
					got := decide(t, For[int](s), k, p, cost)
					if got != want {
						t.Fatalf("step %d: key %d at %d cost %d:\n got %+v\nwant %+v", i, k, clk.Now()-t2025, cost, got, want)
					}
				}
				if st := s.Stats(); st.LiveEvictions != 0 {
					t.Fatalf("LiveEvictions = %d with %d keys and room for 16", st.LiveEvictions, nKeys)
				}
			})
		}
	}
}

// TestWritesNothing checks that peeks and denials never store anything.
func TestWritesNothing(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := policy(t, a, algo.PerSec(5))
			fresh := algo.Decision{Remaining: 5}
			if d := peek(t, s, "k", p); d != fresh {
				t.Fatalf("peek on a fresh key = %+v, want %+v", d, fresh)
			}
			if n := entries(s); n != 0 {
				t.Fatalf("Keys = %d after a peek on a fresh key, want 0", n)
			}
			if d := decide(t, s, "k", p, 6); !d.Limited || d.RetryAfter != never {
				t.Fatalf("cost above capacity on a fresh key = %+v, want Limited with RetryAfter never", d)
			}
			if n := entries(s); n != 0 {
				t.Fatalf("Keys = %d after a denial on a fresh key, want 0", n)
			}
			decide(t, s, "k", p, 5)
			before := peek(t, s, "k", p)
			for _, cost := range []int64{1, 5, 6} {
				if d := decide(t, s, "k", p, cost); !d.Limited {
					t.Fatalf("cost %d on an exhausted key = %+v, want Limited", cost, d)
				}
				if after := peek(t, s, "k", p); after != before {
					t.Fatalf("state changed by a denial of cost %d: peek %+v, was %+v", cost, after, before)
				}
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Keys = %d, want 1", n)
			}
		})
	}
}

// tooMany is one policy more than a decision may take.
func tooMany(t testing.TB) []*store.Policy {
	ps := make([]*store.Policy, store.MaxPolicies+1)
	for i := range ps {
		ps[i] = policy(t, algo.TokenBucket, algo.PerSec(int64(i+1)))
	}
	return ps
}

// TestInvalidInput checks that bad input is an *algo.DataError (matching
// algo.ErrInvalid) that names the bad value, returned with the zero
// Decision, leaving each alone and creating no state.
func TestInvalidInput(t *testing.T) {
	p := policy(t, algo.TokenBucket, algo.PerSec(5))
	q := policy(t, algo.FixedWindow, algo.PerMin(7))
	cases := []struct {
		name    string
		now     int64
		ps      []*store.Policy
		cost    int64
		each    int // len(each); -1 for nil
		message string
	}{
		{"cost=-1", t2025, pols(p), -1, -1, "invalid cost -1"},
		{"cost=-1/policies=2", t2025, pols(p, q), -1, 2, "invalid cost -1"},
		{"policies=nil", t2025, nil, 1, -1, "invalid number of policies 0"},
		{"policies=empty", t2025, pols(), 1, -1, "invalid number of policies 0"},
		{"policies=9", t2025, tooMany(t), 1, -1, "invalid number of policies 9"},
		{"policy=nil", t2025, pols(p, nil), 1, -1, `invalid policy "#1: nil"`},
		{"each=1_for_2", t2025, pols(p, q), 1, 1, "invalid length of each 1"},
		{"each=3_for_2", t2025, pols(p, q), 1, 3, "invalid length of each 3"},
		{"each=empty_for_1", t2025, pols(p), 1, 0, "invalid length of each 0"},
		{"clock=-1", -1, pols(p), 1, -1, "invalid time -1"},
		{"clock=-1/peek", -1, pols(p), 0, -1, "invalid time -1"},
		{"clock=after_MaxTime", algo.MaxTime + 1, pols(p, q), 1, -1, fmt.Sprintf("invalid time %d", algo.MaxTime+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestStore(t, c.now)
			check := func(api string, d algo.Decision, each []algo.Decision, err error) {
				t.Helper()
				if !errors.Is(err, algo.ErrInvalid) {
					t.Errorf("%s: err = %v, want one matching algo.ErrInvalid", api, err)
				}
				var de *algo.DataError
				if !errors.As(err, &de) {
					t.Errorf("%s: err = %T, want a *algo.DataError", api, err)
				} else if got := de.Error(); !strings.Contains(got, c.message) {
					t.Errorf("%s: err = %q, want it to say %q", api, got, c.message)
				}
				if d != (algo.Decision{}) {
					t.Errorf("%s: decision = %+v with an error, want the zero Decision", api, d)
				}
				for i, e := range each {
					if e != (algo.Decision{Remaining: -7}) {
						t.Errorf("%s: each[%d] = %+v, want it untouched", api, i, e)
					}
				}
			}
			newEach := func() []algo.Decision {
				if c.each < 0 {
					return nil
				}
				each := make([]algo.Decision, c.each)
				for i := range each {
					each[i].Remaining = -7 // a mark: the store must not write it
				}
				return each
			}
			each := newEach()
			d, err := s.Decide(ctx, "k", c.ps, c.cost, each)
			check("Store.Decide", d, each, err)
			each = newEach()
			d, err = For[userKey](s).Decide(ctx, userKey{1, 2}, c.ps, c.cost, each)
			check("For[userKey]", d, each, err)
			if n := entries(s); n != 0 {
				t.Errorf("Keys = %d after invalid input, want 0", n)
			}
		})
	}
	t.Run("reset/policies=nil", func(t *testing.T) {
		s, _ := newTestStore(t, t2025)
		decide(t, s, "k", p, 1)
		for _, ps := range [][]*store.Policy{nil, {}, tooMany(t), {p, nil}} {
			if err := s.Reset(ctx, "k", ps); !errors.Is(err, algo.ErrInvalid) {
				t.Errorf("Reset(%d policies) = %v, want one matching algo.ErrInvalid", len(ps), err)
			}
		}
		if d := peek(t, s, "k", p); d.Remaining != 4 {
			t.Errorf("after refused Resets: %+v, want the state kept (Remaining 4)", d)
		}
	})
	t.Run("valid_after_invalid", func(t *testing.T) {
		// An invalid time does not poison the key: the same request at a valid
		// time is decided normally.
		s, clk := newTestStore(t, -1)
		if _, err := s.Decide(ctx, "k", pols(p), 1, nil); !errors.Is(err, algo.ErrInvalid) {
			t.Fatalf("Decide at -1µs: %v, want ErrInvalid", err)
		}
		clk.Set(0)
		if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 4 {
			t.Fatalf("Decide at 0 = %+v, want allowed with Remaining 4", d)
		}
	})
	t.Run("time=MaxTime", func(t *testing.T) {
		// The last valid time is decided.
		s, _ := newTestStore(t, algo.MaxTime)
		if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 4 {
			t.Fatalf("Decide at MaxTime = %+v, want allowed with Remaining 4", d)
		}
	})
}

// ---------------------------------------------------------------------------
// 3. Expiry, Reset, independence of keys and tables.

// TestExpiry checks that a state is back to a fresh key exactly ResetAfter
// after its last admission, and is dropped by a sweep at that time.
func TestExpiry(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025+123)
			p := policy(t, a, algo.PerSec(10))
			d := decide(t, s, "k", p, 1)
			if d.ResetAfter <= 0 {
				t.Fatalf("first request: %+v, want ResetAfter > 0", d)
			}
			clk.AdvanceMicros(d.ResetAfter - 1)
			if pk := peek(t, s, "k", p); pk.Remaining != p.Max()-1 || pk.ResetAfter != 1 {
				t.Fatalf("peek 1µs before expiry = %+v, want Remaining %d, ResetAfter 1", pk, p.Max()-1)
			}
			s.strings.sweepAll(clk.Now())
			if n := entries(s); n != 1 {
				t.Fatalf("Keys = %d after a sweep 1µs before expiry, want 1", n)
			}
			clk.AdvanceMicros(1)
			if pk := peek(t, s, "k", p); pk != (algo.Decision{Remaining: p.Max()}) {
				t.Fatalf("peek at expiry = %+v, want a fresh key's Remaining %d", pk, p.Max())
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Keys = %d after a peek on the expired key, want 1 (a read changes nothing)", n)
			}
			s.strings.sweepAll(clk.Now())
			if n := entries(s); n != 0 {
				t.Fatalf("Keys = %d after a sweep at expiry, want 0 (the expired state dropped)", n)
			}
		})
	}
}

// An expired state is replaced when its key admits a request, and kept
// (equivalent to absent) when a request on it consumes nothing: only a
// sweep drops it, so a read never changes what a stepped-back clock sees.
func TestExpiredEntryOnUse(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025)
			p := policy(t, a, algo.PerSec(10))
			decide(t, s, "deny", p, 10)
			decide(t, s, "admit", p, 10)
			clk.Advance(time.Hour)
			if d := decide(t, s, "deny", p, 11); !d.Limited || d.RetryAfter != never || d.Remaining != 10 {
				t.Fatalf("cost 11 on an expired key = %+v, want Limited, never, Remaining 10", d)
			}
			if n := entries(s); n != 2 {
				t.Fatalf("Keys = %d, want 2 (a denial drops nothing)", n)
			}
			if d := decide(t, s, "admit", p, 1); d.Limited || d.Remaining != 9 {
				t.Fatalf("cost 1 on an expired key = %+v, want a fresh key's answer", d)
			}
			if n := entries(s); n != 2 {
				t.Fatalf("Keys = %d, want 2 (the admission reused its entry)", n)
			}
			s.strings.sweepAll(clk.Now())
			if n := entries(s); n != 1 {
				t.Fatalf("Keys = %d after a sweep, want 1 (the expired denied key dropped)", n)
			}
		})
	}
}

// The sweep drops expired states and only those.
func TestSweep(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithShards(4))
	p := policy(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 100 {
		decide(t, s, fmt.Sprint("short", i), p, 1) // expires in 100ms
		decide(t, s, fmt.Sprint("long", i), p, 10) // expires in 1s
	}
	tbl := For[string](s)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 200 {
		t.Fatalf("Keys = %d after a sweep with nothing expired, want 200", n)
	}
	clk.Advance(100 * time.Millisecond)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 100 {
		t.Fatalf("Keys = %d after the short keys expired, want 100", n)
	}
	if d := peek(t, s, "long0", p); d.Remaining != 1 {
		t.Fatalf("a live key after the sweep: %+v, want Remaining 1", d)
	}
	clk.Advance(900 * time.Millisecond)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 0 {
		t.Fatalf("Keys = %d after every key expired, want 0", n)
	}
}

// A sweep drops a key's expired states one by one: the key stays while one
// of its states is live.
func TestSweepKeepsLiveStates(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithShards(1))
	short := policy(t, algo.TokenBucket, algo.PerSec(10))
	long := policy(t, algo.TokenBucket, algo.PerHour(10))
	decideAll(t, s, "k", pols(short, long), 1)
	clk.Advance(time.Second)
	s.strings.sweepAll(clk.Now())
	if n := entries(s); n != 1 {
		t.Fatalf("Keys = %d, want 1 (the long state is live)", n)
	}
	e := s.strings.held("k")
	if n := s.strings.statesOf("k"); e == nil || n != 1 || e.first.id != long.ID() {
		t.Fatalf("states after the sweep: %d, first %+v, want only the long policy's", n, e)
	}
	if d := peek(t, s, "k", long); d.Remaining != 9 {
		t.Fatalf("long policy after the sweep: %+v, want Remaining 9", d)
	}
}

func TestReset(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := policy(t, a, algo.PerMin(3))
			decide(t, s, "k", p, 3)
			decide(t, s, "other", p, 3)
			if d := decide(t, s, "k", p, 1); !d.Limited {
				t.Fatalf("exhausted key: %+v, want Limited", d)
			}
			// Reset of another policy (another algorithm, or another quota)
			// leaves the key alone.
			other := algo.TokenBucket
			if a == other {
				other = algo.GCRA
			}
			for _, o := range []*store.Policy{policy(t, other, algo.PerMin(3)), policy(t, a, algo.PerMin(4))} {
				if err := s.Reset(ctx, "k", pols(o)); err != nil {
					t.Fatal(err)
				}
				if n := entries(s); n != 2 {
					t.Fatalf("Keys = %d after resetting %s, want 2", n, o)
				}
				if d := peek(t, s, "k", p); d.Remaining != 0 {
					t.Fatalf("after resetting %s: %+v, want the key still exhausted", o, d)
				}
			}
			if err := s.Reset(ctx, "k", pols(p)); err != nil {
				t.Fatal(err)
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Keys = %d after Reset, want 1", n)
			}
			if d := peek(t, s, "k", p); d != (algo.Decision{Remaining: 3}) {
				t.Fatalf("peek after Reset = %+v, want a fresh key", d)
			}
			if d := peek(t, s, "other", p); d.Remaining != 0 {
				t.Fatalf("another key after Reset = %+v, want it untouched", d)
			}
			if err := s.Reset(ctx, "absent", pols(p)); err != nil {
				t.Fatalf("Reset of an absent key: %v", err)
			}
			// Typed tables reset the same way.
			tbl := For[userKey](s)
			decide(t, tbl, userKey{1, 1}, p, 3)
			if err := tbl.Reset(ctx, userKey{1, 1}, pols(p)); err != nil {
				t.Fatal(err)
			}
			if d := peek(t, tbl, userKey{1, 1}, p); d.Remaining != 3 {
				t.Fatalf("typed key after Reset = %+v, want a fresh key", d)
			}
		})
	}
}

// Reset of some of a key's policies keeps the others' states, and the key
// until its last state goes.
func TestResetSomePolicies(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	a := policy(t, algo.GCRA, algo.PerMin(3))
	b := policy(t, algo.FixedWindow, algo.PerHour(5))
	c := policy(t, algo.SlidingWindow, algo.PerSec(7))
	decideAll(t, s, "k", pols(a, b, c), 2)
	if err := s.Reset(ctx, "k", pols(c, a)); err != nil {
		t.Fatal(err)
	}
	if n := entries(s); n != 1 {
		t.Fatalf("Keys = %d, want 1 (b's state left)", n)
	}
	_, each := decideAll(t, s, "k", pols(a, b, c), 0)
	if each[0].Remaining != 3 || each[1].Remaining != 3 || each[2].Remaining != 7 {
		t.Fatalf("after resetting a and c: %+v, want a and c fresh, b 3 left", each)
	}
	if err := s.Reset(ctx, "k", pols(b)); err != nil {
		t.Fatal(err)
	}
	if n := entries(s); n != 0 {
		t.Fatalf("Keys = %d after resetting every state, want 0", n)
	}
}

// One user key holds one state per policy, in one entry.
func TestAlgorithmsIndependent(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	q := algo.PerMin(2)
	for i, a := range algo.Algorithms {
		p := policy(t, a, q)
		if d := peek(t, s, "k", p); d.Remaining != 2 {
			t.Fatalf("%s after %d other algorithms exhausted the key: %+v, want Remaining 2", a, i, d)
		}
		decide(t, s, "k", p, 2)
		if d := decide(t, s, "k", p, 1); !d.Limited {
			t.Fatalf("%s: %+v, want Limited", a, d)
		}
	}
	if n := entries(s); n != 1 {
		t.Fatalf("Keys = %d, want 1: a key's states share one entry", n)
	}
	if n := s.strings.statesOf("k"); n != len(algo.Algorithms) {
		t.Fatalf("the key holds %d states, want %d", n, len(algo.Algorithms))
	}
}

// Key types never share a key; the string API is For[string].
func TestTablesIndependent(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	p := policy(t, algo.FixedWindow, algo.PerMin(1))
	type name string
	if d := decide(t, s, "k", p, 1); d.Limited {
		t.Fatalf("Store.Decide: %+v, want allowed", d)
	}
	if d := decide(t, For[name](s), name("k"), p, 1); d.Limited {
		t.Fatalf("For[name]: %+v, want allowed: a named string type shares For[string]'s keys", d)
	}
	if d := decide(t, For[string](s), "k", p, 1); !d.Limited {
		t.Fatalf("For[string]: %+v, want Limited: it must be Store.Decide's table", d)
	}
	if n := entries(s); n != 2 {
		t.Fatalf("Keys = %d, want 2", n)
	}
	if err := For[name](s).Reset(ctx, "k", pols(p)); err != nil {
		t.Fatal(err)
	}
	if d := peek(t, s, "k", p); d.Remaining != 0 {
		t.Fatalf("Reset in For[name] reset the string table: %+v", d)
	}
	// For[string] keeps the empty key the Store refuses.
	if d := decide(t, For[string](s), "", p, 1); d.Limited || d.Remaining != 0 {
		t.Fatalf(`For[string] with key "": %+v, want allowed`, d)
	}
}

func TestForSameTable(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	s2, _ := newTestStore(t, t2025)
	if first, second := For[userKey](s), For[userKey](s); first != second {
		t.Error("For[userKey] returned two tables")
	}
	if For[userKey](s) == For[userKey](s2) {
		t.Error("two stores share a table")
	}
	if For[string](s) != s.strings {
		t.Error("For[string] is not the table behind Store.Decide")
	}
	if got, want := For[userKey](s).String(), "memstore.Table[memstore.userKey]{shards: 64}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var c store.Clock = For[userKey](s).Clock()
	if c != s.Clock() || c != s.clock {
		t.Error("a table's Clock is not its store's")
	}
	if s.Name() != "memory" || For[userKey](s).Name() != "memory" {
		t.Errorf("Name() = %q, %q; want %q", s.Name(), For[userKey](s).Name(), "memory")
	}
}

func TestShardsRounded(t *testing.T) {
	for _, c := range []struct{ in, want int }{{1, 1}, {3, 4}, {64, 64}, {65, 128}, {MaxShards - 1, MaxShards}, {MaxShards, MaxShards}} {
		s, _ := newTestStore(t, t2025, WithShards(c.in))
		if got := len(For[int](s).shards); got != c.want {
			t.Errorf("WithShards(%d): %d shards, want %d", c.in, got, c.want)
		}
	}
}

// ---------------------------------------------------------------------------
// 4. Bounded size.

// TestMaxSizeEvictsLive fills a one-shard store with live keys: one more key
// evicts exactly one, the one that used the least of its quota, and counts
// it.
func TestMaxSizeEvictsLive(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
			p := policy(t, a, algo.PerMin(60))
			// k0 used the least; the window algorithms' keys all expire at
			// the window's end, so the later keys get more cost.
			for i := range 4 {
				decide(t, s, fmt.Sprint("k", i), p, int64(1+i))
				clk.Advance(time.Millisecond)
			}
			if st := s.Stats(); st != (Stats{Keys: 4}) {
				t.Fatalf("Stats = %+v, want 4 keys, no evictions", st)
			}
			decide(t, s, "k4", p, 1)
			if st := s.Stats(); st != (Stats{Keys: 4, LiveEvictions: 1}) {
				t.Fatalf("Stats = %+v after one key too many, want 4 keys, 1 live eviction", st)
			}
			var gone []string
			for i := range 5 {
				k := fmt.Sprint("k", i)
				if peek(t, s, k, p).Remaining == p.Max() {
					gone = append(gone, k)
				}
			}
			if len(gone) != 1 {
				t.Fatalf("keys back to fresh: %v, want exactly one", gone)
			}
			if a != algo.FixedWindow && gone[0] != "k0" {
				// (A fixed window's keys all expire at the window's end.)
				t.Errorf("evicted %s, want k0, the live key that used the least", gone[0])
			}
		})
	}
}

// TestMaxSizeDropsExpiredFirst: when a full shard holds expired states, a
// new key drops them rather than a live one.
func TestMaxSizeDropsExpiredFirst(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
			short := policy(t, a, algo.PerSec(10))
			long := policy(t, a, algo.PerHour(10))
			decide(t, s, "short0", short, 1)
			decide(t, s, "short1", short, 1)
			decide(t, s, "long0", long, 1)
			decide(t, s, "long1", long, 1)
			clk.Advance(2 * time.Second) // past the short keys' expiry, long before the long ones'
			if n := entries(s); n != 4 {
				t.Fatalf("Keys = %d, want 4 (expired ones not dropped yet)", n)
			}
			decide(t, s, "new", long, 1)
			if st := s.Stats(); st != (Stats{Keys: 3}) {
				t.Fatalf("Stats = %+v, want 3 keys (two expired dropped) and no live eviction", st)
			}
			for _, k := range []string{"long0", "long1", "new"} {
				if d := peek(t, s, k, long); d.Remaining != 9 {
					t.Errorf("%s: %+v, want its state kept (Remaining 9)", k, d)
				}
			}
		})
	}
}

// TestMaxSizeNewKeyExpiresFirst: a key inserted after a sweep that expires
// before every other key is still found expired when the shard fills.
func TestMaxSizeNewKeyExpiresFirst(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithMaxSize(2), WithShards(1))
	long := policy(t, algo.TokenBucket, algo.PerHour(10)) // one request expires in 6 minutes
	short := policy(t, algo.TokenBucket, algo.PerSec(10)) // in 100ms
	decide(t, s, "a", long, 1)
	clk.Advance(time.Millisecond)
	decide(t, s, "b", long, 1)
	clk.Advance(time.Millisecond)
	decide(t, s, "c", long, 1) // full, nothing expired: evicts a, the lightest
	if st := s.Stats(); st != (Stats{Keys: 2, LiveEvictions: 1}) {
		t.Fatalf("Stats = %+v, want 2 keys, 1 live eviction", st)
	}
	if d := peek(t, s, "a", long); d.Remaining != 10 {
		t.Fatalf("a = %+v, want it evicted (the least time left)", d)
	}
	if err := s.Reset(ctx, "b", pols(long)); err != nil {
		t.Fatal(err)
	}
	decide(t, s, "d", short, 1) // the soonest to expire of the shard
	clk.Advance(200 * time.Millisecond)
	decide(t, s, "e", long, 1) // full: d has expired and must go, not c
	if st := s.Stats(); st != (Stats{Keys: 2, LiveEvictions: 1}) {
		t.Fatalf("Stats = %+v, want 2 keys and still 1 live eviction (d expired)", st)
	}
	if d := peek(t, s, "c", long); d.Remaining != 9 {
		t.Fatalf("c = %+v, want its state kept", d)
	}
}

// TestMaxSizeBound inserts many keys into several shards: the store never
// holds more than its bound, and every key beyond it cost one live eviction.
func TestMaxSizeBound(t *testing.T) {
	for _, c := range []struct{ maxSize, shards, keys int }{
		{1000, 16, 20_000},
		{100, 8, 5_000},
		{2, 8, 100}, // raised to one key per shard
	} {
		t.Run(fmt.Sprintf("max=%d/shards=%d", c.maxSize, c.shards), func(t *testing.T) {
			s, _ := newTestStore(t, t2025, WithMaxSize(c.maxSize), WithShards(c.shards))
			bound := max(c.maxSize, c.shards)
			p := policy(t, algo.GCRA, algo.PerHour(10))
			tbl := For[userKey](s)
			for i := range c.keys {
				decide(t, tbl, userKey{Tenant: uint32(i % 7), User: uint64(i)}, p, 1)
				if i%97 == 0 {
					if n := entries(s); n > bound {
						t.Fatalf("after %d keys: Keys = %d, above the bound %d", i+1, n, bound)
					}
				}
			}
			st := s.Stats()
			if st.Keys > bound {
				t.Fatalf("Keys = %d, above the bound %d", st.Keys, bound)
			}
			// No key expired, so each new key either took a free slot or evicted one.
			if got := int64(st.Keys) + st.LiveEvictions; got != int64(c.keys) {
				t.Fatalf("Keys %d + LiveEvictions %d = %d, want %d keys", st.Keys, st.LiveEvictions, got, c.keys)
			}
		})
	}
}

// TestMaxSizePerTable checks the documented bound: WithMaxSize bounds each
// table (key type) on its own.
func TestMaxSizePerTable(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
	p := policy(t, algo.TokenBucket, algo.PerHour(10))
	for i := range 6 {
		decide(t, s, fmt.Sprint(i), p, 1)
		decide(t, For[int](s), i, p, 1)
	}
	if n := entries(s); n != 8 {
		t.Fatalf("Keys = %d, want 2 tables × 4", n)
	}
	if ev := s.Stats().LiveEvictions; ev != 4 {
		t.Fatalf("LiveEvictions = %d, want 2 tables × 2", ev)
	}
}

// ---------------------------------------------------------------------------
// 5. No goroutine (there is no janitor and nothing to close).

// TestNoGoroutine checks that a store starts no goroutine, however it is
// used: expired state is dropped only as full shards need room.
func TestNoGoroutine(t *testing.T) {
	baseline := runtime.NumGoroutine()
	s, clk := newTestStore(t, t2025, WithMaxSize(400), WithShards(4))
	p := policy(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 1000 {
		decide(t, s, fmt.Sprint(i), p, 1)
		decide(t, For[userKey](s), userKey{User: uint64(i)}, p, 1)
		clk.Advance(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		t.Errorf("NumGoroutine = %d after using a store, want at most %d", n, baseline)
	}
	// Expired keys were dropped as shards filled: no live key was evicted
	// (a key expires within 100ms, so about 25 of a shard's 100 are live).
	if st := s.Stats(); st.LiveEvictions != 0 || st.Keys > 2*400 {
		t.Errorf("Stats = %+v, want no live eviction (expired keys make room) and at most 800 keys", st)
	}
}

// ---------------------------------------------------------------------------
// 6. Concurrency (run with -race).

func TestConcurrentOneKey(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := policy(t, a, algo.PerSec(100))
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 50 {
						d, err := s.Decide(ctx, "hot", pols(p), 1, nil)
						if err != nil {
							t.Error(err)
							return
						}
						if !d.Limited {
							admitted.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if n := admitted.Load(); n != 100 {
				t.Fatalf("admitted %d of 800 with the clock frozen, want exactly 100", n)
			}
		})
	}
}

// Goroutines deciding one key under two policies, and others under each
// policy alone, never over-admit: with the clock frozen, each policy admits
// exactly its limit in all.
func TestConcurrentPolicies(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := policy(t, a, algo.PerSec(100))
			q := policy(t, a, algo.PerHour(70))
			var byBoth, byP, byQ atomic.Int64
			var wg sync.WaitGroup
			for g := range 24 {
				wg.Go(func() {
					ps, n := pols(p, q), &byBoth
					switch g % 3 {
					case 1:
						ps, n = pols(p), &byP
					case 2:
						ps, n = pols(q), &byQ
					}
					for range 50 {
						d, err := s.Decide(ctx, "hot", ps, 1, nil)
						if err != nil {
							t.Error(err)
							return
						}
						if !d.Limited {
							n.Add(1)
						}
					}
				})
			}
			wg.Wait()
			both, onlyP, onlyQ := byBoth.Load(), byP.Load(), byQ.Load()
			if both+onlyP != 100 || both+onlyQ != 70 {
				t.Fatalf("admitted %d under both, %d under p, %d under q: p charged %d (want 100), q %d (want 70)",
					both, onlyP, onlyQ, both+onlyP, both+onlyQ)
			}
		})
	}
}

// Many goroutines on distinct keys, with Stats, Reset, new tables and a
// moving clock alongside: every key admits exactly its limit.
func TestConcurrentDistinctKeys(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithShards(8))
	p := policy(t, algo.FixedWindow, algo.PerHour(10))
	const workers, keysEach = 32, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Stats()
			_ = s.Reset(ctx, "absent", pols(p))
			For[[2]int](s).sweepAll(clk.Now())
			decide(t, For[[2]int](s), [2]int{i, i}, p, 1)
			clk.AdvanceMicros(1) // nothing expires within the hour
		}
	})
	for w := range workers {
		wg.Go(func() {
			tbl := For[userKey](s)
			for i := range keysEach {
				k := userKey{Tenant: uint32(w), User: uint64(i)}
				admitted := 0
				for range 15 {
					d, err := tbl.Decide(ctx, k, pols(p), 1, nil)
					if err != nil {
						t.Error(err)
						return
					}
					if !d.Limited {
						admitted++
					}
				}
				if admitted != 10 {
					t.Errorf("key %+v admitted %d, want 10", k, admitted)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if n := For[userKey](s).len(); n != workers*keysEach {
		t.Fatalf("userKey table holds %d keys, want %d", n, workers*keysEach)
	}
	if ev := s.Stats().LiveEvictions; ev != 0 {
		t.Fatalf("LiveEvictions = %d, want 0", ev)
	}
}

func TestConcurrentFor(t *testing.T) {
	type fresh [2]int8 // a key type no other test uses
	s, _ := newTestStore(t, t2025)
	const n = 32
	got := make([]*Table[fresh], n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got[i] = For[fresh](s)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if got[i] != got[0] {
			t.Fatalf("goroutine %d got a different table", i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) != 2 { // string, fresh
		t.Fatalf("store lists %d tables, want 2", len(s.all))
	}
}
