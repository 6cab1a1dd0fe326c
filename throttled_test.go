package throttled_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// t0 is 2023-11-09T00:00:00Z, a multiple of a week since the epoch, so
// windows of every quota helper start there.
const t0 = int64(1_699_488_000) * 1_000_000

var bg = context.Background()

func fakeStore(t testing.TB) (*memstore.Store, *throttled.FakeClock) {
	t.Helper()
	fc := throttled.NewFakeClock(t0)
	s := memstore.New(memstore.WithClock(fc), memstore.WithSweepInterval(0))
	t.Cleanup(func() { s.Close() })
	return s, fc
}

func newT(t testing.TB, opts ...throttled.Option) *throttled.Throttled {
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

// TestSeedFunctionCall is the seed README's "Function Call" example, with
// the exact values of DESIGN §3: a token bucket of 60 per minute, burst 60,
// refilling one token per second.
func TestSeedFunctionCall(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s)) // defaults: token bucket, 60/min

	// limit("key", 1) -> limited=False, limit=60, remaining=59, reset_after=1s, retry_after=0
	r, err := th.Limit(bg, "key", 1)
	if want := (throttled.Result{State: state(60, 59, time.Second, 0)}); err != nil || r != want {
		t.Fatalf("limit(key, 1) = %v, %v; want %v", r, err, want)
	}
	// peek("key") -> limit=60, remaining=59, reset_after=1s, retry_after=0
	p, err := th.Peek(bg, "key")
	if want := state(60, 59, time.Second, 0); err != nil || p != want {
		t.Fatalf("peek(key) = %v, %v; want %v", p, err, want)
	}
	// limit("key", 60) -> limited=True, remaining=59, reset_after=1s; the
	// request needs one token more than the 59 left, so retry_after is the
	// 1s that token takes to refill (the seed prints 60).
	r, err = th.Limit(bg, "key", 60)
	if want := (throttled.Result{Limited: true, State: state(60, 59, time.Second, time.Second)}); err != nil || r != want {
		t.Fatalf("limit(key, 60) = %v, %v; want %v", r, err, want)
	}
	// A denial consumed nothing.
	if p, _ := th.Peek(bg, "key"); p.Remaining != 59 {
		t.Fatalf("peek after the denial = %v, want remaining 59", p)
	}
}

// TestSeedDecorator is the seed's @Throttled(key="/ping", quota=per_min(1)).
func TestSeedDecorator(t *testing.T) {
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

// TestSeedContextManager is the seed's `with throttle:` block, as Do.
func TestSeedContextManager(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithKey("/api/v1/users/"), throttled.WithQuota(throttled.PerMin(1)))
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

// TestSeedInMemoryShared is the seed's ping-pong example: two limiters
// with the same store, key and quota share the key.
func TestSeedInMemoryShared(t *testing.T) {
	s, _ := fakeStore(t)
	q := throttled.WithQuota(throttled.PerMin(1))
	ping := throttled.Wrap(newT(t, throttled.WithStore(s), q), "ping-pong", func(context.Context) error { return nil })
	pong := throttled.Wrap(newT(t, throttled.WithStore(s), q), "ping-pong", func(context.Context) error { return nil })
	if err := ping(bg); err != nil {
		t.Fatal(err)
	}
	if err := pong(bg); !errors.Is(err, throttled.ErrLimited) {
		t.Fatalf("pong: %v, want LimitedError", err)
	}
}

// TestSeedAlgorithms: the seed's fixed-window example, and each algorithm
// by its seed name.
func TestSeedAlgorithms(t *testing.T) {
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
		if a := newT(t, throttled.WithStore(s), throttled.WithAlgorithm(got)).Limiter().Algorithm(); a != want {
			t.Errorf("limiter algorithm %v, want %v", a, want)
		}
	}
	_, err := throttled.ParseAlgorithm("leaky")
	var de *throttled.DataError
	if !errors.Is(err, throttled.ErrInvalid) || !errors.As(err, &de) || !strings.Contains(err.Error(), `invalid algorithm "leaky"`) {
		t.Fatalf("ParseAlgorithm(leaky) error %v", err)
	}
}

// TestSeedQuotas: the seed's quota helpers and their ParseQuota spellings.
func TestSeedQuotas(t *testing.T) {
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

func TestWithKey(t *testing.T) {
	s, _ := fakeStore(t)
	th := newT(t, throttled.WithStore(s), throttled.WithKey("/default"), throttled.WithQuota(throttled.PerMin(3)))
	if k, ok := th.Limiter().DefaultKey(); !ok || k != "/default" {
		t.Fatalf("DefaultKey() = %q, %v", k, ok)
	}
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

	// Without WithKey the empty key is invalid, and nothing is stored.
	s2, _ := fakeStore(t)
	plain := newT(t, throttled.WithStore(s2))
	for name, call := range map[string]func() error{
		"Limit": func() error { _, err := plain.Limit(bg, "", 1); return err },
		"Peek":  func() error { _, err := plain.Peek(bg, ""); return err },
		"Wait":  func() error { _, err := plain.Wait(bg, "", 1); return err },
		"Do":    func() error { return plain.Do(bg, "", func(context.Context) error { return nil }) },
		"Reset": func() error { return plain.Reset(bg, "") },
		"Wrap":  func() error { return throttled.Wrap(plain, "", func(context.Context) error { return nil })(bg) },
	} {
		err := call()
		if !errors.Is(err, throttled.ErrInvalid) || !strings.Contains(err.Error(), `invalid key ""`) {
			t.Errorf("%s with the empty key: %v, want invalid key", name, err)
		}
	}
	if n := s2.Stats().Entries; n != 0 {
		t.Fatalf("store holds %d entries after invalid calls", n)
	}
	if _, err := throttled.New(throttled.WithKey("")); !errors.Is(err, throttled.ErrInvalid) {
		t.Fatalf("WithKey(\"\"): %v, want ErrInvalid", err)
	}
}

func TestNewInvalid(t *testing.T) {
	for name, opt := range map[string]throttled.Option{
		"WithStore(nil)":        throttled.WithStore(nil),
		"nil *memstore.Store":   throttled.WithStore((*memstore.Store)(nil)),
		"WithCost(-1)":          throttled.WithCost(-1),
		"limit 0":               throttled.WithQuota(throttled.PerSec(0)),
		"burst -1":              throttled.WithQuota(throttled.PerSec(1).WithBurst(-1)),
		"period 999µs":          throttled.WithQuota(throttled.PerDuration(999*time.Microsecond, 1)),
		"negative timeout":      throttled.WithTimeout(-time.Nanosecond),
		"wrong default key":     typed.DefaultKey(1),
		"invalid algorithm (0)": throttled.WithAlgorithm(0),
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
	if th := throttled.MustNew(throttled.WithStore(s)); th == nil || th.Limiter() == nil {
		t.Fatal("MustNew returned nil")
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

// TestErrorAliases: the facade's errors are the packages' errors.
func TestErrorAliases(t *testing.T) {
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
	var c throttled.Clock = clock.NewFake(1)
	if c.Now() != 1 {
		t.Fatal("FakeClock")
	}
}

// TestFacadeWait: the facade's Wait and WithTimeout, in virtual time.
func TestFacadeWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New(memstore.WithClock(clock.Func(func() int64 { return time.Now().UnixMicro() })), memstore.WithSweepInterval(0))
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
		_ = fmt.Sprint(r)
	})
}
