package typed

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// The deny cache (WithDenyCache) remembers the store's denials, per key, so
// that a key denied over and over is denied from memory.
//
// Why a cached denial is exact: the store denied a request of cost c with
// RetryAfter r at its time T: with no other traffic the request passes from
// T+r on, not before. Other clients can only use quota up (a denied request
// consumes nothing, an allowed one consumes), which only moves that moment
// later, and for a larger cost it is later still. The cache reads its clock
// at `at` before sending the request, so at <= T, and denies until
// at+min(r, max) <= T+r. Its clock is the store's when the store has one
// (store.Clocked: the memory store, the Redis store with WithClock), read
// just as the store would read it but earlier; otherwise (Redis on its
// server's TIME) the process's monotonic clock, whose reading before the
// call precedes, in real time, the server's reading during the call. Only
// a Reset or a quota change gives quota back; this limiter's own Reset
// drops the key's denial, and max bounds the others.

// Sizes of a deny cache: denyShards shards of at most denyShardCap keys.
const (
	denyShards   = 32
	denyShardCap = 2048 // 65,536 keys in all; see WithDenyCache
	denySample   = 8    // keys a full shard looks at to pick one to drop
)

// denyCache holds a limiter's cached denials.
type denyCache[K comparable] struct {
	clock  store.Clock
	max    int64 // µs: how long a denial is cached at most
	hash   func(K) uint64
	gen    atomic.Uint64 // counts Resets, each bumped under its key's shard lock
	shards [denyShards]denyShard[K]
}

// denyShard is a part of a deny cache under one lock.
type denyShard[K comparable] struct {
	mu      sync.RWMutex
	m       map[K]denial
	nextExp int64 // no denial expires before this reading (a lower bound)
	_       [64 - (unsafe.Sizeof(sync.RWMutex{})+16)%64]byte
}

// denial is a key's cached denial: what the store said, and when.
type denial struct {
	set      *policySet   // the quotas it was decided under
	quota    *algo.Quota  // Result.Quota
	quotas   []QuotaState // Result.Quotas (several quotas), a copy
	at       int64        // the clock's reading before the store call, µs
	until    int64        // deny from the cache while at <= now < until
	cost     int64        // a request of this cost or more is denied
	capacity int64        // the least of the quotas' capacities
	retry    int64        // µs after at, or -1: never
	reset    int64        // µs after at
	limit    int64
	remain   int64
}

// denyProbe is what a deny cache knew before a store call: the clock's
// reading, the count of Resets, and whether the key had a denial.
type denyProbe struct {
	now int64
	gen uint64
	had bool
}

// newDenyCache returns a deny cache of at most max per denial for a
// limiter on st.
func newDenyCache[K comparable](st store.Store[K], max time.Duration) *denyCache[K] {
	c := &denyCache[K]{clock: store.SystemClock(), max: int64(max / time.Microsecond), hash: storeutil.Hasher[K]()}
	if cs, ok := st.(store.Clocked); ok && !storeutil.IsNil(cs.Clock()) {
		c.clock = cs.Clock()
	}
	return c
}

func (c *denyCache[K]) shard(key K) *denyShard[K] {
	return &c.shards[c.hash(key)%denyShards]
}

// probe reads the clock and the count of Resets, before a store call. A
// nil cache returns the zero probe.
func (c *denyCache[K]) probe() denyProbe {
	if c == nil {
		return denyProbe{}
	}
	return denyProbe{now: c.clock.Now(), gen: c.gen.Load()}
}

// hit reports whether key has a denial that denies a request of cost under
// set at p.now, and then writes its Result to res. It records in p whether
// the key had a denial at all.
func (c *denyCache[K]) hit(key K, set *policySet, cost int64, p *denyProbe, res *Result) bool {
	sh := c.shard(key)
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	p.had = ok
	if !ok || e.set != set || p.now < e.at || p.now >= e.until || cost < e.cost || (cost > e.capacity && e.retry >= 0) {
		return false
	}
	e.result(p.now, res)
	return true
}

// result writes the denial's Result at now, its durations counted down.
func (e *denial) result(now int64, res *Result) {
	el := now - e.at
	*res = Result{Limited: true, Quota: e.quota, Source: FromDenyCache,
		State: State{Limit: e.limit, Remaining: e.remain, ResetAfter: micros(max(e.reset-el, 0)), RetryAfter: Never}}
	if e.retry >= 0 {
		res.State.RetryAfter = micros(max(e.retry-el, 1)) // el < retry: now < until <= at+retry
	}
	if e.quotas != nil {
		res.Quotas = make([]QuotaState, len(e.quotas))
		d := time.Duration(el) * time.Microsecond
		for i, q := range e.quotas {
			if q.State.RetryAfter != Never {
				q.State.RetryAfter = max(q.State.RetryAfter-d, 0)
				q.Limited = q.Limited && q.State.RetryAfter > 0
			}
			q.State.ResetAfter = max(q.State.ResetAfter-d, 0)
			res.Quotas[i] = q
		}
	}
}

// record keeps the store's denial res of a request of cost for key under
// set, probed by p, or drops the key's denial when the store allowed the
// request. Decisions of the outage policy are not the store's: they are
// left out.
func (c *denyCache[K]) record(key K, set *policySet, cost int64, p denyProbe, res *Result) {
	if res.Source != FromStore || cost <= 0 {
		return
	}
	if !res.Limited {
		if p.had {
			c.forget(key, false)
		}
		return
	}
	e := denial{set: set, quota: res.Quota, at: p.now, cost: cost, capacity: math.MaxInt64, retry: -1,
		reset: int64(res.State.ResetAfter / time.Microsecond), limit: res.State.Limit, remain: res.State.Remaining}
	life := c.max
	if res.State.RetryAfter != Never {
		e.retry = int64(res.State.RetryAfter / time.Microsecond)
		life = min(life, e.retry)
	}
	if life <= 0 { // a denial with no wait: nothing to cache
		return
	}
	e.until = p.now + life
	for _, pol := range set.ps {
		e.capacity = min(e.capacity, pol.Max())
	}
	if res.Quotas != nil {
		e.quotas = slices.Clone(res.Quotas)
	}
	sh := c.shard(key)
	sh.mu.Lock()
	if c.gen.Load() == p.gen { // else a Reset came after the probe: the denial may be older
		sh.put(key, e, p.now)
	}
	sh.mu.Unlock()
}

// forget drops key's denial; for a Reset, it also makes the denials of
// store calls made before it unrecordable.
func (c *denyCache[K]) forget(key K, reset bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	if reset {
		c.gen.Add(1)
	}
	sh.mu.Unlock()
}

// put stores e under key, making room when the shard is full: expired
// denials go first, then the one of a few that expires soonest. A live
// denial of a smaller cost is kept: it denies more requests (e is then
// most likely a cost that can never pass, which went to the store past
// it). sh.mu is held.
func (sh *denyShard[K]) put(key K, e denial, now int64) {
	if sh.m == nil {
		sh.m = make(map[K]denial)
	}
	old, ok := sh.m[key]
	if ok && old.set == e.set && old.cost < e.cost && old.at <= now && now < old.until {
		return
	}
	if !ok && len(sh.m) >= denyShardCap {
		if now >= sh.nextExp {
			sh.sweep(now)
		}
		if len(sh.m) >= denyShardCap {
			sh.evict()
		}
	}
	sh.m[key] = e
	sh.nextExp = min(sh.nextExp, e.until)
}

// sweep drops the expired denials and makes nextExp exact. sh.mu is held.
func (sh *denyShard[K]) sweep(now int64) {
	next := int64(math.MaxInt64)
	for k, e := range sh.m {
		if e.until <= now {
			delete(sh.m, k)
		} else {
			next = min(next, e.until)
		}
	}
	sh.nextExp = next
}

// evict drops, of a few denials, the one that expires soonest: losing a
// denial costs one store call. sh.mu is held.
func (sh *denyShard[K]) evict() {
	var victim K
	found, soonest, n := false, int64(math.MaxInt64), 0
	for k, e := range sh.m { // map iteration starts at a random place
		if !found || e.until < soonest {
			victim, soonest, found = k, e.until, true
		}
		if n++; n == denySample {
			break
		}
	}
	if found {
		delete(sh.m, victim)
	}
}

// len returns the number of keys held, expired ones included (for tests).
func (c *denyCache[K]) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// limitDenyCache is limit with the deny cache on, for a request of cost
// above 0: a cached denial, or the store's decision, recorded.
func (l *Limiter[K]) limitDenyCache(ctx context.Context, key K, set *policySet, cost int64, r *Result) error {
	p := l.denies.probe()
	if l.denies.hit(key, set, cost, &p, r) {
		return nil
	}
	if err := l.limitStore(ctx, key, set, cost, r); err != nil {
		return err
	}
	l.denies.record(key, set, cost, p, r)
	return nil
}

// errDenyCached marks, inside a batch, the requests the deny cache
// answered; no caller sees it.
var errDenyCached = errors.New("throttled: denied from the deny cache")

// denyCachedIn reports whether the deny cache answers request i of a
// batch under set, probed by p, writing its Result to res.
func (c *denyCache[K]) denyCachedIn(r Request[K], set *policySet, p denyProbe, res *Result) bool {
	return c != nil && r.Cost > 0 && c.hit(r.Key, set, r.Cost, &p, res)
}

// recordAll records a batch's store decisions, as record does, and clears
// the marks of the requests the cache answered. A nil cache does nothing.
func (c *denyCache[K]) recordAll(set *policySet, reqs []Request[K], results []Result, errs []error, p denyProbe) {
	if c == nil {
		return
	}
	for i, r := range reqs {
		if errs[i] == errDenyCached {
			errs[i] = nil
		} else if errs[i] == nil && r.Cost > 0 {
			q := p
			q.had = !results[i].Limited && c.holds(r.Key)
			c.record(r.Key, set, r.Cost, q, &results[i])
		}
	}
}

// holds reports whether key has a denial.
func (c *denyCache[K]) holds(key K) bool {
	sh := c.shard(key)
	sh.mu.RLock()
	_, ok := sh.m[key]
	sh.mu.RUnlock()
	return ok
}
