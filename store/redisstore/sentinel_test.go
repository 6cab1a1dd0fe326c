package redisstore

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
)

// TestFromURLSentinel reaches the master through a real Sentinel with the
// master_set URL form, and checks the state lands on the master.
func TestFromURLSentinel(t *testing.T) {
	srv := redistest.Sentinel(t)
	s, err := FromURL(srv.URL())
	if err != nil {
		t.Fatalf("FromURL(%q): %v", srv.URL(), err)
	}
	defer s.Close()
	ctx := context.Background()
	p, err := algo.Compile(algo.GCRA, algo.PerMin(2))
	if err != nil {
		t.Fatal(err)
	}
	for i, wantLimited := range []bool{false, false, true} {
		d, err := s.Decide(ctx, "via-sentinel", &p, 1)
		if err != nil {
			t.Fatalf("decision %d: %v", i, err)
		}
		if d.Limited != wantLimited {
			t.Fatalf("decision %d: %+v, want limited=%v", i, d, wantLimited)
		}
	}
	if got := srv.Master.Do(t, "EXISTS", s.Key("via-sentinel", algo.GCRA)); got != "1" {
		t.Fatalf("the state is not on the master: EXISTS = %q", got)
	}
}
