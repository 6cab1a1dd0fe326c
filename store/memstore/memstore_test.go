package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
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
)

// t2025 is 2025-01-01T00:00:00Z in µs since the epoch.
const t2025 = 1_735_689_600 * second

var ctx = context.Background()

// userKey is a typed key of the kind typed.Limiter[K] passes to For[K].
type userKey struct {
	Tenant uint32
	User   uint64
}

// newTestStore returns a store on a fake clock reading start, without a
// janitor (sweeps happen only when a test asks for them), closed at cleanup.
func newTestStore(t testing.TB, start int64, opts ...Option) (*Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	s := New(append([]Option{WithClock(clk), WithSweepInterval(0)}, opts...)...)
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func compile(t testing.TB, a algo.Algorithm, q algo.Quota) *algo.Params {
	t.Helper()
	p, err := algo.Compile(a, q)
	if err != nil {
		t.Fatalf("Compile(%s, %s): %v", a, q, err)
	}
	return &p
}

func decide[K comparable](t testing.TB, kd store.Keyed[K], key K, p *algo.Params, cost int64) algo.Decision {
	t.Helper()
	d, err := kd.Decide(ctx, key, p, cost)
	if err != nil {
		t.Fatalf("Decide(%v, %s, cost %d): %v", key, p.Algorithm, cost, err)
	}
	return d
}

func entries(s *Store) int { return s.Stats().Entries }

// ---------------------------------------------------------------------------
// 1. Zero allocations per decision.

// TestDecideAllocs checks that deciding on an existing key allocates nothing,
// for every algorithm, on the allowed, denied and peek paths, through the
// string API and through typed tables.
func TestDecideAllocs(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			strKey := fmt.Sprintf("user:%d", 42) // built at run time, like a real key
			tk := userKey{Tenant: 7, User: 42}
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
				p := compile(t, a, path.q)
				// One key per (path, API), held by the caller as a real one
				// would be. The "denied" and "peek" keys are exhausted first,
				// so the peek reads a stored state.
				strKey := strKey + "/" + path.name
				forKey := strKey + "/for"
				tk := userKey{Tenant: tk.Tenant, User: tk.User + uint64(len(path.name))}
				strTable, typed := For[string](s), For[userKey](s)
				apis := []struct {
					name   string
					decide func(cost int64) (algo.Decision, error)
				}{
					{"api=Store.Decide", func(c int64) (algo.Decision, error) { return s.Decide(ctx, strKey, p, c) }},
					{"api=For[string]", func(c int64) (algo.Decision, error) { return strTable.Decide(ctx, forKey, p, c) }},
					{"api=For[struct]", func(c int64) (algo.Decision, error) { return typed.Decide(ctx, tk, p, c) }},
				}
				for _, api := range apis {
					t.Run(path.name+"/"+api.name, func(t *testing.T) {
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
							t.Errorf("Entries = %d after deciding on an existing key, want %d", got, before)
						}
					})
				}
			}
		})
	}
}

// Looking a table up again is free too, so callers may call For per request.
func TestForAllocs(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	For[userKey](s)
	Namespace[string](s, "ns")
	if n := testing.AllocsPerRun(1000, func() { For[userKey](s) }); n != 0 {
		t.Errorf("For[userKey] of an existing table: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Namespace[string](s, "ns") }); n != 0 {
		t.Errorf("Namespace[string] of an existing table: %v allocs, want 0", n)
	}
}

// An expired entry is reused in place: deciding on it does not allocate either.
func TestDecideAllocsExpiredEntry(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025)
			p := compile(t, a, algo.PerDuration(time.Millisecond, 1))
			tbl := For[userKey](s)
			k := userKey{1, 2}
			decide(t, tbl, k, p, 1)
			allocs := testing.AllocsPerRun(1000, func() {
				clk.Advance(time.Hour) // the stored state has expired
				if d, err := tbl.Decide(ctx, k, p, 1); err != nil || d.Limited {
					t.Errorf("Decide on an expired key = %+v, %v; want allowed", d, err)
				}
			})
			if allocs != 0 {
				t.Errorf("AllocsPerRun = %v, want 0", allocs)
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

// bucketTimelines hold for the token bucket, the leaky bucket and GCRA.
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
		{second, 11, true, 0, algo.Never, 10 * second},
		{11 * second, 0, false, 10, 0, 0}, // full again: the entry has expired
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
		{5 * second, 1, true, 0, 100 * msec, 1 * second}, // taken as 10s
		{10*second + 100*msec, 1, false, 0, 0, 1 * second},
	}},
}

var fixedWindowTimelines = []timeline{
	{"per_min(60)", algo.PerMin(60), []row{
		{0, 1, false, 59, 0, 60 * second},
		{0, 0, false, 59, 0, 60 * second},
		{0, 60, true, 59, 60 * second, 60 * second},
		{0, 61, true, 59, algo.Never, 60 * second},
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
}

var slidingWindowTimelines = []timeline{
	{"per_min(60)", algo.PerMin(60), []row{
		{0, 1, false, 59, 0, 60*second + 1},
		{0, 0, false, 59, 0, 60*second + 1},
		{0, 60, true, 59, 60*second + 1, 60*second + 1},
		{0, 61, true, 59, algo.Never, 60*second + 1},
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
// the string API and a typed table.
func TestTimeline(t *testing.T) {
	for _, a := range algo.Algorithms {
		for _, tl := range timelinesFor(a) {
			t.Run("algo="+a.String()+"/"+tl.name, func(t *testing.T) {
				s, clk := newTestStore(t, 0)
				p := compile(t, a, tl.quota)
				for i, r := range tl.rows {
					clk.Set(r.at)
					want := algo.Decision{Limited: r.limited, Remaining: r.remaining, RetryAfter: r.retry, ResetAfter: r.reset}
					if got := decide(t, s, "k", p, r.cost); got != want {
						t.Fatalf("row %d (at=%d cost=%d) via Store.Decide:\n got %+v\nwant %+v", i, r.at, r.cost, got, want)
					}
					if got := decide(t, For[userKey](s), userKey{1, 1}, p, r.cost); got != want {
						t.Fatalf("row %d (at=%d cost=%d) via For[userKey]:\n got %+v\nwant %+v", i, r.at, r.cost, got, want)
					}
				}
			})
		}
	}
}

// The eleventh of ten instant requests on PerMin(60).WithBurst(10), spelled out.
func TestTokenBucketBurst(t *testing.T) {
	s, clk := newTestStore(t, t2025)
	p := compile(t, algo.TokenBucket, algo.PerMin(60).WithBurst(10))
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
}

func (r *refKey[S]) decide(now, cost int64) algo.Decision {
	s := r.s
	if !r.has {
		s = r.init(r.p, now)
	}
	ns, d := r.step(s, r.p, now, cost)
	if !d.Limited && cost > 0 {
		r.s, r.has = ns, true
	}
	return d
}

type reference interface {
	decide(now, cost int64) algo.Decision
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
				p := compile(t, a, q)
				const nKeys = 4
				refs := make([]reference, nKeys)
				for i := range refs {
					refs[i] = newRef(*p)
				}
				period := p.Period
				for i := range 5000 {
					switch r := rng.IntN(10); {
					case r < 5:
						clk.AdvanceMicros(rng.Int64N(period/p.Limit + 2))
					case r < 8:
						clk.AdvanceMicros(rng.Int64N(3 * period))
					}
					if rng.IntN(50) == 0 {
						For[int](s).sweepAll(clk.Now())
					}
					k := rng.IntN(nKeys)
					cost := rng.Int64N(p.Max + 2) // includes 0 and cost > capacity
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
			p := compile(t, a, algo.PerSec(5))
			fresh := algo.Decision{Remaining: 5}
			if d := decide(t, s, "k", p, 0); d != fresh {
				t.Fatalf("peek on a fresh key = %+v, want %+v", d, fresh)
			}
			if n := entries(s); n != 0 {
				t.Fatalf("Entries = %d after a peek on a fresh key, want 0", n)
			}
			if d := decide(t, s, "k", p, 6); !d.Limited || d.RetryAfter != algo.Never {
				t.Fatalf("cost above capacity on a fresh key = %+v, want Limited with RetryAfter Never", d)
			}
			if n := entries(s); n != 0 {
				t.Fatalf("Entries = %d after a denial on a fresh key, want 0", n)
			}
			decide(t, s, "k", p, 5)
			before := decide(t, s, "k", p, 0)
			for _, cost := range []int64{1, 5, 6} {
				if d := decide(t, s, "k", p, cost); !d.Limited {
					t.Fatalf("cost %d on an exhausted key = %+v, want Limited", cost, d)
				}
				if after := decide(t, s, "k", p, 0); after != before {
					t.Fatalf("state changed by a denial of cost %d: peek %+v, was %+v", cost, after, before)
				}
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Entries = %d, want 1", n)
			}
		})
	}
}

// TestInvalidInput checks that bad input is an algo.ErrInvalid error and
// creates no entry.
func TestInvalidInput(t *testing.T) {
	p := compile(t, algo.TokenBucket, algo.PerSec(5))
	noAlgo := *p
	noAlgo.Algorithm = 0
	badAlgo := *p
	badAlgo.Algorithm = 42
	cases := []struct {
		name string
		now  int64
		p    *algo.Params
		cost int64
	}{
		{"cost=-1", t2025, p, -1},
		{"params=nil", t2025, nil, 1},
		{"params=zero", t2025, &algo.Params{}, 1},
		{"params=algorithm_0", t2025, &noAlgo, 1},
		{"params=algorithm_42", t2025, &badAlgo, 1},
		{"clock=-1", -1, p, 1},
		{"clock=-1/peek", -1, p, 0},
		{"clock=after_MaxTime", algo.MaxTime + 1, p, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestStore(t, c.now)
			check := func(api string, d algo.Decision, err error) {
				t.Helper()
				if !errors.Is(err, algo.ErrInvalid) {
					t.Errorf("%s: err = %v, want one matching algo.ErrInvalid", api, err)
				}
				var de *algo.DataError
				if !errors.As(err, &de) {
					t.Errorf("%s: err = %T, want a *algo.DataError", api, err)
				}
				if d != (algo.Decision{}) {
					t.Errorf("%s: decision = %+v with an error, want the zero Decision", api, d)
				}
			}
			d, err := s.Decide(ctx, "k", c.p, c.cost)
			check("Store.Decide", d, err)
			d, err = For[userKey](s).Decide(ctx, userKey{1, 2}, c.p, c.cost)
			check("For[userKey]", d, err)
			if n := entries(s); n != 0 {
				t.Errorf("Entries = %d after invalid input, want 0", n)
			}
		})
	}
	t.Run("reset/algorithm_0", func(t *testing.T) {
		s, _ := newTestStore(t, t2025)
		if err := s.Reset(ctx, "k", 0); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("Reset(alg 0) = %v, want one matching algo.ErrInvalid", err)
		}
	})
	t.Run("valid_after_invalid", func(t *testing.T) {
		// An invalid time does not poison the key: the same request at a valid
		// time is decided normally.
		s, clk := newTestStore(t, -1)
		if _, err := s.Decide(ctx, "k", p, 1); !errors.Is(err, algo.ErrInvalid) {
			t.Fatalf("Decide at -1µs: %v, want ErrInvalid", err)
		}
		clk.Set(0)
		if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 4 {
			t.Fatalf("Decide at 0 = %+v, want allowed with Remaining 4", d)
		}
	})
}

// ---------------------------------------------------------------------------
// 3. Expiry, Reset, independence of keys and tables.

// TestExpiry checks that an entry is back to a fresh key exactly ResetAfter
// after its last admission, and is dropped when its key is next used.
func TestExpiry(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025+123)
			p := compile(t, a, algo.PerSec(10))
			d := decide(t, s, "k", p, 1)
			if d.ResetAfter <= 0 {
				t.Fatalf("first request: %+v, want ResetAfter > 0", d)
			}
			clk.AdvanceMicros(d.ResetAfter - 1)
			if pk := decide(t, s, "k", p, 0); pk.Remaining != p.Max-1 || pk.ResetAfter != 1 {
				t.Fatalf("peek 1µs before expiry = %+v, want Remaining %d, ResetAfter 1", pk, p.Max-1)
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Entries = %d before expiry, want 1", n)
			}
			clk.AdvanceMicros(1)
			if pk := decide(t, s, "k", p, 0); pk != (algo.Decision{Remaining: p.Max}) {
				t.Fatalf("peek at expiry = %+v, want a fresh key's Remaining %d", pk, p.Max)
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Entries = %d after a peek on the expired key, want 1 (a read changes nothing)", n)
			}
			s.strings.sweepAll(clk.Now())
			if n := entries(s); n != 0 {
				t.Fatalf("Entries = %d after a sweep, want 0 (the expired entry dropped)", n)
			}
		})
	}
}

// An expired entry is replaced when its key admits a request, and kept
// (equivalent to absent) when a request on it consumes nothing: only a
// sweep drops it, so a read never changes what a stepped-back clock sees.
func TestExpiredEntryOnUse(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025)
			p := compile(t, a, algo.PerSec(10))
			decide(t, s, "deny", p, 10)
			decide(t, s, "admit", p, 10)
			clk.Advance(time.Hour)
			if d := decide(t, s, "deny", p, 11); !d.Limited || d.RetryAfter != algo.Never || d.Remaining != 10 {
				t.Fatalf("cost 11 on an expired key = %+v, want Limited, Never, Remaining 10", d)
			}
			if n := entries(s); n != 2 {
				t.Fatalf("Entries = %d, want 2 (a denial drops nothing)", n)
			}
			if d := decide(t, s, "admit", p, 1); d.Limited || d.Remaining != 9 {
				t.Fatalf("cost 1 on an expired key = %+v, want a fresh key's answer", d)
			}
			if n := entries(s); n != 2 {
				t.Fatalf("Entries = %d, want 2 (the admission reused its entry)", n)
			}
			s.strings.sweepAll(clk.Now())
			if n := entries(s); n != 1 {
				t.Fatalf("Entries = %d after a sweep, want 1 (the expired denied key dropped)", n)
			}
		})
	}
}

// The sweep drops expired entries and only those.
func TestSweep(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithShards(4))
	p := compile(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 100 {
		decide(t, s, fmt.Sprint("short", i), p, 1) // expires in 100ms
		decide(t, s, fmt.Sprint("long", i), p, 10) // expires in 1s
	}
	tbl := For[string](s)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 200 {
		t.Fatalf("Entries = %d after a sweep with nothing expired, want 200", n)
	}
	clk.Advance(100 * time.Millisecond)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 100 {
		t.Fatalf("Entries = %d after the short keys expired, want 100", n)
	}
	if d := decide(t, s, "long0", p, 0); d.Remaining != 1 {
		t.Fatalf("a live key after the sweep: %+v, want Remaining 1", d)
	}
	clk.Advance(900 * time.Millisecond)
	tbl.sweepAll(clk.Now())
	if n := entries(s); n != 0 {
		t.Fatalf("Entries = %d after every key expired, want 0", n)
	}
}

func TestReset(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := compile(t, a, algo.PerMin(3))
			decide(t, s, "k", p, 3)
			decide(t, s, "other", p, 3)
			if d := decide(t, s, "k", p, 1); !d.Limited {
				t.Fatalf("exhausted key: %+v, want Limited", d)
			}
			// Reset of another algorithm leaves the key alone.
			other := algo.TokenBucket
			if a == other {
				other = algo.GCRA
			}
			if err := s.Reset(ctx, "k", other); err != nil {
				t.Fatal(err)
			}
			if n := entries(s); n != 2 {
				t.Fatalf("Entries = %d after resetting another algorithm, want 2", n)
			}
			if err := s.Reset(ctx, "k", a); err != nil {
				t.Fatal(err)
			}
			if n := entries(s); n != 1 {
				t.Fatalf("Entries = %d after Reset, want 1", n)
			}
			if d := decide(t, s, "k", p, 0); d != (algo.Decision{Remaining: 3}) {
				t.Fatalf("peek after Reset = %+v, want a fresh key", d)
			}
			if d := decide(t, s, "other", p, 0); d.Remaining != 0 {
				t.Fatalf("another key after Reset = %+v, want it untouched", d)
			}
			if err := s.Reset(ctx, "absent", a); err != nil {
				t.Fatalf("Reset of an absent key: %v", err)
			}
			// Typed tables reset the same way.
			tbl := For[userKey](s)
			decide(t, tbl, userKey{1, 1}, p, 3)
			if err := tbl.Reset(ctx, userKey{1, 1}, a); err != nil {
				t.Fatal(err)
			}
			if d := decide(t, tbl, userKey{1, 1}, p, 0); d.Remaining != 3 {
				t.Fatalf("typed key after Reset = %+v, want a fresh key", d)
			}
		})
	}
}

// One user key holds one state per algorithm.
func TestAlgorithmsIndependent(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	q := algo.PerMin(2)
	for i, a := range algo.Algorithms {
		p := compile(t, a, q)
		if d := decide(t, s, "k", p, 0); d.Remaining != 2 {
			t.Fatalf("%s after %d other algorithms exhausted the key: %+v, want Remaining 2", a, i, d)
		}
		decide(t, s, "k", p, 2)
		if d := decide(t, s, "k", p, 1); !d.Limited {
			t.Fatalf("%s: %+v, want Limited", a, d)
		}
	}
	if n := entries(s); n != len(algo.Algorithms) {
		t.Fatalf("Entries = %d, want %d", n, len(algo.Algorithms))
	}
}

// Namespaces and key types never share a key; the string API is For[string]
// in the empty namespace.
func TestTablesIndependent(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	p := compile(t, algo.FixedWindow, algo.PerMin(1))
	type name string
	tables := []store.Keyed[string]{s, Namespace[string](s, "a"), Namespace[string](s, "b")}
	for i, tb := range tables {
		for j, other := range tables[:i] {
			if d := decide(t, other, "k", p, 0); d.Remaining != 0 {
				t.Fatalf("table %d reset by table %d: %+v", j, i, d)
			}
		}
		if d := decide(t, tb, "k", p, 1); d.Limited {
			t.Fatalf("table %d: %+v, want allowed: a namespace saw another's key", i, d)
		}
	}
	if d := decide(t, For[name](s), name("k"), p, 1); d.Limited {
		t.Fatalf("For[name]: %+v, want allowed: a named string type shares For[string]'s keys", d)
	}
	if d := decide(t, For[string](s), "k", p, 1); !d.Limited {
		t.Fatalf("For[string]: %+v, want Limited: it must be Store.Decide's table", d)
	}
	if n := entries(s); n != 4 {
		t.Fatalf("Entries = %d, want 4", n)
	}
	if err := Namespace[string](s, "a").Reset(ctx, "k", algo.FixedWindow); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, s, "k", p, 0); d.Remaining != 0 {
		t.Fatalf("Reset in namespace a reset the default namespace: %+v", d)
	}
}

func TestForSameTable(t *testing.T) {
	s, _ := newTestStore(t, t2025)
	s2, _ := newTestStore(t, t2025)
	if first, second := For[userKey](s), For[userKey](s); first != second {
		t.Error("For[userKey] returned two tables")
	}
	if For[userKey](s) != Namespace[userKey](s, "") {
		t.Error("For[K] is not Namespace[K] with the empty namespace")
	}
	if first, second := Namespace[userKey](s, "a"), Namespace[userKey](s, "a"); first != second {
		t.Error(`Namespace[userKey]("a") returned two tables`)
	}
	if Namespace[userKey](s, "a") == Namespace[userKey](s, "b") {
		t.Error("two namespaces share a table")
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
}

func TestShardsRounded(t *testing.T) {
	for _, c := range []struct{ in, want int }{{-1, 1}, {0, 1}, {1, 1}, {3, 4}, {64, 64}, {65, 128}} {
		s, _ := newTestStore(t, t2025, WithShards(c.in))
		if got := len(For[int](s).shards); got != c.want {
			t.Errorf("WithShards(%d): %d shards, want %d", c.in, got, c.want)
		}
	}
}

// ---------------------------------------------------------------------------
// 4. Bounded size.

// TestMaxSizeEvictsLive fills a one-shard store with live keys: one more key
// evicts exactly one, the one expiring soonest, and counts it.
func TestMaxSizeEvictsLive(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
			p := compile(t, a, algo.PerMin(60))
			// k0 expires first; the window algorithms expire at the window's end,
			// so give the later keys more cost where it matters.
			for i := range 4 {
				decide(t, s, fmt.Sprint("k", i), p, int64(1+i))
				clk.Advance(time.Millisecond)
			}
			if st := s.Stats(); st != (Stats{Entries: 4}) {
				t.Fatalf("Stats = %+v, want 4 entries, no evictions", st)
			}
			decide(t, s, "k4", p, 1)
			if st := s.Stats(); st != (Stats{Entries: 4, LiveEvictions: 1}) {
				t.Fatalf("Stats = %+v after one key too many, want 4 entries, 1 live eviction", st)
			}
			var gone []string
			for i := range 5 {
				k := fmt.Sprint("k", i)
				if decide(t, s, k, p, 0).Remaining == p.Max {
					gone = append(gone, k)
				}
			}
			if len(gone) != 1 {
				t.Fatalf("keys back to fresh: %v, want exactly one", gone)
			}
			if a != algo.FixedWindow && gone[0] != "k0" {
				// (A fixed window's keys all expire at the window's end.)
				t.Errorf("evicted %s, want k0, the live key expiring soonest", gone[0])
			}
		})
	}
}

// TestMaxSizeDropsExpiredFirst: when a full shard holds expired entries, a
// new key drops them rather than a live one.
func TestMaxSizeDropsExpiredFirst(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, clk := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
			short := compile(t, a, algo.PerSec(10))
			long := compile(t, a, algo.PerHour(10))
			decide(t, s, "short0", short, 1)
			decide(t, s, "short1", short, 1)
			decide(t, s, "long0", long, 1)
			decide(t, s, "long1", long, 1)
			clk.Advance(2 * time.Second) // past the short keys' expiry, long before the long ones'
			if n := entries(s); n != 4 {
				t.Fatalf("Entries = %d, want 4 (expired ones not dropped yet)", n)
			}
			decide(t, s, "new", long, 1)
			if st := s.Stats(); st != (Stats{Entries: 3}) {
				t.Fatalf("Stats = %+v, want 3 entries (two expired dropped) and no live eviction", st)
			}
			for _, k := range []string{"long0", "long1", "new"} {
				if d := decide(t, s, k, long, 0); d.Remaining != 9 {
					t.Errorf("%s: %+v, want its state kept (Remaining 9)", k, d)
				}
			}
		})
	}
}

// TestMaxSizeNewKeyExpiresFirst: a key inserted after a sweep that expires
// before every other entry is still found expired when the shard fills.
func TestMaxSizeNewKeyExpiresFirst(t *testing.T) {
	s, clk := newTestStore(t, t2025, WithMaxSize(2), WithShards(1))
	long := compile(t, algo.TokenBucket, algo.PerHour(10)) // one request expires in 6 minutes
	short := compile(t, algo.TokenBucket, algo.PerSec(10)) // in 100ms
	decide(t, s, "a", long, 1)
	clk.Advance(time.Millisecond)
	decide(t, s, "b", long, 1)
	clk.Advance(time.Millisecond)
	decide(t, s, "c", long, 1) // full, nothing expired: evicts a
	if st := s.Stats(); st != (Stats{Entries: 2, LiveEvictions: 1}) {
		t.Fatalf("Stats = %+v, want 2 entries, 1 live eviction", st)
	}
	if err := s.Reset(ctx, "b", algo.TokenBucket); err != nil {
		t.Fatal(err)
	}
	decide(t, s, "d", short, 1) // the soonest to expire of the shard
	clk.Advance(200 * time.Millisecond)
	decide(t, s, "e", long, 1) // full: d has expired and must go, not c
	if st := s.Stats(); st != (Stats{Entries: 2, LiveEvictions: 1}) {
		t.Fatalf("Stats = %+v, want 2 entries and still 1 live eviction (d expired)", st)
	}
	if d := decide(t, s, "c", long, 0); d.Remaining != 9 {
		t.Fatalf("c = %+v, want its state kept", d)
	}
}

// TestMaxSizeBound inserts many keys into several shards: the store never
// holds more than its bound, and every key beyond it cost one live eviction.
func TestMaxSizeBound(t *testing.T) {
	for _, c := range []struct{ maxSize, shards, keys int }{
		{1000, 16, 20_000},
		{100, 8, 5_000},
		{2, 8, 100}, // raised to one entry per shard
	} {
		t.Run(fmt.Sprintf("max=%d/shards=%d", c.maxSize, c.shards), func(t *testing.T) {
			s, _ := newTestStore(t, t2025, WithMaxSize(c.maxSize), WithShards(c.shards))
			bound := max(c.maxSize, c.shards)
			p := compile(t, algo.GCRA, algo.PerHour(10))
			tbl := For[userKey](s)
			for i := range c.keys {
				decide(t, tbl, userKey{Tenant: uint32(i % 7), User: uint64(i)}, p, 1)
				if i%97 == 0 {
					if n := entries(s); n > bound {
						t.Fatalf("after %d keys: Entries = %d, above the bound %d", i+1, n, bound)
					}
				}
			}
			st := s.Stats()
			if st.Entries > bound {
				t.Fatalf("Entries = %d, above the bound %d", st.Entries, bound)
			}
			// No key expired, so each new key either took a free slot or evicted one.
			if got := int64(st.Entries) + st.LiveEvictions; got != int64(c.keys) {
				t.Fatalf("Entries %d + LiveEvictions %d = %d, want %d keys", st.Entries, st.LiveEvictions, got, c.keys)
			}
		})
	}
}

// TestMaxSizePerTable checks the documented bound: WithMaxSize bounds each
// table (key type × namespace) on its own.
func TestMaxSizePerTable(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithMaxSize(4), WithShards(1))
	p := compile(t, algo.TokenBucket, algo.PerHour(10))
	for i := range 6 {
		decide(t, s, fmt.Sprint(i), p, 1)
		decide(t, For[int](s), i, p, 1)
		decide(t, Namespace[int](s, "x"), i, p, 1)
	}
	if n := entries(s); n != 12 {
		t.Fatalf("Entries = %d, want 3 tables × 4", n)
	}
	if ev := s.Stats().LiveEvictions; ev != 6 {
		t.Fatalf("LiveEvictions = %d, want 3 tables × 2", ev)
	}
}

// ---------------------------------------------------------------------------
// 5. Janitor and Close.

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestJanitor(t *testing.T) {
	baseline := runtime.NumGoroutine()
	clk := clock.NewFake(t2025)
	s := New(WithClock(clk), WithSweepInterval(10*time.Millisecond))
	defer s.Close()
	p := compile(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 100 {
		decide(t, s, fmt.Sprint(i), p, 1)
		decide(t, For[userKey](s), userKey{User: uint64(i)}, p, 1)
	}
	decide(t, s, "live", compile(t, algo.TokenBucket, algo.PerHour(10)), 1)
	if n := entries(s); n != 201 {
		t.Fatalf("Entries = %d, want 201", n)
	}
	clk.Advance(time.Second)
	waitFor(t, "the janitor to drop 200 expired entries", func() bool { return entries(s) == 1 })

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, "the janitor goroutine to exit", func() bool { return runtime.NumGoroutine() <= baseline })
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Still usable after Close, expired entries still dropped on use.
	if d := decide(t, s, "after-close", p, 1); d.Limited || d.Remaining != 9 {
		t.Fatalf("Decide after Close = %+v, want allowed with Remaining 9", d)
	}
	if n := entries(s); n != 2 {
		t.Fatalf("Entries = %d after Close, want 2", n)
	}
}

func TestNoJanitor(t *testing.T) {
	baseline := runtime.NumGoroutine()
	s := New(WithClock(clock.NewFake(t2025)), WithSweepInterval(0))
	if n := runtime.NumGoroutine(); n > baseline {
		t.Errorf("NumGoroutine = %d with the janitor disabled, want at most %d", n, baseline)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseConcurrent(t *testing.T) {
	baseline := runtime.NumGoroutine()
	s := New(WithSweepInterval(time.Millisecond))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the janitor goroutine to exit", func() bool { return runtime.NumGoroutine() <= baseline })
}

// ---------------------------------------------------------------------------
// 6. Concurrency (run with -race).

func TestConcurrentOneKey(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			s, _ := newTestStore(t, t2025)
			p := compile(t, a, algo.PerSec(100))
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 50 {
						d, err := s.Decide(ctx, "hot", p, 1)
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

// Many goroutines on distinct keys, with the janitor, Stats, Reset and new
// tables running alongside: every key admits exactly its limit.
func TestConcurrentDistinctKeys(t *testing.T) {
	clk := clock.NewFake(t2025)
	s := New(WithClock(clk), WithSweepInterval(time.Millisecond), WithShards(8))
	defer s.Close()
	p := compile(t, algo.FixedWindow, algo.PerHour(10))
	const workers, keysEach = 32, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Stats()
			_ = s.Reset(ctx, "absent", algo.GCRA)
			clk.AdvanceMicros(1) // the janitor sweeps; nothing expires within the hour
		}
	})
	for w := range workers {
		wg.Go(func() {
			tbl := For[userKey](s)
			for i := range keysEach {
				k := userKey{Tenant: uint32(w), User: uint64(i)}
				admitted := 0
				for range 15 {
					d, err := tbl.Decide(ctx, k, p, 1)
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
	if st := s.Stats(); st != (Stats{Entries: workers * keysEach}) {
		t.Fatalf("Stats = %+v, want %d entries, no evictions", st, workers*keysEach)
	}
}

func TestConcurrentFor(t *testing.T) {
	type fresh [2]int // a key type no other test uses
	s, _ := newTestStore(t, t2025)
	const n = 32
	got := make([]*Table[fresh], n)
	gotNS := make([]*Table[fresh], n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got[i] = For[fresh](s)
			gotNS[i] = Namespace[fresh](s, "ns")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if got[i] != got[0] || gotNS[i] != gotNS[0] {
			t.Fatalf("goroutine %d got a different table", i)
		}
	}
	if got[0] == gotNS[0] {
		t.Fatal("For and Namespace(ns) share a table")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) != 3 { // string, fresh, fresh in "ns"
		t.Fatalf("store lists %d tables, want 3", len(s.all))
	}
}
