// Command quickstart is throttled-py's quick start in Go: a token bucket of
// 1,000 per second (burst 1,000) on the in-process store, called 100,000
// times in a row on one key. It prints how many calls were denied and the
// latency and throughput of the calls.
package main

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"time"

	"github.com/throttled-go/throttled"
)

func main() {
	t, err := throttled.New(
		throttled.WithAlgorithm(throttled.TokenBucket),              // throttled-py: using=token_bucket
		throttled.WithQuota(throttled.PerSec(1000).WithBurst(1000)), // 1,000 tokens per second, bucket of 1,000
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	const calls = 100_000
	denied := 0
	start := time.Now()
	for range calls {
		res, err := t.Limit(ctx, "/ping", 1) // take 1 token for key "/ping"
		if err != nil {
			log.Fatal(err)
		}
		if res.Limited {
			denied++
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("Go %s, %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("✅ Total: %d, 🕒 Latency: %.4f ms/op, 🚀 Throughput: %.0f req/s\n",
		calls, float64(elapsed)/float64(time.Millisecond)/calls, calls/elapsed.Seconds())
	fmt.Printf("❌ Denied: %d requests\n", denied)
}
