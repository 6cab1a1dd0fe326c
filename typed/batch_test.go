package typed_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// storePair is two stores with separate states on one fake clock:
// LimitAll runs on batch, one-by-one Limit on single.
type storePair struct {
	name          string
	batch, single store.Store[string]
	fc            *store.FakeClock
}

// batchStores returns pairs of memory stores, of Redis stores (one server,
// two prefixes), and of memory stores that neither batch nor tell their
// clock (LimitAll then decides one request after another).
func batchStores(t *testing.T) []storePair {
	t.Helper()
	mfc := store.NewFakeClock(t0)
	m1 := must(memstore.New(memstore.WithClock(mfc))).of(t)
	m2 := must(memstore.New(memstore.WithClock(mfc))).of(t)
	pfc := store.NewFakeClock(t0)
	p1 := must(memstore.New(memstore.WithClock(pfc))).of(t)
	p2 := must(memstore.New(memstore.WithClock(pfc))).of(t)
	rfc := store.NewFakeClock(t0)
	r1, _ := newRedisStore(t, rfc, redisstore.WithPrefix("batch:"))
	r2 := must(redisstore.New(r1.Client(), redisstore.WithClock(rfc), redisstore.WithTTLSlack(time.Hour), redisstore.WithPrefix("single:"))).of(t)
	return []storePair{
		{"memory", m1, m2, mfc},
		{"redis", r1, r2, rfc},
		{"one by one", plainStore[string]{p1}, plainStore[string]{p2}, pfc},
	}
}

// quotaSets are the quotas the batch tests run with: one, and two with
// other algorithms.
func quotaSets(a algo.Algorithm) map[string][]algo.Quota {
	other := algo.Algorithms[(int(a)+1)%len(algo.Algorithms)]
	return map[string][]algo.Quota{
		"one": {algo.PerMin(5)},
		"two": {algo.PerMin(5).WithName("minute"), algo.PerSec(2).WithAlgorithm(other).WithName("second")},
	}
}

// checkBatchEqualsSequential runs reqs through batch.LimitAll and one by
// one through single.Limit (on a store with the same history), and
// requires equal results in input order, some of them limited.
func checkBatchEqualsSequential[K comparable](t *testing.T, batch, single *typed.Limiter[K], reqs []typed.Request[K]) {
	t.Helper()
	got, err := batch.LimitAll(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(got), len(reqs))
	}
	limited := 0
	for i, r := range reqs {
		want, err := single.Limit(ctx, r.Key, r.Cost)
		if err != nil {
			t.Fatal(err)
		}
		if !sameResult(got[i], want) {
			t.Fatalf("request %d %+v: batch %v %+v, one by one %v %+v", i, r, got[i], got[i].Quotas, want, want.Quotas)
		}
		if want.Limited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no request was limited: the test does not reach denials")
	}
}

// TestLimitAllEqualsSequential: a batch decides exactly what the same
// requests decided one by one would, in input order, duplicates included,
// with one quota or several, string or typed keys, on every store.
func TestLimitAllEqualsSequential(t *testing.T) {
	for _, pair := range batchStores(t) {
		for _, a := range algo.Algorithms {
			for set, qs := range quotaSets(a) {
				t.Run("store="+pair.name+"/algo="+a.String()+"/quotas="+set, func(t *testing.T) {
					opts := []typed.Option{typed.WithAlgorithm(a), typed.WithQuotas(qs...)}
					batch := must(typed.New[string](append(opts, typed.WithStore(pair.batch))...)).of(t)
					single := must(typed.New[string](append(opts, typed.WithStore(pair.single))...)).of(t)
					var reqs []typed.Request[string]
					for i := range 40 {
						reqs = append(reqs, typed.Request[string]{Key: set + a.String() + strconv.Itoa(i%7), Cost: int64(i % 3)})
					}
					checkBatchEqualsSequential(t, batch, single, reqs)
					// Typed keys: encoded for the string stores.
					bi := must(typed.New[userID](append(opts, typed.WithStore(pair.batch))...)).of(t)
					si := must(typed.New[userID](append(opts, typed.WithStore(pair.single))...)).of(t)
					var ireqs []typed.Request[userID]
					for i := range 40 {
						ireqs = append(ireqs, typed.Request[userID]{Key: userID(10000*len(qs) + 1000*int(a) + i%5), Cost: int64(i % 3)})
					}
					checkBatchEqualsSequential(t, bi, si, ireqs)
				})
			}
		}
	}
	t.Run("memory table of K", func(t *testing.T) {
		m1, _ := newStore(t)
		m2, _ := newStore(t)
		q := typed.WithQuotas(algo.PerMin(3), algo.PerHour(4).WithAlgorithm(algo.SlidingWindow))
		batch := must(typed.New[point](typed.WithStore(memstore.For[point](m1)), q)).of(t)
		single := must(typed.New[point](typed.WithStore(memstore.For[point](m2)), q)).of(t)
		var reqs []typed.Request[point]
		for i := range 30 {
			reqs = append(reqs, typed.Request[point]{Key: point{i % 4, 0}, Cost: int64(i % 2)})
		}
		checkBatchEqualsSequential(t, batch, single, reqs)
	})
}

// itemErrors returns the *ItemErrors joined in err, in order.
func itemErrors(t *testing.T, err error) []*typed.ItemError {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) is not a joined error", err, err)
	}
	var items []*typed.ItemError
	for _, e := range joined.Unwrap() {
		var ie *typed.ItemError
		if !errors.As(e, &ie) {
			t.Fatalf("joined error %v is not an *ItemError", e)
		}
		items = append(items, ie)
	}
	return items
}

// TestLimitAllErrorsAreIndependent: a bad request fails alone, with an
// *ItemError at its index; the others are decided.
func TestLimitAllErrorsAreIndependent(t *testing.T) {
	for _, pair := range batchStores(t) {
		for set, qs := range map[string][]algo.Quota{
			"one": {algo.PerMin(10)},
			"two": {algo.PerMin(10), algo.PerHour(1000).WithAlgorithm(algo.FixedWindow)},
		} {
			t.Run("store="+pair.name+"/quotas="+set, func(t *testing.T) {
				l := must(typed.New[string](typed.WithStore(pair.batch), typed.WithQuotas(qs...))).of(t)
				a := set + ":a"
				res, err := l.LimitAll(ctx, []typed.Request[string]{{Key: a, Cost: 1}, {Key: "", Cost: 1}, {Key: "b", Cost: -1}, {Key: a, Cost: 2}})
				items := itemErrors(t, err)
				if len(items) != 2 || items[0].Index != 1 || items[1].Index != 2 || !errors.Is(err, algo.ErrInvalid) {
					t.Fatalf("errors %v, want requests 1 and 2 invalid", err)
				}
				if msg := items[0].Error(); !strings.HasPrefix(msg, "request 1: ") || !strings.Contains(msg, `invalid key ""`) {
					t.Fatalf("item error %q", msg)
				}
				if !strings.Contains(items[1].Error(), "invalid cost -1") {
					t.Fatalf("item error %q", items[1])
				}
				if len(res) != 4 || res[0].State.Remaining != 9 || res[3].State.Remaining != 7 || !reflect.DeepEqual(res[1], typed.Result{}) || !reflect.DeepEqual(res[2], typed.Result{}) {
					t.Fatalf("results %v", res)
				}
				if n := len(qs); n > 1 && (len(res[0].Quotas) != n || len(res[3].Quotas) != n) {
					t.Fatalf("results without each quota's part: %+v", res)
				}
			})
		}
	}
	t.Run("key encoding fails", func(t *testing.T) {
		rs, _ := newRecStore(t)
		l := must(typed.New[point](typed.WithStore(rs), typed.WithKeyFunc(func(p point) (string, error) {
			if p.X < 0 {
				return "", errors.New("negative")
			}
			return fmt.Sprint(p.X), nil
		}))).of(t)
		res, err := l.LimitAll(ctx, []typed.Request[point]{{Key: point{1, 0}, Cost: 1}, {Key: point{-1, 0}, Cost: 1}, {Key: point{2, 0}, Cost: 1}})
		items := itemErrors(t, err)
		if len(items) != 1 || items[0].Index != 1 || !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), "cannot be encoded: negative") {
			t.Fatalf("errors %v, want request 1 invalid", err)
		}
		if res[0].State.Remaining != 59 || res[2].State.Remaining != 59 {
			t.Fatalf("results %v", res)
		}
		if got := rs.Keys(); !slices.Equal(got, []string{"1", "2"}) {
			t.Fatalf("store saw %q", got)
		}
	})
}

// TestLimitAllCancelled: a batch whose ctx is done charges nothing, and
// every request reports store.ErrUnavailable wrapping ctx's error.
func TestLimitAllCancelled(t *testing.T) {
	for _, pair := range batchStores(t) {
		t.Run("store="+pair.name, func(t *testing.T) {
			l := must(typed.New[string](typed.WithStore(pair.batch), typed.WithQuotas(algo.PerMin(60), algo.PerDay(100)))).of(t)
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := l.LimitAll(c, []typed.Request[string]{{Key: "x", Cost: 1}, {Key: "y", Cost: 1}})
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) || len(itemErrors(t, err)) != 2 {
				t.Fatalf("err = %v, want ErrUnavailable and Canceled for both", err)
			}
			for _, k := range []string{"x", "y"} {
				if st, err := l.Peek(ctx, k); err != nil || st.Remaining != st.Limit {
					t.Fatalf("cancelled batch consumed %s: %v %v", k, st, err)
				}
			}
		})
	}
}

// TestLimitAllDefaultKey: the zero key of a batch stands for the default
// key, and the caller's slice is left as it was.
func TestLimitAllDefaultKey(t *testing.T) {
	s, _ := newStore(t)
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(3)), typed.WithDefaultKey("anon"))).of(t)
	reqs := []typed.Request[string]{{Key: "", Cost: 1}, {Key: "anon", Cost: 1}, {Key: "bob", Cost: 1}, {Key: "", Cost: 1}}
	res, err := l.LimitAll(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var rem []int64
	for _, r := range res {
		rem = append(rem, r.State.Remaining)
	}
	if !slices.Equal(rem, []int64{2, 1, 2, 0}) {
		t.Fatalf("remaining %v, want [2 1 2 0]: the empty key is anon", rem)
	}
	if reqs[0].Key != "" || reqs[3].Key != "" {
		t.Fatalf("LimitAll changed the caller's requests: %+v", reqs)
	}
	if got := peekRemaining(t, l, "anon"); got != 0 {
		t.Fatalf("anon has %d left, want 0", got)
	}
}

// TestLimitAllQuotaFunc: a batch of keys of different plans decides each
// under its plan's quotas, with results in input order, as one by one.
func TestLimitAllQuotaFunc(t *testing.T) {
	for _, pair := range batchStores(t) {
		t.Run("store="+pair.name, func(t *testing.T) {
			bp, sp := &planOf{}, &planOf{}
			batch := must(typed.New[string](typed.WithStore(pair.batch), typed.WithQuotaFunc(bp.quotas))).of(t)
			single := must(typed.New[string](typed.WithStore(pair.single), typed.WithQuotaFunc(sp.quotas))).of(t)
			keys := []string{"free:a", "paid:b", "free:c", "paid:b", "free:a", "paid:d"}
			var reqs []typed.Request[string]
			for i := range 60 {
				reqs = append(reqs, typed.Request[string]{Key: keys[i%len(keys)], Cost: int64(1 + i%2)})
			}
			checkBatchEqualsSequential(t, batch, single, reqs)
			if bp.count() != len(reqs) {
				t.Fatalf("quota func called %d times for %d requests", bp.count(), len(reqs))
			}
			res := must(batch.LimitAll(ctx, []typed.Request[string]{{Key: "paid:z", Cost: 1}, {Key: "free:z", Cost: 1}})).of(t)
			if res[0].State.Limit != 1000 || len(res[0].Quotas) != 2 || res[1].State.Limit != 10 || res[1].Quotas != nil {
				t.Fatalf("results %v %v, want the paid plan then the free one", res[0], res[1])
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		s, _ := newStore(t)
		boom := errors.New("no plan")
		l := must(typed.New[string](typed.WithStore(s), typed.WithQuotaFunc(func(_ context.Context, key string) ([]algo.Quota, error) {
			switch key {
			case "ghost":
				return nil, boom
			case "broken":
				return []algo.Quota{algo.PerMin(0)}, nil
			}
			return freePlan, nil
		}))).of(t)
		res, err := l.LimitAll(ctx, []typed.Request[string]{{Key: "a", Cost: 1}, {Key: "ghost", Cost: 1}, {Key: "", Cost: 1}, {Key: "broken", Cost: 1}, {Key: "a", Cost: -1}, {Key: "a", Cost: 2}})
		items := itemErrors(t, err)
		var idx []int
		for _, ie := range items {
			idx = append(idx, ie.Index)
		}
		if !slices.Equal(idx, []int{1, 2, 3, 4}) || !errors.Is(items[0], boom) || !errors.Is(items[1], algo.ErrInvalid) || !errors.Is(items[2], algo.ErrInvalid) || !errors.Is(items[3], algo.ErrInvalid) {
			t.Fatalf("errors %v, want requests 1 (the func's), 2, 3 and 4 (invalid)", err)
		}
		if res[0].State.Remaining != 9 || res[5].State.Remaining != 7 {
			t.Fatalf("results %v", res)
		}
		if n := s.Stats().Keys; n != 1 {
			t.Fatalf("%d keys stored, want 1 (a)", n)
		}
	})
}

// TestLimitAllEmpty: an empty batch decides nothing and fails nothing.
func TestLimitAllEmpty(t *testing.T) {
	s, _ := newStore(t)
	for _, l := range []*typed.Limiter[string]{
		must(typed.New[string](typed.WithStore(s))).of(t),
		must(typed.New[string](typed.WithStore(s), typed.WithQuotaFunc(quotaFuncOf[string](algo.PerSec(1))))).of(t),
	} {
		res, err := l.LimitAll(ctx, nil)
		if err != nil || len(res) != 0 {
			t.Fatalf("LimitAll(nil) = %v, %v", res, err)
		}
	}
}

func TestLimitAsync(t *testing.T) {
	s, _ := newStore(t)
	l := must(typed.New[int](typed.WithStore(memstore.For[int](s)), typed.WithQuota(algo.PerMin(2)))).of(t)
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
	// A cancelled ctx cancels the request: nothing is charged.
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.LimitAsync(c, 2, 1).Await(ctx); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("LimitAsync with a cancelled ctx: %v", err)
	}
	if got := peekRemaining(t, l, 2); got != 2 {
		t.Fatalf("key 2 has %d left after a cancelled request, want 2", got)
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
	s := must(redisstore.New(c)).of(b)
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(1_000_000)))).of(b)
	reqs := make([]typed.Request[string], 1000)
	for i := range reqs {
		reqs[i] = typed.Request[string]{Key: fmt.Sprintf("user:%d", i), Cost: 1}
	}
	var batch, sequential time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := l.LimitAll(ctx, reqs); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		for _, r := range reqs {
			if _, err := l.Limit(ctx, r.Key, r.Cost); err != nil {
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
