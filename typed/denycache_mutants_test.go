package typed

import (
	"context"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// denyStep decides key at cost on l and fails t unless the Result is
// Limited from src after exactly calls store calls, and, when ref (the same
// quotas on the same store, no cache) is given, unless it matches the
// store's own answer at this instant (Remaining, as of the store's denial,
// may be lower).
func denyStep(t *testing.T, st *denyCounting, l, ref *Limiter[string], what string, cost int64, src Source, calls int64) Result {
	t.Helper()
	before := st.calls.Load()
	r := denyLimit(t, l, "k", cost)
	if !r.Limited || r.Source != src || st.calls.Load()-before != calls {
		t.Fatalf("%s: cost %d: %v from %v after %d store calls, want a denial from %v after %d", what, cost, r, r.Source, st.calls.Load()-before, src, calls)
	}
	if ref != nil {
		want := denyLimit(t, ref, "k", cost)
		g, w := r.State, want.State
		if !want.Limited || g.RetryAfter != w.RetryAfter || g.ResetAfter != w.ResetAfter || g.Limit != w.Limit || g.Remaining > w.Remaining {
			t.Fatalf("%s: cost %d: %v, the store says %v", what, cost, r, want)
		}
	}
	return r
}

// TestDenyCacheLargerCostSameInstant: a cost that can never pass, denied
// by the store at the very instant of a cached denial of a smaller cost,
// does not displace it: the smaller cost is still denied from the cache.
func TestDenyCacheLargerCostSameInstant(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	q := WithQuota(algo.PerSec(2)) // burst 2
	l := denyNew(t, st, q, WithDenyCache(time.Hour))
	ref := denyNew(t, st, q)
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	denyStep(t, st, l, nil, "denied", 1, FromStore, 1) // cached at denyT0, the clock unmoved since
	if r := denyStep(t, st, l, nil, "above the capacity, same instant", 3, FromStore, 1); r.State.RetryAfter != Never {
		t.Fatalf("above the capacity: %v", r)
	}
	denyStep(t, st, l, ref, "cost 1, same instant", 1, FromDenyCache, 0)
}

// TestDenyCacheReplaceAtExpiry: at the very microsecond a cached denial
// expires, a denial of a larger cost takes its place (the expired one
// denies nothing any more) and is then answered from the cache.
func TestDenyCacheReplaceAtExpiry(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	q := WithQuota(algo.PerSec(2)) // a token every 500ms, burst 2
	l := denyNew(t, st, q, WithDenyCache(time.Hour))
	ref := denyNew(t, st, q)
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	if r := denyStep(t, st, l, nil, "denied", 1, FromStore, 1); r.State.RetryAfter != 500*time.Millisecond {
		t.Fatalf("denied: %v", r)
	}
	fc.Advance(500 * time.Millisecond) // the cost 1 denial's last µs has passed
	denyStep(t, st, l, nil, "above the capacity, at expiry", 3, FromStore, 1)
	denyStep(t, st, l, ref, "above the capacity again", 3, FromDenyCache, 0)
}

// TestDenyCacheSameCostNewer: of two callers racing on a key, denied the
// same cost by the store, the denial recorded last stands. Here it is the
// newer one, made after another client used quota up, and so the longer:
// the cache goes on denying past the older one's RetryAfter, as the store
// does.
func TestDenyCacheSameCostNewer(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	q := WithQuota(algo.PerSec(10)) // a token every 100ms, burst 10
	l := denyNew(t, st, q, WithDenyCache(time.Hour))
	other := denyNew(t, st, q)
	if r := denyLimit(t, other, "k", 8); r.Limited {
		t.Fatalf("other, 8: %v", r)
	}
	older := denyStep(t, st, l, nil, "first caller", 5, FromStore, 1) // recorded
	if r := denyLimit(t, other, "k", 2); r.Limited {
		t.Fatalf("other, 2: %v", r)
	}
	// The second caller went to the store before the first recorded.
	p := l.denies.probe()
	var newer Result
	if err := l.limitStore(denyCtx, "k", l.set, 5, &newer); err != nil || !newer.Limited {
		t.Fatalf("second caller: %v, %v", newer, err)
	}
	if newer.State.RetryAfter <= older.State.RetryAfter {
		t.Fatalf("second caller: RetryAfter %v, want more than the first's %v", newer.State.RetryAfter, older.State.RetryAfter)
	}
	l.denies.record("k", l.set, 5, p, &newer)
	fc.Advance(older.State.RetryAfter)
	r := denyStep(t, st, l, other, "past the first's RetryAfter", 5, FromDenyCache, 0)
	if want := newer.State.RetryAfter - older.State.RetryAfter; r.State.RetryAfter != want {
		t.Fatalf("RetryAfter %v, want %v", r.State.RetryAfter, want)
	}
}

// denyNoWait is a memory store that, while noWait is set, denies every
// request with RetryAfter 0 (a third-party store may: a denial that asks
// for no wait).
type denyNoWait struct {
	*denyCounting
	noWait atomic.Bool
}

func (s *denyNoWait) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if s.noWait.Load() {
		s.calls.Add(1)
		return algo.Decision{Limited: true, ResetAfter: 1000}, nil
	}
	return s.denyCounting.Decide(ctx, key, ps, cost, each)
}

// TestDenyCacheNoWaitDenial: a store's denial with no wait is not cached,
// and does not displace a cached denial of a larger cost.
func TestDenyCacheNoWaitDenial(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := &denyNoWait{denyCounting: newDenyCounting(t, fc)}
	l := denyNew(t, st, WithQuota(algo.PerMin(10)), WithDenyCache(time.Hour))
	denyLimit(t, l, "k", 8)
	denyStep(t, st.denyCounting, l, nil, "denied", 5, FromStore, 1)
	st.noWait.Store(true)
	if r := denyStep(t, st.denyCounting, l, nil, "no wait", 3, FromStore, 1); r.State.RetryAfter != 0 {
		t.Fatalf("no wait: %v", r)
	}
	denyStep(t, st.denyCounting, l, nil, "no wait again", 3, FromStore, 1) // not cached
	st.noWait.Store(false)
	denyStep(t, st.denyCounting, l, nil, "cost 5", 5, FromDenyCache, 0)
}

// denyFullShard returns a full shard whose keys expire at distinct times
// from 1000 µs on, but for "long", which expires last.
func denyFullShard() *denyShard[string] {
	sh := &denyShard[string]{m: make(map[string]denial, denyShardCap)}
	for i := range denyShardCap - 1 {
		sh.m["k"+strconv.Itoa(i)] = denial{until: 1000 + int64(i)}
	}
	sh.m["long"] = denial{until: math.MaxInt64 - 1}
	return sh
}

// TestDenyCacheEvictSoonest: evict never drops the denial that expires
// last while another is in its sample (at least two keys): emptied one
// key at a time, the shard keeps it to the end.
func TestDenyCacheEvictSoonest(t *testing.T) {
	sh := denyFullShard()
	for n := len(sh.m); n > 1; n-- {
		sh.evict()
		if len(sh.m) != n-1 {
			t.Fatalf("evict on %d keys left %d", n, len(sh.m))
		}
		if _, ok := sh.m["long"]; !ok {
			t.Fatalf("evict on %d keys dropped the one that expires last", n)
		}
	}
}

// TestDenyCacheEvictSamples: evict looks at a few keys (denySample), not
// the whole shard: eight evictions in a row on a full shard do not all
// drop the key that expires soonest of all, as a full scan would (the
// chance that a sample of 8 in 2048 holds it eight times running is below
// 1e-18).
func TestDenyCacheEvictSamples(t *testing.T) {
	sh := denyFullShard()
	next := 0 // the keys k0, k1, … expire in that order
	for range 8 {
		sh.evict()
		if _, ok := sh.m["k"+strconv.Itoa(next)]; ok {
			return // a sample without the soonest
		}
		next++
	}
	t.Fatalf("eight evictions dropped k0..k7, the soonest of all each time: a full scan, not a sample of %d", denySample)
}
