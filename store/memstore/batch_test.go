package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// req is a batch request, for short literals.
func req[K comparable](key K, cost int64) store.Request[K] {
	return store.Request[K]{Key: key, Cost: cost}
}

// batch runs DecideBatch on fresh output slices (each when withEach),
// failing t if it panics or hangs.
func batch[K comparable](t testing.TB, b store.Batcher[K], c context.Context, ps []*store.Policy, reqs []store.Request[K], withEach bool) ([]algo.Decision, []algo.Decision, []error) {
	t.Helper()
	out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
	var each []algo.Decision
	if withEach {
		each = make([]algo.Decision, len(reqs)*len(ps))
	}
	if p := bounded(t, "DecideBatch", func() { b.DecideBatch(c, ps, reqs, out, each, errs) }); p != nil {
		t.Fatalf("DecideBatch panics: %v", p)
	}
	return out, each, errs
}

// hangAfter is how long, in real time, a test waits for a store call that
// takes microseconds before it fails the call as hung (a shard lock left
// held, a loop that never ends): such a bug then fails the test in
// seconds rather than at go test's timeout.
const hangAfter = 2 * time.Second

// bounded runs f in its own goroutine and returns what it panicked with,
// nil if it returned; it fails t at once if f has not returned after
// hangAfter.
func bounded(t testing.TB, what string, f func()) any {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				done <- nil
			} else {
				done <- recover()
			}
		}()
		f()
		returned = true
	}()
	select {
	case p := <-done:
		return p
	case <-time.After(hangAfter):
		t.Fatalf("%s has not returned after %v: it hangs", what, hangAfter)
		return nil
	}
}

// TestBatchMatchesSequential: a batch decides exactly as its requests
// decided one by one in input order would (requests for one key in input
// order, whatever shards the others fall in), with each laid out request
// by request (request i, policy j at i*len(ps)+j).
func TestBatchMatchesSequential(t *testing.T) {
	pool := policyPool(t)
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			bs, clk := newTestStore(t, t2025, WithShards(4))
			ss, sclk := newTestStore(t, t2025, WithShards(4))
			for round := range 200 {
				adv := rng.Int64N(200 * msec)
				clk.AdvanceMicros(adv)
				sclk.AdvanceMicros(adv)
				n := 1 + rng.IntN(store.MaxPolicies)
				ps := make([]*store.Policy, n)
				for j, pi := range rng.Perm(len(pool))[:n] {
					ps[j] = pool[pi]
				}
				reqs := make([]store.Request[string], rng.IntN(40))
				for i := range reqs {
					reqs[i] = store.Request[string]{Key: fmt.Sprint("k", rng.IntN(6)), Cost: rng.Int64N(5)}
				}
				withEach := rng.IntN(4) != 0
				out, each, errs := batch(t, bs, ctx, ps, reqs, withEach)
				for i, r := range reqs {
					if errs[i] != nil {
						t.Fatalf("round %d request %d: %v", round, i, errs[i])
					}
					want, wantEach := decideAll(t, ss, r.Key, ps, r.Cost)
					if out[i] != want {
						t.Fatalf("round %d request %d (%s, cost %d): batch %+v, one by one %+v", round, i, r.Key, r.Cost, out[i], want)
					}
					if !withEach {
						continue
					}
					for j := range ps {
						if got := each[i*n+j]; got != wantEach[j] {
							t.Fatalf("round %d request %d policy %d: each %+v, one by one %+v", round, i, j, got, wantEach[j])
						}
					}
				}
			}
		})
	}
}

// TestBatchOrderWithinKey spells out input order on one key across shards.
func TestBatchOrderWithinKey(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithShards(8))
	p := policy(t, algo.FixedWindow, algo.PerMin(5))
	tbl := For[int](s)
	reqs := []store.Request[int]{req(1, 3), req(2, 5), req(1, 2), req(3, 1), req(1, 1), req(2, 1), req(1, 0)}
	out, _, errs := batch(t, tbl, ctx, pols(p), reqs, false)
	want := []algo.Decision{
		{Remaining: 2, ResetAfter: minute},
		{Remaining: 0, ResetAfter: minute},
		{Remaining: 0, ResetAfter: minute},
		{Remaining: 4, ResetAfter: minute},
		{Limited: true, RetryAfter: minute, ResetAfter: minute},
		{Limited: true, RetryAfter: minute, ResetAfter: minute},
		{Remaining: 0, ResetAfter: minute},
	}
	for i := range reqs {
		if errs[i] != nil || out[i] != want[i] {
			t.Errorf("request %d %+v: %+v, %v; want %+v", i, reqs[i], out[i], errs[i], want[i])
		}
	}
}

// TestBatchRequestErrors: a request with a negative cost, or an empty key
// on the Store, fails alone with a clear error, charges nothing and gets
// no decision; the others are decided as if it were not there, each
// scattered to their positions.
func TestBatchRequestErrors(t *testing.T) {
	a := policy(t, algo.TokenBucket, algo.PerSec(5))
	b := policy(t, algo.FixedWindow, algo.PerMin(4))
	ps := pols(a, b)
	reqs := []store.Request[string]{req("x", 1), req("", 1), req("y", -1), req("x", 2), req("", 0), req("y", 4), req("x", 1)}
	bad := map[int]string{1: `key ""`, 2: "cost -1", 4: `key ""`}
	s, _ := newTestStore(t, t2025)
	ref, _ := newTestStore(t, t2025)
	for _, withEach := range []bool{true, false} {
		out, each, errs := batch(t, s, ctx, ps, reqs, withEach)
		for i, r := range reqs {
			if msg, ok := bad[i]; ok {
				if !errors.Is(errs[i], algo.ErrInvalid) || !strings.Contains(errs[i].Error(), msg) {
					t.Errorf("request %d %+v: %v, want algo.ErrInvalid saying %q", i, r, errs[i], msg)
				}
				if out[i] != (algo.Decision{}) || withEach && (each[2*i] != algo.Decision{} || each[2*i+1] != algo.Decision{}) {
					t.Errorf("request %d failed but got a decision: %+v", i, out[i])
				}
				continue
			}
			want, wantEach := decideAll(t, ref, r.Key, ps, r.Cost)
			if errs[i] != nil || out[i] != want {
				t.Errorf("request %d %+v: %+v, %v; want %+v", i, r, out[i], errs[i], want)
			}
			if withEach && (each[2*i] != wantEach[0] || each[2*i+1] != wantEach[1]) {
				t.Errorf("request %d: each %+v, want %+v", i, each[2*i:2*i+2], wantEach)
			}
		}
	}
	// The typed table: the empty string is a key like another.
	tbl := For[string](s)
	out, _, errs := batch(t, tbl, ctx, pols(a), []store.Request[string]{req("", 2), req("", -3)}, false)
	if errs[0] != nil || out[0].Remaining != 3 || !errors.Is(errs[1], algo.ErrInvalid) {
		t.Errorf(`For[string] batch on "": %+v, %v; want the first decided (Remaining 3), the second invalid`, out, errs)
	}
}

// TestBatchSharedInputErrors: what every request shares (policies, the
// length of each, the time, ctx) fails the whole batch with one error and
// charges nothing.
func TestBatchSharedInputErrors(t *testing.T) {
	a := policy(t, algo.GCRA, algo.PerSec(5))
	cases := []struct {
		name   string
		now    int64
		ctx    context.Context
		ps     []*store.Policy
		each   int
		target error
	}{
		{"policies=nil", t2025, ctx, nil, -1, algo.ErrInvalid},
		{"policies=9", t2025, ctx, tooMany(t), -1, algo.ErrInvalid},
		{"policy=nil", t2025, ctx, pols(a, nil), -1, algo.ErrInvalid},
		{"each=2_for_3", t2025, ctx, pols(a), 2, algo.ErrInvalid},
		{"each=4_for_3", t2025, ctx, pols(a), 4, algo.ErrInvalid},
		{"clock=-1", -1, ctx, pols(a), -1, algo.ErrInvalid},
		{"ctx=cancelled", t2025, doneCtx(), pols(a), -1, context.Canceled},
	}
	// The same requests with the empty key (which the Store refuses for
	// itself) last and first.
	for _, reqs := range [][]store.Request[string]{
		{req("x", 1), req("y", 1), req("", 1)},
		{req("", 1), req("x", 1), req("y", 1)},
	} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/empty_key_at=%d", c.name, slices.IndexFunc(reqs, func(r store.Request[string]) bool { return r.Key == "" })), func(t *testing.T) {
				for _, api := range []struct {
					name string
					b    func(*Store) store.Batcher[string]
				}{{"Store", func(s *Store) store.Batcher[string] { return s }}, {"For[string]", func(s *Store) store.Batcher[string] { return For[string](s) }}} {
					// A store per API, so that a batch that fails by
					// panicking with a shard locked is seen at once.
					s, _ := newTestStore(t, c.now)
					out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
					var each []algo.Decision
					if c.each >= 0 {
						each = make([]algo.Decision, c.each)
					}
					if p := bounded(t, api.name+".DecideBatch", func() { api.b(s).DecideBatch(c.ctx, c.ps, reqs, out, each, errs) }); p != nil {
						t.Errorf("%s: DecideBatch panics: %v", api.name, p)
						continue
					}
					for i, err := range errs {
						if reqs[i].Key == "" && api.name == "Store" {
							// The empty key may be refused for itself (which
							// error comes first is TestDoneContextFirst's).
							if !errors.Is(err, algo.ErrInvalid) && !errors.Is(err, c.target) {
								t.Errorf("%s request %d: %v, want algo.ErrInvalid or %v", api.name, i, err, c.target)
							}
							continue
						}
						if !errors.Is(err, c.target) {
							t.Errorf("%s request %d: %v, want an error matching %v", api.name, i, err, c.target)
						}
						if out[i] != (algo.Decision{}) {
							t.Errorf("%s request %d failed but got %+v", api.name, i, out[i])
						}
					}
					if n := entries(s); n != 0 {
						t.Errorf("%s: Keys = %d after a refused batch, want 0", api.name, n)
					}
				}
			})
		}
	}
	t.Run("empty", func(t *testing.T) {
		s, _ := newTestStore(t, t2025)
		s.DecideBatch(ctx, pols(a), nil, nil, nil, nil)
		For[int](s).DecideBatch(ctx, pols(a), []store.Request[int]{}, []algo.Decision{}, []algo.Decision{}, []error{})
		if n := entries(s); n != 0 {
			t.Errorf("Keys = %d after empty batches, want 0", n)
		}
	})
}

// catch runs f and returns what it panicked with, nil if it did not.
func catch(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// cancelAfter is a context whose Err reports cancellation from its
// n+1-th call on. A batch checks ctx up front and before each shard it
// decides, so some n cancels it between two shards; the test tries every n
// rather than counting on how many checks come first.
type cancelAfter struct {
	context.Context
	n     int64
	calls atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) > c.n {
		return context.Canceled
	}
	return nil
}

// TestBatchCancelledBetweenShards: a ctx cancelled while a batch runs
// fails the requests of the shards not yet decided, with ErrUnavailable
// wrapping ctx's error, and charges them nothing; the requests of the
// shards already decided keep their decisions and charges. Shards are
// decided in index order, so the decided ones are the lowest used indexes.
// With ctx cancelled at each successive check, the test sees every stage:
// none decided, one shard decided and not the others, ..., all.
func TestBatchCancelledBetweenShards(t *testing.T) {
	const nKeys = 12
	p := policy(t, algo.TokenBucket, algo.PerMin(10))
	for _, api := range []string{"Store", "For[string]"} {
		t.Run("api="+api, func(t *testing.T) {
			seen := map[int]bool{} // numbers of shards decided
			for n := int64(0); !seen[-1]; n++ {
				if n > 100 {
					t.Fatal("the batch never ran to the end")
				}
				s, _ := newTestStore(t, t2025, WithShards(8))
				tbl := s.strings
				var b store.Batcher[string] = s
				if api != "Store" {
					b = tbl
				}
				// Keys in several shards, several requests per key, interleaved.
				reqs := make([]store.Request[string], 30)
				used := map[uint64]bool{}
				for i := range reqs {
					reqs[i] = req(fmt.Sprint("key", i%nKeys), 1)
					used[tbl.shardIndex(reqs[i].Key)] = true
				}
				if len(used) < 3 {
					t.Fatalf("the keys fall in %d shards; the test needs 3", len(used))
				}
				out, _, errs := batch(t, b, &cancelAfter{Context: context.Background(), n: n}, pols(p), reqs, false)
				decidedShards := map[uint64]bool{}
				charged := map[string]int64{}
				for i, r := range reqs {
					sh := tbl.shardIndex(r.Key)
					if errs[i] == nil {
						decidedShards[sh] = true
						charged[r.Key]++
						if out[i].Limited {
							t.Errorf("n=%d: request %d: %+v, want allowed", n, i, out[i])
						}
						continue
					}
					if !errors.Is(errs[i], store.ErrUnavailable) || !errors.Is(errs[i], context.Canceled) {
						t.Errorf("n=%d: request %d: %v, want ErrUnavailable wrapping context.Canceled", n, i, errs[i])
					}
					if out[i] != (algo.Decision{}) {
						t.Errorf("n=%d: request %d failed but got %+v", n, i, out[i])
					}
				}
				// A shard is decided whole or not at all, lowest indexes first.
				for i, r := range reqs {
					if sh := tbl.shardIndex(r.Key); decidedShards[sh] != (errs[i] == nil) {
						t.Errorf("n=%d: shard %d decided only in part (request %d: %v)", n, sh, i, errs[i])
					}
				}
				for sh := range used {
					for lower := range used {
						if lower < sh && decidedShards[sh] && !decidedShards[lower] {
							t.Errorf("n=%d: shard %d decided before shard %d", n, sh, lower)
						}
					}
				}
				for i := range nKeys {
					k := fmt.Sprint("key", i)
					if d := peek(t, s, k, p); d.Remaining != 10-charged[k] {
						t.Errorf("n=%d: %s: %+v, want Remaining %d (charged iff decided)", n, k, d, 10-charged[k])
					}
				}
				if len(decidedShards) == len(used) {
					seen[-1] = true
				} else {
					seen[len(decidedShards)] = true
				}
			}
			for k := range 3 {
				if !seen[k] {
					t.Errorf("no cancellation left exactly %d shards decided (seen %v)", k, seen)
				}
			}
		})
	}
}

// TestBatchConcurrent runs batches and single decisions on the same keys
// from many goroutines: with the clock frozen, each key admits exactly its
// limit in all (run with -race).
func TestBatchConcurrent(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithShards(4))
	p := policy(t, algo.SlidingWindow, algo.PerHour(50))
	q := policy(t, algo.GCRA, algo.PerMin(80))
	tbl := For[userKey](s)
	const keys = 10
	var admitted [keys]atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				reqs := make([]store.Request[userKey], 0, 3*keys)
				for i := range 3 * keys {
					reqs = append(reqs, store.Request[userKey]{Key: userKey{User: uint64((i + g) % keys)}, Cost: 1})
				}
				for range 4 {
					if g%2 == 0 {
						out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
						tbl.DecideBatch(ctx, pols(p, q), reqs, out, make([]algo.Decision, 2*len(reqs)), errs)
						for i, r := range reqs {
							if errs[i] != nil {
								t.Error(errs[i])
							} else if !out[i].Limited {
								admitted[r.Key.User].Add(1)
							}
						}
						continue
					}
					for _, r := range reqs {
						d, err := tbl.Decide(ctx, r.Key, pols(p, q), 1, nil)
						if err != nil {
							t.Error(err)
						} else if !d.Limited {
							admitted[r.Key.User].Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("concurrent batches did not finish in 30s")
	}
	for k := range keys {
		if n := admitted[k].Load(); n != 50 {
			t.Errorf("key %d admitted %d, want 50", k, n)
		}
	}
}
