package throttledotel_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// step is one decision of a timeline and what it must return.
type step struct {
	advance time.Duration // fake time to pass first
	cost    int64
	cancel  bool // call with a done context
	limited bool
	wantErr bool
}

// run plays steps on l for key, checking each Result against the
// timeline.
func run(t *testing.T, clock *store.FakeClock, l *typed.Limiter[string], key string, steps []step) {
	t.Helper()
	for i, s := range steps {
		ctx := testCtx(t)
		if s.cancel {
			c, cancel := context.WithCancel(ctx)
			cancel()
			ctx = c
		}
		clock.Advance(s.advance)
		res, err := l.Limit(ctx, key, s.cost)
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d: err %v, want error %v", i, err, s.wantErr)
		}
		if err == nil && res.Limited != s.limited {
			t.Fatalf("step %d: %v, want limited %v", i, res, s.limited)
		}
	}
}

// TestRequestsAndDuration plays a known timeline on a limiter with two
// quotas of different algorithms and on one with a single unnamed quota,
// and checks throttled.requests and the counts of throttled.duration per
// attribute set, each derived from the quotas' semantics.
func TestRequestsAndDuration(t *testing.T) {
	clock := store.NewFakeClock(fakeStart)
	r, mp := newReader(t)
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	second := algo.PerSec(2).WithName("second")                                 // token bucket (the limiter's), burst 2
	minute := algo.PerMin(3).WithName("minute").WithAlgorithm(algo.FixedWindow) // 3 per minute, window at fakeStart
	multiHook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(mp), throttledotel.WithLimiterName("multi"))
	if err != nil {
		t.Fatal(err)
	}
	multi, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuotas(second, minute), typed.WithHooks(multiHook))
	if err != nil {
		t.Fatal(err)
	}
	// second: 2 tokens, 2 per second; minute: 3 per window.
	run(t, clock, multi, "a", []step{
		{cost: 1},                              // allowed: second 1 left, minute 2: second binds (least Remaining)
		{cost: 1},                              // allowed: second 0, minute 1: second binds
		{cost: 1, limited: true},               // denied by second alone
		{advance: time.Second, cost: 1},        // second refilled to 2: allowed, second 1, minute 0: minute binds
		{cost: 1, limited: true},               // denied by minute alone (second has 1)
		{cost: 2, limited: true},               // denied by both: second retries in 0.5 s, minute in 59 s: minute binds
		{cost: 0},                              // a peek: allowed, second 1, minute 0: minute binds
		{cost: 1, cancel: true, wantErr: true}, // the caller's ctx is done: an error
	})

	in, err := throttledotel.New[string](throttledotel.WithMeterProvider(mp), throttledotel.WithLimiterName("single"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	single, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuota(algo.PerSec(1)), typed.WithAlgorithm(algo.GCRA), typed.WithHooks(in.Hook))
	if err != nil {
		t.Fatal(err)
	}
	run(t, clock, single, "b", []step{{cost: 1}, {cost: 1, limited: true}})
	// A batch: each request is counted, none is timed.
	res, err := single.LimitAll(testCtx(t), []typed.Request[string]{{Key: "c", Cost: 1}, {Key: "c", Cost: 1}})
	if err != nil || res[0].Limited || !res[1].Limited {
		t.Fatalf("LimitAll: %v, %v; want allowed then denied", res, err)
	}

	got := collect(t, r)
	common := []string{"throttled.store=memory"}
	multiA := func(kv ...string) string {
		return a(append(append([]string{"throttled.limiter=multi"}, common...), kv...)...)
	}
	singleA := func(kv ...string) string {
		return a(append(append([]string{"throttled.limiter=single", "throttled.algorithm=gcra", "throttled.quota=1/s", "throttled.source=store", "throttled.operation=limit"}, common...), kv...)...)
	}
	tb, fw := "throttled.algorithm=token_bucket", "throttled.algorithm=fixed_window"
	qs, qm := "throttled.quota=second", "throttled.quota=minute"
	src, lim, peek := "throttled.source=store", "throttled.operation=limit", "throttled.operation=peek"
	allowed, denied := "throttled.result=allowed", "throttled.result=denied"
	timed := map[string]uint64{
		multiA(allowed, lim, tb, src, qs):                                2,
		multiA(denied, lim, tb, src, qs):                                 1,
		multiA(allowed, lim, fw, src, qm):                                1,
		multiA(denied, lim, fw, src, qm):                                 2,
		multiA(allowed, peek, fw, src, qm):                               1,
		multiA("throttled.result=error", lim, tb, "error.type=canceled"): 1,
		singleA(allowed):                                                 1,
		singleA(denied):                                                  1,
	}
	want := map[string]int64{}
	for k, v := range timed {
		want[k] = int64(v)
	}
	want[singleA(allowed)]++ // the batch's two requests
	want[singleA(denied)]++
	equal(t, throttledotel.MetricRequests, got.sum(t, throttledotel.MetricRequests, "{request}"), want)
	equal(t, throttledotel.MetricDuration, got.histCounts(t), timed)
	// Every decision came from the store: no fallback.
	equal(t, throttledotel.MetricFallbackActive, got.gauge(t, throttledotel.MetricFallbackActive, "{state}"), map[string]int64{
		a("throttled.limiter=multi"): 0, a("throttled.limiter=single"): 0,
	})
	if in.FallbackActive() {
		t.Error("FallbackActive after store decisions")
	}
	// Close removes the single limiter's gauge, not the multi one's.
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	equal(t, "after Close", collect(t, r).gauge(t, throttledotel.MetricFallbackActive, "{state}"), map[string]int64{a("throttled.limiter=multi"): 0})
}

// TestHookReturnsNextUnchanged: the hook returns what the store decided,
// Result and error, the same as without it.
func TestHookReturnsNextUnchanged(t *testing.T) {
	_, mp := newReader(t)
	clock := store.NewFakeClock(fakeStart)
	hook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(hooks ...typed.Hook[string]) *typed.Limiter[string] {
		mem, err := memstore.New(memstore.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		l, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuotas(algo.PerSec(3), algo.PerMin(5).WithAlgorithm(algo.SlidingWindow)), typed.WithHooks(hooks...))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	plain, hooked := mk(), mk(hook)
	for i := range 8 {
		ctx := testCtx(t)
		if i == 7 {
			c, cancel := context.WithCancel(ctx)
			cancel()
			ctx = c
		}
		r1, e1 := plain.Limit(ctx, "k", int64(i%3))
		r2, e2 := hooked.Limit(ctx, "k", int64(i%3))
		if r1.String() != r2.String() || r1.Source != r2.Source || len(r1.Quotas) != len(r2.Quotas) || (e1 == nil) != (e2 == nil) {
			t.Fatalf("call %d: hooked %v, %v; plain %v, %v", i, r2, e2, r1, e1)
		}
		if e2 != nil && !errors.Is(e2, store.ErrUnavailable) {
			t.Fatalf("call %d: the hook changed the error: %v", i, e2)
		}
		clock.Advance(300 * time.Millisecond)
	}
}

// TestBindingQuotaTies: throttled.quota (and throttled.algorithm) name
// the first quota on a tie: of the quotas with the least Remaining for an
// allowed request, as Result.State does, and of those with the greatest
// RetryAfter for a denial.
func TestBindingQuotaTies(t *testing.T) {
	r, mp := newReader(t)
	clock := store.NewFakeClock(fakeStart) // a whole minute
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	// After one request both have 0 left, and a second one would pass in
	// 60 s under each: the window ends then, and the bucket's token is back.
	window := algo.PerMin(1).WithName("window").WithAlgorithm(algo.FixedWindow)
	bucket := algo.PerMin(1).WithName("bucket").WithAlgorithm(algo.TokenBucket)
	l, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuotas(window, bucket), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := l.Limit(testCtx(t), "k", 1)
	if err != nil || allowed.Limited || allowed.Quota.Name != "window" {
		t.Fatalf("first request: %v, %v; want allowed, bound by window (the first of two with 0 left)", allowed, err)
	}
	denied, err := l.Limit(testCtx(t), "k", 1)
	if err != nil || !denied.Limited || denied.Quotas[0].State.RetryAfter != time.Minute || denied.Quotas[1].State.RetryAfter != time.Minute {
		t.Fatalf("second request: %v, %v; want denied by both, each for 1 min", denied, err)
	}
	base := []string{"throttled.store=memory", "throttled.source=store", "throttled.operation=limit", "throttled.quota=window", "throttled.algorithm=fixed_window"}
	with := func(kv ...string) string { return a(append(append([]string(nil), base...), kv...)...) }
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), map[string]int64{
		with("throttled.result=allowed"): 1,
		with("throttled.result=denied"):  1,
	})
}

// TestHookWithoutQuotas: the Hook called directly, as by a limiter of
// another make, with a Call that holds no quota records neither
// throttled.quota nor throttled.algorithm, for a decision or an error.
func TestHookWithoutQuotas(t *testing.T) {
	r, mp := newReader(t)
	in, err := throttledotel.New[string](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	decided := typed.Result{State: typed.State{Limit: 5, Remaining: 4}}
	errDown := fmt.Errorf("%w: down", store.ErrUnavailable)
	for _, c := range []struct {
		res typed.Result
		err error
	}{{decided, nil}, {typed.Result{}, errDown}} {
		next := func(context.Context) (typed.Result, error) { return c.res, c.err }
		res, err := in.Hook(testCtx(t), &typed.Call[string]{Key: "k", Cost: 1, Store: "custom"}, next)
		if res.String() != c.res.String() || err != c.err {
			t.Fatalf("Hook returned %v, %v; want next's %v, %v", res, err, c.res, c.err)
		}
	}
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), map[string]int64{
		a("throttled.store=custom", "throttled.operation=limit", "throttled.result=allowed", "throttled.source=store"): 1,
		a("throttled.store=custom", "throttled.operation=limit", "throttled.result=error", "error.type=unavailable"):   1,
	})
}

// TestKeyAttribute: the key appears only through WithKeyAttribute, and
// only what the function makes of it.
func TestKeyAttribute(t *testing.T) {
	r, mp := newReader(t)
	plan := func(user int) attribute.KeyValue {
		if user < 100 {
			return attribute.String("plan", "staff")
		}
		return attribute.String("plan", "customer")
	}
	hook, err := throttledotel.NewHook[int](throttledotel.WithMeterProvider(mp), throttledotel.WithKeyAttribute(plan), throttledotel.WithAttributes(attribute.String("region", "eu")))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memstore.New(memstore.WithClock(store.NewFakeClock(fakeStart)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[int](typed.WithStore[int](memstore.For[int](mem)), typed.WithQuota(algo.PerMin(1).WithName("m")), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []int{7, 7, 1234, 5678} { // staff allowed, staff denied, two customers allowed
		if _, err := l.Limit(testCtx(t), user, 1); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"region=eu", "throttled.store=memory", "throttled.algorithm=token_bucket", "throttled.quota=m", "throttled.source=store", "throttled.operation=limit"}
	with := func(kv ...string) string { return a(append(append([]string(nil), base...), kv...)...) }
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), map[string]int64{
		with("plan=staff", "throttled.result=allowed"):    1,
		with("plan=staff", "throttled.result=denied"):     1,
		with("plan=customer", "throttled.result=allowed"): 2,
	})
}

// TestOptionErrors: bad options fail New with algo.ErrInvalid.
func TestOptionErrors(t *testing.T) {
	for name, opts := range map[string][]throttledotel.Option{
		"nil option":          {nil},
		"nil meter provider":  {throttledotel.WithMeterProvider(nil)},
		"nil tracer provider": {throttledotel.WithTracerProvider(nil)},
		"nil key func":        {throttledotel.WithKeyAttribute[string](nil)},
		"key func of strings": {throttledotel.WithKeyAttribute(func(string) attribute.KeyValue { return attribute.Bool("x", true) })},
	} {
		if _, err := throttledotel.New[int](opts...); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("%s: New: %v, want algo.ErrInvalid", name, err)
		}
	}
	if _, err := throttledotel.ObserveMemoryStore("x", nil); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("ObserveMemoryStore(nil): %v", err)
	}
}

// TestMemoryStoreGauges: a store of 4 keys charged with 10 keys of live
// state holds 4 and has evicted 6.
func TestMemoryStoreGauges(t *testing.T) {
	r, mp := newReader(t)
	mem, err := memstore.New(memstore.WithShards(1), memstore.WithMaxSize(4), memstore.WithClock(store.NewFakeClock(fakeStart)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := throttledotel.ObserveMemoryStore("sessions", mem, throttledotel.WithMeterProvider(mp), throttledotel.WithAttributes(attribute.String("region", "eu")))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuota(algo.PerHour(10)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := l.Limit(testCtx(t), string(rune('a'+i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	if st := mem.Stats(); st.Keys != 4 || st.LiveEvictions != 6 {
		t.Fatalf("Stats %+v, want 4 keys and 6 live evictions", st)
	}
	attrs := a("throttled.store=memory", "throttled.store.name=sessions", "region=eu")
	got := collect(t, r)
	equal(t, throttledotel.MetricMemoryKeys, got.gauge(t, throttledotel.MetricMemoryKeys, "{key}"), map[string]int64{attrs: 4})
	equal(t, throttledotel.MetricMemoryLiveEvictions, got.sum(t, throttledotel.MetricMemoryLiveEvictions, "{key}"), map[string]int64{attrs: 6})
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	got = collect(t, r)
	equal(t, "after Unregister", got.gauge(t, throttledotel.MetricMemoryKeys, "{key}"), map[string]int64{})
}

// TestManyQuotaSets: a quota function that names a quota per key makes
// more attribute sets (1200) than the cache keeps (1024); the ones past
// it are built per decision, and every decision is still counted under
// its own. (The SDK keeps at most 2000 sets per instrument by default.)
func TestManyQuotaSets(t *testing.T) {
	r, mp := newReader(t)
	hook, err := throttledotel.NewHook[int](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memstore.New(memstore.WithClock(store.NewFakeClock(fakeStart)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[int](typed.WithStore[int](memstore.For[int](mem)), typed.WithHooks(hook),
		typed.WithQuotaFunc(func(_ context.Context, k int) ([]algo.Quota, error) {
			return []algo.Quota{algo.PerMin(1).WithName(strconv.Itoa(k))}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	for k := range n {
		for range 2 { // allowed, then denied
			if _, err := l.Limit(testCtx(t), k, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]int64{}
	for k := range n {
		for _, res := range []string{"allowed", "denied"} {
			want[a("throttled.store=memory", "throttled.algorithm=token_bucket", "throttled.source=store", "throttled.operation=limit", "throttled.result="+res, "throttled.quota="+strconv.Itoa(k))] = 1
		}
	}
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), want)
}

// TestConcurrentDecisions: decisions from many goroutines are each
// counted once, under the result the caller got (run it with -race).
func TestConcurrentDecisions(t *testing.T) {
	r, mp := newReader(t)
	in, err := throttledotel.New[string](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	mem, err := memstore.New(memstore.WithClock(store.NewFakeClock(fakeStart)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[string](typed.WithStore[string](mem), typed.WithHooks(in.Hook),
		typed.WithQuotas(algo.PerSec(5).WithName("s"), algo.PerMin(40).WithName("m").WithAlgorithm(algo.SlidingWindow)))
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 8, 200
	var mu sync.Mutex
	seen := map[string]int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := map[string]int64{}
			for i := range calls {
				res, err := l.Limit(testCtx(t), "k"+strconv.Itoa((w+i)%4), 1)
				if err != nil {
					t.Error(err)
					return
				}
				// The binding quota, by the documented rule.
				q := "s"
				if res.Limited && !res.Quotas[0].Limited || !res.Limited && res.Quotas[1].State.Remaining < res.Quotas[0].State.Remaining ||
					res.Limited && res.Quotas[1].Limited && res.Quotas[1].State.RetryAfter > res.Quotas[0].State.RetryAfter {
					q = "m"
				}
				alg := map[string]string{"s": "token_bucket", "m": "sliding_window"}[q]
				result := map[bool]string{false: "allowed", true: "denied"}[res.Limited]
				local[a("throttled.store=memory", "throttled.source=store", "throttled.operation=limit", "throttled.algorithm="+alg, "throttled.result="+result, "throttled.quota="+q)]++
			}
			mu.Lock()
			for k, v := range local {
				seen[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	var total int64
	for _, v := range seen {
		total += v
	}
	if total != workers*calls {
		t.Fatalf("%d results, want %d", total, workers*calls)
	}
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), seen)
}
