package throttled_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// The examples run on a memory store with a fake clock that stands still
// unless an example moves it, so their output does not depend on when or
// how fast they run. Real programs leave out WithStore (one in-process
// store is shared by default) or pass memstore.New() or a Redis store.

// exampleStore returns a memory store whose clock reads t0
// (2023-11-09T00:00:00Z) until moved.
func exampleStore() (*memstore.Store, *store.FakeClock) {
	clk := store.NewFakeClock(t0)
	st, err := memstore.New(memstore.WithClock(clk))
	if err != nil {
		panic(err)
	}
	return st, clk
}

// throttled-py's quick start: a token bucket of 1,000 per second (burst 1,000)
// called 100,000 times on one key. On a clock that stands still, exactly
// the burst passes.
func ExampleNew() {
	st, _ := exampleStore()
	ctx := context.Background()

	t, err := throttled.New(
		throttled.WithAlgorithm(throttled.TokenBucket),              // throttled-py: using=token_bucket
		throttled.WithQuota(throttled.PerSec(1000).WithBurst(1000)), // 1,000 tokens per second, bucket of 1,000
		throttled.WithStore(st),
	)
	if err != nil {
		panic(err)
	}
	denied := 0
	for range 100_000 {
		res, err := t.Limit(ctx, "/ping", 1)
		if err != nil {
			panic(err)
		}
		if res.Limited {
			denied++
		}
	}
	fmt.Println("denied:", denied)

	// A bad option is an error naming the bad value.
	_, err = throttled.New(throttled.WithQuota(throttled.PerSec(0)))
	fmt.Println(err)
	fmt.Println(errors.Is(err, throttled.ErrInvalid))
	// Output:
	// denied: 99000
	// throttled: invalid limit 0: must be at least 1
	// true
}

// MustNew suits package-level limiters, whose options are fixed: it
// panics on a bad option. With no options it has throttled-py's
// defaults.
func ExampleMustNew() {
	limiter := throttled.MustNew()
	q := limiter.Quotas()[0]
	fmt.Println(q.Algorithm, q, limiter.Cost())
	// Output: token_bucket 60/m 1
}

// throttled-py's "Function Call" example. With the default quota, 60 per
// minute with a burst of 60, one token comes back every second.
func ExampleLimiter_Limit() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st))

	res, _ := t.Limit(ctx, "key", 1)
	fmt.Println(res)
	// 59 tokens left, and 60 asked: denied, and nothing is taken. The
	// missing token is back in 1s.
	res, _ = t.Limit(ctx, "key", 60)
	fmt.Println(res)
	// Output:
	// Result{Limited: false, State: State{Limit: 60, Remaining: 59, ResetAfter: 1s, RetryAfter: 0s}}
	// Result{Limited: true, State: State{Limit: 60, Remaining: 59, ResetAfter: 1s, RetryAfter: 1s}}
}

// Peek reports a key's state without consuming anything.
func ExampleLimiter_Peek() {
	st, clk := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(60)))

	fmt.Println(t.Peek(ctx, "key"))
	t.Limit(ctx, "key", 3)
	fmt.Println(t.Peek(ctx, "key"))
	clk.Advance(1500 * time.Millisecond) // 1.5 tokens back; Remaining counts whole ones
	fmt.Println(t.Peek(ctx, "key"))
	// Output:
	// State{Limit: 60, Remaining: 60, ResetAfter: 0s, RetryAfter: 0s} <nil>
	// State{Limit: 60, Remaining: 57, ResetAfter: 3s, RetryAfter: 0s} <nil>
	// State{Limit: 60, Remaining: 58, ResetAfter: 1.5s, RetryAfter: 0s} <nil>
}

// Wait decides at once when the request is allowed, and returns at once
// with a *LimitedError when it can never be. In between it sleeps until
// the request passes (see typed.Limiter.Wait).
func ExampleLimiter_Wait() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerSec(100).WithBurst(100)))

	res, err := t.Wait(ctx, "/ping", 10)
	fmt.Println(res.Limited, res.State.Remaining, err)

	// More than the bucket holds: no wait would help.
	res, err = t.Wait(ctx, "/ping", 101)
	fmt.Println(res.Limited, res.State.RetryAfter == throttled.Never)
	fmt.Println(err)
	// Output:
	// false 90 <nil>
	// true true
	// throttled: rate limit exceeded: remaining=90, reset_after=100ms, retry_after=never
}

// throttled-py's context manager: Do runs the block only when allowed.
func ExampleLimiter_Do() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1)))
	callAPI := func(ctx context.Context) error {
		fmt.Println("doing something...")
		return nil
	}

	if err := t.Do(ctx, "/api/v1/users/", callAPI); err != nil {
		fmt.Println(err)
	}
	if err := t.Do(ctx, "/api/v1/users/", callAPI); err != nil {
		fmt.Println(err)
	}
	// Output:
	// doing something...
	// throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s
}

// throttled-py's decorator, @Throttled(key="/ping", quota=per_min(1)).
func ExampleWrap() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1)))

	ping := throttled.Wrap(t, "/ping", func(ctx context.Context) error {
		fmt.Println("ping")
		return nil
	})
	fmt.Println(ping(ctx))
	fmt.Println(ping(ctx))
	// Output:
	// ping
	// <nil>
	// throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s
}

// Reset forgets a key, which starts fresh.
func ExampleLimiter_Reset() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerHour(1)))

	res, _ := t.Limit(ctx, "user:42", 1)
	fmt.Println("limited:", res.Limited)
	res, _ = t.Limit(ctx, "user:42", 1)
	fmt.Println("limited:", res.Limited, "retry after", res.State.RetryAfter)
	t.Reset(ctx, "user:42")
	res, _ = t.Limit(ctx, "user:42", 1)
	fmt.Println("limited:", res.Limited)
	// Output:
	// limited: false
	// limited: true retry after 1h0m0s
	// limited: false
}

// WithDefaultKey is throttled-py's key=: the empty key stands for it in
// every call.
func ExampleWithDefaultKey() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithDefaultKey("/api/products"), throttled.WithQuota(throttled.PerMin(1)))

	products := throttled.Wrap(t, "", func(ctx context.Context) error { return nil })
	fmt.Println(products(ctx))
	fmt.Println(t.Peek(ctx, "/api/products"))
	// Output:
	// <nil>
	// State{Limit: 1, Remaining: 0, ResetAfter: 1m0s, RetryAfter: 0s} <nil>
}

// Without WithStore all limiters share one in-process store. Limiters
// given the same store, key, algorithm and quota share the key
// (throttled-py's ping-pong example); limiters with other quotas on the
// same key are independent.
func ExampleWithStore() {
	st, _ := exampleStore()
	ctx := context.Background()
	ping := throttled.Wrap(throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1))),
		"ping-pong", func(context.Context) error { fmt.Println("ping"); return nil })
	pong := throttled.Wrap(throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1))),
		"ping-pong", func(context.Context) error { fmt.Println("pong"); return nil })

	fmt.Println(ping(ctx))
	fmt.Println(errors.Is(pong(ctx), throttled.ErrLimited))

	hourly := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerHour(7)))
	res, _ := hourly.Limit(ctx, "ping-pong", 1)
	fmt.Println(res)
	// Output:
	// ping
	// <nil>
	// true
	// Result{Limited: false, State: State{Limit: 7, Remaining: 6, ResetAfter: 8m34.285715s, RetryAfter: 0s}}
}

// With WithTimeout, Do and Wrap wait and retry while limited, up to the
// timeout: a RetryAfter beyond it fails at once, without waiting.
func ExampleWithTimeout() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1)), throttled.WithTimeout(time.Second))

	fmt.Println(t.Do(ctx, "k", func(context.Context) error { return nil }))
	fmt.Println(t.Do(ctx, "k", func(context.Context) error { return nil })) // needs 1m, has 1s
	// Output:
	// <nil>
	// throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s
}

func ExamplePerSec() {
	q := throttled.PerSec(60)
	fmt.Println(q, "=", q.Limit, "per", q.Period, "burst", q.EffectiveBurst())
	// Output: 60/s = 60 per 1s burst 60
}

func ExamplePerMin() {
	q := throttled.PerMin(60)
	fmt.Println(q, "=", q.Limit, "per", q.Period, "burst", q.EffectiveBurst())
	// Output: 60/m = 60 per 1m0s burst 60
}

func ExamplePerHour() {
	q := throttled.PerHour(60)
	fmt.Println(q, "=", q.Limit, "per", q.Period, "burst", q.EffectiveBurst())
	// Output: 60/h = 60 per 1h0m0s burst 60
}

func ExamplePerDay() {
	q := throttled.PerDay(60)
	fmt.Println(q, "=", q.Limit, "per", q.Period, "burst", q.EffectiveBurst())
	// Output: 60/d = 60 per 24h0m0s burst 60
}

func ExamplePerWeek() {
	q := throttled.PerWeek(60)
	fmt.Println(q, "=", q.Limit, "per", q.Period, "burst", q.EffectiveBurst())
	// Output: 60/w = 60 per 168h0m0s burst 60
}

// throttled-py's custom quota: 120 requests in two minutes, bursts of 150.
func ExamplePerDuration() {
	st, _ := exampleStore()
	ctx := context.Background()
	q := throttled.PerDuration(2*time.Minute, 120).WithBurst(150)
	fmt.Println(q)

	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(q))
	res, _ := t.Limit(ctx, "k", 150)
	fmt.Println(res)
	res, _ = t.Limit(ctx, "k", 1)
	fmt.Println(res)
	// Output:
	// 120/2m burst 150
	// Result{Limited: false, State: State{Limit: 150, Remaining: 0, ResetAfter: 2m30s, RetryAfter: 0s}}
	// Result{Limited: true, State: State{Limit: 150, Remaining: 0, ResetAfter: 2m30s, RetryAfter: 1s}}
}

// A burst above the limit lets a quiet key absorb a spike: here 120 at
// once, then one a second (60 per minute).
func ExampleQuota_WithBurst() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(60).WithBurst(120)))

	res, _ := t.Limit(ctx, "k", 120)
	fmt.Println(res.Limited, res.State.Remaining)
	res, _ = t.Limit(ctx, "k", 1)
	fmt.Println(res.Limited, res.State.RetryAfter)
	// Output:
	// false 0
	// true 1s
}

// ParseQuota reads throttled-py's quota grammar.
func ExampleParseQuota() {
	for _, s := range []string{"100/s", "60 per minute", "120/2m burst 150", "5 per 10 minutes", "10/250ms", "1000 per day burst 50", "ten/s"} {
		q, err := throttled.ParseQuota(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-22q %v per %v, burst %d\n", s, q.Limit, q.Period, q.EffectiveBurst())
	}
	// Output:
	// "100/s"                100 per 1s, burst 100
	// "60 per minute"        60 per 1m0s, burst 60
	// "120/2m burst 150"     120 per 2m0s, burst 150
	// "5 per 10 minutes"     5 per 10m0s, burst 5
	// "10/250ms"             10 per 250ms, burst 10
	// "1000 per day burst 50" 1000 per 24h0m0s, burst 50
	// throttled: invalid quota "ten/s": limit "ten" is not a number
}

// ParseAlgorithm reads throttled-py's algorithm names.
func ExampleParseAlgorithm() {
	for _, name := range []string{"fixed_window", "sliding_window", "token_bucket", "leaking_bucket", "gcra", "leaky"} {
		a, err := throttled.ParseAlgorithm(name)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(a, a == throttled.GCRA)
	}
	// Output:
	// fixed_window false
	// sliding_window false
	// token_bucket false
	// leaking_bucket false
	// gcra true
	// throttled: invalid algorithm "leaky": not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra
}

// A denial from Do, Wrap or Wait is a *LimitedError carrying the Result;
// errors.Is(err, ErrLimited) matches any denial, errors.As gets the details.
func ExampleLimitedError() {
	st, _ := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1)))
	ping := throttled.Wrap(t, "/ping", func(context.Context) error { return nil })
	ping(ctx)

	err := fmt.Errorf("handler: %w", ping(ctx))
	fmt.Println(err)
	var le *throttled.LimitedError
	if errors.As(err, &le) {
		fmt.Println("retry in", le.Result.State.RetryAfter)
	}
	fmt.Println(errors.Is(err, throttled.ErrLimited), errors.Is(err, throttled.ErrInvalid))
	// Output:
	// handler: throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s
	// retry in 1m0s
	// true false
}

// The five algorithms on one timeline, 2 per second (burst 2), one
// request at each of the times below. The buckets and GCRA are one policy
// (a bucket of 2 refilling one every 500ms); the fixed window allows 2 per
// aligned second; the sliding window weighs the previous second's count by
// how much of it still overlaps the last second.
func ExampleAlgorithm() {
	ctx := context.Background()
	ms := time.Millisecond
	times := []time.Duration{0, 0, 0, 250 * ms, 500 * ms, 750 * ms, 1000 * ms, 1000 * ms, 1250 * ms, 1500 * ms}
	for _, a := range []throttled.Algorithm{throttled.FixedWindow, throttled.SlidingWindow, throttled.TokenBucket, throttled.LeakingBucket, throttled.GCRA} {
		st, clk := exampleStore()
		t := throttled.MustNew(throttled.WithStore(st), throttled.WithAlgorithm(a), throttled.WithQuota(throttled.PerSec(2)))
		var line strings.Builder
		for _, at := range times {
			clk.Set(t0 + at.Microseconds())
			res, _ := t.Limit(ctx, "k", 1)
			if res.Limited {
				line.WriteString(" ✗")
			} else {
				line.WriteString(" ✓")
			}
		}
		fmt.Printf("%-15s%s\n", a, line.String())
	}
	// Output:
	// fixed_window    ✓ ✓ ✗ ✗ ✗ ✗ ✓ ✓ ✗ ✗
	// sliding_window  ✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✓ ✗
	// token_bucket    ✓ ✓ ✗ ✗ ✓ ✗ ✓ ✗ ✗ ✓
	// leaking_bucket  ✓ ✓ ✗ ✗ ✓ ✗ ✓ ✗ ✗ ✓
	// gcra            ✓ ✓ ✗ ✗ ✓ ✗ ✓ ✗ ✗ ✓
}

// Several quotas: bursts of 20 at 10 a second, and 10,000 a day (a fixed
// window from midnight UTC, named "daily"). A request passes only if
// every quota admits it, and then each is charged; Result.Quotas tells
// which quota bound.
func ExampleWithQuotas() {
	st, clk := exampleStore()
	ctx := context.Background()
	t := throttled.MustNew(
		throttled.WithStore(st),
		throttled.WithQuotas(
			throttled.PerSec(10).WithBurst(20),
			throttled.PerDay(10_000).WithAlgorithm(throttled.FixedWindow).WithName("daily"),
		),
	)
	show := func(res throttled.Result) {
		fmt.Printf("limited=%v remaining=%d retry_after=%v\n", res.Limited, res.State.Remaining, res.State.RetryAfter)
		for _, q := range res.Quotas {
			name := q.Quota.Name
			if name == "" {
				name = q.Quota.String()
			}
			fmt.Printf("  %-13s %-12s limited=%-5v remaining=%d\n", name, q.Quota.Algorithm, q.Limited, q.State.Remaining)
		}
	}

	res, _ := t.Limit(ctx, "user:1", 20) // the whole burst
	show(res)
	res, _ = t.Limit(ctx, "user:1", 1) // the per-second quota binds
	show(res)
	// 20 every 2 seconds is within 10 a second, until the day's 10,000
	// are spent.
	bursts := 0
	for {
		clk.Advance(2 * time.Second)
		if res, _ = t.Limit(ctx, "user:1", 20); res.Limited {
			break
		}
		bursts++
	}
	fmt.Println(bursts, "more bursts, then:")
	show(res) // the daily quota binds, until midnight
	// Output:
	// limited=false remaining=0 retry_after=0s
	//   10/s burst 20 token_bucket limited=false remaining=0
	//   daily         fixed_window limited=false remaining=9980
	// limited=true remaining=0 retry_after=100ms
	//   10/s burst 20 token_bucket limited=true  remaining=0
	//   daily         fixed_window limited=false remaining=9980
	// 499 more bursts, then:
	// limited=true remaining=0 retry_after=23h43m20s
	//   10/s burst 20 token_bucket limited=false remaining=20
	//   daily         fixed_window limited=true  remaining=0
}

// Plans: a quota function gives each key its quotas, here free users 10
// requests a minute and paying ones 1,000. It is called on every request;
// the quotas it returns are compiled once per set.
func ExampleWithQuotaFunc() {
	st, _ := exampleStore()
	ctx := context.Background()
	paying := map[string]bool{"bob": true}
	free := []throttled.Quota{throttled.PerMin(10)}
	paid := []throttled.Quota{throttled.PerMin(1000)}
	t := throttled.MustNew(
		throttled.WithStore(st),
		throttled.WithQuotaFunc(func(ctx context.Context, user string) ([]throttled.Quota, error) {
			if paying[user] {
				return paid, nil
			}
			return free, nil
		}),
	)
	for _, user := range []string{"alice", "bob"} {
		var res throttled.Result
		for range 11 {
			res, _ = t.Limit(ctx, user, 1)
		}
		fmt.Printf("%s's 11th request a minute: limited=%v, %d of %d left\n", user, res.Limited, res.State.Remaining, res.State.Limit)
	}
	// Output:
	// alice's 11th request a minute: limited=true, 0 of 10 left
	// bob's 11th request a minute: limited=false, 989 of 1000 left
}
