package memstore

import "math/rand/v2"

// index maps a shard's keys to their entries: open addressing with linear
// probing over (hash, entry) slots, at most 3/4 full, with backward-shift
// deletion (no tombstones). A lookup reads one slot array and the entry
// it finds, and compares keys only when their 64-bit hashes match: two
// cache lines for a key, where a Go map reads its directory, table,
// control word and slot first. The zero index is empty.
type index[K comparable] struct {
	slots []slot[K] // len 0 or a power of two
	n     int       // occupied slots
}

// slot is one position of an index; e is nil when it is free.
type slot[K comparable] struct {
	h uint64 // the key's hash; its low bits picked the shard, its high bits the slot
	e *entry[K]
}

// home is the slot where a probe for h starts: the hash's high bits, as
// its low bits are the same for every key of a shard.
func (x *index[K]) home(h uint64) uint64 { return (h >> 32) & uint64(len(x.slots)-1) }

// get returns key's entry (hash h), nil if there is none.
func (x *index[K]) get(h uint64, key K) *entry[K] {
	if x.n == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(h); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.e == nil {
			return nil
		}
		if s.h == h && s.e.key == key {
			return s.e
		}
	}
}

// put adds e, whose key (hash h) the index does not hold.
func (x *index[K]) put(h uint64, e *entry[K]) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(8, 2*len(x.slots)))
	}
	mask := uint64(len(x.slots) - 1)
	i := x.home(h)
	for x.slots[i].e != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = slot[K]{h: h, e: e}
	x.n++
}

// resize moves the entries to a slot array of size n.
func (x *index[K]) resize(n int) {
	old := x.slots
	x.slots, x.n = make([]slot[K], n), 0
	for _, s := range old {
		if s.e != nil {
			x.put(s.h, s.e)
		}
	}
}

// remove deletes key (hash h), if the index holds it.
func (x *index[K]) remove(h uint64, key K) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(h); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.e == nil {
			return
		}
		if s.h == h && s.e.key == key {
			x.removeAt(i)
			return
		}
	}
}

// removeAt frees slot i and shifts back the slots after it that probed
// past it, so every entry stays reachable from its home without
// tombstones.
func (x *index[K]) removeAt(i uint64) {
	mask := uint64(len(x.slots) - 1)
	for j := (i + 1) & mask; x.slots[j].e != nil; j = (j + 1) & mask {
		// The entry at j may move to the hole at i iff its home is not in
		// the cyclic range (i, j].
		if home := x.home(x.slots[j].h); (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot[K]{}
	x.n--
}

// filter keeps the entries for which keep returns true and rebuilds the
// slot array, halving it while it is at most 1/4 full.
func (x *index[K]) filter(keep func(*entry[K]) bool) {
	old := x.slots
	size := len(old)
	for size > 8 && x.n*4 <= size {
		size /= 2
	}
	x.slots, x.n = make([]slot[K], size), 0
	for _, s := range old {
		if s.e != nil && keep(s.e) {
			x.put(s.h, s.e)
		}
	}
}

// sample calls f on up to n entries, from a random slot on: the
// candidates of an eviction. It stops early when f returns false.
func (x *index[K]) sample(n int, f func(h uint64, e *entry[K])) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	i := rand.Uint64() & mask
	for seen := 0; seen < n && seen < x.n; i = (i + 1) & mask {
		if s := &x.slots[i]; s.e != nil {
			f(s.h, s.e)
			seen++
		}
	}
}
