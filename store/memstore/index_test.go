package memstore

import (
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// TestIndexModel runs random puts, removes, lookups, filters and samples
// on an index and on a Go map side by side. Hashes are drawn from a few
// values so that keys collide on the full hash, on the home slot, and in
// runs that wrap around the end of the slot array: every probe and every
// backward shift is exercised.
func TestIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var x index[int]
		model := map[int]uint64{} // key → hash
		hashOf := map[int]uint64{}
		hash := func(k int) uint64 {
			if h, ok := hashOf[k]; ok {
				return h
			}
			// High bits pick the home slot: few distinct values, so runs
			// form; some hashes are equal outright.
			h := rapid.Uint64Range(0, 7).Draw(t, "home")<<32 | rapid.Uint64Range(0, 3).Draw(t, "low")
			if rapid.Bool().Draw(t, "high") {
				h |= 0xffff_fff8 << 32 // homes at the end of the array: runs wrap
			}
			hashOf[k] = h
			return h
		}
		check := func(what string) {
			if x.n != len(model) {
				t.Fatalf("%s: n = %d, model holds %d", what, x.n, len(model))
			}
			held := 0
			x.each(func(uint64, *entry[int]) { held++ })
			if held != x.n {
				t.Fatalf("%s: %d occupied slots, n = %d", what, held, x.n)
			}
			if tab := x.tab.Load(); tab != nil && x.n*4 > len(tab.slots)*3 {
				t.Fatalf("%s: %d of %d slots used, above 3/4", what, x.n, len(tab.slots))
			}
			for k, h := range model {
				if e := x.get(h, k); e == nil || e.key != k {
					t.Fatalf("%s: key %d (hash %#x) not found", what, k, h)
				}
				// candidate finds an entry of the same hash: k's, or one
				// before it in k's probe.
				if c := x.candidate(h); c == nil || model[c.key] != h {
					t.Fatalf("%s: candidate(%#x) = %v, want an entry of that hash (key %d has it)", what, h, c, k)
				}
			}
		}
		for range rapid.IntRange(1, 200).Draw(t, "ops") {
			k := rapid.IntRange(0, 40).Draw(t, "key")
			h := hash(k)
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1:
				if _, ok := model[k]; !ok {
					x.put(h, &entry[int]{key: k})
					model[k] = h
				}
			case 2:
				x.remove(h, k)
				delete(model, k)
			case 3:
				_, want := model[k]
				if got := x.get(h, k) != nil; got != want {
					t.Fatalf("get(%d) found %v, want %v", k, got, want)
				}
			case 4:
				drop := rapid.IntRange(0, 3).Draw(t, "dropMod")
				x.filter(func(e *entry[int]) bool { return e.key%4 != drop })
				for k := range model {
					if k%4 == drop {
						delete(model, k)
					}
				}
			case 5:
				n := rapid.IntRange(0, 10).Draw(t, "sample")
				seen := map[int]bool{}
				x.sample(n, func(h uint64, e *entry[int]) {
					if seen[e.key] || model[e.key] != h {
						t.Fatalf("sample gave key %d (hash %#x) twice or not held", e.key, h)
					}
					seen[e.key] = true
				})
				if want := min(n, len(model)); len(seen) != want {
					t.Fatalf("sample(%d) gave %d entries, want %d", n, len(seen), want)
				}
			}
			check("after op")
		}
	})
}

// TestIndexSizes: the slot array doubles when a put would fill more than
// 3/4 of it (8 slots hold 6 keys, the 7th makes 16), and a filter halves
// it while at most 1/4 would be used, down to 8.
func TestIndexSizes(t *testing.T) {
	var x index[int]
	size := func() int { return len(x.tab.Load().slots) }
	for k := range 6 {
		x.put(uint64(k)<<32, &entry[int]{key: k})
	}
	if size() != 8 {
		t.Fatalf("6 keys in %d slots, want 8", size())
	}
	x.put(6<<32, &entry[int]{key: 6})
	if size() != 16 {
		t.Fatalf("7 keys in %d slots, want 16", size())
	}
	for k := 7; k < 48; k++ {
		x.put(uint64(k)<<32, &entry[int]{key: k})
	}
	if size() != 64 {
		t.Fatalf("48 keys in %d slots, want 64", size())
	}
	x.filter(func(e *entry[int]) bool { return e.key < 4 }) // 4 of 64: halved to 8
	if size() != 8 || x.n != 4 {
		t.Fatalf("after keeping 4 keys: %d slots, n %d; want 8 and 4", size(), x.n)
	}
	x.filter(func(e *entry[int]) bool { return e.key < 1 })
	if size() != 8 {
		t.Fatalf("after keeping 1 key: %d slots, want 8 (the least)", size())
	}
	for k := range 1 {
		if x.get(uint64(k)<<32, k) == nil {
			t.Fatalf("key %d lost", k)
		}
	}
}

// TestEntrySize: a key of one policy with a string key is one 64-byte
// allocation (64-byte aligned, so one cache line), its lock first and its
// state next to it.
func TestEntrySize(t *testing.T) {
	var e entry[string]
	if n := unsafe.Sizeof(e); n != 64 {
		t.Fatalf("entry[string] is %d bytes, want 64", n)
	}
	if end := unsafe.Offsetof(e.first) + unsafe.Sizeof(e.first); unsafe.Offsetof(e.mu) != 0 || end > 48 {
		t.Fatalf("the lock at %d and the first state ending at %d, want 0 and at most 48", unsafe.Offsetof(e.mu), end)
	}
}
