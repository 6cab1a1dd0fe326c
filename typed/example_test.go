package typed_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// The examples run on a memory store whose fake clock stands still, so
// their output is the same every time.

// UserID identifies a user. The memory store keys by UserID itself: no
// string is built per decision.
type UserID int64

// A limiter per user: each user gets 3 requests a minute, independently.
func ExampleNew() {
	st := memstore.New(memstore.WithClock(clock.NewFake(t0)))
	defer st.Close()
	ctx := context.Background()

	l, err := typed.New[UserID](
		typed.WithQuota(algo.PerMin(3)),
		typed.WithStore(st),
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
	st := memstore.New(memstore.WithClock(clock.NewFake(t0)))
	defer st.Close()
	ctx := context.Background()
	l, _ := typed.New[UserID](typed.WithStore(st), typed.WithQuota(algo.PerMin(1)))

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

func (k keyPrinter) Decide(ctx context.Context, key string, p *algo.Params, cost int64) (algo.Decision, error) {
	fmt.Printf("store key %q\n", key)
	return k.Store.Decide(ctx, key, p, cost)
}

// String stores such as Redis need each key as a string. Strings,
// integers, fmt.Stringer and encoding.TextMarshaler keys are encoded by
// themselves; for other types KeyFunc says how (else New fails).
func ExampleKeyFunc() {
	st := memstore.New(memstore.WithClock(clock.NewFake(t0)))
	defer st.Close()
	ctx := context.Background()

	_, err := typed.New[Endpoint](typed.WithStore(keyPrinter{st}))
	fmt.Println(err)

	l, _ := typed.New[Endpoint](
		typed.WithStore(keyPrinter{st}),
		typed.WithKeyPrefix("api:"),
		typed.KeyFunc(func(e Endpoint) (string, error) { return e.Method + " " + e.Path, nil }),
	)
	res, _ := l.Limit(ctx, Endpoint{"GET", "/users"}, 1)
	fmt.Println(res.Limited)
	// Output:
	// throttled: invalid key type "typed_test.Endpoint": has no string encoding for this store; give typed.KeyFunc or implement fmt.Stringer
	// store key "api:GET /users"
	// false
}
