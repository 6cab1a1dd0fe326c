package throttled_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// t0 is 2023-11-09T00:00:00Z, a multiple of a week since the epoch, so
// windows of every quota helper start there.
const t0 = int64(1_699_488_000) * 1_000_000

var bg = context.Background()

// fakeStore returns a memory store on a fake clock reading t0.
func fakeStore(t testing.TB) (*memstore.Store, *store.FakeClock) {
	t.Helper()
	fc := store.NewFakeClock(t0)
	s, err := memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	return s, fc
}

// redisStore returns a Redis store on a redis-server of the test's own
// (skipped without one, a failure with THROTTLED_REQUIRE_REDIS=1),
// deciding on a fake clock reading t0.
func redisStore(t testing.TB) (*redisstore.Store, *store.FakeClock) {
	t.Helper()
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fc := store.NewFakeClock(t0)
	s, err := redisstore.New(c, redisstore.WithClock(fc), redisstore.WithTTLSlack(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return s, fc
}

// callDeadline bounds, in real time, a test that calls what can block
// (Wait, Do, Wrap) and expects each call to return at once, or once a fake
// clock moves, and a test in a synctest bubble, where virtual time passes
// at once. Each takes well under a second; one whose call never returns
// (a Wait asleep on a clock nobody moves, or retrying for ever) fails at
// this deadline rather than at go test's timeout.
const callDeadline = 15 * time.Second

// failAfter makes the test binary panic, naming t, if t has not finished
// within d of real time: a hung call cannot be interrupted, but it can
// fail the run in seconds. Call it outside any synctest bubble.
func failAfter(t testing.TB, d time.Duration) {
	t.Helper()
	name := t.Name()
	watchdog := time.AfterFunc(d, func() {
		panic(fmt.Sprintf("%s still runs after %v of real time: a call that should have returned (Wait, Do, Wrap) hangs", name, d))
	})
	t.Cleanup(func() { watchdog.Stop() })
}

func newT(t testing.TB, opts ...throttled.Option) *throttled.Limiter {
	t.Helper()
	th, err := throttled.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return th
}

func state(limit, remaining int64, reset, retry time.Duration) throttled.State {
	return throttled.State{Limit: limit, Remaining: remaining, ResetAfter: reset, RetryAfter: retry}
}

// TestThrottledPyFunctionCall is throttled-py's README "Function Call"
// example, with the exact values of DESIGN §3: a token bucket of 60 per
// minute, burst 60, refilling one token per second.
func TestThrottledPyFunctionCall(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s)) // defaults: token bucket, 60/min

	// limit("key", 1) -> limited=False, limit=60, remaining=59, reset_after=1s, retry_after=0
	r, err := th.Limit(bg, "key", 1)
	if want := (throttled.Result{State: state(60, 59, time.Second, 0)}); err != nil || !sameResult(r, want) {
		t.Fatalf("limit(key, 1) = %v, %v; want %v", r, err, want)
	}
	// peek("key") -> limit=60, remaining=59, reset_after=1s, retry_after=0
	p, err := th.Peek(bg, "key")
	if want := state(60, 59, time.Second, 0); err != nil || p != want {
		t.Fatalf("peek(key) = %v, %v; want %v", p, err, want)
	}
	// limit("key", 60) -> limited=True, remaining=59, reset_after=1s; the
	// request needs one token more than the 59 left, so retry_after is the
	// 1s that token takes to refill (throttled-py prints 60).
	r, err = th.Limit(bg, "key", 60)
	if want := (throttled.Result{Limited: true, State: state(60, 59, time.Second, time.Second)}); err != nil || !sameResult(r, want) {
		t.Fatalf("limit(key, 60) = %v, %v; want %v", r, err, want)
	}
	// A denial consumed nothing.
	if p, _ := th.Peek(bg, "key"); p.Remaining != 59 {
		t.Fatalf("peek after the denial = %v, want remaining 59", p)
	}
}

// TestThrottledPyDecorator is throttled-py's
// @Throttled(key="/ping", quota=per_min(1)).
func TestThrottledPyDecorator(t *testing.T) {
	failAfter(t, callDeadline)
	s, fc := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithQuota(throttled.PerMin(1)))
	calls := 0
	ping := throttled.Wrap(th, "/ping", func(context.Context) error { calls++; return nil })
	if err := ping(bg); err != nil {
		t.Fatalf("first ping: %v", err)
	}
	err := ping(bg)
	const want = "throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s"
	if err == nil || err.Error() != want {
		t.Fatalf("second ping: %v, want %q", err, want)
	}
	var le *throttled.LimitedError
	if !errors.Is(err, throttled.ErrLimited) || !errors.As(err, &le) || !le.Result.Limited {
		t.Fatalf("second ping error %v is not a *LimitedError", err)
	}
	if calls != 1 {
		t.Fatalf("ping ran %d times, want 1", calls)
	}
	fc.Advance(time.Minute)
	if err := ping(bg); err != nil || calls != 2 {
		t.Fatalf("ping a minute later: %v (ran %d times)", err, calls)
	}
}

// TestThrottledPyContextManager is throttled-py's `with throttle:` block,
// as Do, with throttled-py's key= as WithDefaultKey.
func TestThrottledPyContextManager(t *testing.T) {
	failAfter(t, callDeadline)
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithDefaultKey("/api/v1/users/"), throttled.WithQuota(throttled.PerMin(1)))
	ran := 0
	callAPI := func(context.Context) error { ran++; return nil }
	if err := th.Do(bg, "", callAPI); err != nil {
		t.Fatal(err)
	}
	err := th.Do(bg, "", callAPI)
	if !errors.Is(err, throttled.ErrLimited) || ran != 1 {
		t.Fatalf("second block: %v, ran %d; want a LimitedError and one run", err, ran)
	}
	if err.Error() != "throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s" {
		t.Fatalf("message %q", err)
	}
}

// TestThrottledPyInMemoryShared is throttled-py's ping-pong example: two
// limiters with the same store, key and quota share the key, whatever the
// quotas' names.
func TestThrottledPyInMemoryShared(t *testing.T) {
	failAfter(t, callDeadline)
	s, _ := fakeStore(t)
	ping := throttled.Wrap(newT(t, throttled.WithStore(s), throttled.WithQuota(throttled.PerMin(1).WithName("ping"))), "ping-pong", func(context.Context) error { return nil })
	pong := throttled.Wrap(newT(t, throttled.WithStore(s), throttled.WithQuota(throttled.PerMin(1))), "ping-pong", func(context.Context) error { return nil })
	if err := ping(bg); err != nil {
		t.Fatal(err)
	}
	if err := pong(bg); !errors.Is(err, throttled.ErrLimited) {
		t.Fatalf("pong: %v, want LimitedError", err)
	}
}

// TestThrottledPyAlgorithms: throttled-py's fixed-window example, and each
// algorithm by its throttled-py name.
func TestThrottledPyAlgorithms(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithAlgorithm(throttled.FixedWindow), throttled.WithQuota(throttled.PerMin(1)))
	if r, err := th.Limit(bg, "key", 2); err != nil || !r.Limited || r.State.RetryAfter != throttled.Never {
		t.Fatalf("limit(key, 2) = %v, %v; want limited, never", r, err)
	}
	for name, want := range map[string]throttled.Algorithm{
		"fixed_window":   throttled.FixedWindow,
		"sliding_window": throttled.SlidingWindow,
		"token_bucket":   throttled.TokenBucket,
		"leaking_bucket": throttled.LeakingBucket,
		"leaky_bucket":   throttled.LeakingBucket,
		" GCRA ":         throttled.GCRA,
	} {
		got, err := throttled.ParseAlgorithm(name)
		if err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", name, got, err, want)
		}
		if a := newT(t, throttled.WithStore(s), throttled.WithAlgorithm(got)).Quotas()[0].Algorithm; a != want {
			t.Errorf("limiter algorithm %v, want %v", a, want)
		}
	}
	_, err := throttled.ParseAlgorithm("leaky")
	var de *throttled.DataError
	if !errors.Is(err, throttled.ErrInvalid) || !errors.As(err, &de) || !strings.Contains(err.Error(), `invalid algorithm "leaky"`) {
		t.Fatalf("ParseAlgorithm(leaky) error %v", err)
	}
}

// TestThrottledPyQuotas: throttled-py's quota helpers and their ParseQuota
// spellings.
func TestThrottledPyQuotas(t *testing.T) {
	cases := []struct {
		q     throttled.Quota
		text  string
		per   time.Duration
		limit int64
		burst int64
	}{
		{throttled.PerSec(60), "60/s", time.Second, 60, 60},
		{throttled.PerMin(60), "60 per minute", time.Minute, 60, 60},
		{throttled.PerHour(60), "60/hour", time.Hour, 60, 60},
		{throttled.PerDay(60), "60 per day", 24 * time.Hour, 60, 60},
		{throttled.PerWeek(60), "60/wk", 7 * 24 * time.Hour, 60, 60},
		{throttled.PerMin(60).WithBurst(120), "60/m burst 120", time.Minute, 60, 120},
		{throttled.PerDuration(2*time.Minute, 120).WithBurst(150), "120 per 2 minutes burst 150", 2 * time.Minute, 120, 150},
	}
	s, _ := fakeStore(t)
	for _, c := range cases {
		if c.q.Period != c.per || c.q.Limit != c.limit || c.q.EffectiveBurst() != c.burst {
			t.Errorf("%v: period %v limit %d burst %d", c.q, c.q.Period, c.q.Limit, c.q.EffectiveBurst())
		}
		p, err := throttled.ParseQuota(c.text)
		if err != nil || p != c.q {
			t.Errorf("ParseQuota(%q) = %v, %v; want %v", c.text, p, err, c.q)
		}
		// A bucket's State.Limit is the burst.
		th := newT(t, throttled.WithStore(s), throttled.WithQuota(c.q))
		if st, _ := th.Peek(bg, c.text); st.Limit != c.burst || st.Remaining != c.burst {
			t.Errorf("%v: Peek = %v", c.q, st)
		}
	}
}

func TestWithDefaultKey(t *testing.T) {
	failAfter(t, callDeadline)
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithDefaultKey("/default"), throttled.WithQuota(throttled.PerMin(3)))
	// The empty key means the default key, in every call.
	if _, err := th.Limit(bg, "", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Wait(bg, "", 1); err != nil {
		t.Fatal(err)
	}
	if err := th.Do(bg, "", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st, _ := th.Peek(bg, "/default"); st.Remaining != 0 {
		t.Fatalf("Peek(/default) = %v, want remaining 0", st)
	}
	if err := throttled.Wrap(th, "", func(context.Context) error { return nil })(bg); !errors.Is(err, throttled.ErrLimited) {
		t.Fatalf("Wrap on the default key: %v, want LimitedError", err)
	}
	// A given key overrides it.
	if r, _ := th.Limit(bg, "/other", 1); r.Limited {
		t.Fatalf("Limit(/other) = %v", r)
	}
	if err := th.Reset(bg, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := th.Peek(bg, ""); st.Remaining != 3 {
		t.Fatalf("Peek after Reset = %v, want remaining 3", st)
	}
	if st, _ := th.Peek(bg, "/other"); st.Remaining != 2 {
		t.Fatalf("Peek(/other) after resetting the default key = %v, want remaining 2", st)
	}

	// Without WithDefaultKey the empty key is invalid, and nothing is stored.
	s2, _ := fakeStore(t)
	plain := newT(t, throttled.WithStore(s2))
	for name, call := range map[string]func() error{
		"Limit":    func() error { _, err := plain.Limit(bg, "", 1); return err },
		"Peek":     func() error { _, err := plain.Peek(bg, ""); return err },
		"Wait":     func() error { _, err := plain.Wait(bg, "", 1); return err },
		"Do":       func() error { return plain.Do(bg, "", func(context.Context) error { return nil }) },
		"Reset":    func() error { return plain.Reset(bg, "") },
		"Wrap":     func() error { return throttled.Wrap(plain, "", func(context.Context) error { return nil })(bg) },
		"LimitAll": func() error { _, err := plain.LimitAll(bg, []throttled.Request{{Key: "", Cost: 1}}); return err },
	} {
		err := call()
		if !errors.Is(err, throttled.ErrInvalid) || !strings.Contains(err.Error(), `invalid key ""`) {
			t.Errorf("%s with the empty key: %v, want invalid key", name, err)
		}
	}
	if n := s2.Stats().Keys; n != 0 {
		t.Fatalf("store holds %d keys after invalid calls", n)
	}
	if _, err := throttled.New(throttled.WithDefaultKey("")); !errors.Is(err, throttled.ErrInvalid) {
		t.Fatalf("WithDefaultKey(\"\"): %v, want ErrInvalid", err)
	}
}

func TestNewInvalid(t *testing.T) {
	for name, opt := range map[string]throttled.Option{
		"nil option":            nil,
		"WithStore(nil)":        throttled.WithStore(nil),
		"nil *memstore.Store":   throttled.WithStore((*memstore.Store)(nil)),
		"WithCost(-1)":          throttled.WithCost(-1),
		"limit 0":               throttled.WithQuota(throttled.PerSec(0)),
		"burst -1":              throttled.WithQuota(throttled.PerSec(1).WithBurst(-1)),
		"period 999µs":          throttled.WithQuota(throttled.PerDuration(999*time.Microsecond, 1)),
		"negative timeout":      throttled.WithTimeout(-time.Nanosecond),
		"wrong default key":     typed.WithDefaultKey(1),
		"invalid algorithm (0)": throttled.WithAlgorithm(0),
		"no quotas":             throttled.WithQuotas(),
		"duplicate quotas":      throttled.WithQuotas(throttled.PerSec(1).WithName("a"), throttled.PerSec(1).WithName("b")),
		"nil quota func":        throttled.WithQuotaFunc(nil),
		"quota func of ints":    typed.WithQuotaFunc(func(context.Context, int) ([]algo.Quota, error) { return nil, nil }),
		"nil hook":              throttled.WithHooks(nil),
	} {
		th, err := throttled.New(opt)
		var de *throttled.DataError
		if th != nil || !errors.Is(err, throttled.ErrInvalid) || !errors.As(err, &de) || !strings.HasPrefix(err.Error(), "throttled: invalid ") {
			t.Errorf("%s: New = %v, %v; want a *DataError", name, th, err)
		}
	}
}

func TestMustNew(t *testing.T) {
	s, _ := fakeStore(t)
	if th := throttled.MustNew(throttled.WithStore(s)); th == nil || len(th.Quotas()) != 1 {
		t.Fatal("MustNew returned no limiter")
	}
	defer func() {
		err, _ := recover().(error)
		if !errors.Is(err, throttled.ErrInvalid) || !strings.Contains(err.Error(), "invalid limit 0") {
			t.Fatalf("MustNew panicked with %v, want the *DataError", err)
		}
	}()
	throttled.MustNew(throttled.WithQuota(throttled.PerMin(0)))
	t.Fatal("MustNew did not panic")
}

// TestAliases: the facade's names are the packages' names.
func TestAliases(t *testing.T) {
	if throttled.ErrInvalid != algo.ErrInvalid || throttled.ErrLimited != typed.ErrLimited ||
		throttled.ErrUnavailable != store.ErrUnavailable || throttled.ErrScript != store.ErrScript {
		t.Fatal("facade errors differ from the packages' errors")
	}
	if throttled.Never != typed.Never {
		t.Fatal("Never differs")
	}
	for _, e := range []error{throttled.ErrInvalid, throttled.ErrLimited, throttled.ErrUnavailable, throttled.ErrScript} {
		if !strings.HasPrefix(e.Error(), "throttled:") {
			t.Errorf("%q does not start with throttled:", e)
		}
	}
	// A facade Limiter is a typed.Limiter[string]: one type, no wrapper.
	var l *typed.Limiter[string] = newT(t)
	_ = l
	// Both stores are facade Stores.
	var _ throttled.Store = (*memstore.Store)(nil)
	var _ throttled.Store = (*redisstore.Store)(nil)
	var _ throttled.Request = typed.Request[string]{}
	var _ throttled.QuotaState = typed.QuotaState{}
}

// TestFacadeWait: the facade's Wait and WithTimeout, in virtual time.
func TestFacadeWait(t *testing.T) {
	failAfter(t, callDeadline)
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.WithClock(clock.Func(func() int64 { return time.Now().UnixMicro() })))
		if err != nil {
			t.Fatal(err)
		}
		th := newT(t, throttled.WithStore(s), throttled.WithQuota(throttled.PerSec(2)), throttled.WithTimeout(time.Second))
		start := time.Now()
		for range 4 {
			if r, err := th.Wait(bg, "k", 1); err != nil || r.Limited {
				t.Fatalf("Wait = %v, %v", r, err)
			}
		}
		// Burst 2 at once, then one per 500ms.
		if d := time.Since(start); d != time.Second {
			t.Fatalf("4 Waits took %v, want 1s", d)
		}
		// Wrap waits too, with WithTimeout.
		ping := throttled.Wrap(th, "k", func(context.Context) error { return nil })
		if err := ping(bg); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 1500*time.Millisecond {
			t.Fatalf("wrapped call ended at %v, want 1.5s", d)
		}
		// A cost above the burst never waits.
		r, err := th.Wait(bg, "k", 3)
		if !errors.Is(err, throttled.ErrLimited) || r.State.RetryAfter != throttled.Never {
			t.Fatalf("Wait(3) = %v, %v; want never", r, err)
		}
		if d := time.Since(start); d != 1500*time.Millisecond {
			t.Fatalf("Wait(3) waited until %v", d)
		}
	})
}

// TestFacadeWaitFakeClock: on a store with a store.FakeClock the facade's
// Wait sleeps on that clock; the test moves it once the limiter sleeps.
func TestFacadeWaitFakeClock(t *testing.T) {
	failAfter(t, callDeadline)
	s, fc := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithQuota(throttled.PerMin(1)))
	if r, _ := th.Limit(bg, "k", 1); r.Limited {
		t.Fatal(r)
	}
	c, cancel := context.WithTimeout(bg, 10*time.Second) // fail fast if Wait sleeps on anything else
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := th.Wait(c, "k", 1)
		done <- err
	}()
	for fc.Sleepers() != 1 {
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v before the clock moved", err)
		case <-c.Done():
			t.Fatal("Wait never slept on the fake clock")
		case <-time.After(50 * time.Microsecond):
		}
	}
	fc.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// TestFacadeQuotas: several quotas through the facade, on memory and
// Redis: all or nothing, with each quota's part in Result.Quotas.
func TestFacadeQuotas(t *testing.T) {
	mem, mfc := fakeStore(t)
	red, rfc := redisStore(t)
	for name, s := range map[string]struct {
		st throttled.Store
		fc *store.FakeClock
	}{"memory": {mem, mfc}, "redis": {red, rfc}} {
		t.Run(name, func(t *testing.T) {
			daily := throttled.PerDay(10_000).WithAlgorithm(throttled.FixedWindow).WithName("daily")
			th := newT(t, throttled.WithStore(s.st), throttled.WithQuotas(throttled.PerSec(10).WithBurst(20), daily))
			for i := range 20 {
				if r, err := th.Limit(bg, "user:1", 1); err != nil || r.Limited {
					t.Fatalf("Limit %d = %v, %v", i+1, r, err)
				}
			}
			r, err := th.Limit(bg, "user:1", 1)
			want := throttled.Result{Limited: true, State: state(20, 0, 24*time.Hour, 100*time.Millisecond), Quotas: []throttled.QuotaState{
				{Quota: throttled.PerSec(10).WithBurst(20).WithAlgorithm(throttled.TokenBucket), Limited: true, State: state(20, 0, 2*time.Second, 100*time.Millisecond)},
				{Quota: daily, State: state(10_000, 9980, 24*time.Hour, 0)},
			}}
			if err != nil || !sameResult(r, want) {
				t.Fatalf("21st Limit = %v %+v, %v; want %v %+v", r, r.Quotas, err, want, want.Quotas)
			}
			dailyOnly := newT(t, throttled.WithStore(s.st), throttled.WithQuota(daily))
			if st, _ := dailyOnly.Peek(bg, "user:1"); st.Remaining != 9980 {
				t.Fatalf("daily quota after a denial: %v, want 9980 left", st)
			}
			// Bug repro through the facade: a limiter with another quota on
			// the key is independent.
			slow := newT(t, throttled.WithStore(s.st), throttled.WithQuota(throttled.PerHour(7)))
			if r, _ := slow.Limit(bg, "user:1", 1); r.Limited || r.State.Remaining != 6 || r.State.RetryAfter != 0 {
				t.Fatalf("another limiter's first Limit = %v, want allowed with 6 left", r)
			}
			res, err := th.LimitAll(bg, []throttled.Request{{Key: "user:2", Cost: 20}, {Key: "user:1", Cost: 1}})
			if err != nil || res[0].Limited || res[0].State.Remaining != 0 || !res[1].Limited {
				t.Fatalf("LimitAll = %v, %v", res, err)
			}
		})
	}
}

// TestFacadeQuotaFunc: plans through the facade.
func TestFacadeQuotaFunc(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithQuotaFunc(func(_ context.Context, key string) ([]throttled.Quota, error) {
		if strings.HasPrefix(key, "paid:") {
			return []throttled.Quota{throttled.PerMin(1000)}, nil
		}
		return []throttled.Quota{throttled.PerMin(10)}, nil
	}))
	if th.Quotas() != nil {
		t.Fatalf("Quotas() = %v, want nil with a quota func", th.Quotas())
	}
	for key, want := range map[string]int64{"free:a": 9, "paid:b": 999} {
		if r, err := th.Limit(bg, key, 1); err != nil || r.State.Remaining != want {
			t.Fatalf("Limit(%s) = %v, %v; want %d left", key, r, err, want)
		}
	}
}

// TestFacadeHooksAndOutage: the facade's hook and outage options reach
// the limiter.
func TestFacadeHooksAndOutage(t *testing.T) {
	s, _ := fakeStore(t)
	var seen atomic.Int64
	hook := func(ctx context.Context, c *throttled.Call, next throttled.Next) (throttled.Result, error) {
		seen.Add(1)
		return next(ctx)
	}
	for _, p := range []throttled.OutagePolicy{throttled.FailClosed, throttled.FailOpen, throttled.FallBack(2)} {
		th := newT(t, throttled.WithStore(s), throttled.WithHooks(hook), throttled.WithOutagePolicy(p))
		if r, err := th.Limit(bg, "k", 1); err != nil || r.Limited || r.Source != throttled.FromStore {
			t.Fatalf("Limit = %v, %v", r, err)
		}
	}
	if n := seen.Load(); n != 3 {
		t.Fatalf("hook saw %d calls, want 3", n)
	}
}

// sameResult compares a Result with one a test built: all but Quota, which
// names the quota State shows (typed's TestResultQuota checks it).
func sameResult(got, want throttled.Result) bool {
	got.Quota = want.Quota
	return reflect.DeepEqual(got, want)
}
