package throttledotel_test

import (
	"errors"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// redisLimiter returns a limiter named name on a Redis store at url with
// the outage policy p, one quota "rps" of 1 per second, on the fake clock
// (so its fallback runs on the same clock), and its Instrumentation.
func redisLimiter(t *testing.T, clock store.Clock, url, name string, p typed.OutagePolicy, opts ...throttledotel.Option) (*typed.Limiter[string], *throttledotel.Instrumentation[string]) {
	t.Helper()
	st, err := redisstore.FromURL(url, redisstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in, err := throttledotel.New[string](append([]throttledotel.Option{throttledotel.WithLimiterName(name)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	l, err := typed.New[string](typed.WithStore[string](st), typed.WithQuota(algo.PerSec(1).WithName("rps")), typed.WithOutagePolicy(p), typed.WithHooks(in.Hook))
	if err != nil {
		t.Fatal(err)
	}
	return l, in
}

// TestOutage: a real Redis decides, is killed, and the outage policies
// take over: FallBack decides on its local store, FailOpen allows, and
// FailClosed fails. The counters and throttled.fallback.active follow.
func TestOutage(t *testing.T) {
	srv := redistest.Standalone(t)
	clock := store.NewFakeClock(fakeStart)
	r, mp := newReader(t)
	fb, fbIn := redisLimiter(t, clock, srv.URL(), "fallback", typed.FallBack(1), throttledotel.WithMeterProvider(mp))
	open, _ := redisLimiter(t, clock, srv.URL(), "open", typed.FailOpen, throttledotel.WithMeterProvider(mp))
	closed, _ := redisLimiter(t, clock, srv.URL(), "closed", typed.FailClosed, throttledotel.WithMeterProvider(mp))

	want := func(l *typed.Limiter[string], limited bool, src typed.Source) {
		t.Helper()
		res, err := l.Limit(testCtx(t), "k", 1)
		if err != nil || res.Limited != limited || res.Source != src {
			t.Fatalf("Limit: %v from %v, %v; want limited %v from %v", res, res.Source, err, limited, src)
		}
	}
	want(fb, false, typed.FromStore) // Redis decides: the key's token is used
	if fbIn.FallbackActive() {
		t.Fatal("fallback active while Redis decides")
	}
	srv.Kill()
	want(fb, false, typed.FromFallback) // the fallback's state starts empty: allowed
	want(fb, true, typed.FromFallback)  // its token is used now
	if !fbIn.FallbackActive() {
		t.Fatal("fallback not active after fallback decisions")
	}
	want(open, false, typed.FromFailOpen)
	want(open, false, typed.FromFailOpen)
	if _, err := closed.Limit(testCtx(t), "k", 1); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("fail closed on a dead store: %v", err)
	}

	got := collect(t, r)
	rps := []string{"throttled.store=redis", "throttled.algorithm=token_bucket", "throttled.operation=limit"}
	at := func(kv ...string) string { return a(append(append([]string(nil), rps...), kv...)...) }
	counts := map[string]int64{
		at("throttled.limiter=fallback", "throttled.result=allowed", "throttled.source=store", "throttled.quota=rps"):    1,
		at("throttled.limiter=fallback", "throttled.result=allowed", "throttled.source=fallback", "throttled.quota=rps"): 1,
		at("throttled.limiter=fallback", "throttled.result=denied", "throttled.source=fallback", "throttled.quota=rps"):  1,
		at("throttled.limiter=open", "throttled.result=allowed", "throttled.source=fail_open"):                           2,
		at("throttled.limiter=closed", "throttled.result=error", "error.type=unavailable"):                               1,
	}
	equal(t, throttledotel.MetricRequests, got.sum(t, throttledotel.MetricRequests, "{request}"), counts)
	timed := map[string]uint64{}
	for k, v := range counts {
		timed[k] = uint64(v)
	}
	equal(t, throttledotel.MetricDuration, got.histCounts(t), timed)
	equal(t, throttledotel.MetricFallbackActive, got.gauge(t, throttledotel.MetricFallbackActive, "{state}"), map[string]int64{
		a("throttled.limiter=fallback"): 1,
		a("throttled.limiter=open"):     1,
		a("throttled.limiter=closed"):   0, // failing closed is no fallback
	})
}

// TestFallbackGaugeRecovers: once Redis is back and a probe has closed the
// circuit, the next decision comes from the store and the gauge drops to
// 0. The probes run on real time (50 ms, doubling), so this test polls,
// within a deadline.
func TestFallbackGaugeRecovers(t *testing.T) {
	srv := redistest.Standalone(t)
	clock := store.NewFakeClock(fakeStart)
	r, mp := newReader(t)
	l, in := redisLimiter(t, clock, srv.URL(), "fallback", typed.FallBack(2), throttledotel.WithMeterProvider(mp))
	gauge := func() int64 {
		return collect(t, r).gauge(t, throttledotel.MetricFallbackActive, "{state}")[a("throttled.limiter=fallback")]
	}
	srv.Kill()
	if res, err := l.Peek(testCtx(t), "k"); err != nil {
		t.Fatal(res, err)
	}
	if g := gauge(); g != 1 || !in.FallbackActive() {
		t.Fatalf("gauge %d after a fallback decision", g)
	}
	srv.Restart(t)
	deadline := time.Now().Add(15 * time.Second)
	var sources []typed.Source
	for {
		res, err := l.Limit(testCtx(t), "k", 0)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, res.Source)
		if res.Source == typed.FromStore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store never decided again after the restart: %v", sources)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := gauge(); g != 0 || in.FallbackActive() {
		t.Fatalf("gauge %d after a store decision", g)
	}
	// Every call above was counted, by its source.
	n := map[typed.Source]int64{typed.FromFallback: 1} // the Peek
	for _, s := range sources {
		n[s]++
	}
	base := []string{"throttled.limiter=fallback", "throttled.store=redis", "throttled.algorithm=token_bucket", "throttled.operation=peek", "throttled.result=allowed", "throttled.quota=rps"}
	want := map[string]int64{}
	for s, c := range n {
		want[a(append(append([]string(nil), base...), "throttled.source="+s.String())...)] = c
	}
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), want)
}

// TestDenyCacheLeavesFallbackGauge: a denial from the deny cache says
// nothing about the store, so it neither raises nor lowers
// throttled.fallback.active, and it is counted with source deny_cache.
func TestDenyCacheLeavesFallbackGauge(t *testing.T) {
	srv := redistest.Standalone(t)
	clock := store.NewFakeClock(fakeStart)
	r, mp := newReader(t)
	st, err := redisstore.FromURL(srv.URL(), redisstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in, err := throttledotel.New[string](throttledotel.WithLimiterName("cached"), throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	cached, err := typed.New[string](typed.WithStore[string](st), typed.WithQuota(algo.PerSec(1).WithName("rps")),
		typed.WithOutagePolicy(typed.FallBack(1)), typed.WithDenyCache(time.Minute), typed.WithHooks(in.Hook))
	if err != nil {
		t.Fatal(err)
	}
	sources := func(n int) []typed.Source {
		var s []typed.Source
		for range n {
			res, err := cached.Limit(testCtx(t), "k", 1)
			if err != nil {
				t.Fatal(err)
			}
			s = append(s, res.Source)
		}
		return s
	}
	if got := sources(3); got[0] != typed.FromStore || got[1] != typed.FromStore || got[2] != typed.FromDenyCache {
		t.Fatalf("sources %v, want store, store (the denial), deny_cache", got)
	}
	if in.FallbackActive() {
		t.Fatal("fallback active after store and deny-cache decisions")
	}
	srv.Kill()
	if res, err := cached.Limit(testCtx(t), "other", 1); err != nil || res.Source != typed.FromFallback {
		t.Fatalf("Limit on a dead store: %v from %v, %v; want the fallback", res, res.Source, err)
	}
	if got := sources(1); got[0] != typed.FromDenyCache || !in.FallbackActive() {
		t.Fatalf("source %v, fallback active %v; want deny_cache and the gauge still up", got, in.FallbackActive())
	}
	got := collect(t, r).sum(t, throttledotel.MetricRequests, "{request}")
	key := a("throttled.limiter=cached", "throttled.store=redis", "throttled.algorithm=token_bucket", "throttled.operation=limit",
		"throttled.result=denied", "throttled.source=deny_cache", "throttled.quota=rps")
	if got[key] != 2 {
		t.Fatalf("deny_cache denials counted %d, want 2; all: %v", got[key], got)
	}
}
