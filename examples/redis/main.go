// Command redis is throttled-py's Redis example in Go: a token bucket of 1 per
// minute on "/api/products", its state kept in Redis, so every process
// sharing the Redis server shares the quota. The first call succeeds, the
// second is limited.
//
// It connects to REDIS_URL (default redis://127.0.0.1:6379/0). When Redis
// cannot be reached it says so and exits with status 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store/redisstore"
)

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	st, err := redisstore.FromURL(url)
	if errors.Is(err, throttled.ErrUnavailable) {
		unreachable(err)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	t, err := throttled.New(
		throttled.WithAlgorithm(throttled.TokenBucket),
		throttled.WithQuota(throttled.PerMin(1)),
		throttled.WithStore(st),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Start from a fresh key, so the example can be run again within the
	// minute.
	if err := t.Reset(ctx, "/api/products"); err != nil {
		if errors.Is(err, throttled.ErrUnavailable) {
			unreachable(err)
			return
		}
		log.Fatal(err)
	}

	var list []string
	products := throttled.Wrap(t, "/api/products", func(context.Context) error {
		list = []string{"iPhone", "MacBook"}
		return nil
	})
	if err := products(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("first call: success:", list)

	err = products(ctx)
	var le *throttled.LimitedError
	if !errors.As(err, &le) {
		log.Fatalf("second call: got %v, want a *throttled.LimitedError", err)
	}
	fmt.Println("second call: limited:", err)
}

func unreachable(err error) {
	fmt.Println("Redis is not reachable, so the example did not run:", err)
	fmt.Println("Start redis-server or set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0.")
}
