package typed_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// TestQuotaErrorSaysWhich: a bad quota among several is named by its
// position; a limiter's one quota needs no position.
func TestQuotaErrorSaysWhich(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []typed.Option
		want string
	}{
		{"one quota", []typed.Option{typed.WithQuota(algo.PerMin(0))},
			"throttled: invalid limit 0: must be at least 1"},
		{"second of two", []typed.Option{typed.WithQuotas(algo.PerSec(10), algo.PerMin(0))},
			"throttled: invalid limit 0: must be at least 1 (quota 2 of 2: 0/m)"},
		{"first of three", []typed.Option{typed.WithQuotas(algo.PerMin(10).WithBurst(-2), algo.PerSec(10), algo.PerHour(5))},
			"throttled: invalid burst -2: must be at least 1 (or 0 for the default, equal to limit) (quota 1 of 3: 10/m burst -2)"},
		{"quota func, third of three", []typed.Option{typed.WithQuotaFunc(quotaFuncOf[string](algo.PerSec(1), algo.PerMin(10), algo.PerHour(0)))},
			"throttled: invalid limit 0: must be at least 1 (quota 3 of 3: 0/h)"},
		// A quota exact on the store, whose copy scaled for FallBack is not.
		{"scaled for the fallback", []typed.Option{typed.WithQuota(algo.PerHour(3600).WithBurst(100_000_000)), typed.WithOutagePolicy(typed.FallBack(7))},
			`throttled: invalid quota "515/h burst 14285715": not exact with token_bucket: burst×(period/gcd(period,limit)) = 14285715×720000000 exceeds 2^52; lower the burst or pick a limit that divides the period in µs`},
		{"scaled for the fallback, second of two", []typed.Option{typed.WithQuotas(algo.PerSec(1), algo.PerHour(3600).WithBurst(100_000_000)), typed.WithOutagePolicy(typed.FallBack(7))},
			`throttled: invalid quota "515/h burst 14285715": not exact with token_bucket: burst×(period/gcd(period,limit)) = 14285715×720000000 exceeds 2^52; lower the burst or pick a limit that divides the period in µs (quota 2 of 2: 515/h burst 14285715)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			l, err := typed.New[string](append([]typed.Option{typed.WithStore(s)}, tc.opts...)...)
			if err == nil {
				_, err = l.Limit(ctx, "k", 1) // the quota func's quotas are compiled on use
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
		})
	}
	// The store's quota itself is fine.
	if _, err := typed.New[string](typed.WithQuota(algo.PerHour(3600).WithBurst(100_000_000))); err != nil {
		t.Fatalf("the unscaled quota: %v", err)
	}
}

// TestMaxQuotas: a limiter, or a quota function, may give a key
// store.MaxPolicies quotas; each is charged.
func TestMaxQuotas(t *testing.T) {
	qs := make([]algo.Quota, store.MaxPolicies)
	for i := range qs {
		qs[i] = algo.PerSec(int64(i + 2))
	}
	s, _ := newStore(t)
	for name, opt := range map[string]typed.Option{
		"WithQuotas":    typed.WithQuotas(qs...),
		"WithQuotaFunc": typed.WithQuotaFunc(quotaFuncOf[string](qs...)),
	} {
		t.Run(name, func(t *testing.T) {
			l := must(typed.New[string](typed.WithStore(s), opt)).of(t)
			key := fmt.Sprint(name, ":k")
			r := must(l.Limit(ctx, key, 1)).of(t)
			if r.Limited || len(r.Quotas) != store.MaxPolicies || r.State.Remaining != 1 || r.State.Limit != 2 || *r.Quota != qs[0].WithAlgorithm(algo.TokenBucket) {
				t.Fatalf("Limit under %d quotas: %v %+v", store.MaxPolicies, r, r.Quotas)
			}
			for i, q := range r.Quotas {
				if q.State.Remaining != int64(i+1) {
					t.Fatalf("quota %d: %+v, want Remaining %d", i, q, i+1)
				}
			}
		})
	}
}

// TestResultQuotaTie: of several quotas with the least Remaining, Result
// names the first in the limiter's order, with its Limit.
func TestResultQuotaTie(t *testing.T) {
	fast := algo.PerSec(4).WithName("fast")                                      // a token every 250ms, burst 4
	hourly := algo.PerHour(6).WithAlgorithm(algo.FixedWindow).WithName("hourly") // 6 a window
	for _, order := range [][]algo.Quota{{fast, hourly}, {hourly, fast}} {
		t.Run(order[0].Name+"_first", func(t *testing.T) {
			s, fc := newStore(t)
			l := must(typed.New[string](typed.WithStore(s), typed.WithQuotas(order...))).of(t)
			must(l.Limit(ctx, "k", 4)).of(t) // fast 0 left, hourly 2
			fc.Advance(500 * time.Millisecond)
			for _, cost := range []int64{0, 3} { // a peek, and a denial
				r := must(l.Limit(ctx, "k", cost)).of(t)
				if r.State.Remaining != 2 || r.Quotas[0].State.Remaining != 2 || r.Quotas[1].State.Remaining != 2 {
					t.Fatalf("cost %d: %v %+v; want 2 left under both quotas", cost, r, r.Quotas)
				}
				first := order[0]
				first.Algorithm = r.Quotas[0].Quota.Algorithm
				if *r.Quota != first || r.State.Limit != r.Quotas[0].State.Limit {
					t.Fatalf("cost %d: Quota %+v with Limit %d, want the first, %+v with Limit %d", cost, *r.Quota, r.State.Limit, first, r.Quotas[0].State.Limit)
				}
			}
		})
	}
}
