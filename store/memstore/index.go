package memstore

import (
	"math/rand/v2"
	"sync/atomic"
)

// index maps a shard's keys to their entries: open addressing with linear
// probing over (hash, entry) slots, at most 3/4 full, with backward-shift
// deletion (no tombstones). A lookup reads one slot array and the entry
// it finds, and compares keys only when their 64-bit hashes match: two
// cache lines for a key, where a Go map reads its directory, table,
// control word and slot first.
//
// Writers hold the shard's lock. Readers may not: get is safe without it
// (every slot field is atomic, and a grown or swept index is a new table),
// but it may then miss a key that a writer is moving, or find an entry
// that a writer has just removed (entry.live tells). A reader without the
// lock takes a miss to the locked path, which looks again. The zero index
// is empty.
type index[K comparable] struct {
	tab atomic.Pointer[table[K]] // nil while empty
	n   int                      // occupied slots; under the shard's lock
}

// table is an index's slot array.
type table[K comparable] struct {
	slots []slot[K] // a power of two
	mask  uint64
}

// slot is one position of a table; e is nil when it is free. A writer
// stores h before e and clears e before h, so a reader that loads e and
// then h sees e's hash or, for a slot being rewritten, a hash that fails
// its comparison.
type slot[K comparable] struct {
	h atomic.Uint64 // the key's hash; its low bits picked the shard, its high bits the slot
	e atomic.Pointer[entry[K]]
}

func newTable[K comparable](size int) *table[K] {
	return &table[K]{slots: make([]slot[K], size), mask: uint64(size - 1)}
}

// home is the slot where a probe for h starts: the hash's high bits, as
// its low bits are the same for every key of a shard.
func (t *table[K]) home(h uint64) uint64 { return (h >> 32) & t.mask }

// get returns key's entry (hash h), nil if there is none.
func (x *index[K]) get(h uint64, key K) *entry[K] {
	t := x.tab.Load()
	if t == nil {
		return nil
	}
	for i := t.home(h); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		e := s.e.Load()
		if e == nil {
			return nil
		}
		if s.h.Load() == h && e.key == key {
			return e
		}
	}
}

// candidate returns the first entry whose hash is h, nil if there is none:
// get without comparing keys, so without reading the entry. The caller
// compares the key, and calls get when it differs (keys whose 64-bit
// hashes collide).
//
// It is written to be small enough for Go to inline (decideOne calls it on
// every decision).
func (x *index[K]) candidate(h uint64) *entry[K] {
	t := x.tab.Load()
	if t == nil {
		return nil
	}
	for i := h >> 32; ; i++ { // i&t.mask starts at t.home(h)
		s := &t.slots[i&t.mask]
		if e := s.e.Load(); e == nil || s.h.Load() == h {
			return e
		}
	}
}

// put adds e, whose key (hash h) the index does not hold.
func (x *index[K]) put(h uint64, e *entry[K]) {
	t := x.tab.Load()
	if t == nil || (x.n+1)*4 > len(t.slots)*3 {
		size := 8
		if t != nil {
			size = 2 * len(t.slots)
		}
		t = x.rebuild(size)
	}
	i := t.home(h)
	for t.slots[i].e.Load() != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i].h.Store(h)
	t.slots[i].e.Store(e)
	x.n++
}

// rebuild moves the entries to a new table of size slots, publishes it
// and returns it.
func (x *index[K]) rebuild(size int) *table[K] {
	var all []held[K]
	x.each(func(h uint64, e *entry[K]) { all = append(all, held[K]{h, e}) })
	return x.publish(size, all)
}

// held is an entry and its hash, on their way to a new table.
type held[K comparable] struct {
	h uint64
	e *entry[K]
}

// publish makes a table of size slots holding hs the index's table.
func (x *index[K]) publish(size int, hs []held[K]) *table[K] {
	nt := newTable[K](size)
	for _, he := range hs {
		h, e := he.h, he.e
		j := nt.home(h)
		for nt.slots[j].e.Load() != nil {
			j = (j + 1) & nt.mask
		}
		nt.slots[j].h.Store(h)
		nt.slots[j].e.Store(e)
	}
	x.tab.Store(nt)
	x.n = len(hs)
	return nt
}

// remove deletes key (hash h), if the index holds it.
func (x *index[K]) remove(h uint64, key K) {
	t := x.tab.Load()
	if t == nil {
		return
	}
	for i := t.home(h); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		e := s.e.Load()
		if e == nil {
			return
		}
		if s.h.Load() == h && e.key == key {
			t.removeAt(i)
			x.n--
			return
		}
	}
}

// removeAt frees slot i and shifts back the slots after it that probed
// past it, so every entry stays reachable from its home without
// tombstones.
func (t *table[K]) removeAt(i uint64) {
	for j := (i + 1) & t.mask; ; j = (j + 1) & t.mask {
		e := t.slots[j].e.Load()
		if e == nil {
			break
		}
		// The entry at j may move to the hole at i iff its home is not in
		// the cyclic range (i, j].
		h := t.slots[j].h.Load()
		if home := t.home(h); (j-home)&t.mask >= (j-i)&t.mask {
			t.slots[i].h.Store(h)
			t.slots[i].e.Store(e)
			i = j
		}
	}
	t.slots[i].e.Store(nil)
	t.slots[i].h.Store(0)
}

// filter keeps the entries for which keep returns true (it runs once on
// each), in a new table, halved while it would be at most 1/4 full.
func (x *index[K]) filter(keep func(*entry[K]) bool) {
	var kept []held[K]
	x.each(func(h uint64, e *entry[K]) {
		if keep(e) {
			kept = append(kept, held[K]{h, e})
		}
	})
	size := 8
	if t := x.tab.Load(); t != nil {
		size = len(t.slots)
	}
	for size > 8 && len(kept)*4 <= size {
		size /= 2
	}
	x.publish(size, kept)
}

// each calls f on every entry, with its hash.
func (x *index[K]) each(f func(h uint64, e *entry[K])) {
	if t := x.tab.Load(); t != nil {
		for i := range t.slots {
			if e := t.slots[i].e.Load(); e != nil {
				f(t.slots[i].h.Load(), e)
			}
		}
	}
}

// sample calls f on up to n entries, from a random slot on: the
// candidates of an eviction.
func (x *index[K]) sample(n int, f func(h uint64, e *entry[K])) {
	t := x.tab.Load()
	if t == nil || x.n == 0 {
		return
	}
	i := rand.Uint64() & t.mask
	for seen := 0; seen < n && seen < x.n; i = (i + 1) & t.mask {
		if e := t.slots[i].e.Load(); e != nil {
			f(t.slots[i].h.Load(), e)
			seen++
		}
	}
}
