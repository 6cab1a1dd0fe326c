package redisstore

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// TestFromURLSentinel reaches the master through a real Sentinel with the
// master_set URL form, and checks the state lands on the master, under one
// policy and under two.
func TestFromURLSentinel(t *testing.T) {
	srv := redistest.Sentinel(t)
	s, err := FromURL(srv.URL(), WithTimeout(testTimeout))
	if err != nil {
		t.Fatalf("FromURL(%q): %v", srv.URL(), err)
	}
	defer s.Close()
	ctx := context.Background()
	p := pol(t, algo.GCRA, algo.PerMin(2))
	for i, wantLimited := range []bool{false, false, true} {
		d, err := s.Decide(ctx, "via-sentinel", []*store.Policy{p}, 1, nil)
		if err != nil {
			t.Fatalf("decision %d: %v", i, err)
		}
		if d.Limited != wantLimited {
			t.Fatalf("decision %d: %+v, want limited=%v", i, d, wantLimited)
		}
	}
	if got := srv.Master.Do(t, "EXISTS", s.Key("via-sentinel", p)); got != "1" {
		t.Fatalf("the state is not on the master: EXISTS = %q", got)
	}
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerMin(5)), pol(t, algo.SlidingWindow, algo.PerHour(1))}
	for i, wantLimited := range []bool{false, true} {
		d, err := s.Decide(ctx, "two", ps, 1, nil)
		if err != nil || d.Limited != wantLimited {
			t.Fatalf("decision %d under two policies: %+v, %v; want limited=%v", i, d, err, wantLimited)
		}
	}
	if got := srv.Master.Do(t, "EXISTS", s.Key("two", ps[0]), s.Key("two", ps[1])); got != "2" {
		t.Fatalf("the two policies' states are not on the master: EXISTS = %q", got)
	}
}
