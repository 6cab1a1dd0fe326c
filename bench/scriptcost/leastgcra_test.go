package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/internal/redistest"
)

// TestLeastGCRA checks that both least scripts make GCRA's decisions, so
// that their rows in scriptcost are a decision's cost: at 1 a second with
// a burst of 3, three requests pass (remaining 2, 1, 0), then requests are
// denied until about their cost's seconds on, a cost above the burst too,
// and a denial charges nothing; the key's TTL covers its reset time, and
// leastgcrakeep.lua keeps it on a write that needs no longer one.
func TestLeastGCRA(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	ctx := context.Background()
	const unit = int64(time.Second / time.Microsecond)
	// The requests run within a few ms of each other; the durations get
	// a tolerance of that much.
	const slack = int64(200 * time.Millisecond / time.Microsecond)
	near := func(got, want int64) bool { return got <= want && got >= want-slack }
	for _, sc := range []struct {
		name   string
		script *rueidis.Lua
	}{{"leastgcra.lua", leastGCRA}, {"leastgcrakeep.lua", leastGCRAKeep}} {
		t.Run(sc.name, func(t *testing.T) {
			pttl := func() int64 {
				ms, err := c.Do(ctx, c.B().Pttl().Key(sc.name).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				return ms
			}
			for i, want := range []int64{2, 1, 0} {
				d, err := callLeastGCRA(ctx, c, sc.script, sc.name, 1, unit, 3)
				if err != nil {
					t.Fatal(err)
				}
				if d.Limited || d.Remaining != want || d.RetryAfterUs != 0 || !near(d.ResetAfterUs, int64(i+1)*unit) {
					t.Fatalf("request %d: %+v, want allowed with %d remaining, reset after ~%d µs", i+1, d, want, int64(i+1)*unit)
				}
				if ms := pttl(); ms < (int64(i)+1)*1000-200 || ms > (int64(i)+1)*1000+2000 {
					t.Fatalf("after request %d the key's TTL is %d ms, want its reset time (%d s) or up to 2 s more", i+1, ms, i+1)
				}
			}
			for _, cost := range []int64{1, 4, 1} {
				d, err := callLeastGCRA(ctx, c, sc.script, sc.name, cost, unit, 3)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Limited || d.Remaining != 0 || !near(d.RetryAfterUs, cost*unit) || !near(d.ResetAfterUs, 3*unit) {
					t.Fatalf("cost %d after the burst: %+v, want denied, retry after ~%d µs, reset after ~%d µs", cost, d, cost*unit, 3*unit)
				}
			}
		})
	}
	// The KEEPTTL script: a write whose reset time is within the expiry
	// set before keeps the TTL. At one request every 400 ms, burst 10:
	// the first request sets the TTL to its reset time (400 ms) and a
	// second of headroom, the next two (reset 800 and 1200 ms) keep it,
	// the fourth (1600 ms) sets it anew, to 2600 ms.
	c.Do(ctx, c.B().Del().Key("keep").Build())
	var ttls []int64
	for range 4 {
		if _, err := callLeastGCRA(ctx, c, leastGCRAKeep, "keep", 1, 400_000, 10); err != nil {
			t.Fatal(err)
		}
		ms, err := c.Do(ctx, c.B().Pttl().Key("keep").Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		ttls = append(ttls, ms)
	}
	if ttls[0] < 1200 || ttls[0] > 1500 || ttls[1] > ttls[0] || ttls[2] > ttls[1] || ttls[3] < 2400 || ttls[3] > 2700 {
		t.Fatalf("TTLs after four requests: %v ms, want ~1400, kept twice (not above it), then ~2600", ttls)
	}
}
