// Command waitretry is throttled-py's wait-and-retry example in Go: GCRA at
// 100 requests per second (burst 100), where each call waits and retries
// for up to one second (Wait with WithTimeout) instead of failing at once.
// Four workers share the calls; nearly all pass, and the throughput stays
// close to the quota.
//
// throttled-py's makes 1,000 calls (about 9s); this makes 300 by default (about
// 2s: the burst of 100 at once, then 100 a second). Set -n to change it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttled-go/throttled"
)

func main() {
	calls := flag.Int("n", 300, "number of calls")
	workers := flag.Int("workers", 4, "number of concurrent workers")
	flag.Parse()

	t, err := throttled.New(
		throttled.WithAlgorithm(throttled.GCRA),
		throttled.WithQuota(throttled.PerSec(100).WithBurst(100)),
		throttled.WithTimeout(time.Second), // wait and retry for at most 1s
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	var next, denied atomic.Int64
	var busy atomic.Int64 // total time spent in Wait, ns
	start := time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for next.Add(1) <= int64(*calls) {
				callStart := time.Now()
				_, err := t.Wait(ctx, "/ping", 1)
				busy.Add(int64(time.Since(callStart)))
				switch {
				case errors.Is(err, throttled.ErrLimited):
					denied.Add(1) // gave up: the wait would have passed the 1s timeout
				case err != nil:
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	fmt.Printf("✅ Total: %d, 🕒 Latency: %.4f ms/op, 🚀 Throughput: %.0f req/s\n",
		*calls, float64(busy.Load())/float64(time.Millisecond)/float64(*calls), float64(*calls)/elapsed.Seconds())
	fmt.Printf("❌ Denied: %d requests\n", denied.Load())
}
