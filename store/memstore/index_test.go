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
			for _, s := range x.slots {
				if s.e != nil {
					held++
				}
			}
			if held != x.n {
				t.Fatalf("%s: %d occupied slots, n = %d", what, held, x.n)
			}
			if len(x.slots) > 0 && x.n*4 > len(x.slots)*3 {
				t.Fatalf("%s: %d of %d slots used, above 3/4", what, x.n, len(x.slots))
			}
			for k, h := range model {
				if e := x.get(h, k); e == nil || e.key != k {
					t.Fatalf("%s: key %d (hash %#x) not found", what, k, h)
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

// TestEntrySize: a key of one policy with a string key is one 64-byte
// allocation, a cache line.
func TestEntrySize(t *testing.T) {
	if n := sizeofEntry(); n != 64 {
		t.Fatalf("entry[string] is %d bytes, want 64", n)
	}
}

func sizeofEntry() uintptr { return unsafe.Sizeof(entry[string]{}) }
