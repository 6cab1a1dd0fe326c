package typed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
)

// denyT0 is the fake clock's start in these tests: a multiple of a week.
const denyT0 = int64(1_699_488_000) * 1_000_000

var denyCtx = context.Background()

// denyCounting is a real memory store of string keys that counts the
// requests it is asked to decide (each request of a batch counts) and
// fails every call with store.ErrUnavailable while down is set. It
// batches and tells its clock, as the real stores do.
type denyCounting struct {
	mem   *memstore.Store
	calls atomic.Int64
	down  atomic.Bool
}

var errDenyDown = fmt.Errorf("%w: test store down", store.ErrUnavailable)

func newDenyCounting(t testing.TB, c store.Clock) *denyCounting {
	t.Helper()
	mem, err := memstore.New(memstore.WithClock(c))
	if err != nil {
		t.Fatal(err)
	}
	return &denyCounting{mem: mem}
}

func (s *denyCounting) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return algo.Decision{}, errDenyDown
	}
	return s.mem.Decide(ctx, key, ps, cost, each)
}

func (s *denyCounting) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[string], out, each []algo.Decision, errs []error) {
	s.calls.Add(int64(len(reqs)))
	if s.down.Load() {
		for i := range errs {
			errs[i] = errDenyDown
		}
		return
	}
	s.mem.DecideBatch(ctx, ps, reqs, out, each, errs)
}

func (s *denyCounting) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	return s.mem.Reset(ctx, key, ps)
}

func (s *denyCounting) Clock() store.Clock { return s.mem.Clock() }

var (
	_ store.Batcher[string] = (*denyCounting)(nil)
	_ store.Clocked         = (*denyCounting)(nil)
)

// denyNew returns a limiter of opts on st, failing t on an error.
func denyNew(t testing.TB, st store.Store[string], opts ...Option) *Limiter[string] {
	t.Helper()
	l, err := New[string](append([]Option{WithStore(st)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// denyLimit decides and fails t on an error.
func denyLimit(t testing.TB, l *Limiter[string], key string, cost int64) Result {
	t.Helper()
	r, err := l.Limit(denyCtx, key, cost)
	if err != nil {
		t.Fatalf("Limit(%q, %d): %v", key, cost, err)
	}
	return r
}

// TestDenyCacheOption: a max under a µs is refused, naming it.
func TestDenyCacheOption(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second, 999 * time.Nanosecond} {
		_, err := New[string](WithDenyCache(d))
		var de *algo.DataError
		if !errors.As(err, &de) || de.Name != "deny cache max" || de.Value != d || !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("WithDenyCache(%v): error %v, want a DataError naming the deny cache max", d, err)
		}
	}
	l, err := New[string](WithDenyCache(time.Microsecond))
	if err != nil || l.denies == nil || l.denies.max != 1 {
		t.Fatalf("WithDenyCache(1µs): %v, %+v", err, l)
	}
	if l, _ := New[string](); l.denies != nil {
		t.Errorf("a limiter without WithDenyCache has a deny cache")
	}
	if got := FromDenyCache.String(); got != "deny_cache" {
		t.Errorf("FromDenyCache.String() = %q", got)
	}
}

// TestDenyCacheTimeline: denials are repeated from the cache, exactly as
// the store would answer (durations counted down), for the denied cost or
// more, while smaller costs, peeks and costs that can never pass go to the
// store; the first request past RetryAfter goes to the store, and its
// admission drops the key's denial.
func TestDenyCacheTimeline(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	q := WithQuota(algo.PerSec(2)) // a token every 500ms, burst 2
	l := denyNew(t, st, q, WithDenyCache(time.Hour))
	ref := denyNew(t, st, q) // the same state, no cache
	step := func(what string, cost int64, wantLimited bool, wantSrc Source, wantCalls int64) Result {
		t.Helper()
		before := st.calls.Load()
		r := denyLimit(t, l, "k", cost)
		if r.Limited != wantLimited || r.Source != wantSrc || st.calls.Load()-before != wantCalls {
			t.Fatalf("%s: cost %d: %v from %v after %d store calls, want Limited %v from %v after %d", what, cost, r, r.Source, st.calls.Load()-before, wantLimited, wantSrc, wantCalls)
		}
		return r
	}
	same := func(what string, got Result, cost int64) {
		t.Helper()
		want := denyLimit(t, ref, "k", cost)
		if got.State != want.State || *got.Quota != *want.Quota || got.Quotas != nil {
			t.Fatalf("%s: cached %v, the store says %v", what, got, want)
		}
	}
	step("first", 1, false, FromStore, 1)
	step("second", 1, false, FromStore, 1)
	denied := step("third", 1, true, FromStore, 1)
	if denied.State.RetryAfter != 500*time.Millisecond {
		t.Fatalf("third: %v", denied)
	}
	fc.Advance(200 * time.Millisecond)
	r := step("cached", 1, true, FromDenyCache, 0)
	if r.State.RetryAfter != 300*time.Millisecond {
		t.Fatalf("cached: RetryAfter %v, want 300ms", r.State.RetryAfter)
	}
	same("cached", r, 1)
	r = step("a larger cost", 2, true, FromDenyCache, 0)
	if r.State.RetryAfter != 300*time.Millisecond { // a lower bound: the store says 800ms
		t.Fatalf("a larger cost: RetryAfter %v, want the cost 1's 300ms", r.State.RetryAfter)
	}
	if r := step("above the capacity", 3, true, FromStore, 1); r.State.RetryAfter != Never {
		t.Fatalf("above the capacity: %v", r)
	}
	step("cost 1 after a cost that can never pass", 1, true, FromDenyCache, 0)
	if p := step("peek", 0, false, FromStore, 1); p.State.Remaining != 0 {
		t.Fatalf("peek: %v", p)
	}
	fc.Advance(300*time.Millisecond - time.Microsecond)
	r = step("a µs before", 1, true, FromDenyCache, 0)
	if r.State.RetryAfter != time.Microsecond {
		t.Fatalf("a µs before: RetryAfter %v", r.State.RetryAfter)
	}
	same("a µs before", r, 1)
	fc.Advance(time.Microsecond)
	step("at RetryAfter", 1, false, FromStore, 1)
	if n := l.denies.len(); n != 0 {
		t.Fatalf("an admission left %d denials", n)
	}
	step("denied again", 1, true, FromStore, 1)
	step("and cached", 1, true, FromDenyCache, 0)
}

// TestDenyCacheSmallerCost: a cost below the cached one goes to the store,
// and its admission drops the denial.
func TestDenyCacheSmallerCost(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	l := denyNew(t, st, WithAlgorithm(algo.FixedWindow), WithQuota(algo.PerMin(10)), WithDenyCache(time.Hour))
	for _, s := range []struct {
		cost    int64
		limited bool
		src     Source
	}{
		{8, false, FromStore},
		{5, true, FromStore},
		{5, true, FromDenyCache},
		{9, true, FromDenyCache},
		{3, true, FromStore}, // below 5: the store; denied, and now the cached cost
		{4, true, FromDenyCache},
		{2, false, FromStore},
		{3, true, FromStore}, // the admission dropped the denial
	} {
		if r := denyLimit(t, l, "k", s.cost); r.Limited != s.limited || r.Source != s.src {
			t.Fatalf("cost %d: %v from %v, want Limited %v from %v", s.cost, r, r.Source, s.limited, s.src)
		}
	}
}

// TestDenyCacheMax: max bounds how long a denial is cached (not the
// RetryAfter reported), and so how long a Reset made elsewhere goes
// unseen; a Reset on the limiter itself drops its denial at once.
func TestDenyCacheMax(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	l := denyNew(t, st, WithQuota(algo.PerMin(1)), WithDenyCache(time.Second))
	other := denyNew(t, st, WithQuota(algo.PerMin(1)))
	denyLimit(t, l, "k", 1)
	if r := denyLimit(t, l, "k", 1); r.Source != FromStore || r.State.RetryAfter != time.Minute {
		t.Fatalf("denial: %v from %v", r, r.Source)
	}
	fc.Advance(999 * time.Millisecond)
	if r := denyLimit(t, l, "k", 1); r.Source != FromDenyCache || r.State.RetryAfter != time.Minute-999*time.Millisecond {
		t.Fatalf("within max: %v from %v", r, r.Source)
	}
	fc.Advance(time.Millisecond)
	if r := denyLimit(t, l, "k", 1); !r.Limited || r.Source != FromStore {
		t.Fatalf("at max: %v from %v, want the store's denial", r, r.Source)
	}
	// A Reset by another limiter: this one denies for at most max more.
	if err := other.Reset(denyCtx, "k"); err != nil {
		t.Fatal(err)
	}
	if r := denyLimit(t, l, "k", 1); r.Source != FromDenyCache {
		t.Fatalf("after another's Reset: %v from %v, want the cache (the bound max is for)", r, r.Source)
	}
	fc.Advance(time.Second)
	if r := denyLimit(t, l, "k", 1); r.Limited || r.Source != FromStore {
		t.Fatalf("max after another's Reset: %v from %v, want allowed by the store", r, r.Source)
	}
	// A Reset by the limiter itself is seen at once.
	if r := denyLimit(t, l, "k", 1); r.Source != FromStore || !r.Limited {
		t.Fatalf("denial: %v from %v", r, r.Source)
	}
	if r := denyLimit(t, l, "k", 1); r.Source != FromDenyCache {
		t.Fatalf("cached: %v from %v", r, r.Source)
	}
	if err := l.Reset(denyCtx, "k"); err != nil {
		t.Fatal(err)
	}
	if r := denyLimit(t, l, "k", 1); r.Limited || r.Source != FromStore {
		t.Fatalf("after Reset: %v from %v, want allowed by the store", r, r.Source)
	}
}

// TestDenyCacheResetRace: a denial the store made before a Reset, recorded
// after it, is not kept: the generation check in record.
func TestDenyCacheResetRace(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	l := denyNew(t, newDenyCounting(t, fc), WithQuota(algo.PerMin(1)), WithDenyCache(time.Hour))
	denyLimit(t, l, "k", 1)
	p := l.denies.probe()
	var res Result
	err := l.limitStore(denyCtx, "k", l.set, 1, &res) // denied by the store
	if err != nil || !res.Limited {
		t.Fatalf("%v, %v", res, err)
	}
	if err := l.Reset(denyCtx, "k"); err != nil {
		t.Fatal(err)
	}
	l.denies.record("k", l.set, 1, p, &res) // too late
	if r := denyLimit(t, l, "k", 1); r.Limited {
		t.Fatalf("after Reset: %v from %v, want allowed", r, r.Source)
	}
}

// TestDenyCacheClockBack: a clock stepped back before a denial's reading
// sends requests to the store (which keeps time from running backwards
// inside a key) rather than trusting the cache.
func TestDenyCacheClockBack(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	l := denyNew(t, st, WithQuota(algo.PerMin(1)), WithDenyCache(time.Hour))
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	fc.Advance(-time.Microsecond)
	if r := denyLimit(t, l, "k", 1); !r.Limited || r.Source != FromStore || r.State.RetryAfter != time.Minute+time.Microsecond {
		t.Fatalf("clock back: %v from %v, want the store's denial", r, r.Source)
	}
}

// TestDenyCacheQuotaFunc: a denial holds for the quotas it was made under;
// a key whose quotas change goes to the store.
func TestDenyCacheQuotaFunc(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	paid := atomic.Bool{}
	l := denyNew(t, newDenyCounting(t, fc), WithDenyCache(time.Hour), WithQuotaFunc(func(context.Context, string) ([]algo.Quota, error) {
		if paid.Load() {
			return []algo.Quota{algo.PerMin(100)}, nil
		}
		return []algo.Quota{algo.PerMin(1)}, nil
	}))
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	if r := denyLimit(t, l, "k", 1); r.Source != FromDenyCache {
		t.Fatalf("free plan: %v from %v", r, r.Source)
	}
	paid.Store(true)
	if r := denyLimit(t, l, "k", 1); r.Limited || r.Source != FromStore {
		t.Fatalf("paid plan: %v from %v, want allowed by the store", r, r.Source)
	}
}

// TestDenyCacheQuotas: with several quotas a cached Result has each
// quota's state, counted down as the store would show it.
func TestDenyCacheQuotas(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	qs := WithQuotas(algo.PerSec(2).WithName("second"), algo.PerMin(3).WithName("minute").WithAlgorithm(algo.FixedWindow))
	l := denyNew(t, st, qs, WithDenyCache(time.Hour))
	ref := denyNew(t, st, qs)
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1) // the second quota denies: 500ms
	fc.Advance(500 * time.Millisecond)
	denyLimit(t, l, "k", 1) // allowed: the minute is used up
	for _, d := range []time.Duration{0, 400 * time.Millisecond, time.Second} {
		fc.Advance(d)
		got := denyLimit(t, l, "k", 1)
		want := denyLimit(t, ref, "k", 1)
		if d > 0 && got.Source != FromDenyCache {
			t.Fatalf("+%v: %v from %v, want the cache", d, got, got.Source)
		}
		if got.State.RetryAfter != want.State.RetryAfter || got.State.ResetAfter != want.State.ResetAfter || len(got.Quotas) != 2 {
			t.Fatalf("+%v: cached %v %+v, the store says %v %+v", d, got, got.Quotas, want, want.Quotas)
		}
		for i := range got.Quotas {
			g, w := got.Quotas[i], want.Quotas[i]
			if g.Quota != w.Quota || g.Limited != w.Limited || g.State.RetryAfter != w.State.RetryAfter || g.State.ResetAfter != w.State.ResetAfter || g.State.Remaining > w.State.Remaining {
				t.Fatalf("+%v: quota %d cached %+v, the store says %+v", d, i, g, w)
			}
		}
	}
}

// TestDenyCacheStoreCalls: in a deny workload (1000/s, a hot key asked
// 100,000 times a second) the cache makes at least 10× fewer store calls,
// with the same decisions as the store alone.
func TestDenyCacheStoreCalls(t *testing.T) {
	for _, alg := range algo.Algorithms {
		t.Run("algo="+alg.String(), func(t *testing.T) {
			fc := store.NewFakeClock(denyT0)
			with, without := newDenyCounting(t, fc), newDenyCounting(t, fc)
			q := []Option{WithAlgorithm(alg), WithQuota(algo.PerSec(1000))}
			l := denyNew(t, with, append(q, WithDenyCache(time.Second))...)
			ref := denyNew(t, without, q...)
			allowed := 0
			for i := range 100_000 {
				r, want := denyLimit(t, l, "hot", 1), denyLimit(t, ref, "hot", 1)
				if r.Limited != want.Limited {
					t.Fatalf("request %d: Limited %v, the store alone says %v", i, r.Limited, want.Limited)
				}
				if !r.Limited {
					allowed++
				}
				fc.Advance(10 * time.Microsecond)
			}
			c, base := with.calls.Load(), without.calls.Load()
			t.Logf("%d allowed; store calls: %d with the deny cache, %d without (%.1f× fewer)", allowed, c, base, float64(base)/float64(c))
			if c*10 > base {
				t.Errorf("%d store calls with the deny cache, %d without: want 10× fewer", c, base)
			}
		})
	}
}

// TestDenyCacheBatch: LimitAll sends only the requests the cache does not
// answer, and an admission in a batch drops the key's denial.
func TestDenyCacheBatch(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	var seen []Source
	l := denyNew(t, st, WithQuota(algo.PerMin(3)), WithDenyCache(time.Hour), WithHooks(func(ctx context.Context, c *Call[string], next Next) (Result, error) {
		r, err := next(ctx)
		seen = append(seen, r.Source)
		return r, err
	}))
	for range 4 {
		denyLimit(t, l, "hot", 1)
	}
	seen = nil
	before := st.calls.Load()
	rs, err := l.LimitAll(denyCtx, []Request[string]{{Key: "hot", Cost: 1}, {Key: "cold", Cost: 1}, {Key: "hot", Cost: 2}, {Key: "hot", Cost: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.calls.Load() - before; n != 2 {
		t.Errorf("the batch sent %d requests, want 2 (cold and the peek)", n)
	}
	want := []Source{FromDenyCache, FromStore, FromDenyCache, FromStore}
	for i, r := range rs {
		if r.Source != want[i] || r.Limited != (i == 0 || i == 2) || seen[i] != want[i] {
			t.Errorf("request %d: %v from %v (hook saw %v), want from %v", i, r, r.Source, seen[i], want[i])
		}
	}
	if rs[0].State.RetryAfter != 20*time.Second || rs[0].Quota == nil {
		t.Errorf("cached in a batch: %v", rs[0])
	}
	// An admission drops the denial: cold is denied (cached), then allowed
	// in a batch once the minute has passed, and its denial is gone.
	for range 3 {
		denyLimit(t, l, "cold", 1)
	}
	if !l.denies.holds("cold") {
		t.Fatalf("cold's denial not cached")
	}
	fc.Advance(time.Minute)
	if rs, err := l.LimitAll(denyCtx, []Request[string]{{Key: "cold", Cost: 1}}); err != nil || rs[0].Limited || l.denies.holds("cold") {
		t.Fatalf("batch admission: %v, %v; denial kept: %v", rs, err, l.denies.holds("cold"))
	}
}

// TestDenyCacheOutage: a cached denial needs no store: it stays a denial
// while the store is down, whatever the outage policy; hooks see it.
func TestDenyCacheOutage(t *testing.T) {
	for _, p := range []struct {
		name string
		p    OutagePolicy
	}{{"fail_closed", FailClosed}, {"fail_open", FailOpen}, {"fallback", FallBack(1)}} {
		t.Run(p.name, func(t *testing.T) {
			fc := store.NewFakeClock(denyT0)
			st := newDenyCounting(t, fc)
			var hookSaw Source
			l := denyNew(t, st, WithQuota(algo.PerMin(1)), WithDenyCache(time.Hour), WithOutagePolicy(p.p), WithHooks(func(ctx context.Context, c *Call[string], next Next) (Result, error) {
				r, err := next(ctx)
				hookSaw = r.Source
				return r, err
			}))
			denyLimit(t, l, "hot", 1)
			denyLimit(t, l, "hot", 1)
			st.down.Store(true)
			r := denyLimit(t, l, "hot", 1)
			if !r.Limited || r.Source != FromDenyCache || hookSaw != FromDenyCache {
				t.Fatalf("hot key, store down: %v from %v (hook saw %v), want the cached denial", r, r.Source, hookSaw)
			}
			rs, err := l.LimitAll(denyCtx, []Request[string]{{Key: "hot", Cost: 1}})
			if err != nil || !rs[0].Limited || rs[0].Source != FromDenyCache {
				t.Fatalf("hot key in a batch, store down: %v, %v", rs, err)
			}
			r, err = l.Limit(denyCtx, "cold", 1)
			if p.p == FailClosed {
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("cold key, store down, failing closed: %v, %v", r, err)
				}
			} else if err != nil || r.Limited || r.Source == FromStore || r.Source == FromDenyCache {
				t.Fatalf("cold key, store down: %v from %v, %v", r, r.Source, err)
			}
			// The outage policy's decisions are not the store's: not cached.
			if p.p != FailClosed {
				denyLimit(t, l, "cold", 1)
				if l.denies.holds("cold") {
					t.Fatalf("the outage policy's denial was cached")
				}
			}
		})
	}
}

// TestDenyCacheEviction: the cache holds at most denyShards·denyShardCap
// keys; expired denials are dropped first, so live ones are kept.
func TestDenyCacheEviction(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	l := denyNew(t, st, WithQuota(algo.PerMin(1)), WithDenyCache(time.Minute))
	const bound = denyShards * denyShardCap
	for i := range bound + 5000 {
		if r := denyLimit(t, l, "k"+strconv.Itoa(i), 2); r.State.RetryAfter != Never { // cost 2 never passes: cached for max
			t.Fatalf("%v", r)
		}
	}
	if n := l.denies.len(); n > bound || n < bound-5000 {
		t.Fatalf("%d keys cached, want at most %d (and not far fewer)", n, bound)
	}
	fc.Advance(time.Minute) // every denial expires
	const fresh = 20_000
	for i := range fresh {
		denyLimit(t, l, "n"+strconv.Itoa(i), 2)
	}
	if n := l.denies.len(); n > bound {
		t.Fatalf("%d keys cached, want at most %d", n, bound)
	}
	before := st.calls.Load()
	for i := range fresh {
		if r := denyLimit(t, l, "n"+strconv.Itoa(i), 2); r.Source != FromDenyCache {
			t.Fatalf("n%d: %v from %v: a live denial was dropped while expired ones were held", i, r, r.Source)
		}
	}
	if n := st.calls.Load() - before; n != 0 {
		t.Fatalf("%d store calls for cached keys", n)
	}
}

// TestDenyCacheAllocs: a cached denial allocates nothing, for string and
// typed keys.
func TestDenyCacheAllocs(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	mem, err := memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	l := denyNew(t, mem, WithQuota(algo.PerMin(1)), WithDenyCache(time.Hour))
	denyLimit(t, l, "hot", 1)
	denyLimit(t, l, "hot", 1)
	if n := testing.AllocsPerRun(1000, func() {
		if r, err := l.Limit(denyCtx, "hot", 1); err != nil || r.Source != FromDenyCache {
			t.Fatalf("%v from %v, %v", r, r.Source, err)
		}
	}); n != 0 {
		t.Errorf("a cached denial, string key: %v allocations, want 0", n)
	}
	type userID int64
	li, err := New[userID](WithStore(memstore.For[userID](mem)), WithQuota(algo.PerMin(1)), WithDenyCache(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	li.Limit(denyCtx, 42, 1)
	li.Limit(denyCtx, 42, 1)
	if n := testing.AllocsPerRun(1000, func() {
		if r, err := li.Limit(denyCtx, 42, 1); err != nil || r.Source != FromDenyCache {
			t.Fatalf("%v from %v, %v", r, r.Source, err)
		}
	}); n != 0 {
		t.Errorf("a cached denial, typed key: %v allocations, want 0", n)
	}
}

// denyRedis returns a Redis store on a fresh server deciding on the
// server's TIME, and its client.
func denyRedis(t testing.TB) (*redisstore.Store, rueidis.Client) {
	t.Helper()
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s, err := redisstore.New(c)
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	return s, c
}

// TestDenyCacheRedisServerTime: on Redis's server time the cache keeps its
// own monotonic time, read before the call, so a cached RetryAfter is the
// store's counted down by at least the time that passed.
func TestDenyCacheRedisServerTime(t *testing.T) {
	s, _ := denyRedis(t)
	l := denyNew(t, s, WithQuota(algo.PerMin(2)), WithDenyCache(time.Hour))
	if l.denies.clock != store.SystemClock() {
		t.Fatalf("deny cache clock %T, want the system clock", l.denies.clock)
	}
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1)
	start := time.Now()
	denied := denyLimit(t, l, "k", 1)
	cached := denyLimit(t, l, "k", 1)
	elapsed := time.Since(start)
	if denied.Source != FromStore || !denied.Limited || cached.Source != FromDenyCache {
		t.Fatalf("denied %v from %v, then %v from %v", denied, denied.Source, cached, cached.Source)
	}
	if c, d := cached.State.RetryAfter, denied.State.RetryAfter; c <= 0 || c > d || c < d-elapsed-time.Millisecond {
		t.Fatalf("cached RetryAfter %v, the store's %v %v before", c, d, elapsed)
	}
}

// BenchmarkDenyCache: the deny scenario, a hot key hammered far past its
// quota (1000/s, token bucket), with and without the deny cache, on the
// memory store and on Redis (server time), serial and on 16 goroutines.
// store-calls/op is the share of requests that reached the store.
func BenchmarkDenyCache(b *testing.B) {
	stores := []struct {
		name string
		st   func(b *testing.B) store.Store[string]
	}{
		{"memory", func(b *testing.B) store.Store[string] {
			m, err := memstore.New()
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
		{"redis", func(b *testing.B) store.Store[string] { s, _ := denyRedis(b); return s }},
	}
	for _, s := range stores {
		st := s.st(b) // one store (one redis-server) for the sub-benchmarks, each on its own key
		for _, cache := range []bool{false, true} {
			for _, par := range []int{1, 16} {
				name := fmt.Sprintf("store=%s/cache=%s/goroutines=%d", s.name, map[bool]string{false: "off", true: "on"}[cache], par)
				b.Run(name, func(b *testing.B) {
					cs := &denyCountingAny{st: st}
					opts := []Option{WithStore(store.Store[string](cs)), WithQuota(algo.PerSec(1000))}
					if cache {
						opts = append(opts, WithDenyCache(time.Second))
					}
					l, err := New[string](opts...)
					if err != nil {
						b.Fatal(err)
					}
					key := "hot" + strconv.FormatInt(time.Now().UnixNano(), 10)
					b.ReportAllocs()
					if par == 1 {
						for b.Loop() {
							if _, err := l.Limit(denyCtx, key, 1); err != nil {
								b.Fatal(err)
							}
						}
					} else {
						b.SetParallelism(par)
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if _, err := l.Limit(denyCtx, key, 1); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					b.ReportMetric(float64(cs.calls.Load())/float64(b.N), "store-calls/op")
				})
			}
		}
	}
}

// denyCountingAny counts the Decide calls of any string store, telling its
// clock when it has one.
type denyCountingAny struct {
	st    store.Store[string]
	calls atomic.Int64
}

func (s *denyCountingAny) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	s.calls.Add(1)
	return s.st.Decide(ctx, key, ps, cost, each)
}

func (s *denyCountingAny) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	return s.st.Reset(ctx, key, ps)
}

func (s *denyCountingAny) Clock() store.Clock {
	if c, ok := s.st.(store.Clocked); ok {
		return c.Clock()
	}
	return nil
}

// TestDenyCacheWait: Wait sleeps a cached denial's RetryAfter, then asks
// the store.
func TestDenyCacheWait(t *testing.T) {
	fc := store.NewFakeClock(denyT0)
	st := newDenyCounting(t, fc)
	l := denyNew(t, st, WithQuota(algo.PerSec(1)), WithDenyCache(time.Hour))
	denyLimit(t, l, "k", 1)
	denyLimit(t, l, "k", 1) // denied: 1s
	fc.Advance(400 * time.Millisecond)
	done := make(chan Result)
	go func() {
		r, err := l.Wait(denyCtx, "k", 1)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for deadline := time.Now().Add(10 * time.Second); fc.Sleepers() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("Wait does not sleep on the fake clock")
		}
		time.Sleep(50 * time.Microsecond) // polling, not timing: the fake clock does not move
	}
	if n := st.calls.Load(); n != 2 {
		t.Fatalf("%d store calls before the sleep, want 2 (Wait's first try was cached)", n)
	}
	fc.Advance(600 * time.Millisecond)
	if r := <-done; r.Limited || r.Source != FromStore || st.calls.Load() != 3 {
		t.Fatalf("Wait: %v from %v after %d store calls", r, r.Source, st.calls.Load())
	}
}

// TestDenyCacheConcurrent: goroutines hammering keys through limiters with
// and without a deny cache, with batches and peeks mixed in, admit exactly
// the quota (an hour's quota in well under a second: nothing refills).
func TestDenyCacheConcurrent(t *testing.T) {
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	q := WithQuota(algo.PerHour(50))
	ls := []*Limiter[string]{denyNew(t, mem, q, WithDenyCache(time.Minute)), denyNew(t, mem, q, WithDenyCache(time.Millisecond)), denyNew(t, mem, q)}
	keys := []string{"a", "b", "c"}
	var allowed [3]atomic.Int64
	done := make(chan struct{})
	for g := range 6 {
		go func() {
			defer func() { done <- struct{}{} }()
			l := ls[g%len(ls)]
			for i := range 600 {
				k := i % len(keys)
				switch i % 10 {
				case 9:
					rs, err := l.LimitAll(denyCtx, []Request[string]{{Key: keys[k], Cost: 1}, {Key: keys[(k+1)%3], Cost: 0}})
					if err != nil {
						t.Error(err)
						return
					}
					if !rs[0].Limited {
						allowed[k].Add(1)
					}
				case 8:
					if _, err := l.Peek(denyCtx, keys[k]); err != nil {
						t.Error(err)
						return
					}
				default:
					r, err := l.Limit(denyCtx, keys[k], 1)
					if err != nil {
						t.Error(err)
						return
					}
					if !r.Limited {
						allowed[k].Add(1)
					}
				}
			}
		}()
	}
	for range 6 {
		<-done
	}
	for k := range keys {
		if n := allowed[k].Load(); n != 50 {
			t.Errorf("key %s: %d allowed, want the quota, 50", keys[k], n)
		}
	}
}
