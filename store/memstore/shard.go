package memstore

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// shard holds a table's keys whose hash falls in it. Its lock guards the
// index (adding and removing keys); each entry's own lock guards the
// key's states: every policy's state of a key lives in the key's entry, so
// one lock decides a request under all its policies. The lock order is
// the shard's, then an entry's. A decision on a key the index holds under
// one policy takes only the entry's lock (Table.decideOne): many
// goroutines on one key then pass one cache line between them, the
// entry's, lock and state together.
type shard[K comparable] struct {
	mu  sync.Mutex
	idx index[K]
	// more holds, for a key with states under several policies, the
	// states after its entry's first; written with sh.mu and the entry's
	// lock held, read with sh.mu held.
	more    map[*entry[K]][]state
	cap     int
	nextExp atomic.Int64 // no state expires before this time (a lower bound)
	_       [16]byte
}

// lower makes exp the shard's nextExp if it is earlier.
func (sh *shard[K]) lower(exp int64) {
	for {
		cur := sh.nextExp.Load()
		if exp >= cur || sh.nextExp.CompareAndSwap(cur, exp) {
			return
		}
	}
}

// lockSpins is how many times spinLock tries a mutex (a shard's or an
// entry's) before it blocks. With 16 goroutines denied on one key,
// spinning took a decision from 196–199 to 117–127 ns (bench/peers, 2
// vCPUs, when the shard's lock guarded every decision).
const lockSpins = 64

// lock takes sh.mu (see spinLock).
func (sh *shard[K]) lock() { spinLock(&sh.mu) }

// spinLock takes mu, trying it a few times before blocking: a decision
// holds a lock for a few tens of nanoseconds, and sync.Mutex does not spin
// while other goroutines are runnable, so under contention (many
// goroutines on one key) it would park and wake a goroutine per decision.
func spinLock(mu *sync.Mutex) {
	if !mu.TryLock() {
		spinLockSlow(mu)
	}
}

// spinLockSlow is spinLock after a first try failed. A hot path tries
// the lock itself and calls it on failure: spinLock is too large to be
// inlined, and the uncontended lock then makes no call.
func spinLockSlow(mu *sync.Mutex) {
	for range lockSpins - 1 {
		if mu.TryLock() {
			return
		}
	}
	mu.Lock()
}

// entry is one key's states, one per policy that has charged it, under
// its lock: the first next to the lock, the others in the shard's more, so
// that a key of one policy is one 64-byte allocation (with a string key),
// a cache line holding the lock and the state.
type entry[K comparable] struct {
	mu    sync.Mutex
	first state // always held while the entry is in its shard; zero once removed
	key   K
}

// state is a key's state under one policy.
type state struct {
	id       store.PolicyID
	st       steps.Slots
	expireAt int64 // µs; the state is back to initial (absent) from this time on
}

// The methods below work on an entry's states: sh.mu and e.mu are held.

// states returns the number of e's states.
func (sh *shard[K]) states(e *entry[K]) int { return 1 + len(sh.more[e]) }

// stateAt returns e's state i, 0 ≤ i < sh.states(e).
func (sh *shard[K]) stateAt(e *entry[K], i int) *state {
	if i == 0 {
		return &e.first
	}
	return &sh.more[e][i-1]
}

// find returns e's state under policy id, nil if there is none.
func (sh *shard[K]) find(e *entry[K], id store.PolicyID) *state {
	if e.first.id == id {
		return &e.first
	}
	more := sh.more[e]
	for i := range more {
		if more[i].id == id {
			return &more[i]
		}
	}
	return nil
}

// put stores s in place of its policy's state in e, or after the others.
// Other policies' expired states stay until a sweep under memory pressure
// drops them, as reads keep them: with a clock that steps back before
// their expiry, they still decide.
func (sh *shard[K]) put(e *entry[K], s state) {
	if c := sh.find(e, s.id); c != nil {
		*c = s
		return
	}
	if sh.more == nil {
		sh.more = map[*entry[K]][]state{}
	}
	sh.more[e] = append(sh.more[e], s)
}

// remove deletes e's state under policy id, if any, and reports whether
// the entry is left with none (it is then dead).
func (sh *shard[K]) remove(e *entry[K], id store.PolicyID) (empty bool) {
	c := sh.find(e, id)
	if c == nil {
		return false
	}
	more := sh.more[e]
	if len(more) == 0 {
		sh.kill(e)
		return true
	}
	*c = more[len(more)-1]
	if len(more) == 1 {
		delete(sh.more, e)
	} else {
		sh.more[e] = more[:len(more)-1]
	}
	return false
}

// kill empties e, removed from the shard.
func (sh *shard[K]) kill(e *entry[K]) {
	e.first = state{}
	delete(sh.more, e)
}

// keepLive drops e's states expired at now and reports whether any is
// left, and the soonest expiry of those left (math.MaxInt64 if none).
func (sh *shard[K]) keepLive(e *entry[K], now int64) (live bool, next int64) {
	next = math.MaxInt64
	var kept []state
	for i := range sh.states(e) {
		if st := sh.stateAt(e, i); st.expireAt > now {
			kept = append(kept, *st)
			next = min(next, st.expireAt)
		}
	}
	if len(kept) == 0 {
		sh.kill(e)
		return false, next
	}
	e.first = kept[0]
	if len(kept) > 1 {
		sh.more[e] = kept[1:]
	} else {
		delete(sh.more, e)
	}
	return true, next
}

// decide decides a request under every policy of ps; sh.mu is held. Each
// policy's state, when present and not expired, is its stored state;
// otherwise the key is fresh under it.
func (sh *shard[K]) decide(s *Store, key K, h uint64, ps []*store.Policy, cost, now int64, each []algo.Decision) algo.Decision {
	e := sh.idx.get(h, key) // exact: sh.mu is held
	if e != nil {
		spinLock(&e.mu)
		defer e.mu.Unlock()
	}
	if len(ps) == 1 {
		d := sh.decideIn(s, key, h, e, ps[0], cost, now)
		if each != nil {
			each[0] = d
		}
		return d
	}
	var (
		cur      [store.MaxPolicies]*state // nil: fresh under that policy
		next     [store.MaxPolicies]steps.Slots
		expireAt [store.MaxPolicies]int64
		ds       [store.MaxPolicies]algo.Decision
		limited  bool
	)
	for i, p := range ps {
		if e != nil {
			if c := sh.find(e, p.ID()); c != nil && c.expireAt > now {
				cur[i], next[i] = c, c.st
			}
		}
		ds[i], expireAt[i], _ = p.Step((*[3]int64)(&next[i]), cur[i] == nil, now, cost)
		limited = limited || ds[i].Limited
	}
	if limited && cost > 0 {
		// Nothing is charged: a policy that would have admitted the request
		// reports what a peek shows.
		for i, p := range ps {
			if !ds[i].Limited {
				var st steps.Slots
				if cur[i] != nil {
					st = cur[i].st
				}
				ds[i], _, _ = p.Step((*[3]int64)(&st), cur[i] == nil, now, 0)
			}
		}
	} else if cost > 0 {
		// The stored states first: adding one may move the entry's states.
		var (
			added [store.MaxPolicies]state
			n     int
		)
		for i, p := range ps {
			if cur[i] != nil {
				cur[i].st, cur[i].expireAt = next[i], expireAt[i]
			} else {
				added[n] = state{id: p.ID(), st: next[i], expireAt: expireAt[i]}
				n++
			}
			sh.lower(expireAt[i])
		}
		rest := added[:n]
		isNew := e == nil
		if isNew {
			e = &entry[K]{key: key, first: rest[0]}
			rest = rest[1:]
		}
		for _, st := range rest {
			sh.put(e, st)
		}
		if isNew {
			sh.insert(s, h, e, now)
		}
	}
	if each != nil {
		copy(each, ds[:len(ps)])
	}
	return storeutil.Combine(ds[:len(ps)])
}

// decideIn is decide for a single policy, the common case, with no
// copies, on key's entry e (nil: none); sh.mu and e.mu are held.
func (sh *shard[K]) decideIn(s *Store, key K, h uint64, e *entry[K], p *store.Policy, cost, now int64) algo.Decision {
	if e != nil {
		if c := sh.find(e, p.ID()); c != nil {
			return sh.stepIn(c, p, cost, now)
		}
	}
	var fresh steps.Slots
	d, exp, keep := p.Step((*[3]int64)(&fresh), true, now, cost)
	if keep {
		st := state{id: p.ID(), st: fresh, expireAt: exp}
		if e != nil {
			sh.put(e, st)
		} else {
			sh.insert(s, h, &entry[K]{key: key, first: st}, now)
		}
		sh.lower(exp)
	}
	return d
}

// stepIn decides a request on the stored state c; its entry's lock is
// held.
func (sh *shard[K]) stepIn(c *state, p *store.Policy, cost, now int64) algo.Decision {
	// An expired state decides as a fresh key; the step leaves it as it
	// is unless the request is charged, so an expired state that nothing
	// replaced stays until its key is written or its shard swept: a read
	// has no side effect, and with a clock that steps back a Peek cannot
	// make the key fresh early.
	d, exp, keep := p.Step((*[3]int64)(&c.st), c.expireAt <= now, now, cost)
	if keep {
		c.expireAt = exp
		sh.lower(exp)
	}
	return d
}

// insert adds e, a new key's entry (hash h), making room when the shard is
// full. sh.mu is held.
func (sh *shard[K]) insert(s *Store, h uint64, e *entry[K], now int64) {
	if sh.idx.n >= sh.cap {
		if now >= sh.nextExp.Load() {
			sh.sweep(now)
		}
		if sh.idx.n >= sh.cap {
			sh.evict(now)
			s.liveEvictions.Add(1)
		}
	}
	sh.idx.put(h, e)
}

// sweep drops expired states, and keys left with none, and makes nextExp
// exact. sh.mu is held. Decisions on held keys may charge meanwhile (they
// take only their entry's lock): nextExp is raised first and lowered by
// them as by the sweep, so it stays a lower bound.
func (sh *shard[K]) sweep(now int64) {
	sh.nextExp.Store(math.MaxInt64)
	next := int64(math.MaxInt64)
	sh.idx.filter(func(e *entry[K]) bool {
		spinLock(&e.mu)
		live, n := sh.keepLive(e, now)
		e.mu.Unlock()
		next = min(next, n)
		return live
	})
	sh.lower(next)
}

// evict drops, of a few keys, the one whose loss admits the least: the one
// that has used the least of its quota right now, in requests (Limit −
// Remaining of a peek), under the policy where it used the most; of keys
// that used as much, the one whose states expire soonest. A key that has
// used its quota is thus kept over the keys of a flood, fresh or not, that
// each used less. sh.mu is held, on a shard without expired state.
func (sh *shard[K]) evict(now int64) {
	var (
		victim         *entry[K]
		victimHash     uint64
		least, soonest = int64(math.MaxInt64), int64(math.MaxInt64)
	)
	sh.idx.sample(evictionSample, func(h uint64, e *entry[K]) { // from a random slot on
		spinLock(&e.mu)
		w, exp := sh.weight(e, now)
		e.mu.Unlock()
		if victim == nil || w < least || w == least && exp < soonest {
			victim, victimHash, least, soonest = e, h, w, exp
		}
	})
	if victim != nil {
		spinLock(&victim.mu)
		sh.kill(victim)
		victim.mu.Unlock()
		sh.idx.remove(victimHash, victim.key)
	}
}

// weight is what evicting the key would admit at once: the most, over its
// live states, of the quota used (Limit − Remaining, as a peek reports),
// and the latest of their expiries.
func (sh *shard[K]) weight(e *entry[K], now int64) (used, expireAt int64) {
	for i := range sh.states(e) {
		st := sh.stateAt(e, i)
		if st.expireAt <= now {
			continue
		}
		slots, p := st.st, st.id.Params()
		d, _, _ := steps.Step(&slots, false, &p, now, 0)
		used = max(used, p.Max-d.Remaining)
		expireAt = max(expireAt, st.expireAt)
	}
	return used, expireAt
}
