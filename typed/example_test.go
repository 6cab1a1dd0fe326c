package typed_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// The examples run on a memory store whose fake clock stands still unless
// an example moves it, so their output is the same every time.

// exampleStore returns a memory store whose fake clock reads t0
// (2023-11-09T00:00:00Z).
func exampleStore() (*memstore.Store, *store.FakeClock) {
	clk := store.NewFakeClock(t0)
	st, err := memstore.New(memstore.WithClock(clk))
	if err != nil {
		panic(err)
	}
	return st, clk
}

// UserID identifies a user. The memory store's table for UserID
// (memstore.For) keys by UserID itself: no string is built per decision.
type UserID int64

// A limiter per user: each user gets 3 requests a minute, independently.
func ExampleNew() {
	st, _ := exampleStore()
	ctx := context.Background()

	l, err := typed.New[UserID](
		typed.WithQuota(algo.PerMin(3)),
		typed.WithStore(memstore.For[UserID](st)),
	)
	if err != nil {
		panic(err)
	}
	for range 4 {
		res, _ := l.Limit(ctx, UserID(42), 1)
		fmt.Println("user 42:", res.Limited, res.State.Remaining)
	}
	res, _ := l.Limit(ctx, UserID(7), 1)
	fmt.Println("user 7: ", res.Limited, res.State.Remaining)

	// The key type is checked at compile time: l.Limit(ctx, "42", 1)
	// does not build.
	// Output:
	// user 42: false 2
	// user 42: false 1
	// user 42: false 0
	// user 42: true 0
	// user 7:  false 2
}

// Request is what a handler receives.
type Request struct {
	User UserID
	Path string
}

// WrapFunc guards a function of one argument, keyed by the argument: here
// a handler limited per user, 1 request a minute.
func ExampleWrapFunc() {
	st, _ := exampleStore()
	ctx := context.Background()
	l, _ := typed.New[UserID](typed.WithStore(memstore.For[UserID](st)), typed.WithQuota(algo.PerMin(1)))

	handle := typed.WrapFunc(l,
		func(r Request) UserID { return r.User },
		func(ctx context.Context, r Request) (string, error) { return "200 OK " + r.Path, nil },
	)
	for _, r := range []Request{{1, "/a"}, {2, "/a"}, {1, "/b"}} {
		body, err := handle(ctx, r)
		if errors.Is(err, typed.ErrLimited) {
			var le *typed.LimitedError
			errors.As(err, &le)
			fmt.Printf("user %d: 429 retry in %v\n", r.User, le.Result.State.RetryAfter)
			continue
		}
		fmt.Printf("user %d: %s\n", r.User, body)
	}
	// Output:
	// user 1: 200 OK /a
	// user 2: 200 OK /a
	// user 1: 429 retry in 1m0s
}

// Endpoint is a key with no string form of its own.
type Endpoint struct {
	Method, Path string
}

// keyPrinter is a string store, as the Redis store is, that prints the
// key of each decision.
type keyPrinter struct{ *memstore.Store }

func (k keyPrinter) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	fmt.Printf("store key %q\n", key)
	return k.Store.Decide(ctx, key, ps, cost, each)
}

// String stores such as Redis need each key as a string. Strings,
// integers, fmt.Stringer and encoding.TextMarshaler keys are encoded by
// themselves; for other types WithKeyFunc says how (else New fails). A
// namespace is part of the key.
func ExampleWithKeyFunc() {
	st, _ := exampleStore()
	ctx := context.Background()

	_, err := typed.New[Endpoint](typed.WithStore(keyPrinter{st}))
	fmt.Println(err)

	l, _ := typed.New[Endpoint](
		typed.WithStore(keyPrinter{st}),
		typed.WithKeyFunc(func(e Endpoint) (string, error) { return "api:" + e.Method + " " + e.Path, nil }),
	)
	res, _ := l.Limit(ctx, Endpoint{"GET", "/users"}, 1)
	fmt.Println(res.Limited)
	// Output:
	// throttled: invalid key type "typed_test.Endpoint": has no string encoding for this store; give typed.WithKeyFunc or implement fmt.Stringer
	// store key "api:GET /users"
	// false
}

// Plans: free users get 10 requests a minute, paying ones 1,000 a minute
// and 10,000 a day. The quota function is asked on every request; the
// quotas it returns are compiled once.
func ExampleWithQuotaFunc() {
	st, _ := exampleStore()
	ctx := context.Background()
	paying := map[UserID]bool{2: true}
	var (
		free = []algo.Quota{algo.PerMin(10).WithName("free")}
		paid = []algo.Quota{algo.PerMin(1000).WithName("paid"), algo.PerDay(10_000).WithAlgorithm(algo.FixedWindow).WithName("paid-daily")}
	)
	l, err := typed.New[UserID](
		typed.WithStore(memstore.For[UserID](st)),
		typed.WithQuotaFunc(func(ctx context.Context, u UserID) ([]algo.Quota, error) {
			if paying[u] {
				return paid, nil
			}
			return free, nil
		}),
	)
	if err != nil {
		panic(err)
	}
	for _, u := range []UserID{1, 2} {
		var res typed.Result
		for range 11 {
			res, _ = l.Limit(ctx, u, 1)
		}
		fmt.Printf("user %d, 11th request: limited %v, %d of %d left\n", u, res.Limited, res.State.Remaining, res.State.Limit)
		for _, q := range res.Quotas {
			fmt.Printf("  %s (%v): %d left\n", q.Quota.Name, q.Quota, q.State.Remaining)
		}
	}
	// Output:
	// user 1, 11th request: limited true, 0 of 10 left
	// user 2, 11th request: limited false, 989 of 1000 left
	//   paid (1000/m): 989 left
	//   paid-daily (10000/d): 9989 left
}

// LimitAll decides many requests at once (one round trip on Redis), with
// results in input order.
func ExampleLimiter_LimitAll() {
	st, _ := exampleStore()
	ctx := context.Background()
	l, _ := typed.New[UserID](typed.WithStore(memstore.For[UserID](st)), typed.WithQuota(algo.PerMin(2)))

	res, err := l.LimitAll(ctx, []typed.Request[UserID]{{Key: 1, Cost: 1}, {Key: 2, Cost: 2}, {Key: 1, Cost: 1}, {Key: 1, Cost: 1}})
	fmt.Println(err)
	for _, r := range res {
		fmt.Println(r.Limited, r.State.Remaining)
	}
	// Output:
	// <nil>
	// false 1
	// false 0
	// false 0
	// true 0
}
