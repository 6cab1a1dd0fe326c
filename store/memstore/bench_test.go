package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store/memstore"
)

// manyKeys is the key count of the keys=100000 benchmarks.
const manyKeys = 100_000

// benchQuota admits every request of a benchmark (a billion a second), so
// the benchmarks measure the allowed path, which writes state.
var benchQuota = algo.PerSec(1_000_000_000)

var sink algo.Decision

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	return keys
}

// BenchmarkDecide measures one decision through (*memstore.Store).Decide,
// against the baseline of a mutex-guarded map increment, on one hot key and
// cycling through 100k pre-inserted keys, serially and in parallel (each
// goroutine on its own run of keys).
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(manyKeys)

	decideLoop := func(b *testing.B, s *memstore.Store, p *algo.Params, keys []string) {
		for _, k := range keys { // insert every key before timing
			if _, err := s.Decide(ctx, k, p, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink, _ = s.Decide(ctx, keys[i], p, 1)
			if i++; i == len(keys) {
				i = 0
			}
		}
	}
	parallel := func(b *testing.B, decide func(key string)) {
		for _, k := range keys {
			decide(k)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)*7919) % len(keys) // each goroutine starts elsewhere
			for pb.Next() {
				decide(keys[i])
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
	storeVariants := func(b *testing.B, newStore func(b *testing.B) *memstore.Store, a algo.Algorithm) {
		p, err := algo.Compile(a, benchQuota)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("keys=1", func(b *testing.B) { decideLoop(b, newStore(b), &p, keys[:1]) })
		b.Run(fmt.Sprintf("keys=%d", manyKeys), func(b *testing.B) { decideLoop(b, newStore(b), &p, keys) })
		b.Run("parallel", func(b *testing.B) {
			s := newStore(b)
			parallel(b, func(k string) {
				d, err := s.Decide(ctx, k, &p, 1)
				if err != nil || d.Limited {
					b.Errorf("Decide = %+v, %v", d, err)
				}
			})
		})
	}
	realClock := func(b *testing.B) *memstore.Store {
		s := memstore.New()
		b.Cleanup(func() { s.Close() })
		return s
	}
	coarseClock := func(b *testing.B) *memstore.Store {
		c := clock.NewCoarse(time.Millisecond)
		s := memstore.New(memstore.WithClock(c))
		b.Cleanup(func() { s.Close(); c.Close() })
		return s
	}

	for _, a := range algo.Algorithms {
		b.Run("algo="+a.String(), func(b *testing.B) {
			storeVariants(b, realClock, a)
			b.Run("clock=coarse", func(b *testing.B) { storeVariants(b, coarseClock, a) })
		})
	}

	b.Run("baseline=mutex-map", func(b *testing.B) {
		type mutexMap struct {
			mu sync.Mutex
			m  map[string]int64
		}
		serial := func(b *testing.B, keys []string) {
			mm := &mutexMap{m: make(map[string]int64)}
			for _, k := range keys {
				mm.m[k]++
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				mm.mu.Lock()
				mm.m[keys[i]]++
				mm.mu.Unlock()
				if i++; i == len(keys) {
					i = 0
				}
			}
		}
		b.Run("keys=1", func(b *testing.B) { serial(b, keys[:1]) })
		b.Run(fmt.Sprintf("keys=%d", manyKeys), func(b *testing.B) { serial(b, keys) })
		b.Run("parallel", func(b *testing.B) {
			mm := &mutexMap{m: make(map[string]int64)}
			parallel(b, func(k string) {
				mm.mu.Lock()
				mm.m[k]++
				mm.mu.Unlock()
			})
		})
	})
}
