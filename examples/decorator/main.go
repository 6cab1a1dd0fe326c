// Command decorator is throttled-py's decorator example in Go: throttled.Wrap
// guards a function as @Throttled(key="/ping", quota=per_min(1)) does. The
// first call runs; a second call within the minute does not run and
// returns a *throttled.LimitedError instead.
//
// Then throttled-py's in-memory example: two functions guarded on the same
// key, store and quota ("ping-pong") share that key's quota.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store/memstore"
)

func main() {
	ctx := context.Background()

	// @Throttled(key="/ping", quota=per_min(1)): the default store and
	// algorithm (token bucket).
	t, err := throttled.New(throttled.WithQuota(throttled.PerMin(1)))
	if err != nil {
		log.Fatal(err)
	}
	ping := throttled.Wrap(t, "/ping", func(context.Context) error {
		fmt.Println("ping")
		return nil
	})
	if err := ping(ctx); err != nil {
		log.Fatal(err)
	}
	err = ping(ctx) // within the minute: limited
	var le *throttled.LimitedError
	if !errors.As(err, &le) {
		log.Fatalf("second ping: got %v, want a *throttled.LimitedError", err)
	}
	fmt.Println("second ping:", err)
	fmt.Println("retry in about", le.Result.State.RetryAfter.Round(time.Second))

	// Ping-pong: one store, one key, one quota, two functions: limiters
	// with the same quota on the same key share its state.
	st, err := memstore.New()
	if err != nil {
		log.Fatal(err)
	}
	newLimiter := func() *throttled.Limiter {
		return throttled.MustNew(throttled.WithStore(st), throttled.WithQuota(throttled.PerMin(1)))
	}
	pingFn := throttled.Wrap(newLimiter(), "ping-pong", func(context.Context) error { fmt.Println("ping"); return nil })
	pongFn := throttled.Wrap(newLimiter(), "ping-pong", func(context.Context) error { fmt.Println("pong"); return nil })
	if err := pingFn(ctx); err != nil {
		log.Fatal(err)
	}
	if err := pongFn(ctx); errors.Is(err, throttled.ErrLimited) {
		fmt.Println("pong: limited, the key is shared with ping")
	} else {
		log.Fatalf("pong: got %v, want a *throttled.LimitedError", err)
	}
}
