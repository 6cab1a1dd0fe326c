package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// manyKeys is the key count of the keys=100000 benchmarks.
const manyKeys = 100_000

// benchQuota admits every request of a benchmark (a billion a second), so
// the benchmarks measure the allowed path, which writes state.
var benchQuota = algo.PerSec(1_000_000_000)

// benchQuota2 is a second quota that admits every request too, with another
// identity than benchQuota's, for the benchmarks of two policies.
var benchQuota2 = algo.PerSec(2_000_000_000)

var sink algo.Decision

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	return keys
}

// benchPolicy compiles q under algorithm a for a benchmark.
func benchPolicy(b *testing.B, a algo.Algorithm, q algo.Quota) *store.Policy {
	b.Helper()
	p, err := store.NewPolicy(q.WithAlgorithm(a))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// newBenchStore returns a store with opts, failing the benchmark on error.
func newBenchStore(b *testing.B, opts ...memstore.Option) *memstore.Store {
	b.Helper()
	s, err := memstore.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// decideLoop inserts every key, then decides on them in turn, serially.
func decideLoop(b *testing.B, st store.Store[string], ps []*store.Policy, keys []string) {
	ctx := context.Background()
	for _, k := range keys { // insert every key before timing
		if _, err := st.Decide(ctx, k, ps, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink, _ = st.Decide(ctx, keys[i], ps, 1, nil)
		if i++; i == len(keys) {
			i = 0
		}
	}
	if sink.Limited {
		b.Fatalf("the last decision was %+v: the benchmark must measure the allowed path", sink)
	}
}

// parallel inserts every key, then decides from GOMAXPROCS goroutines,
// each on its own run of keys.
func parallel(b *testing.B, keys []string, decide func(key string)) {
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

// BenchmarkDecide measures one decision through (*memstore.Store).Decide,
// against the baseline of a mutex-guarded map increment, on one hot key and
// cycling through 100k pre-inserted keys, serially and in parallel (each
// goroutine on its own run of keys).
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(manyKeys)

	storeVariants := func(b *testing.B, newStore func(b *testing.B) *memstore.Store, a algo.Algorithm) {
		ps := []*store.Policy{benchPolicy(b, a, benchQuota)}
		b.Run("keys=1", func(b *testing.B) { decideLoop(b, newStore(b), ps, keys[:1]) })
		b.Run(fmt.Sprintf("keys=%d", manyKeys), func(b *testing.B) { decideLoop(b, newStore(b), ps, keys) })
		b.Run("parallel", func(b *testing.B) {
			s := newStore(b)
			parallel(b, keys, func(k string) {
				d, err := s.Decide(ctx, k, ps, 1, nil)
				if err != nil || d.Limited {
					b.Errorf("Decide = %+v, %v", d, err)
				}
			})
		})
	}
	realClock := func(b *testing.B) *memstore.Store { return newBenchStore(b) }
	coarseClock := func(b *testing.B) *memstore.Store {
		c := store.NewCoarseClock(time.Millisecond)
		b.Cleanup(func() { c.Close() })
		return newBenchStore(b, memstore.WithClock(c))
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
			parallel(b, keys, func(k string) {
				mm.mu.Lock()
				mm.m[k]++
				mm.mu.Unlock()
			})
		})
	})
}

// BenchmarkPolicies measures a decision under one policy and under two
// (a limiter with two quotas, both admitting, the second of another
// identity), on one hot key and on 100k keys, serially: the cost of the
// second quota. The target is two policies at most 1.5× one.
func BenchmarkPolicies(b *testing.B) {
	keys := benchKeys(manyKeys)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			for _, a := range algo.Algorithms {
				b.Run("algo="+a.String(), func(b *testing.B) {
					ps := []*store.Policy{benchPolicy(b, a, benchQuota), benchPolicy(b, a, benchQuota2)}[:n]
					b.Run("keys=1", func(b *testing.B) { decideLoop(b, newBenchStore(b), ps, keys[:1]) })
					b.Run(fmt.Sprintf("keys=%d", manyKeys), func(b *testing.B) { decideLoop(b, newBenchStore(b), ps, keys) })
				})
			}
		})
	}
}

// BenchmarkDecideTyped measures a decision on a struct key through For[K].
func BenchmarkDecideTyped(b *testing.B) {
	type userKey struct {
		Tenant uint32
		User   uint64
	}
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		b.Run("algo="+a.String(), func(b *testing.B) {
			tbl := memstore.For[userKey](newBenchStore(b))
			ps := []*store.Policy{benchPolicy(b, a, benchQuota)}
			keys := make([]userKey, manyKeys)
			for i := range keys {
				keys[i] = userKey{Tenant: uint32(i % 7), User: uint64(i)}
				if _, err := tbl.Decide(ctx, keys[i], ps, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink, _ = tbl.Decide(ctx, keys[i], ps, 1, nil)
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkDecideBatch measures a batch of 100 requests over 100k keys,
// per request.
func BenchmarkDecideBatch(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(manyKeys)
	s := newBenchStore(b)
	ps := []*store.Policy{benchPolicy(b, algo.GCRA, benchQuota)}
	const size = 100
	reqs := make([]store.Request[string], size)
	out, errs := make([]algo.Decision, size), make([]error, size)
	b.ReportAllocs()
	j := 0
	for b.Loop() {
		for i := range reqs {
			reqs[i] = store.Request[string]{Key: keys[j], Cost: 1}
			if j++; j == len(keys) {
				j = 0
			}
		}
		s.DecideBatch(ctx, ps, reqs, out, nil, errs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/request")
}
