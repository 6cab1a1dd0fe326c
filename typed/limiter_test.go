package typed_test

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// t0 is the fake clock's start: 2023-11-09T00:00:00Z, a multiple of a week
// since the epoch, so every window of every quota helper starts at t0.
const t0 = int64(1_699_488_000) * 1_000_000

var ctx = context.Background()

// newStore returns a memory store on a fake clock reading t0, without a
// janitor goroutine.
func newStore(t testing.TB) (*memstore.Store, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(t0)
	s := memstore.New(memstore.WithClock(fc), memstore.WithSweepInterval(0))
	t.Cleanup(func() { s.Close() })
	return s, fc
}

// must(f()).of(t) is f's value, failing t when f returns an error.
func must[T any](v T, err error) checked[T] { return checked[T]{v, err} }

type checked[T any] struct {
	v   T
	err error
}

func (c checked[T]) of(t testing.TB) T {
	t.Helper()
	if c.err != nil {
		t.Fatalf("unexpected error: %v", c.err)
	}
	return c.v
}

func st(limit, remaining int64, reset, retry time.Duration) typed.State {
	return typed.State{Limit: limit, Remaining: remaining, ResetAfter: reset, RetryAfter: retry}
}

func allowed(s typed.State) typed.Result { return typed.Result{State: s} }
func denied(s typed.State) typed.Result  { return typed.Result{Limited: true, State: s} }

func wantResult(t testing.TB, what string, got typed.Result, err error, want typed.Result) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func wantState(t testing.TB, what string, got typed.State, err error, want typed.State) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// wantLimited checks that err is a *LimitedError carrying want.
func wantLimited(t testing.TB, what string, err error, want typed.Result) {
	t.Helper()
	var le *typed.LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("%s: error %v (%T), want a *typed.LimitedError", what, err, err)
	}
	if !errors.Is(err, typed.ErrLimited) {
		t.Fatalf("%s: errors.Is(%v, ErrLimited) = false", what, err)
	}
	if errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("%s: a denial must not match ErrInvalid", what)
	}
	if le.Result != want {
		t.Fatalf("%s: LimitedError.Result = %v, want %v", what, le.Result, want)
	}
}

// Key types used by the tests.
type (
	// point has no string encoding: fine for the memory store, refused by
	// string stores unless a KeyFunc is given.
	point struct{ X, Y int }
	// userID is an integer kind, encoded in decimal.
	userID int64
	// tenant is a struct with a String method.
	tenant struct {
		Org string
		ID  int
	}
	// ipv4 is an array with a MarshalText method.
	ipv4 [4]byte
	// name is a string kind, whose empty value is refused.
	name string
)

func (t tenant) String() string { return fmt.Sprintf("%s/%d", t.Org, t.ID) }

func (ip ipv4) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3]), nil
}

var (
	_ fmt.Stringer           = tenant{}
	_ encoding.TextMarshaler = ipv4{}
)

// recStore is a string store (not a *memstore.Store, so limiters encode
// their keys for it) that records the keys it is given.
type recStore struct {
	*memstore.Store
	mu   sync.Mutex
	keys []string
}

func (r *recStore) record(k string) {
	r.mu.Lock()
	r.keys = append(r.keys, k)
	r.mu.Unlock()
}

func (r *recStore) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

func (r *recStore) Decide(ctx context.Context, key string, p *algo.Params, cost int64) (algo.Decision, error) {
	r.record(key)
	return r.Store.Decide(ctx, key, p, cost)
}

func (r *recStore) Reset(ctx context.Context, key string, alg algo.Algorithm) error {
	r.record(key)
	return r.Store.Reset(ctx, key, alg)
}

var _ store.Store = (*recStore)(nil)

func newRecStore(t testing.TB) (*recStore, *clock.Fake) {
	s, fc := newStore(t)
	return &recStore{Store: s}, fc
}

// exercise runs every call of the limiter API on key k (and checks that
// other is independent) with a token bucket of 2 per minute: one token
// every 30s, burst 2.
func exercise[K comparable](t *testing.T, s store.Store, fc *clock.Fake, k, other K) {
	t.Helper()
	l := must(typed.New[K](typed.WithStore(s), typed.WithQuota(algo.PerMin(2)))).of(t)

	wantState(t, "Peek(fresh)", must(l.Peek(ctx, k)).of(t), nil, st(2, 2, 0, 0))
	r, err := l.Limit(ctx, k, 1)
	wantResult(t, "Limit 1", r, err, allowed(st(2, 1, 30*time.Second, 0)))
	s1, err := l.Peek(ctx, k)
	wantState(t, "Peek", s1, err, st(2, 1, 30*time.Second, 0))
	s2, err := l.Peek(ctx, other)
	wantState(t, "Peek(other key)", s2, err, st(2, 2, 0, 0))
	r, err = l.Limit(ctx, k, 1)
	wantResult(t, "Limit 2", r, err, allowed(st(2, 0, time.Minute, 0)))
	r, err = l.Limit(ctx, k, 1)
	wantResult(t, "Limit 3 (denied)", r, err, denied(st(2, 0, time.Minute, 30*time.Second)))

	// Do: limited → *LimitedError, fn not run.
	ran := 0
	fn := func(context.Context) error { ran++; return nil }
	wantLimited(t, "Do while limited", l.Do(ctx, k, fn), denied(st(2, 0, time.Minute, 30*time.Second)))
	if ran != 0 {
		t.Fatalf("Do ran fn while limited")
	}
	// Reset: the key is fresh again.
	if err := l.Reset(ctx, k); err != nil {
		t.Fatal(err)
	}
	wantState(t, "Peek after Reset", must(l.Peek(ctx, k)).of(t), nil, st(2, 2, 0, 0))
	// Do: allowed → fn runs; fn's error comes back as is.
	boom := errors.New("boom")
	if err := l.Do(ctx, k, func(context.Context) error { ran++; return boom }); err != boom {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
	if ran != 1 {
		t.Fatalf("fn ran %d times, want 1", ran)
	}
	wantState(t, "Peek after Do", must(l.Peek(ctx, k)).of(t), nil, st(2, 1, 30*time.Second, 0))

	// Wrap: one token left, then limited; 30s later one more.
	wrapped := typed.Wrap(l, k, fn)
	if err := wrapped(ctx); err != nil {
		t.Fatalf("wrapped call 1: %v", err)
	}
	wantLimited(t, "wrapped call 2", wrapped(ctx), denied(st(2, 0, time.Minute, 30*time.Second)))
	fc.Advance(10 * time.Second)
	wantLimited(t, "wrapped call 10s later", wrapped(ctx), denied(st(2, 0, 50*time.Second, 20*time.Second)))
	fc.Advance(20 * time.Second)
	if err := wrapped(ctx); err != nil {
		t.Fatalf("wrapped call 30s later: %v", err)
	}
	if ran != 3 {
		t.Fatalf("fn ran %d times, want 3", ran)
	}

	// WrapFunc: keyed by its argument.
	calls := 0
	wf := typed.WrapFunc(l, func(key K) K { return key }, func(_ context.Context, key K) (string, error) {
		calls++
		return fmt.Sprint(key), nil
	})
	if got, err := wf(ctx, other); err != nil || got != fmt.Sprint(other) {
		t.Fatalf("WrapFunc(other) = %q, %v", got, err)
	}
	got, err := wf(ctx, k)
	wantLimited(t, "WrapFunc(k)", err, denied(st(2, 0, time.Minute, 30*time.Second)))
	if got != "" || calls != 1 {
		t.Fatalf("WrapFunc while limited returned %q and made %d calls, want the zero value and 1", got, calls)
	}
	wantState(t, "Peek(other) after WrapFunc", must(l.Peek(ctx, other)).of(t), nil, st(2, 1, 30*time.Second, 0))
}

func TestLimiterKeysMemstore(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, s, fc, "/ping", "/pong")
	})
	t.Run("named string", func(t *testing.T) {
		s, fc := newStore(t)
		exercise[name](t, s, fc, "alice", "bob")
	})
	t.Run("int", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, s, fc, 42, 43)
	})
	t.Run("int zero", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, s, fc, 0, -1) // only string keys must be non-empty
	})
	t.Run("userID", func(t *testing.T) {
		s, fc := newStore(t)
		exercise[userID](t, s, fc, 7, 8)
	})
	t.Run("struct", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, s, fc, point{1, 2}, point{2, 1})
	})
	t.Run("struct zero value", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, s, fc, point{}, point{0, 1})
	})
}

func TestLimiterKeysStringStore(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, s, fc, "/ping", "/pong")
	})
	t.Run("int", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise[userID](t, s, fc, 7, -8)
	})
	t.Run("Stringer struct", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, s, fc, tenant{"acme", 1}, tenant{"acme", 2})
	})
	t.Run("TextMarshaler array", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, s, fc, ipv4{10, 0, 0, 1}, ipv4{10, 0, 0, 2})
	})
	t.Run("struct with KeyFunc", func(t *testing.T) {
		s, _ := newRecStore(t)
		l := must(typed.New[point](typed.WithStore(s), typed.KeyFunc(func(p point) (string, error) {
			return fmt.Sprintf("%d,%d", p.X, p.Y), nil
		}))).of(t)
		must(l.Limit(ctx, point{3, 4}, 1)).of(t)
		if got := s.Keys(); !slices.Equal(got, []string{"3,4"}) {
			t.Fatalf("store saw keys %q, want [3,4]", got)
		}
	})
}

// TestKeyEncoding pins how keys reach a string store such as Redis.
func TestKeyEncoding(t *testing.T) {
	check := func(t *testing.T, s *recStore, want ...string) {
		t.Helper()
		if got := s.Keys(); !slices.Equal(got, want) {
			t.Fatalf("store saw keys %q, want %q", got, want)
		}
	}
	t.Run("string", func(t *testing.T) {
		s, _ := newRecStore(t)
		must(must(typed.New[string](typed.WithStore(s))).of(t).Limit(ctx, "/ping", 1)).of(t)
		check(t, s, "/ping")
	})
	t.Run("ints", func(t *testing.T) {
		s, _ := newRecStore(t)
		must(must(typed.New[int8](typed.WithStore(s))).of(t).Limit(ctx, -128, 1)).of(t)
		must(must(typed.New[uint64](typed.WithStore(s))).of(t).Limit(ctx, 1<<64-1, 1)).of(t)
		must(must(typed.New[userID](typed.WithStore(s))).of(t).Limit(ctx, 42, 1)).of(t)
		check(t, s, "-128", "18446744073709551615", "42")
	})
	t.Run("Stringer and TextMarshaler", func(t *testing.T) {
		s, _ := newRecStore(t)
		must(must(typed.New[tenant](typed.WithStore(s))).of(t).Limit(ctx, tenant{"acme", 9}, 1)).of(t)
		must(must(typed.New[ipv4](typed.WithStore(s))).of(t).Limit(ctx, ipv4{127, 0, 0, 1}, 1)).of(t)
		check(t, s, "acme/9", "127.0.0.1")
	})
	t.Run("prefix", func(t *testing.T) {
		s, _ := newRecStore(t)
		l := must(typed.New[userID](typed.WithStore(s), typed.WithKeyPrefix("api:"))).of(t)
		must(l.Limit(ctx, 5, 1)).of(t)
		if err := l.Reset(ctx, 5); err != nil {
			t.Fatal(err)
		}
		check(t, s, "api:5", "api:5")
	})
	t.Run("KeyFunc overrides the kind", func(t *testing.T) {
		s, _ := newRecStore(t)
		l := must(typed.New[userID](typed.WithStore(s), typed.KeyFunc(func(u userID) (string, error) {
			return fmt.Sprintf("user:%d", u), nil
		}))).of(t)
		must(l.Limit(ctx, 5, 1)).of(t)
		check(t, s, "user:5")
	})
}

// TestKeyTypesDoNotCollide: in the memory store, 42 and "42" are different
// keys, as are keys of different types with equal values.
func TestKeyTypesDoNotCollide(t *testing.T) {
	s, _ := newStore(t)
	ls := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t)
	li := must(typed.New[int](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t)
	lu := must(typed.New[userID](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t)
	for _, f := range []func() (typed.Result, error){
		func() (typed.Result, error) { return ls.Limit(ctx, "42", 1) },
		func() (typed.Result, error) { return li.Limit(ctx, 42, 1) },
		func() (typed.Result, error) { return lu.Limit(ctx, 42, 1) },
	} {
		r, err := f()
		wantResult(t, "first Limit of each key type", r, err, allowed(st(1, 0, time.Minute, 0)))
	}
}

func TestDefaults(t *testing.T) {
	s, fc := newStore(t)
	l := must(typed.New[string](typed.WithStore(s))).of(t)
	if got := l.Algorithm(); got != algo.TokenBucket {
		t.Errorf("default algorithm = %v, want token_bucket", got)
	}
	if got, want := l.Quota(), algo.PerMin(60); got != want {
		t.Errorf("default quota = %v, want %v", got, want)
	}
	if got := l.Quota().EffectiveBurst(); got != 60 {
		t.Errorf("default burst = %d, want 60", got)
	}
	if got := l.Cost(); got != 1 {
		t.Errorf("default cost = %d, want 1", got)
	}
	if k, ok := l.DefaultKey(); ok || k != "" {
		t.Errorf("DefaultKey() = %q, %v; want none", k, ok)
	}
	// 60 pass at once (burst 60), each Do costing 1, then one per second.
	for i := range 60 {
		if err := l.Do(ctx, "k", func(context.Context) error { return nil }); err != nil {
			t.Fatalf("Do %d: %v", i+1, err)
		}
	}
	// No timeout by default: Do does not wait.
	wantLimited(t, "Do 61", l.Do(ctx, "k", func(context.Context) error { return nil }), denied(st(60, 0, time.Minute, time.Second)))
	fc.Advance(time.Second)
	r, err := l.Limit(ctx, "k", 1)
	wantResult(t, "Limit 1s later", r, err, allowed(st(60, 0, time.Minute, 0)))
}

// TestLimiterTimeline checks a token bucket of 60/min, burst 60 — the
// seed's default — step by step, with exact values from DESIGN §3: the
// bucket refills one token per second, continuously, keeping fractions.
func TestLimiterTimeline(t *testing.T) {
	s, fc := newStore(t)
	l := must(typed.New[string](typed.WithStore(s))).of(t)
	steps := []struct {
		at       time.Duration // since t0
		cost     int64
		want     typed.Result
		wantPeek typed.State
	}{
		{0, 1, allowed(st(60, 59, time.Second, 0)), st(60, 59, time.Second, 0)},
		{0, 60, denied(st(60, 59, time.Second, time.Second)), st(60, 59, time.Second, 0)},
		{0, 59, allowed(st(60, 0, time.Minute, 0)), st(60, 0, time.Minute, 0)},
		{500 * time.Millisecond, 1, denied(st(60, 0, 59500*time.Millisecond, 500*time.Millisecond)), st(60, 0, 59500*time.Millisecond, 0)},
		{time.Second, 1, allowed(st(60, 0, time.Minute, 0)), st(60, 0, time.Minute, 0)},
		{2500 * time.Millisecond, 0, allowed(st(60, 1, 58500*time.Millisecond, 0)), st(60, 1, 58500*time.Millisecond, 0)},
		{2500 * time.Millisecond, 2, denied(st(60, 1, 58500*time.Millisecond, 500*time.Millisecond)), st(60, 1, 58500*time.Millisecond, 0)},
		{2500 * time.Millisecond, 61, denied(st(60, 1, 58500*time.Millisecond, typed.Never)), st(60, 1, 58500*time.Millisecond, 0)},
		{3 * time.Second, 2, allowed(st(60, 0, time.Minute, 0)), st(60, 0, time.Minute, 0)},
		{63 * time.Second, 0, allowed(st(60, 60, 0, 0)), st(60, 60, 0, 0)},
	}
	for _, step := range steps {
		fc.Set(t0 + int64(step.at/time.Microsecond))
		r, err := l.Limit(ctx, "k", step.cost)
		wantResult(t, fmt.Sprintf("at %v Limit(%d)", step.at, step.cost), r, err, step.want)
		p, err := l.Peek(ctx, "k")
		wantState(t, fmt.Sprintf("at %v Peek", step.at), p, err, step.wantPeek)
	}
}

func TestOptionsAccessors(t *testing.T) {
	s, _ := newStore(t)
	q := algo.PerDuration(2*time.Minute, 120).WithBurst(150)
	l := must(typed.New[userID](typed.WithStore(s), typed.WithAlgorithm(algo.GCRA), typed.WithQuota(q),
		typed.WithCost(3), typed.DefaultKey(userID(9)), typed.WithTimeout(time.Second))).of(t)
	if l.Algorithm() != algo.GCRA || l.Quota() != q || l.Cost() != 3 {
		t.Fatalf("accessors = %v %v %d", l.Algorithm(), l.Quota(), l.Cost())
	}
	if k, ok := l.DefaultKey(); !ok || k != 9 {
		t.Fatalf("DefaultKey() = %v, %v; want 9, true", k, ok)
	}
	// Do costs WithCost.
	if err := l.Do(ctx, 1, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// 150 - 3 = 147 left; 3 tokens take 3s to come back at 1 per second.
	wantState(t, "Peek", must(l.Peek(ctx, 1)).of(t), nil, st(150, 147, 3*time.Second, 0))
	// Burst 0 means the default, equal to the limit.
	l0 := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(5).WithBurst(0)))).of(t)
	wantState(t, "Peek burst 0", must(l0.Peek(ctx, "x")).of(t), nil, st(5, 5, 0, 0))
	// Cost 0 is allowed and never limits.
	lc := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)), typed.WithCost(0))).of(t)
	for range 3 {
		if err := lc.Do(ctx, "free", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Entries; got != 1 {
		t.Fatalf("store holds %d entries; cost-0 calls must write nothing", got)
	}
}

func TestWindowAndBucketLimits(t *testing.T) {
	// State.Limit is the burst for buckets and GCRA, the limit for windows.
	s, _ := newStore(t)
	q := algo.PerMin(10).WithBurst(25)
	for _, a := range algo.Algorithms {
		l := must(typed.New[string](typed.WithStore(s), typed.WithAlgorithm(a), typed.WithQuota(q))).of(t)
		want := int64(10)
		if a.IsBucket() {
			want = 25
		}
		got := must(l.Peek(ctx, "k")).of(t)
		if got.Limit != want || got.Remaining != want {
			t.Errorf("%v: Peek = %v, want Limit = Remaining = %d", a, got, want)
		}
		r := must(l.Limit(ctx, "k", want+1)).of(t)
		if !r.Limited || r.State.RetryAfter != typed.Never {
			t.Errorf("%v: Limit(capacity+1) = %v, want limited with RetryAfter Never", a, r)
		}
	}
}

// TestInvalid: each invalid input gives a *algo.DataError matching
// algo.ErrInvalid whose message names the bad value, and stores nothing.
func TestInvalid(t *testing.T) {
	s, _ := newStore(t)
	rs := &recStore{Store: s}
	good := must(typed.New[string](typed.WithStore(s))).of(t)
	goodName := must(typed.New[name](typed.WithStore(s))).of(t)
	goodRec := must(typed.New[string](typed.WithStore(rs))).of(t)
	newWith := func(opts ...typed.Option) func() error {
		return func() error {
			l, err := typed.New[string](append([]typed.Option{typed.WithStore(s)}, opts...)...)
			if err == nil && l == nil {
				return errors.New("nil limiter and nil error")
			}
			return err
		}
	}
	noop := func(context.Context) error { t.Error("fn ran on invalid input"); return nil }
	cases := []struct {
		name string
		call func() error
		want string // substring of the message: the bad value, named
	}{
		{"empty key Limit", func() error { _, err := good.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"empty key Peek", func() error { _, err := good.Peek(ctx, ""); return err }, `invalid key ""`},
		{"empty key Reset", func() error { return good.Reset(ctx, "") }, `invalid key ""`},
		{"empty key Wait", func() error { _, err := good.Wait(ctx, "", 1); return err }, `invalid key ""`},
		{"empty key Do", func() error { return good.Do(ctx, "", noop) }, `invalid key ""`},
		{"empty key Wrap", func() error { return typed.Wrap(good, "", noop)(ctx) }, `invalid key ""`},
		{"empty key WrapFunc", func() error {
			_, err := typed.WrapFunc(good, func(s string) string { return s }, func(context.Context, string) (int, error) {
				t.Error("fn ran on invalid input")
				return 0, nil
			})(ctx, "")
			return err
		}, `invalid key ""`},
		{"empty named-string key", func() error { _, err := goodName.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"empty key, string store", func() error { _, err := goodRec.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"WithCost(-1)", newWith(typed.WithCost(-1)), "invalid cost -1"},
		{"Limit cost -1", func() error { _, err := good.Limit(ctx, "k", -1); return err }, "invalid cost -1"},
		{"Wait cost -1", func() error { _, err := good.Wait(ctx, "k", -1); return err }, "invalid cost -1"},
		{"Limit cost -1, string store", func() error { _, err := goodRec.Limit(ctx, "k", -1); return err }, "invalid cost -1"},
		{"limit 0", newWith(typed.WithQuota(algo.PerMin(0))), "invalid limit 0"},
		{"limit -5", newWith(typed.WithQuota(algo.PerSec(-5))), "invalid limit -5"},
		{"burst -1", newWith(typed.WithQuota(algo.PerMin(10).WithBurst(-1))), "invalid burst -1"},
		{"period 999µs", newWith(typed.WithQuota(algo.PerDuration(999*time.Microsecond, 1))), `invalid period "999µs"`},
		{"period 0", newWith(typed.WithQuota(algo.PerDuration(0, 1))), `invalid period "0s"`},
		{"period -1s", newWith(typed.WithQuota(algo.PerDuration(-time.Second, 1))), `invalid period "-1s"`},
		{"period not whole µs", newWith(typed.WithQuota(algo.PerDuration(time.Millisecond+500, 1))), `invalid period "1.0005ms"`},
		{"zero quota", newWith(typed.WithQuota(algo.Quota{})), "invalid period"},
		{"algorithm 0", newWith(typed.WithAlgorithm(0)), "invalid algorithm"},
		{"algorithm 99", newWith(typed.WithAlgorithm(99)), `invalid algorithm "Algorithm(99)"`},
		{"WithStore(nil)", func() error { _, err := typed.New[string](typed.WithStore(nil)); return err }, `invalid store "nil"`},
		{"WithStore((*memstore.Store)(nil))", func() error {
			_, err := typed.New[string](typed.WithStore((*memstore.Store)(nil)))
			return err
		}, `invalid store "nil"`},
		{"WithStore((*recStore)(nil))", func() error {
			_, err := typed.New[string](typed.WithStore((*recStore)(nil)))
			return err
		}, `invalid store "nil"`},
		{"nil option", newWith(nil), `invalid option "nil"`},
		{"Do nil fn", func() error { return good.Do(ctx, "k", nil) }, `invalid function "nil"`},
		{"Wrap nil fn", func() error { return typed.Wrap(good, "k", nil)(ctx) }, `invalid function "nil"`},
		{"negative timeout", newWith(typed.WithTimeout(-time.Second)), `invalid timeout "-1s"`},
		{"DefaultKey of the wrong type", newWith(typed.DefaultKey(5)), `invalid default key "5 (int)"`},
		{"DefaultKey of a named string type", newWith(typed.DefaultKey(name("x"))), `invalid default key "x (typed_test.name)"`},
		{"empty DefaultKey", newWith(typed.DefaultKey("")), `invalid default key ""`},
		{"struct key with a string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs))
			return err
		}, `invalid key type "typed_test.point"`},
		{"KeyFunc of the wrong type, string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs), typed.KeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, `invalid key func "func(string) (string, error)"`},
		{"KeyFunc of the wrong type, memory store", func() error {
			_, err := typed.New[point](typed.WithStore(s), typed.KeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, `invalid key func "func(string) (string, error)"`},
		{"nil KeyFunc, string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs), typed.KeyFunc[point](nil))
			return err
		}, `invalid key func "nil"`},
		{"nil KeyFunc, memory store", func() error {
			_, err := typed.New[point](typed.WithStore(s), typed.KeyFunc[point](nil))
			return err
		}, `invalid key func "nil"`},
		{"WrapFunc nil fn", func() error {
			_, err := typed.WrapFunc[string, string, int](good, func(s string) string { return s }, nil)(ctx, "k")
			return err
		}, `invalid function "nil"`},
		{"WrapFunc nil keyOf", func() error {
			_, err := typed.WrapFunc(good, nil, func(context.Context, string) (int, error) {
				t.Error("fn ran on invalid input")
				return 0, nil
			})(ctx, "k")
			return err
		}, `invalid key function "nil"`},
		{"KeyFunc giving an empty key", func() error {
			l := must(typed.New[point](typed.WithStore(rs), typed.KeyFunc(func(point) (string, error) { return "", nil }))).of(t)
			_, err := l.Limit(ctx, point{1, 2}, 1)
			return err
		}, `invalid key "{1 2}": encodes to an empty string`},
		{"KeyFunc failing", func() error {
			l := must(typed.New[point](typed.WithStore(rs), typed.KeyFunc(func(point) (string, error) { return "", errors.New("no") }))).of(t)
			return l.Reset(ctx, point{1, 2})
		}, `invalid key "{1 2}": cannot be encoded: no`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if err == nil {
				t.Fatalf("no error, want one naming %s", c.want)
			}
			if !errors.Is(err, algo.ErrInvalid) {
				t.Fatalf("error %v does not match algo.ErrInvalid", err)
			}
			var de *algo.DataError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *algo.DataError", err, err)
			}
			if errors.Is(err, typed.ErrLimited) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
				t.Fatalf("invalid input %v must not match ErrLimited/ErrUnavailable/ErrScript", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "throttled: ") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q, want it to start with \"throttled: \" and contain %q", msg, c.want)
			}
		})
	}
	if n := s.Stats().Entries; n != 0 {
		t.Fatalf("invalid calls left %d entries in the store, want 0", n)
	}
	if keys := rs.Keys(); len(keys) != 0 {
		t.Fatalf("invalid calls reached the string store with keys %q", keys)
	}
}

func TestParseQuotaInvalid(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", `invalid quota "": empty`},
		{"   ", `invalid quota "   ": empty`},
		{"/s", `invalid quota "/s": missing limit`},
		{"abc/s", `limit "abc" is not a number`},
		{"0/s", `limit "0" must be at least 1`},
		{"-3/s", `limit "-3" must be at least 1`},
		{"99999999999999999999/s", `limit "99999999999999999999" overflows int64`},
		{"10", `missing "/" or "per" after the limit`},
		{"10 every s", `want "/" or "per" after the limit, got "every"`},
		{"10/", `missing period after "/"`},
		{"10 per", `missing period after "per"`},
		{"10/fortnight", `unknown unit "fortnight"`},
		{"10/0s", `period count "0" must be at least 1`},
		{"10/s extra", `unexpected "extra" after the period`},
		{"10/s burst", `missing number after "burst"`},
		{"10/s burst x", `burst "x" is not a number`},
		{"10/s burst 0", `burst "0" must be at least 1`},
		{"10/s burst 5 more", `unexpected "more" after the burst`},
		{"10/-1s", `period "-1s" must be positive`},
	}
	for _, c := range cases {
		q, err := algo.ParseQuota(c.in)
		if err == nil {
			t.Errorf("ParseQuota(%q) = %v, want an error", c.in, q)
			continue
		}
		var de *algo.DataError
		if !errors.Is(err, algo.ErrInvalid) || !errors.As(err, &de) {
			t.Errorf("ParseQuota(%q) error %v does not match ErrInvalid / *DataError", c.in, err)
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("invalid quota %q", c.in)) || !strings.Contains(msg, c.want) {
			t.Errorf("ParseQuota(%q) error %q, want it to quote the input and say %q", c.in, msg, c.want)
		}
	}
	// Syntactically fine, refused by New: the period is under 1ms.
	q := must(algo.ParseQuota("10/500us")).of(t)
	s, _ := newStore(t)
	if _, err := typed.New[string](typed.WithStore(s), typed.WithQuota(q)); !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), `invalid period "500µs"`) {
		t.Fatalf("New with 10/500us: %v, want invalid period", err)
	}
}

func TestLimitedError(t *testing.T) {
	s, _ := newStore(t)
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t)
	fn := func(context.Context) error { return nil }
	if err := l.Do(ctx, "/ping", fn); err != nil {
		t.Fatal(err)
	}
	err := l.Do(ctx, "/ping", fn)
	const want = "throttled: rate limit exceeded: remaining=0, reset_after=1m0s, retry_after=1m0s"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	wantLimited(t, "Do", err, denied(st(1, 0, time.Minute, time.Minute)))

	// Matchable through wrapping.
	wrapped := fmt.Errorf("handler: %w", err)
	var le *typed.LimitedError
	if !errors.Is(wrapped, typed.ErrLimited) || !errors.As(wrapped, &le) || le.Result.State.RetryAfter != time.Minute {
		t.Fatalf("wrapped LimitedError not matched: %v", wrapped)
	}
	if errors.Is(errors.New("other"), typed.ErrLimited) {
		t.Fatal("an unrelated error matches ErrLimited")
	}

	// A cost above the capacity: retry_after=never.
	l2 := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)), typed.WithCost(2))).of(t)
	err = l2.Do(ctx, "big", fn)
	if want := "throttled: rate limit exceeded: remaining=1, reset_after=0s, retry_after=never"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}

	// Result and State render like the seed's repr.
	r := denied(st(60, 59, time.Second, time.Second))
	if got, want := r.String(), "Result{Limited: true, State: State{Limit: 60, Remaining: 59, ResetAfter: 1s, RetryAfter: 1s}}"; got != want {
		t.Fatalf("Result.String() = %q, want %q", got, want)
	}
}

// TestSharedDefaultStore: limiters without WithStore share one store, so
// the same key and algorithm share state; a key prefix or another
// algorithm separates them. The default store runs on the real clock, so
// the quota refills slowly enough (10 a day) not to move during the test.
func TestSharedDefaultStore(t *testing.T) {
	key := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	q := typed.WithQuota(algo.PerDay(10))
	a := must(typed.New[string](q)).of(t)
	b := must(typed.New[string](q)).of(t)
	prefixed := must(typed.New[string](q, typed.WithKeyPrefix("other:"))).of(t)
	gcra := must(typed.New[string](q, typed.WithAlgorithm(algo.GCRA))).of(t)
	ints := must(typed.New[int](q)).of(t)

	if first := typed.DefaultStore(); first == nil || typed.DefaultStore() != first {
		t.Fatal("DefaultStore() is not one store")
	}
	if r := must(a.Limit(ctx, key, 3)).of(t); r.Limited || r.State.Remaining != 7 {
		t.Fatalf("a.Limit = %v, want remaining 7", r)
	}
	if r := must(b.Limit(ctx, key, 1)).of(t); r.Limited || r.State.Remaining != 6 {
		t.Fatalf("b.Limit after a = %v, want remaining 6: the default store is shared", r)
	}
	if s := must(a.Peek(ctx, key)).of(t); s.Remaining != 6 {
		t.Fatalf("a.Peek = %v, want remaining 6", s)
	}
	if s := must(prefixed.Peek(ctx, key)).of(t); s.Remaining != 10 {
		t.Fatalf("prefixed.Peek = %v, want a fresh key (remaining 10)", s)
	}
	if s := must(gcra.Peek(ctx, key)).of(t); s.Remaining != 10 {
		t.Fatalf("gcra.Peek = %v, want a fresh key (remaining 10)", s)
	}
	if r := must(prefixed.Limit(ctx, key, 10)).of(t); r.Limited {
		t.Fatalf("prefixed.Limit(10) = %v, want allowed", r)
	}
	if s := must(b.Peek(ctx, key)).of(t); s.Remaining != 6 {
		t.Fatalf("b.Peek after the prefixed limiter = %v, want remaining 6", s)
	}
	if s := must(ints.Peek(ctx, 1)).of(t); s.Remaining != 10 {
		t.Fatalf("ints.Peek = %v, want a fresh key", s)
	}
	// Reset through one limiter is seen by the other.
	if err := b.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if s := must(a.Peek(ctx, key)).of(t); s.Remaining != 10 {
		t.Fatalf("a.Peek after b.Reset = %v, want remaining 10", s)
	}
}

// TestKeyPrefixSeparatesMemstore: on one explicit memory store, limiters
// with different prefixes never share a key; equal prefixes do.
func TestKeyPrefixSeparatesMemstore(t *testing.T) {
	s, _ := newStore(t)
	q := typed.WithQuota(algo.PerMin(5))
	a := must(typed.New[string](typed.WithStore(s), q, typed.WithKeyPrefix("a:"))).of(t)
	a2 := must(typed.New[string](typed.WithStore(s), q, typed.WithKeyPrefix("a:"))).of(t)
	b := must(typed.New[string](typed.WithStore(s), q, typed.WithKeyPrefix("b:"))).of(t)
	none := must(typed.New[string](typed.WithStore(s), q)).of(t)
	must(a.Limit(ctx, "k", 2)).of(t)
	for _, c := range []struct {
		name string
		l    *typed.Limiter[string]
		want int64
	}{{"same prefix", a2, 3}, {"other prefix", b, 5}, {"no prefix", none, 5}} {
		if got := must(c.l.Peek(ctx, "k")).of(t).Remaining; got != c.want {
			t.Errorf("%s: Remaining = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestConcurrentLimit: many goroutines on one key never over-admit.
func TestConcurrentLimit(t *testing.T) {
	s, _ := newStore(t)
	l := must(typed.New[int](typed.WithStore(s), typed.WithQuota(algo.PerHour(100)))).of(t)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r, err := l.Limit(ctx, 1, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if !r.Limited {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 100 {
		t.Fatalf("admitted %d of 400 on a frozen clock, want exactly the burst, 100", admitted)
	}
}
