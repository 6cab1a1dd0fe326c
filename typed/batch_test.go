package typed_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// batchStores returns pairs of stores on one fake clock: LimitBatch runs on
// the first, one-by-one Limit on the second.
func batchStores(t *testing.T) map[string][2]store.Store {
	fake := clock.NewFake(1_700_000_000_000_000)
	t.Cleanup(func() {})
	m1 := memstore.New(memstore.WithClock(fake), memstore.WithSweepInterval(0))
	m2 := memstore.New(memstore.WithClock(fake), memstore.WithSweepInterval(0))
	srv := redistest.Standalone(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r1, _ := redisstore.New(c, redisstore.WithClock(fake), redisstore.WithPrefix("batch:"))
	r2, _ := redisstore.New(c, redisstore.WithClock(fake), redisstore.WithPrefix("single:"))
	return map[string][2]store.Store{"memory": {m1, m2}, "redis": {r1, r2}}
}

// TestLimitBatchEqualsSequential: a batch decides exactly what the same
// requests decided one by one would, in input order, duplicates included.
func TestLimitBatchEqualsSequential(t *testing.T) {
	ctx := context.Background()
	for name, pair := range batchStores(t) {
		for _, a := range algo.Algorithms {
			t.Run("store="+name+"/algo="+a.String(), func(t *testing.T) {
				batch, err := typed.New[string](typed.WithAlgorithm(a), typed.WithQuota(algo.PerMin(5)), typed.WithStore(pair[0]), typed.WithKeyPrefix(a.String()))
				if err != nil {
					t.Fatal(err)
				}
				single, _ := typed.New[string](typed.WithAlgorithm(a), typed.WithQuota(algo.PerMin(5)), typed.WithStore(pair[1]), typed.WithKeyPrefix(a.String()))
				var reqs []typed.Request[string]
				for i := range 40 {
					reqs = append(reqs, typed.Request[string]{Key: "k" + strconv.Itoa(i%7), Cost: int64(i % 3)})
				}
				got, err := batch.LimitBatch(ctx, reqs)
				if err != nil {
					t.Fatal(err)
				}
				limited := 0
				for i, r := range reqs {
					want, err := single.Limit(ctx, r.Key, r.Cost)
					if err != nil {
						t.Fatal(err)
					}
					if got[i] != want {
						t.Fatalf("request %d %+v: batch %v, one by one %v", i, r, got[i], want)
					}
					if want.Limited {
						limited++
					}
				}
				if limited == 0 {
					t.Fatal("no request was limited: the test does not reach denials")
				}
			})
		}
	}
}

// TestLimitBatchErrorsAreIndependent: a bad request fails alone.
func TestLimitBatchErrorsAreIndependent(t *testing.T) {
	ctx := context.Background()
	for name, pair := range batchStores(t) {
		t.Run("store="+name, func(t *testing.T) {
			l, _ := typed.New[string](typed.WithStore(pair[0]), typed.WithQuota(algo.PerMin(10)))
			res, err := l.LimitBatch(ctx, []typed.Request[string]{{Key: "a", Cost: 1}, {Key: "", Cost: 1}, {Key: "b", Cost: -1}, {Key: "a", Cost: 2}})
			var items []*typed.ItemError
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ie *typed.ItemError
				if errors.As(e, &ie) {
					items = append(items, ie)
				}
			}
			if len(items) != 2 || items[0].Index != 1 || items[1].Index != 2 || !errors.Is(err, algo.ErrInvalid) {
				t.Fatalf("errors %v, want requests 1 and 2 invalid", err)
			}
			if res[0].State.Remaining != 9 || res[3].State.Remaining != 7 || res[1] != (typed.Result{}) {
				t.Fatalf("results %v", res)
			}
		})
	}
}

// TestLimitBatchCancelled: a batch whose ctx is done sends nothing.
func TestLimitBatchCancelled(t *testing.T) {
	for name, pair := range batchStores(t) {
		t.Run("store="+name, func(t *testing.T) {
			l, _ := typed.New[string](typed.WithStore(pair[0]))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := l.LimitAll(ctx, []string{"x", "y"}, 1)
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want ErrUnavailable and Canceled", err)
			}
			st, err := l.Peek(context.Background(), "x")
			if err != nil || st.Remaining != st.Limit {
				t.Fatalf("cancelled batch consumed: %v %v", st, err)
			}
		})
	}
}

func TestLimitAsync(t *testing.T) {
	l, _ := typed.New[int](typed.WithStore(memstore.New(memstore.WithSweepInterval(0))), typed.WithQuota(algo.PerMin(2)))
	ctx := context.Background()
	f1, f2, f3 := l.LimitAsync(ctx, 1, 1), l.LimitAsync(ctx, 1, 1), l.LimitAsync(ctx, 1, 1)
	limited := 0
	for _, f := range []interface {
		Await(context.Context) (typed.Result, error)
	}{f1, f2, f3} {
		r, err := f.Await(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Limited {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("%d of 3 limited at 2/min, want 1", limited)
	}
	st, err := l.PeekAsync(ctx, 1).Await(ctx)
	if err != nil || st.Remaining != 0 {
		t.Fatalf("PeekAsync = %v, %v", st, err)
	}
}

// BenchmarkLimitAllRedis compares one LimitAll of 1000 keys with 1000
// sequential Limit calls on a real Redis. Each iteration runs both, one
// after the other, so that the two see the same machine (a noisy one
// skews separate runs), and the benchmark reports each one's time and
// their ratio, x-faster = sequential / LimitAll.
func BenchmarkLimitAllRedis(b *testing.B) {
	b.Run("server=standalone", func(b *testing.B) {
		srv := redistest.Standalone(b)
		benchLimitAll(b, rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	})
	b.Run("server=cluster3", func(b *testing.B) {
		srv := redistest.Cluster(b)
		benchLimitAll(b, rueidis.ClientOption{InitAddress: srv.Addrs(), DisableCache: true})
	})
}

func benchLimitAll(b *testing.B, opt rueidis.ClientOption) {
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, _ := redisstore.New(c)
	l, _ := typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(1_000_000)))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	ctx := context.Background()
	var batch, sequential time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := l.LimitAll(ctx, keys, 1); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		for _, k := range keys {
			if _, err := l.Limit(ctx, k, 1); err != nil {
				b.Fatal(err)
			}
		}
		batch += mid.Sub(start)
		sequential += time.Since(mid)
	}
	b.ReportMetric(float64(batch.Nanoseconds())/float64(b.N), "LimitAll-ns")
	b.ReportMetric(float64(sequential.Nanoseconds())/float64(b.N), "sequential-ns")
	b.ReportMetric(float64(sequential)/float64(batch), "x-faster")
}
