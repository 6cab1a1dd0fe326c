package typed

import (
	"testing"

	"github.com/throttled-go/throttled/algo"
)

// TestPolicyCacheBound: a quota function's cache compiles each quota set
// once and holds at most maxCachedSets of them: the set past the bound
// starts a new cache holding only it.
func TestPolicyCacheBound(t *testing.T) {
	c := &policyCache{alg: algo.GCRA}
	first, err := c.policies([]algo.Quota{algo.PerDay(1)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(maxCachedSets) {
		qs := []algo.Quota{algo.PerDay(i + 1)}
		ps, err := c.policies(qs)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && ps != first {
			t.Fatalf("PerDay(1) asked again: compiled anew, want the cached set")
		}
		if again, _ := c.policies(qs); again != ps {
			t.Fatalf("PerDay(%d) asked twice: two sets, want the cached one", i+1)
		}
		if ps.ps[0].Algorithm() != algo.GCRA || ps.quotas[0].Limit != i+1 {
			t.Fatalf("PerDay(%d) compiled to %v", i+1, ps.quotas)
		}
		if n := len(c.m); n != int(i+1) {
			t.Fatalf("after %d sets the cache holds %d", i+1, n)
		}
	}
	newest := quotaSet{n: 1}
	newest.qs[0] = algo.PerDay(maxCachedSets + 1)
	over, err := c.policies(newest.qs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.m); n != 1 || c.m[newest] != over {
		t.Fatalf("past the bound the cache holds %d sets, want 1: only the newest", n)
	}
	if ps, _ := c.policies([]algo.Quota{algo.PerDay(1)}); ps == first {
		t.Fatalf("PerDay(1) after the cache started anew: the old set, want it compiled again")
	}
}
