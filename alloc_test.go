package throttled_test

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// TestLimitAllocatesNothing: a decision through the facade and through a
// typed limiter with a struct key allocates nothing on the memory store.
func TestLimitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New(memstore.WithSweepInterval(0))
	th := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuota(throttled.PerSec(1000)))
	type key struct {
		Tenant uint32
		User   uint64
	}
	tl, err := typed.New[key](typed.WithStore(mem), typed.WithQuota(throttled.PerSec(1000)))
	if err != nil {
		t.Fatal(err)
	}
	th.Limit(ctx, "k", 1)
	tl.Limit(ctx, key{1, 2}, 1)
	if n := testing.AllocsPerRun(1000, func() { th.Limit(ctx, "k", 1) }); n != 0 {
		t.Errorf("throttled.Limit: %v allocs per decision", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tl.Limit(ctx, key{1, 2}, 1) }); n != 0 {
		t.Errorf("typed.Limit with a struct key: %v allocs per decision", n)
	}
	if n := testing.AllocsPerRun(1000, func() { th.Peek(ctx, "k") }); n != 0 {
		t.Errorf("throttled.Peek: %v allocs", n)
	}
}
