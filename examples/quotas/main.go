// Command quotas shows a limiter with several quotas and quotas per key.
//
// An API allows each client 5 requests a second with bursts of 10 and 20
// a day: a request passes only if both quotas admit it, and then both are
// charged. Result.Quotas shows which quota bound. Then a quota function
// gives free and paying users different limits.
//
// It runs on the memory store with a fake clock, so its output is the same
// on every run.
package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

func main() {
	ctx := context.Background()
	clock := store.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}

	api, err := throttled.New(
		throttled.WithStore(mem),
		throttled.WithAlgorithm(throttled.GCRA), // for quotas that name none
		throttled.WithQuotas(
			throttled.PerSec(5).WithBurst(10).WithName("burst"),
			throttled.PerDay(20).WithAlgorithm(throttled.FixedWindow).WithName("daily"),
		),
	)
	if err != nil {
		log.Fatal(err)
	}
	// 12 requests at once: the burst quota binds after 10.
	for i := 1; i <= 12; i++ {
		r, err := api.Limit(ctx, "client-1", 1)
		if err != nil {
			log.Fatal(err)
		}
		if i >= 10 {
			fmt.Printf("request %2d: %s\n", i, describe(r))
		}
	}
	// Every second for 3 s, 5 more: the daily quota binds at 20.
	for s := 1; s <= 3; s++ {
		clock.Advance(time.Second)
		for range 5 {
			r, err := api.Limit(ctx, "client-1", 1)
			if err != nil {
				log.Fatal(err)
			}
			if r.Limited {
				fmt.Printf("after %ds: %s\n", s, describe(r))
				break
			}
		}
	}

	// Quotas per key: plans read at run time.
	plans := map[string]string{"alice": "free", "bob": "pro"}
	tiered, err := throttled.New(
		throttled.WithStore(mem),
		throttled.WithQuotaFunc(func(_ context.Context, user string) ([]throttled.Quota, error) {
			if plans[user] == "pro" {
				return []throttled.Quota{throttled.PerMin(1000).WithName("pro")}, nil
			}
			return []throttled.Quota{throttled.PerMin(10).WithName("free")}, nil
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		admitted := 0
		for range 50 {
			r, err := tiered.Limit(ctx, user, 1)
			if err != nil {
				log.Fatal(err)
			}
			if !r.Limited {
				admitted++
			}
		}
		st, err := tiered.Peek(ctx, user)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s): %d of 50 admitted, %d of %d left\n", user, plans[user], admitted, st.Remaining, st.Limit)
	}
}

// describe says whether r passed and, per quota, how much is left.
func describe(r throttled.Result) string {
	var b strings.Builder
	if r.Limited {
		fmt.Fprintf(&b, "limited, retry after %v;", r.State.RetryAfter)
	} else {
		b.WriteString("allowed;")
	}
	for _, q := range r.Quotas {
		mark := ""
		if q.Limited {
			mark = " (bound)"
		}
		fmt.Fprintf(&b, " %s %d/%d left%s", q.Quota.Name, q.State.Remaining, q.State.Limit, mark)
	}
	return b.String()
}
