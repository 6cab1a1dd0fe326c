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
	m       map[K]*entry
	cap     int
	nextExp int64 // no state expires before this time (a lower bound)
	_       [40]byte
}

// entry is one key's states, one per policy that has charged it.
type entry struct {
	states []state
	one    [1]state // the first state, so a key of one policy is one allocation
}

// state is a key's state under one policy.
type state struct {
	id       store.PolicyID
	st       steps.Slots
	expireAt int64        // µs; the state is back to initial (absent) from this time on
	params   *algo.Params // the policy's, to weigh the state for eviction
}

func newEntry() *entry {
	e := &entry{}
	e.states = e.one[:0]
	return e
}

// find returns the state of policy id, nil if there is none.
func (e *entry) find(id store.PolicyID) *state {
	for i := range e.states {
		if e.states[i].id == id {
			return &e.states[i]
		}
	}
	return nil
}

// put stores s in place of its policy's state, or after the others. Other
// policies' expired states stay until a sweep under memory pressure drops
// them, as reads keep them: with a clock that steps back before their
// expiry, they still decide.
func (e *entry) put(s state) {
	for i := range e.states {
		if e.states[i].id == s.id {
			e.states[i] = s
			return
		}
	}
	e.states = append(e.states, s)
}

// remove deletes the state of policy id, if any.
func (e *entry) remove(id store.PolicyID) {
	for i := range e.states {
		if e.states[i].id == id {
			last := len(e.states) - 1
			e.states[i] = e.states[last]
			e.states = e.states[:last]
			return
		}
	}
}

// decide decides a request under every policy of ps; sh.mu is held. Each
// policy's state, when present and not expired, is its stored state;
// otherwise the key is fresh under it.
func (sh *shard[K]) decide(s *Store, key K, ps []*store.Policy, cost, now int64, each []algo.Decision) algo.Decision {
	e := sh.m[key]
	if len(ps) == 1 {
		d := sh.decideOne(s, key, e, ps[0], cost, now)
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
				e = sh.add(s, key, e, state{id: p.ID(), st: next[i], expireAt: expireAt[i], params: p.Params()}, now)
			}
		}
	}
	if each != nil {
		copy(each, ds[:len(ps)])
	}
	return storeutil.Combine(ds[:len(ps)])
}

// decideOne is decide for a single policy, the common case, with no copies.
func (sh *shard[K]) decideOne(s *Store, key K, e *entry, p *store.Policy, cost, now int64) algo.Decision {
	var cur *state
	if e != nil {
		if c := e.find(p.ID()); c != nil && c.expireAt > now {
			cur = c
		}
	}
	if cur != nil {
		d, exp, keep := p.Step((*[3]int64)(&cur.st), false, now, cost)
		if keep {
			cur.expireAt = exp
			sh.nextExp = min(sh.nextExp, exp)
		}
		return d
	}
	var fresh steps.Slots
	d, exp, keep := p.Step((*[3]int64)(&fresh), true, now, cost)
	if keep {
		sh.add(s, key, e, state{id: p.ID(), st: fresh, expireAt: exp, params: p.Params()}, now)
		sh.nextExp = min(sh.nextExp, exp)
	}
	// An expired state that nothing replaced stays until its key is written
	// or its shard swept: a read has no side effect, so with a clock that
	// steps back a Peek cannot make the key fresh early.
	return d
}

// add stores st under key, whose entry is e (nil: none yet), making room
// when the shard is full, and returns the key's entry.
func (sh *shard[K]) add(s *Store, key K, e *entry, st state, now int64) *entry {
	if e != nil {
		e.put(st)
		return e
	}
	if len(sh.m) >= sh.cap {
		if now >= sh.nextExp {
			sh.sweep(now)
		}
		if len(sh.m) >= sh.cap {
			sh.evict(now)
			s.liveEvictions.Add(1)
		}
	}
	if sh.m == nil {
		sh.m = make(map[K]*entry)
	}
	e = newEntry()
	e.states = append(e.states, st)
	sh.m[key] = e
	return e
}

// sweep drops expired states, and keys left with none, and makes nextExp
// exact. sh.mu is held.
func (sh *shard[K]) sweep(now int64) {
	next := int64(math.MaxInt64)
	for k, e := range sh.m {
		live := e.states[:0]
		for _, st := range e.states {
			if st.expireAt > now {
				live = append(live, st)
				next = min(next, st.expireAt)
			}
		}
		e.states = live
		if len(live) == 0 {
			delete(sh.m, k)
		}
	}
	sh.nextExp = next
}

// evict drops, of a few keys, the one whose loss admits the least: the one
// that has used the least of its quota right now, in requests (Limit −
// Remaining of a peek), under the policy where it used the most; of keys
// that used as much, the one whose states expire soonest. A key that has
// used its quota is thus kept over the keys of a flood, fresh or not, that
// each used less. sh.mu is held, on a shard without expired state.
func (sh *shard[K]) evict(now int64) {
	var victim K
	found, least, soonest, n := false, int64(math.MaxInt64), int64(math.MaxInt64), 0
	for k, e := range sh.m { // map iteration starts at a random place
		if w, exp := e.weight(now); w < least || w == least && exp < soonest {
			victim, least, soonest, found = k, w, exp, true
		}
		if n++; n == evictionSample {
			break
		}
	}
	if found {
		delete(sh.m, victim)
	}
}

// weight is what evicting the key would admit at once: the most, over its
// live states, of the quota used (Limit − Remaining, as a peek reports),
// and the latest of their expiries.
func (e *entry) weight(now int64) (used, expireAt int64) {
	for i := range e.states {
		st := &e.states[i]
		if st.expireAt <= now {
			continue
		}
		slots := st.st
		d, _, _ := steps.Step(&slots, false, st.params, now, 0)
		used = max(used, st.params.Max-d.Remaining)
		expireAt = max(expireAt, st.expireAt)
	}
	return used, expireAt
}
