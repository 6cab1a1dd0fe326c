package throttled_test

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// TestLimitAllocatesNothing: with one quota, a decision (allowed, denied
// or a Peek) through the facade and through a typed limiter with a struct
// key allocates nothing on the memory store.
func TestLimitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	mem, err := memstore.New(memstore.WithClock(store.NewFakeClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	const rate = 1_000_000
	th := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuota(throttled.PerSec(rate)))
	type key struct {
		Tenant uint32
		User   uint64
	}
	tl, err := typed.New[key](typed.WithStore(memstore.For[key](mem)), typed.WithQuota(throttled.PerSec(rate)))
	if err != nil {
		t.Fatal(err)
	}
	denied := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuota(throttled.PerDay(1)))
	th.Limit(ctx, "k", 1)
	tl.Limit(ctx, key{1, 2}, 1)
	denied.Limit(ctx, "d", 1)
	for name, f := range map[string]func(){
		"throttled.Limit":           func() { th.Limit(ctx, "k", 1) },
		"throttled.Peek":            func() { th.Peek(ctx, "k") },
		"throttled.Limit, denied":   func() { denied.Limit(ctx, "d", 1) },
		"typed.Limit with a struct": func() { tl.Limit(ctx, key{1, 2}, 1) },
		"typed.Peek with a struct":  func() { tl.Peek(ctx, key{1, 2}) },
		"typed.Peek of a fresh key": func() { tl.Peek(ctx, key{3, 4}) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per decision, want 0", name, n)
		}
	}
	// The decisions were made (AllocsPerRun runs f once more to warm up),
	// on a clock that stands still.
	if st, _ := th.Peek(ctx, "k"); st.Remaining != rate-1-1001 {
		t.Fatalf("Peek after 1002 decisions = %v, want %d left", st, rate-1-1001)
	}
	if st, _ := tl.Peek(ctx, key{1, 2}); st.Remaining != rate-1-1001 {
		t.Fatalf("typed Peek after 1002 decisions = %v, want %d left", st, rate-1-1001)
	}
	if r, _ := denied.Limit(ctx, "d", 1); !r.Limited {
		t.Fatalf("Limit of the daily quota = %v, want limited", r)
	}
}

// BenchmarkLimitQuotas measures a Limit with one quota and with two on
// the memory store, one key, serial (quotas=2 / quotas=1 is the price of
// the second quota).
func BenchmarkLimitQuotas(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		quotas []throttled.Quota
	}{
		{"quotas=1/store=memory", []throttled.Quota{throttled.PerSec(1_000_000_000)}},
		{"quotas=2/store=memory", []throttled.Quota{throttled.PerSec(1_000_000_000), throttled.PerDay(1 << 50).WithAlgorithm(throttled.FixedWindow)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mem, err := memstore.New()
			if err != nil {
				b.Fatal(err)
			}
			l := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuotas(bc.quotas...))
			b.ReportAllocs()
			for b.Loop() {
				if r, err := l.Limit(ctx, "k", 1); err != nil || r.Limited {
					b.Fatal(r, err)
				}
			}
		})
	}
}
