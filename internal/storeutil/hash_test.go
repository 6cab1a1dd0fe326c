package storeutil

import "testing"

// TestHasher: equal values hash alike under one Hasher, string kinds take
// their string's hash, values of other types hash by value, and two
// Hashers differ (each has its own key).
func TestHasher(t *testing.T) {
	type name string
	hs, hn := Hasher[string](), Hasher[name]()
	a, b := hs("user:1"), hs("user:1")
	if a != b || hn("user:1") != hn(name("user:"+"1")) {
		t.Fatal("a Hasher is not deterministic")
	}
	if a == hs("user:2") {
		t.Fatal("two keys hash alike")
	}
	type pair struct{ a, b int }
	hp := Hasher[pair]()
	if x, y := hp(pair{1, 2}), hp(pair{1, 2}); x != y || x == hp(pair{2, 1}) {
		t.Fatal("comparable keys do not hash by value")
	}
	same := 0
	for i := range 8 {
		h1, h2 := Hasher[int](), Hasher[int]()
		if h1(i) == h2(i) {
			same++
		}
	}
	if same == 8 {
		t.Fatal("Hashers share their key")
	}
}
