package memstore

import (
	"math"
	"sync"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// shard holds a table's keys whose hash falls in it, under one lock: every
// policy's state of a key lives in the key's entry, so one lock decides a
// request under all its policies.
type shard[K comparable] struct {
	mu      sync.Mutex
	idx     index[K]
	cap     int
	nextExp int64 // no state expires before this time (a lower bound)
	_       [32]byte
}

// lockSpins is how many times lock tries the shard's mutex before it
// blocks. With 16 goroutines denied on one key, spinning took a decision
// from 196–199 to 117–127 ns (bench/peers, 2 vCPUs).
const lockSpins = 64

// lock takes sh.mu, trying it a few times before blocking: a decision
// holds it for a few tens of nanoseconds, and sync.Mutex does not spin
// while other goroutines are runnable, so under contention (many
// goroutines on one key) it would park and wake a goroutine per decision.
func (sh *shard[K]) lock() {
	for range lockSpins {
		if sh.mu.TryLock() {
			return
		}
	}
	sh.mu.Lock()
}

// entry is one key's states, one per policy that has charged it: the
// first in the entry itself, so that a key of one policy is one
// allocation of 64 bytes (with a string key): one cache line.
type entry[K comparable] struct {
	key   K
	first state    // always held while the entry is in its shard
	more  *[]state // the other policies' states; nil when there are none
}

// state is a key's state under one policy.
type state struct {
	id       store.PolicyID
	st       steps.Slots
	expireAt int64 // µs; the state is back to initial (absent) from this time on
}

// len returns the number of states e holds.
func (e *entry[K]) len() int {
	if e.more == nil {
		return 1
	}
	return 1 + len(*e.more)
}

// at returns e's state i, 0 ≤ i < e.len().
func (e *entry[K]) at(i int) *state {
	if i == 0 {
		return &e.first
	}
	return &(*e.more)[i-1]
}

// find returns the state of policy id, nil if there is none.
func (e *entry[K]) find(id store.PolicyID) *state {
	if e.first.id == id {
		return &e.first
	}
	if e.more != nil {
		for i := range *e.more {
			if (*e.more)[i].id == id {
				return &(*e.more)[i]
			}
		}
	}
	return nil
}

// put stores s in place of its policy's state, or after the others. Other
// policies' expired states stay until a sweep under memory pressure drops
// them, as reads keep them: with a clock that steps back before their
// expiry, they still decide.
func (e *entry[K]) put(s state) {
	if c := e.find(s.id); c != nil {
		*c = s
		return
	}
	if e.more == nil {
		e.more = new([]state)
	}
	*e.more = append(*e.more, s)
}

// remove deletes the state of policy id, if any, and reports whether the
// entry is left with none.
func (e *entry[K]) remove(id store.PolicyID) (empty bool) {
	c := e.find(id)
	if c == nil {
		return false
	}
	if e.more == nil {
		*c = state{}
		return true
	}
	more := *e.more
	*c = more[len(more)-1]
	if len(more) == 1 {
		e.more = nil
	} else {
		*e.more = more[:len(more)-1]
	}
	return false
}

// keepLive drops the states expired at now and reports whether any is
// left, and the soonest expiry of those left (math.MaxInt64 if none).
func (e *entry[K]) keepLive(now int64) (live bool, next int64) {
	next = math.MaxInt64
	var kept []state
	for i := range e.len() {
		if st := e.at(i); st.expireAt > now {
			kept = append(kept, *st)
			next = min(next, st.expireAt)
		}
	}
	if len(kept) == 0 {
		return false, next
	}
	e.first, e.more = kept[0], nil
	if len(kept) > 1 {
		more := kept[1:]
		e.more = &more
	}
	return true, next
}

// decide decides a request under every policy of ps; sh.mu is held. Each
// policy's state, when present and not expired, is its stored state;
// otherwise the key is fresh under it.
func (sh *shard[K]) decide(s *Store, key K, h uint64, ps []*store.Policy, cost, now int64, each []algo.Decision) algo.Decision {
	e := sh.idx.get(h, key)
	if len(ps) == 1 {
		d := sh.decideOne(s, key, h, e, ps[0], cost, now)
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
			if c := e.find(p.ID()); c != nil && c.expireAt > now {
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
		for i := range ps {
			if cur[i] != nil {
				cur[i].st, cur[i].expireAt = next[i], expireAt[i]
			}
			sh.nextExp = min(sh.nextExp, expireAt[i])
		}
		for i, p := range ps {
			if cur[i] == nil {
				e = sh.add(s, key, h, e, state{id: p.ID(), st: next[i], expireAt: expireAt[i]}, now)
			}
		}
	}
	if each != nil {
		copy(each, ds[:len(ps)])
	}
	return storeutil.Combine(ds[:len(ps)])
}

// decideOne is decide for a single policy, the common case, with no copies.
func (sh *shard[K]) decideOne(s *Store, key K, h uint64, e *entry[K], p *store.Policy, cost, now int64) algo.Decision {
	if e != nil {
		if c := e.find(p.ID()); c != nil {
			// An expired state decides as a fresh key; the step leaves it
			// as it is unless the request is charged, so an expired state
			// that nothing replaced stays until its key is written or its
			// shard swept: a read has no side effect, and with a clock
			// that steps back a Peek cannot make the key fresh early.
			d, exp, keep := p.Step((*[3]int64)(&c.st), c.expireAt <= now, now, cost)
			if keep {
				c.expireAt = exp
				sh.nextExp = min(sh.nextExp, exp)
			}
			return d
		}
	}
	var fresh steps.Slots
	d, exp, keep := p.Step((*[3]int64)(&fresh), true, now, cost)
	if keep {
		sh.add(s, key, h, e, state{id: p.ID(), st: fresh, expireAt: exp}, now)
		sh.nextExp = min(sh.nextExp, exp)
	}
	return d
}

// add stores st under key (hash h), whose entry is e (nil: none yet),
// making room when the shard is full, and returns the key's entry.
func (sh *shard[K]) add(s *Store, key K, h uint64, e *entry[K], st state, now int64) *entry[K] {
	if e != nil {
		e.put(st)
		return e
	}
	if sh.idx.n >= sh.cap {
		if now >= sh.nextExp {
			sh.sweep(now)
		}
		if sh.idx.n >= sh.cap {
			sh.evict(now)
			s.liveEvictions.Add(1)
		}
	}
	e = &entry[K]{key: key, first: st}
	sh.idx.put(h, e)
	return e
}

// sweep drops expired states, and keys left with none, and makes nextExp
// exact. sh.mu is held.
func (sh *shard[K]) sweep(now int64) {
	next := int64(math.MaxInt64)
	sh.idx.filter(func(e *entry[K]) bool {
		live, n := e.keepLive(now)
		next = min(next, n)
		return live
	})
	sh.nextExp = next
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
		if w, exp := e.weight(now); victim == nil || w < least || w == least && exp < soonest {
			victim, victimHash, least, soonest = e, h, w, exp
		}
	})
	if victim != nil {
		sh.idx.remove(victimHash, victim.key)
	}
}

// weight is what evicting the key would admit at once: the most, over its
// live states, of the quota used (Limit − Remaining, as a peek reports),
// and the latest of their expiries.
func (e *entry[K]) weight(now int64) (used, expireAt int64) {
	for i := range e.len() {
		st := e.at(i)
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
