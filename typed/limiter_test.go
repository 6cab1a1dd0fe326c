package typed_test

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// t0 is the fake clock's start: 2023-11-09T00:00:00Z, a multiple of a week
// since the epoch, so every window of every quota helper starts at t0.
const t0 = int64(1_699_488_000) * 1_000_000

var ctx = context.Background()

// newStore returns a memory store on a fake clock reading t0.
func newStore(t testing.TB) (*memstore.Store, *store.FakeClock) {
	t.Helper()
	fc := store.NewFakeClock(t0)
	s, err := memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	return s, fc
}

// newRedisStore starts a redis-server for t (see redistest: skipped
// without the binary, a failure with THROTTLED_REQUIRE_REDIS=1) and returns
// a Redis store on it deciding on fc's time, and a function counting the
// keys the server holds. The store's keys get an hour of TTL slack, so a
// slow test run cannot see state expire in real time that has not expired
// on the fake clock.
func newRedisStore(t testing.TB, fc *store.FakeClock, opts ...redisstore.Option) (*redisstore.Store, func() int) {
	t.Helper()
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithClock(fc), redisstore.WithTTLSlack(time.Hour)}, opts...)...)
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	keys := func() int {
		n, err := strconv.Atoi(srv.Do(t, "DBSIZE"))
		if err != nil {
			t.Fatalf("DBSIZE: %v", err)
		}
		return n
	}
	return s, keys
}

// backend is a string store on a fake clock of its own, with a count of
// the keys it holds: the tests that run on every store range over them.
type backend struct {
	name string
	s    store.Store[string]
	fc   *store.FakeClock
	keys func() int
}

// backends returns a memory store and a Redis store on a server of its
// own, each on a fake clock reading t0.
func backends(t *testing.T) []backend {
	t.Helper()
	mem, mfc := newStore(t)
	rfc := store.NewFakeClock(t0)
	red, keys := newRedisStore(t, rfc)
	return []backend{
		{"memory", mem, mfc, func() int { return mem.Stats().Keys }},
		{"redis", red, rfc, keys},
	}
}

// callDeadline bounds, in real time, a test that calls what can block
// (Wait, and Do, Wrap and WrapFunc, which wait with WithTimeout) and
// expects each call to return at once, or once a fake clock moves. Such a
// test takes well under a second; one whose call never returns (a Wait
// asleep on a clock nobody moves, or retrying for ever) fails at this
// deadline rather than at go test's timeout.
const callDeadline = 15 * time.Second

// failAfter makes the test binary panic, naming t, if t has not finished
// within d of real time: a hung call cannot be interrupted, but it can
// fail the run in seconds.
func failAfter(t testing.TB, d time.Duration) {
	t.Helper()
	name := t.Name()
	watchdog := time.AfterFunc(d, func() {
		panic(fmt.Sprintf("%s still runs after %v of real time: a call that should have returned (Wait, Do, Wrap) hangs", name, d))
	})
	t.Cleanup(func() { watchdog.Stop() })
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

// withQuotas returns r with its per-quota states.
func withQuotas(r typed.Result, qs ...typed.QuotaState) typed.Result {
	r.Quotas = qs
	return r
}

func wantResult(t testing.TB, what string, got typed.Result, err error, want typed.Result) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
	if !sameResult(got, want) {
		t.Fatalf("%s =\n\t%v %+v\nwant\n\t%v %+v", what, got, got.Quotas, want, want.Quotas)
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
	if !sameResult(le.Result, want) {
		t.Fatalf("%s: LimitedError.Result = %v %+v, want %v %+v", what, le.Result, le.Result.Quotas, want, want.Quotas)
	}
}

// peekRemaining is l.Peek(key).Remaining, failing t on an error.
func peekRemaining[K comparable](t testing.TB, l *typed.Limiter[K], key K) int64 {
	t.Helper()
	return must(l.Peek(ctx, key)).of(t).Remaining
}

// Key types used by the tests.
type (
	// point has no string encoding: fine for the memory store's table of
	// points, refused by string stores unless a key func is given.
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

// recStore is a string store (decides one request at a time, no batches)
// that records the keys it is given, on a memory store whose clock it
// reports.
type recStore struct {
	s    *memstore.Store
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

func (r *recStore) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	r.record(key)
	return r.s.Decide(ctx, key, ps, cost, each)
}

func (r *recStore) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	r.record(key)
	return r.s.Reset(ctx, key, ps)
}

func (r *recStore) Clock() store.Clock { return r.s.Clock() }

var (
	_ store.Store[string] = (*recStore)(nil)
	_ store.Clocked       = (*recStore)(nil)
)

func newRecStore(t testing.TB) (*recStore, *store.FakeClock) {
	s, fc := newStore(t)
	return &recStore{s: s}, fc
}

// plainStore hides every method of its store but Decide and Reset: a
// store that neither batches nor tells its clock.
type plainStore[K comparable] struct{ store.Store[K] }

// exercise runs every call of the limiter API on key k (and checks that
// other is independent) with a token bucket of 2 per minute: one token
// every 30s, burst 2. storeOpt is the limiter's WithStore; fc its clock.
func exercise[K comparable](t *testing.T, storeOpt typed.Option, fc *store.FakeClock, k, other K) {
	t.Helper()
	failAfter(t, callDeadline)
	l := must(typed.New[K](storeOpt, typed.WithQuota(algo.PerMin(2)))).of(t)

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
		exercise(t, typed.WithStore(s), fc, "/ping", "/pong")
	})
	t.Run("named string", func(t *testing.T) {
		s, fc := newStore(t)
		exercise[name](t, typed.WithStore(memstore.For[name](s)), fc, "alice", "bob")
	})
	t.Run("int", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, typed.WithStore(memstore.For[int](s)), fc, 42, 43)
	})
	t.Run("int zero", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, typed.WithStore(memstore.For[int](s)), fc, 0, -1) // only string keys must be non-empty
	})
	t.Run("userID", func(t *testing.T) {
		s, fc := newStore(t)
		exercise[userID](t, typed.WithStore(memstore.For[userID](s)), fc, 7, 8)
	})
	t.Run("struct", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, typed.WithStore(memstore.For[point](s)), fc, point{1, 2}, point{2, 1})
	})
	t.Run("struct zero value", func(t *testing.T) {
		s, fc := newStore(t)
		exercise(t, typed.WithStore(memstore.For[point](s)), fc, point{}, point{0, 1})
	})
}

func TestLimiterKeysStringStore(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, typed.WithStore(s), fc, "/ping", "/pong")
	})
	t.Run("int", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise[userID](t, typed.WithStore(s), fc, 7, -8)
	})
	t.Run("named string", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise[name](t, typed.WithStore(s), fc, "alice", "bob")
		if got := s.Keys(); !slices.Contains(got, "alice") || !slices.Contains(got, "bob") {
			t.Fatalf("store saw keys %q, want alice and bob as they are", got)
		}
	})
	t.Run("Stringer struct", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, typed.WithStore(s), fc, tenant{"acme", 1}, tenant{"acme", 2})
	})
	t.Run("TextMarshaler array", func(t *testing.T) {
		s, fc := newRecStore(t)
		exercise(t, typed.WithStore(s), fc, ipv4{10, 0, 0, 1}, ipv4{10, 0, 0, 2})
	})
	t.Run("struct with key func", func(t *testing.T) {
		s, _ := newRecStore(t)
		l := must(typed.New[point](typed.WithStore(s), typed.WithKeyFunc(func(p point) (string, error) {
			return fmt.Sprintf("%d,%d", p.X, p.Y), nil
		}))).of(t)
		must(l.Limit(ctx, point{3, 4}, 1)).of(t)
		if got := s.Keys(); !slices.Equal(got, []string{"3,4"}) {
			t.Fatalf("store saw keys %q, want [3,4]", got)
		}
	})
}

// TestLimiterKeysRedis: the same calls on a real Redis, keys encoded.
func TestLimiterKeysRedis(t *testing.T) {
	fc := store.NewFakeClock(t0)
	s, _ := newRedisStore(t, fc)
	// One server for the subtests: each uses keys of its own.
	t.Run("string", func(t *testing.T) { exercise(t, typed.WithStore(s), fc, "/ping", "/pong") })
	t.Run("int", func(t *testing.T) { exercise[userID](t, typed.WithStore(s), fc, 7, -8) })
	t.Run("named string", func(t *testing.T) { exercise[name](t, typed.WithStore(s), fc, "alice", "bob") })
	t.Run("Stringer struct", func(t *testing.T) { exercise(t, typed.WithStore(s), fc, tenant{"acme", 1}, tenant{"acme", 2}) })
	t.Run("TextMarshaler array", func(t *testing.T) {
		exercise(t, typed.WithStore(s), fc, ipv4{10, 0, 0, 1}, ipv4{10, 0, 0, 2})
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
	t.Run("a namespace is part of the key", func(t *testing.T) {
		// WithKeyPrefix is gone: a namespace is written into the key (here
		// by a key func), and Limit and Reset both see it.
		s, _ := newRecStore(t)
		l := must(typed.New[userID](typed.WithStore(s), typed.WithKeyFunc(func(u userID) (string, error) {
			return "api:" + strconv.FormatInt(int64(u), 10), nil
		}))).of(t)
		must(l.Limit(ctx, 5, 1)).of(t)
		if err := l.Reset(ctx, 5); err != nil {
			t.Fatal(err)
		}
		check(t, s, "api:5", "api:5")
	})
	t.Run("the quota is not part of the key", func(t *testing.T) {
		// Limiters with other quotas give the store the same key: the
		// store keeps their states apart by policy.
		s, _ := newRecStore(t)
		must(must(typed.New[userID](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t).Limit(ctx, 5, 1)).of(t)
		must(must(typed.New[userID](typed.WithStore(s), typed.WithQuota(algo.PerHour(1)))).of(t).Limit(ctx, 5, 1)).of(t)
		check(t, s, "5", "5")
	})
	t.Run("key func overrides the kind", func(t *testing.T) {
		s, _ := newRecStore(t)
		l := must(typed.New[userID](typed.WithStore(s), typed.WithKeyFunc(func(u userID) (string, error) {
			return fmt.Sprintf("user:%d", u), nil
		}))).of(t)
		must(l.Limit(ctx, 5, 1)).of(t)
		check(t, s, "user:5")
	})
	t.Run("key func with a store of K", func(t *testing.T) {
		// A store keeping K itself needs no encoding: a (well-typed) key
		// func is accepted and unused.
		s, _ := newStore(t)
		used := false
		l := must(typed.New[point](typed.WithStore(memstore.For[point](s)), typed.WithKeyFunc(func(p point) (string, error) {
			used = true
			return "x", nil
		}))).of(t)
		if r := must(l.Limit(ctx, point{1, 1}, 1)).of(t); r.Limited || used {
			t.Fatalf("Limit = %v, key func used: %v", r, used)
		}
	})
}

// TestKeyTypesDoNotCollide: in the memory store's tables, 42 and "42" are
// different keys, as are keys of different types with equal values.
func TestKeyTypesDoNotCollide(t *testing.T) {
	s, _ := newStore(t)
	ls := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)))).of(t)
	li := must(typed.New[int](typed.WithStore(memstore.For[int](s)), typed.WithQuota(algo.PerMin(1)))).of(t)
	lu := must(typed.New[userID](typed.WithStore(memstore.For[userID](s)), typed.WithQuota(algo.PerMin(1)))).of(t)
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
	failAfter(t, callDeadline)
	s, fc := newStore(t)
	l := must(typed.New[string](typed.WithStore(s))).of(t)
	// One quota, 60 per minute with the default burst (= limit), token bucket.
	if got, want := l.Quotas(), []algo.Quota{algo.PerMin(60).WithAlgorithm(algo.TokenBucket)}; !slices.Equal(got, want) {
		t.Errorf("default quotas = %v, want %v", got, want)
	}
	if got := l.Quotas()[0].EffectiveBurst(); got != 60 {
		t.Errorf("default burst = %d, want 60", got)
	}
	if got := l.Cost(); got != 1 {
		t.Errorf("default cost = %d, want 1", got)
	}
	// No default key: the empty key is invalid.
	if _, err := l.Limit(ctx, "", 1); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("Limit with the empty key and no default key: %v, want ErrInvalid", err)
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
	// The default store is used without WithStore.
	ld := must(typed.New[string]()).of(t)
	if got := ld.Quotas(); !slices.Equal(got, l.Quotas()) {
		t.Errorf("quotas without WithStore = %v, want the defaults", got)
	}
}

// TestLimiterTimeline checks a token bucket of 60/min, burst 60 —
// throttled-py's default — step by step, with exact values from DESIGN §3:
// the bucket refills one token per second, continuously, keeping
// fractions.
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
	failAfter(t, callDeadline)
	s, _ := newStore(t)
	q := algo.PerDuration(2*time.Minute, 120).WithBurst(150)
	l := must(typed.New[userID](typed.WithStore(memstore.For[userID](s)), typed.WithAlgorithm(algo.GCRA), typed.WithQuota(q),
		typed.WithCost(3), typed.WithDefaultKey(userID(9)), typed.WithTimeout(time.Second))).of(t)
	if got := l.Quotas(); !slices.Equal(got, []algo.Quota{q.WithAlgorithm(algo.GCRA)}) || l.Cost() != 3 {
		t.Fatalf("accessors = %v %d", got, l.Cost())
	}
	// Quotas returns a copy.
	l.Quotas()[0] = algo.PerSec(1)
	if got := l.Quotas()[0]; got != q.WithAlgorithm(algo.GCRA) {
		t.Fatalf("Quotas() after changing its result = %v", got)
	}
	// Do costs WithCost.
	if err := l.Do(ctx, 1, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// 150 - 3 = 147 left; 3 tokens take 3s to come back at 1 per second.
	wantState(t, "Peek", must(l.Peek(ctx, 1)).of(t), nil, st(150, 147, 3*time.Second, 0))
	// The default key stands for the zero key.
	must(l.Limit(ctx, 0, 10)).of(t)
	wantState(t, "Peek(default key)", must(l.Peek(ctx, 9)).of(t), nil, st(150, 140, 10*time.Second, 0))
	wantState(t, "Peek(zero key)", must(l.Peek(ctx, 0)).of(t), nil, st(150, 140, 10*time.Second, 0))
	// Burst 0 means the default, equal to the limit.
	l0 := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerSec(5).WithBurst(0)))).of(t)
	wantState(t, "Peek burst 0", must(l0.Peek(ctx, "x")).of(t), nil, st(5, 5, 0, 0))
	// Cost 0 is allowed and never limits.
	before := s.Stats().Keys
	lc := must(typed.New[string](typed.WithStore(s), typed.WithQuota(algo.PerMin(1)), typed.WithCost(0))).of(t)
	for range 3 {
		if err := lc.Do(ctx, "free", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Keys; got != before {
		t.Fatalf("store holds %d keys, had %d; cost-0 calls must write nothing", got, before)
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

// invalidCase is one bad input: call makes it, want is a part of the
// error message that names the bad value.
type invalidCase struct {
	name string
	call func() error
	want string
}

// checkInvalid runs each case, expecting a *algo.DataError matching
// algo.ErrInvalid (and nothing else), whose message starts with
// "throttled: " and contains the case's want, and no panic.
func checkInvalid(t *testing.T, cases []invalidCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				err = c.call()
			}()
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
}

// quotaFuncOf returns a quota func that always returns qs.
func quotaFuncOf[K comparable](qs ...algo.Quota) func(context.Context, K) ([]algo.Quota, error) {
	return func(context.Context, K) ([]algo.Quota, error) { return qs, nil }
}

// TestInvalid: each invalid option or call gives a *algo.DataError
// matching algo.ErrInvalid whose message names the bad value, panics
// never, and stores nothing.
func TestInvalid(t *testing.T) {
	failAfter(t, callDeadline)
	s, _ := newStore(t)
	rs := &recStore{s: s}
	good := must(typed.New[string](typed.WithStore(s))).of(t)
	goodName := must(typed.New[name](typed.WithStore(memstore.For[name](s)))).of(t)
	goodRec := must(typed.New[string](typed.WithStore(rs))).of(t)
	newWith := func(opts ...typed.Option) func() error {
		return func() error {
			l, err := typed.New[string](append([]typed.Option{typed.WithStore(s)}, opts...)...)
			if err == nil && l == nil {
				return errors.New("nil limiter and nil error")
			}
			if err != nil && l != nil {
				return errors.New("a limiter and an error")
			}
			return err
		}
	}
	// withFunc returns a limiter on s whose quota func returns qs.
	withFunc := func(qs ...algo.Quota) *typed.Limiter[string] {
		return must(typed.New[string](typed.WithStore(s), typed.WithQuotaFunc(quotaFuncOf[string](qs...)))).of(t)
	}
	nine := make([]algo.Quota, 9)
	for i := range nine {
		nine[i] = algo.PerSec(int64(i + 1))
	}
	noop := func(context.Context) error { t.Error("fn ran on invalid input"); return nil }
	cases := []invalidCase{
		// Options.
		{"nil option", newWith(nil), `invalid option "nil"`},
		{"algorithm 0", newWith(typed.WithAlgorithm(0)), `invalid algorithm "Algorithm(0)"`},
		{"algorithm 99", newWith(typed.WithAlgorithm(99)), `invalid algorithm "Algorithm(99)"`},
		{"quota's algorithm 99", newWith(typed.WithQuota(algo.PerSec(1).WithAlgorithm(99))), `invalid algorithm "Algorithm(99)"`},
		{"WithCost(-1)", newWith(typed.WithCost(-1)), "invalid cost -1"},
		{"negative timeout", newWith(typed.WithTimeout(-time.Second)), `invalid timeout "-1s"`},
		{"limit 0", newWith(typed.WithQuota(algo.PerMin(0))), "invalid limit 0"},
		{"limit -5", newWith(typed.WithQuota(algo.PerSec(-5))), "invalid limit -5"},
		{"burst -1", newWith(typed.WithQuota(algo.PerMin(10).WithBurst(-1))), "invalid burst -1"},
		{"period 999µs", newWith(typed.WithQuota(algo.PerDuration(999*time.Microsecond, 1))), `invalid period "999µs"`},
		{"period 0", newWith(typed.WithQuota(algo.PerDuration(0, 1))), `invalid period "0s"`},
		{"period -1s", newWith(typed.WithQuota(algo.PerDuration(-time.Second, 1))), `invalid period "-1s"`},
		{"period not whole µs", newWith(typed.WithQuota(algo.PerDuration(time.Millisecond+500, 1))), `invalid period "1.0005ms"`},
		{"zero quota", newWith(typed.WithQuota(algo.Quota{})), "invalid period"},
		{"not exact in Lua", newWith(typed.WithQuota(algo.PerDuration(time.Hour, 7).WithBurst(1 << 40))), "invalid quota"},
		{"0 quotas", newWith(typed.WithQuotas()), "invalid number of quotas 0"},
		{"9 quotas", newWith(typed.WithQuotas(nine...)), "invalid number of quotas 9"},
		{"bad second quota", newWith(typed.WithQuotas(algo.PerSec(10), algo.PerMin(0))), "invalid limit 0"},
		{"bad quota among 8", newWith(typed.WithQuotas(append(nine[:7:7], algo.PerDay(1).WithBurst(-3))...)), "invalid burst -3"},
		{"duplicate quotas", newWith(typed.WithQuotas(algo.PerSec(10), algo.PerSec(10))), "keeps the same state as"},
		{"duplicate quotas, names differ", newWith(typed.WithQuotas(algo.PerSec(10).WithName("a"), algo.PerMin(1), algo.PerSec(10).WithName("b"))), "keeps the same state as"},
		{"duplicate quotas, algorithm given once", newWith(typed.WithAlgorithm(algo.GCRA), typed.WithQuotas(algo.PerSec(10), algo.PerSec(10).WithAlgorithm(algo.GCRA))), "keeps the same state as"},
		{"duplicate window quotas, bursts differ", newWith(typed.WithAlgorithm(algo.FixedWindow), typed.WithQuotas(algo.PerSec(10), algo.PerSec(10).WithBurst(20))), "keeps the same state as"},
		{"default key of the wrong type", newWith(typed.WithDefaultKey(5)), `invalid default key "5 (int)"`},
		{"default key of a named string type", newWith(typed.WithDefaultKey(name("x"))), `invalid default key "x (typed_test.name)"`},
		{"empty default key", newWith(typed.WithDefaultKey("")), `invalid default key ""`},
		{"zero default key of an int", func() error {
			_, err := typed.New[int](typed.WithStore(memstore.For[int](s)), typed.WithDefaultKey(0))
			return err
		}, `invalid default key "0"`},
		{"nil quota func", newWith(typed.WithQuotaFunc[string](nil)), `invalid quota func "nil"`},
		{"quota func of the wrong key type", newWith(typed.WithQuotaFunc(quotaFuncOf[int](algo.PerSec(1)))), `invalid quota func "func(context.Context, int) ([]algo.Quota, error)"`},
		{"WithStore(nil)", func() error { _, err := typed.New[string](typed.WithStore[string](nil)); return err }, `invalid store "nil"`},
		{"WithStore((*memstore.Store)(nil))", func() error {
			_, err := typed.New[string](typed.WithStore((*memstore.Store)(nil)))
			return err
		}, `invalid store "nil"`},
		{"WithStore((*recStore)(nil))", func() error {
			_, err := typed.New[string](typed.WithStore((*recStore)(nil)))
			return err
		}, `invalid store "nil"`},
		{"WithStore((*memstore.Table[int])(nil))", func() error {
			_, err := typed.New[int](typed.WithStore((*memstore.Table[int])(nil)))
			return err
		}, `invalid store "nil"`},
		{"store of neither K nor strings", func() error {
			_, err := typed.New[int](typed.WithStore(memstore.For[point](s)))
			return err
		}, `invalid store "*memstore.Table[github.com/throttled-go/throttled/typed_test.point]": keeps neither int nor string keys`},
		{"struct key with a string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs))
			return err
		}, `invalid key type "typed_test.point"`},
		{"key func of the wrong type, string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs), typed.WithKeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, `invalid key func "func(string) (string, error)"`},
		{"key func of the wrong type, store of K", func() error {
			_, err := typed.New[point](typed.WithStore(memstore.For[point](s)), typed.WithKeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, `invalid key func "func(string) (string, error)"`},
		{"key func of the wrong type, default store", func() error {
			_, err := typed.New[point](typed.WithKeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, `invalid key func "func(string) (string, error)"`},
		{"nil key func, string store", func() error {
			_, err := typed.New[point](typed.WithStore(rs), typed.WithKeyFunc[point](nil))
			return err
		}, `invalid key func "nil"`},
		{"nil key func, store of K", func() error {
			_, err := typed.New[point](typed.WithStore(memstore.For[point](s)), typed.WithKeyFunc[point](nil))
			return err
		}, `invalid key func "nil"`},

		// Calls.
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
		{"empty key LimitAsync", func() error { _, err := good.LimitAsync(ctx, "", 1).Await(ctx); return err }, `invalid key ""`},
		{"empty key PeekAsync", func() error { _, err := good.PeekAsync(ctx, "").Await(ctx); return err }, `invalid key ""`},
		{"empty named-string key", func() error { _, err := goodName.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"empty key, string store", func() error { _, err := goodRec.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"empty key, quota func", func() error { _, err := withFunc(algo.PerSec(1)).Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"Limit cost -1", func() error { _, err := good.Limit(ctx, "k", -1); return err }, "invalid cost -1"},
		{"Wait cost -1", func() error { _, err := good.Wait(ctx, "k", -1); return err }, "invalid cost -1"},
		{"Limit cost -1, string store", func() error { _, err := goodRec.Limit(ctx, "k", -1); return err }, "invalid cost -1"},
		{"Limit cost -1, several quotas", func() error {
			l := must(typed.New[string](typed.WithStore(s), typed.WithQuotas(algo.PerSec(1), algo.PerMin(10)))).of(t)
			_, err := l.Limit(ctx, "k", -1)
			return err
		}, "invalid cost -1"},
		{"Do nil fn", func() error { return good.Do(ctx, "k", nil) }, `invalid function "nil"`},
		{"Wrap nil fn", func() error { return typed.Wrap(good, "k", nil)(ctx) }, `invalid function "nil"`},
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
		{"key func giving an empty key", func() error {
			l := must(typed.New[point](typed.WithStore(rs), typed.WithKeyFunc(func(point) (string, error) { return "", nil }))).of(t)
			_, err := l.Limit(ctx, point{1, 2}, 1)
			return err
		}, `invalid key "{1 2}": encodes to an empty string`},
		{"key func failing", func() error {
			l := must(typed.New[point](typed.WithStore(rs), typed.WithKeyFunc(func(point) (string, error) { return "", errors.New("no") }))).of(t)
			return l.Reset(ctx, point{1, 2})
		}, `invalid key "{1 2}": cannot be encoded: no`},
		{"quota func giving a bad quota", func() error { _, err := withFunc(algo.PerMin(0)).Limit(ctx, "k", 1); return err }, "invalid limit 0"},
		{"quota func giving a bad quota, Peek", func() error { _, err := withFunc(algo.PerSec(-2)).Peek(ctx, "k"); return err }, "invalid limit -2"},
		{"quota func giving a bad quota, Reset", func() error { return withFunc(algo.PerDuration(time.Microsecond, 1)).Reset(ctx, "k") }, `invalid period "1µs"`},
		{"quota func giving a bad second quota", func() error {
			_, err := withFunc(algo.PerSec(1), algo.PerHour(5).WithBurst(-1)).Limit(ctx, "k", 1)
			return err
		}, "invalid burst -1"},
		{"quota func giving no quota", func() error { _, err := withFunc().Limit(ctx, "k", 1); return err }, "invalid number of quotas 0"},
		{"quota func giving 9 quotas", func() error { _, err := withFunc(nine...).Limit(ctx, "k", 1); return err }, "invalid number of quotas 9"},
		{"quota func giving duplicates", func() error {
			_, err := withFunc(algo.PerSec(1).WithName("x"), algo.PerSec(1).WithName("y")).Limit(ctx, "k", 1)
			return err
		}, "keeps the same state as"},
		{"quota func giving a bad algorithm", func() error {
			return withFunc(algo.PerSec(1).WithAlgorithm(200)).Do(ctx, "k", noop)
		}, `invalid algorithm "Algorithm(200)"`},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	checkInvalid(t, cases)
	if n := s.Stats().Keys; n != 0 {
		t.Fatalf("invalid calls left %d keys in the store, want 0", n)
	}
	if keys := rs.Keys(); len(keys) != 0 {
		t.Fatalf("invalid calls reached the string store with keys %q", keys)
	}
}

// TestInvalidRedis: invalid calls on a Redis store are refused before
// anything reaches the server.
func TestInvalidRedis(t *testing.T) {
	fc := store.NewFakeClock(t0)
	rs, keys := newRedisStore(t, fc)
	good := must(typed.New[string](typed.WithStore(rs))).of(t)
	ints := must(typed.New[userID](typed.WithStore(rs), typed.WithQuotas(algo.PerSec(1), algo.PerMin(5)))).of(t)
	bad := must(typed.New[string](typed.WithStore(rs), typed.WithQuotaFunc(quotaFuncOf[string](algo.PerSec(3), algo.PerSec(3).WithName("again"))))).of(t)
	checkInvalid(t, []invalidCase{
		{"empty key", func() error { _, err := good.Limit(ctx, "", 1); return err }, `invalid key ""`},
		{"negative cost", func() error { _, err := good.Limit(ctx, "k", -3); return err }, "invalid cost -3"},
		{"negative cost, typed keys, two quotas", func() error { _, err := ints.Limit(ctx, 7, -1); return err }, "invalid cost -1"},
		{"duplicates from the quota func", func() error { _, err := bad.Limit(ctx, "k", 1); return err }, "keeps the same state as"},
	})
	if n := keys(); n != 0 {
		t.Fatalf("invalid calls wrote %d keys to Redis", n)
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
	failAfter(t, callDeadline)
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

	// Result and State render like throttled-py's repr.
	r := denied(st(60, 59, time.Second, time.Second))
	if got, want := r.String(), "Result{Limited: true, State: State{Limit: 60, Remaining: 59, ResetAfter: 1s, RetryAfter: 1s}}"; got != want {
		t.Fatalf("Result.String() = %q, want %q", got, want)
	}
	if got, want := st(1, 0, 0, typed.Never).String(), "State{Limit: 1, Remaining: 0, ResetAfter: 0s, RetryAfter: never}"; got != want {
		t.Fatalf("State.String() = %q, want %q", got, want)
	}
}

// TestSharedDefaultStore: limiters without WithStore share one store, so
// the same key and quota share state; another key (a namespace written
// into the key), another algorithm or another quota separate them. The
// default store runs on the real clock, so the quota refills slowly
// enough (10 a day) not to move during the test.
func TestSharedDefaultStore(t *testing.T) {
	key := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	q := typed.WithQuota(algo.PerDay(10))
	a := must(typed.New[string](q)).of(t)
	b := must(typed.New[string](q)).of(t)
	gcra := must(typed.New[string](q, typed.WithAlgorithm(algo.GCRA))).of(t)
	other := must(typed.New[string](typed.WithQuota(algo.PerDay(11)))).of(t)
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
	if s := must(a.Peek(ctx, "other:"+key)).of(t); s.Remaining != 10 {
		t.Fatalf("a.Peek(other:key) = %v, want a fresh key (remaining 10)", s)
	}
	if s := must(gcra.Peek(ctx, key)).of(t); s.Remaining != 10 {
		t.Fatalf("gcra.Peek = %v, want a fresh key (remaining 10)", s)
	}
	if s := must(other.Peek(ctx, key)).of(t); s.Remaining != 11 {
		t.Fatalf("Peek with another quota = %v, want a fresh key (remaining 11)", s)
	}
	if r := must(a.Limit(ctx, "other:"+key, 10)).of(t); r.Limited {
		t.Fatalf("a.Limit(other:key, 10) = %v, want allowed", r)
	}
	if s := must(b.Peek(ctx, key)).of(t); s.Remaining != 6 {
		t.Fatalf("b.Peek after the other key = %v, want remaining 6", s)
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

// TestNamespacesAreKeys: with WithKeyPrefix gone, a namespace is part of
// the key: on one store, limiters never share keys of other namespaces and
// do share equal keys.
func TestNamespacesAreKeys(t *testing.T) {
	s, _ := newStore(t)
	q := typed.WithQuota(algo.PerMin(5))
	a := must(typed.New[string](typed.WithStore(s), q)).of(t)
	a2 := must(typed.New[string](typed.WithStore(s), q)).of(t)
	must(a.Limit(ctx, "a:k", 2)).of(t)
	for _, c := range []struct {
		key  string
		want int64
	}{{"a:k", 3}, {"b:k", 5}, {"k", 5}} {
		if got := peekRemaining(t, a2, c.key); got != c.want {
			t.Errorf("%s: Remaining = %d, want %d", c.key, got, c.want)
		}
	}
}

// TestConcurrentLimit: many goroutines on one key never over-admit, and
// with several quotas a denied request charges none.
func TestConcurrentLimit(t *testing.T) {
	s, _ := newStore(t)
	table := memstore.For[int](s)
	hourly := typed.WithQuota(algo.PerHour(100))
	run := func(l *typed.Limiter[int]) int {
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
		return admitted
	}
	if n := run(must(typed.New[int](typed.WithStore(table), hourly)).of(t)); n != 100 {
		t.Fatalf("admitted %d of 400 on a frozen clock, want exactly the burst, 100", n)
	}
	// Two quotas: 60 a minute (fixed window) and 100 an hour, on key 2.
	two := must(typed.New[int](typed.WithStore(table), typed.WithQuotas(algo.PerMin(60).WithAlgorithm(algo.FixedWindow), algo.PerHour(100)))).of(t)
	single := must(typed.New[int](typed.WithStore(table), hourly)).of(t)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r, err := two.Limit(ctx, 2, 1)
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
	if admitted != 60 {
		t.Fatalf("admitted %d with 60/min and 100/h, want 60", admitted)
	}
	if got := peekRemaining(t, single, 2); got != 40 {
		t.Fatalf("the hourly quota has %d left, want 40: the 340 denied requests must charge nothing", got)
	}
}

// TestDifferentQuotasDoNotShareState is the bug this API fixes: two
// limiters on one store and key with different quotas used to share one
// state per algorithm, so a fast limiter's traffic spent a slow one's
// quota (and a denial computed with the wrong rate). State belongs to
// (algorithm, quota, key): a slow limiter of 7 an hour is untouched by 5
// requests of a fast one of 10 a second, for every algorithm and store.
func TestDifferentQuotasDoNotShareState(t *testing.T) {
	for _, b := range backends(t) {
		for _, a := range algo.Algorithms {
			t.Run(b.name+"/"+a.String(), func(t *testing.T) {
				fast := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(algo.PerSec(10)))).of(t)
				slow := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(algo.PerHour(7)))).of(t)
				for i := range 5 {
					if r := must(fast.Limit(ctx, "user:1", 1)).of(t); r.Limited || r.State.Remaining != int64(9-i) {
						t.Fatalf("fast Limit %d = %v, want allowed with %d left", i+1, r, 9-i)
					}
				}
				r := must(slow.Limit(ctx, "user:1", 1)).of(t)
				if r.Limited || r.State.Limit != 7 || r.State.Remaining != 6 || r.State.RetryAfter != 0 {
					t.Fatalf("slow's first Limit = %v, want allowed with Limit 7, Remaining 6, RetryAfter 0", r)
				}
				if got := peekRemaining(t, fast, "user:1"); got != 5 {
					t.Fatalf("fast's Peek after slow's Limit: Remaining %d, want 5", got)
				}
				if got := peekRemaining(t, slow, "user:1"); got != 6 {
					t.Fatalf("slow's Peek: Remaining %d, want 6", got)
				}
			})
		}
	}
}

// TestIdenticalQuotasShareState is throttled-py's ping-pong: limiters with
// the same store, key, algorithm and quota share the key's state, whatever
// their names; the window algorithms ignore the burst, so it does not
// separate them, while the buckets' burst does.
func TestIdenticalQuotasShareState(t *testing.T) {
	failAfter(t, callDeadline)
	for _, b := range backends(t) {
		for _, a := range algo.Algorithms {
			t.Run(b.name+"/"+a.String(), func(t *testing.T) {
				ping := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(algo.PerMin(1).WithName("ping")))).of(t)
				pong := must(typed.New[string](typed.WithStore(b.s), typed.WithQuota(algo.PerMin(1).WithName("pong").WithAlgorithm(a)))).of(t)
				fn := func(context.Context) error { return nil }
				if err := typed.Wrap(ping, "ping-pong", fn)(ctx); err != nil {
					t.Fatalf("ping: %v", err)
				}
				if err := typed.Wrap(pong, "ping-pong", fn)(ctx); !errors.Is(err, typed.ErrLimited) {
					t.Fatalf("pong: %v, want a LimitedError: the quotas are the same", err)
				}
				// Bursts differ: one state for the windows, two for buckets.
				q := algo.PerMin(4)
				x := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(q.WithBurst(2)))).of(t)
				y := must(typed.New[string](typed.WithStore(b.s), typed.WithAlgorithm(a), typed.WithQuota(q.WithBurst(5)))).of(t)
				must(x.Limit(ctx, "burst", 1)).of(t)
				want := int64(5) // y's own bucket of 5, untouched
				if !a.IsBucket() {
					want = 3 // the window of 4, one used through x
				}
				if got := peekRemaining(t, y, "burst"); got != want {
					t.Fatalf("y.Peek after x.Limit: Remaining %d, want %d", got, want)
				}
				must(y.Limit(ctx, "burst", 1)).of(t)
				want = 1 // x's bucket of 2, one used through x
				if !a.IsBucket() {
					want = 2 // the shared window of 4, two used
				}
				if got := peekRemaining(t, x, "burst"); got != want {
					t.Fatalf("x.Peek after y.Limit: Remaining %d, want %d", got, want)
				}
			})
		}
	}
}

// TestQuotasAllOrNothing: a request passes iff every quota admits it; a
// request one quota denies charges none. Single-quota limiters on the
// same store and key share each quota's state, so their Peeks show what
// each quota was charged.
func TestQuotasAllOrNothing(t *testing.T) {
	for _, b := range backends(t) {
		for i, a := range algo.Algorithms {
			other := algo.Algorithms[(i+2)%len(algo.Algorithms)]
			t.Run(b.name+"/"+a.String()+"+"+other.String(), func(t *testing.T) {
				key := "k-" + a.String()
				tightQ := algo.PerMin(3).WithAlgorithm(a).WithName("tight")
				looseQ := algo.PerHour(5).WithAlgorithm(other).WithName("loose")
				both := must(typed.New[string](typed.WithStore(b.s), typed.WithQuotas(tightQ, looseQ))).of(t)
				tight := must(typed.New[string](typed.WithStore(b.s), typed.WithQuota(algo.PerMin(3)), typed.WithAlgorithm(a))).of(t)
				loose := must(typed.New[string](typed.WithStore(b.s), typed.WithQuota(looseQ.WithName("")))).of(t)
				check := func(what string, wantTight, wantLoose int64) {
					t.Helper()
					if got := peekRemaining(t, tight, key); got != wantTight {
						t.Fatalf("%s: tight quota has %d left, want %d", what, got, wantTight)
					}
					if got := peekRemaining(t, loose, key); got != wantLoose {
						t.Fatalf("%s: loose quota has %d left, want %d", what, got, wantLoose)
					}
				}
				for n := range 3 {
					if r := must(both.Limit(ctx, key, 1)).of(t); r.Limited {
						t.Fatalf("Limit %d = %v, want allowed", n+1, r)
					}
				}
				check("after 3", 0, 2)
				// The tight quota denies: the loose one is not charged.
				r := must(both.Limit(ctx, key, 1)).of(t)
				if !r.Limited || !r.Quotas[0].Limited || r.Quotas[1].Limited || r.Quotas[1].State.Remaining != 2 {
					t.Fatalf("4th Limit = %v %+v, want denied by the tight quota only", r, r.Quotas)
				}
				check("after a denial by the tight quota", 0, 2)
				// Two minutes on, the tight quota is full again; a cost of 3
				// fits it but not the loose quota's 2: nothing is charged.
				b.fc.Advance(2 * time.Minute)
				check("2 minutes later", 3, 2)
				r = must(both.Limit(ctx, key, 3)).of(t)
				if !r.Limited || r.Quotas[0].Limited || !r.Quotas[1].Limited || r.Quotas[0].State.Remaining != 3 {
					t.Fatalf("Limit(3) = %v %+v, want denied by the loose quota only", r, r.Quotas)
				}
				check("after a denial by the loose quota", 3, 2)
				// A cost both admit charges both.
				if r := must(both.Limit(ctx, key, 2)).of(t); r.Limited || r.State.Remaining != 0 {
					t.Fatalf("Limit(2) = %v, want allowed with 0 left", r)
				}
				check("after Limit(2)", 1, 0)
				// Cost 0 is a peek under every quota.
				if r := must(both.Limit(ctx, key, 0)).of(t); r.Limited || r.State.Remaining != 0 {
					t.Fatalf("Limit(0) = %v, want allowed with 0 left", r)
				}
				check("after Limit(0)", 1, 0)
			})
		}
	}
}

// TestQuotasCombinedState: with several quotas, Result.State is Limited if
// any quota denies, has the least Remaining with the Limit of its quota,
// the greatest ResetAfter and the greatest RetryAfter, Never if any quota
// can never pass the request; Result.Quotas has each quota's own part, in
// the limiter's order, with its name and algorithm.
//
// Quotas: "sec" 10/s burst 20 (token bucket: one token per 100ms) and
// "min" 30/m (fixed window, aligned to t0).
func TestQuotasCombinedState(t *testing.T) {
	secQ := algo.PerSec(10).WithBurst(20).WithName("sec")
	minQ := algo.PerMin(30).WithAlgorithm(algo.FixedWindow).WithName("min")
	secQS := func(limited bool, s typed.State) typed.QuotaState {
		return typed.QuotaState{Quota: secQ.WithAlgorithm(algo.TokenBucket), Limited: limited, State: s}
	}
	minQS := func(limited bool, s typed.State) typed.QuotaState {
		return typed.QuotaState{Quota: minQ, Limited: limited, State: s}
	}
	ms := time.Millisecond
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := must(typed.New[string](typed.WithStore(b.s), typed.WithQuotas(secQ, minQ))).of(t)
			if got := l.Quotas(); !slices.Equal(got, []algo.Quota{secQ.WithAlgorithm(algo.TokenBucket), minQ}) {
				t.Fatalf("Quotas() = %v", got)
			}
			steps := []struct {
				at   time.Duration
				cost int64
				want typed.Result
			}{
				// sec keeps the least (5 of 20): its Limit is reported.
				{0, 15, withQuotas(allowed(st(20, 5, time.Minute, 0)),
					secQS(false, st(20, 5, 1500*ms, 0)), minQS(false, st(30, 15, time.Minute, 0)))},
				// sec denies (one token short), min would admit: a peek.
				{0, 6, withQuotas(denied(st(20, 5, time.Minute, 100*ms)),
					secQS(true, st(20, 5, 1500*ms, 100*ms)), minQS(false, st(30, 15, time.Minute, 0)))},
				// 2s on: sec is full, min denies until its window ends.
				{2 * time.Second, 16, withQuotas(denied(st(30, 15, 58*time.Second, 58*time.Second)),
					secQS(false, st(20, 20, 0, 0)), minQS(true, st(30, 15, 58*time.Second, 58*time.Second)))},
				// Never (sec: 21 > 20) wins over min's 58s.
				{2 * time.Second, 21, withQuotas(denied(st(30, 15, 58*time.Second, typed.Never)),
					secQS(true, st(20, 20, 0, typed.Never)), minQS(true, st(30, 15, 58*time.Second, 58*time.Second)))},
				// Never under both.
				{2 * time.Second, 31, withQuotas(denied(st(30, 15, 58*time.Second, typed.Never)),
					secQS(true, st(20, 20, 0, typed.Never)), minQS(true, st(30, 15, 58*time.Second, typed.Never)))},
				// Cost 0: each quota's state.
				{2 * time.Second, 0, withQuotas(allowed(st(30, 15, 58*time.Second, 0)),
					secQS(false, st(20, 20, 0, 0)), minQS(false, st(30, 15, 58*time.Second, 0)))},
				// Both admit: min ends at 0 and is the least; ResetAfter is
				// min's 58s, not sec's 1.5s.
				{2 * time.Second, 15, withQuotas(allowed(st(30, 0, 58*time.Second, 0)),
					secQS(false, st(20, 5, 1500*ms, 0)), minQS(false, st(30, 0, 58*time.Second, 0)))},
				// A new window: min is fresh, sec has refilled.
				{time.Minute, 0, withQuotas(allowed(st(20, 20, 0, 0)),
					secQS(false, st(20, 20, 0, 0)), minQS(false, st(30, 30, 0, 0)))},
			}
			for _, s := range steps {
				b.fc.Set(t0 + s.at.Microseconds())
				r, err := l.Limit(ctx, "k", s.cost)
				wantResult(t, fmt.Sprintf("at %v Limit(%d)", s.at, s.cost), r, err, s.want)
				// Peek reports the combined state of a cost-0 request.
				p := must(l.Peek(ctx, "k")).of(t)
				if p.RetryAfter != 0 || p.Remaining < 0 {
					t.Fatalf("at %v Peek = %v", s.at, p)
				}
			}
			// Peek is Limit(0)'s State.
			wantState(t, "Peek", must(l.Peek(ctx, "k")).of(t), nil, st(20, 20, 0, 0))
		})
	}
}

// TestQuotasDoWrapReset: Do and Wrap deny with the combined Result (each
// quota's part included); Reset forgets every quota of the limiter on the
// key, and not another limiter's quota on it.
func TestQuotasDoWrapReset(t *testing.T) {
	failAfter(t, callDeadline)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			perMin := algo.PerMin(2).WithName("per-minute")
			perDay := algo.PerDay(100).WithAlgorithm(algo.SlidingWindow).WithName("per-day")
			l := must(typed.New[userID](typed.WithStore(b.s), typed.WithQuotas(perMin, perDay))).of(t)
			minOnly := must(typed.New[userID](typed.WithStore(b.s), typed.WithQuota(perMin))).of(t)
			dayOnly := must(typed.New[userID](typed.WithStore(b.s), typed.WithQuota(perDay))).of(t)
			hourly := must(typed.New[userID](typed.WithStore(b.s), typed.WithQuota(algo.PerHour(10)))).of(t)

			ran := 0
			fn := func(context.Context) error { ran++; return nil }
			if err := l.Do(ctx, 1, fn); err != nil {
				t.Fatal(err)
			}
			if err := typed.Wrap(l, 1, fn)(ctx); err != nil {
				t.Fatal(err)
			}
			// The sliding window is back to 100 left once the 2 requests of
			// t0's day weigh less than 1: 1.5 days and 1µs on.
			dayReset := 36*time.Hour + time.Microsecond
			want := withQuotas(denied(st(2, 0, dayReset, 30*time.Second)),
				typed.QuotaState{Quota: perMin.WithAlgorithm(algo.TokenBucket), Limited: true, State: st(2, 0, time.Minute, 30*time.Second)},
				typed.QuotaState{Quota: perDay, State: st(100, 98, dayReset, 0)})
			wantLimited(t, "Do", l.Do(ctx, 1, fn), want)
			wantLimited(t, "Wrap", typed.Wrap(l, 1, fn)(ctx), want)
			wf := typed.WrapFunc(l, func(u userID) userID { return u }, func(_ context.Context, u userID) (int, error) { ran++; return 1, nil })
			if v, err := wf(ctx, 1); v != 0 {
				t.Fatalf("WrapFunc while limited = %d", v)
			} else {
				wantLimited(t, "WrapFunc", err, want)
			}
			if ran != 2 {
				t.Fatalf("fn ran %d times, want 2", ran)
			}
			must(hourly.Limit(ctx, 1, 4)).of(t)
			if err := l.Reset(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if got := peekRemaining(t, minOnly, 1); got != 2 {
				t.Fatalf("per-minute quota after Reset: %d left, want 2", got)
			}
			if got := peekRemaining(t, dayOnly, 1); got != 100 {
				t.Fatalf("per-day quota after Reset: %d left, want 100", got)
			}
			if got := peekRemaining(t, hourly, 1); got != 6 {
				t.Fatalf("another limiter's quota after Reset: %d left, want 6 (kept)", got)
			}
			if err := l.Do(ctx, 1, fn); err != nil || ran != 3 {
				t.Fatalf("Do after Reset: %v, ran %d", err, ran)
			}
		})
	}
}

// Plans of TestQuotaFunc: free users 10 a minute, paying ones 1,000 a
// minute and 10,000 a day.
var (
	freePlan = []algo.Quota{algo.PerMin(10).WithName("free")}
	paidPlan = []algo.Quota{algo.PerMin(1000).WithName("paid"), algo.PerDay(10_000).WithAlgorithm(algo.FixedWindow).WithName("paid-daily")}
)

// planOf is a quota func: keys "paid:…" get paidPlan, others freePlan.
// It counts its calls.
type planOf struct {
	mu    sync.Mutex
	calls int
	keys  []string
}

func (p *planOf) quotas(_ context.Context, key string) ([]algo.Quota, error) {
	p.mu.Lock()
	p.calls++
	p.keys = append(p.keys, key)
	p.mu.Unlock()
	if strings.HasPrefix(key, "paid:") {
		return paidPlan, nil
	}
	return freePlan, nil
}

func (p *planOf) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// TestQuotaFunc: each key gets its plan's quotas, decided and charged as
// with WithQuotas; a key changing plans starts fresh under the new one.
func TestQuotaFunc(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			plans := &planOf{}
			l := must(typed.New[string](typed.WithStore(b.s), typed.WithQuotaFunc(plans.quotas))).of(t)
			if l.Quotas() != nil {
				t.Fatalf("Quotas() with a quota func = %v, want nil", l.Quotas())
			}
			for i := range 10 {
				if r := must(l.Limit(ctx, "free:ann", 1)).of(t); r.Limited || r.State.Limit != 10 || r.Quotas != nil {
					t.Fatalf("free Limit %d = %v %+v", i+1, r, r.Quotas)
				}
			}
			wantResult(t, "free Limit 11", must(l.Limit(ctx, "free:ann", 1)).of(t), nil, denied(st(10, 0, time.Minute, 6*time.Second)))
			r := must(l.Limit(ctx, "paid:bob", 11)).of(t)
			want := withQuotas(allowed(st(1000, 989, 24*time.Hour, 0)),
				typed.QuotaState{Quota: paidPlan[0].WithAlgorithm(algo.TokenBucket), State: st(1000, 989, 660*time.Millisecond, 0)},
				typed.QuotaState{Quota: paidPlan[1], State: st(10_000, 9989, 24*time.Hour, 0)})
			wantResult(t, "paid Limit(11)", r, nil, want)
			if n := plans.count(); n != 12 {
				t.Fatalf("quota func called %d times for 12 requests", n)
			}
			// Peek and Reset ask the quota func too.
			wantState(t, "Peek(free)", must(l.Peek(ctx, "free:ann")).of(t), nil, st(10, 0, time.Minute, 0))
			if err := l.Reset(ctx, "paid:bob"); err != nil {
				t.Fatal(err)
			}
			if n := plans.count(); n != 14 {
				t.Fatalf("quota func called %d times for 14 calls", n)
			}
			wantState(t, "Peek(paid) after Reset", must(l.Peek(ctx, "paid:bob")).of(t), nil, st(1000, 1000, 0, 0))
			// A static limiter with the free plan shares its state.
			static := must(typed.New[string](typed.WithStore(b.s), typed.WithQuotas(freePlan...))).of(t)
			if got := peekRemaining(t, static, "free:ann"); got != 0 {
				t.Fatalf("static limiter with the free plan: %d left, want 0", got)
			}
		})
	}
	t.Run("plan change", func(t *testing.T) {
		s, _ := newStore(t)
		var paid sync.Map
		l := must(typed.New[userID](typed.WithStore(memstore.For[userID](s)), typed.WithQuotaFunc(func(_ context.Context, u userID) ([]algo.Quota, error) {
			if _, ok := paid.Load(u); ok {
				return paidPlan, nil
			}
			return freePlan, nil
		}))).of(t)
		must(l.Limit(ctx, 7, 10)).of(t)
		if r := must(l.Limit(ctx, 7, 1)).of(t); !r.Limited {
			t.Fatalf("free user past the quota: %v", r)
		}
		paid.Store(userID(7), true)
		if r := must(l.Limit(ctx, 7, 1)).of(t); r.Limited || r.State.Remaining != 999 {
			t.Fatalf("after upgrading: %v, want a fresh paid quota", r)
		}
	})
	t.Run("ctx and default key", func(t *testing.T) {
		s, _ := newStore(t)
		type ctxKey struct{}
		var got []string
		l := must(typed.New[string](typed.WithStore(s), typed.WithDefaultKey("anon"), typed.WithQuotaFunc(func(ctx context.Context, key string) ([]algo.Quota, error) {
			got = append(got, fmt.Sprint(ctx.Value(ctxKey{}), " ", key))
			return freePlan, nil
		}))).of(t)
		c := context.WithValue(ctx, ctxKey{}, "v")
		must(l.Limit(c, "", 1)).of(t)
		must(l.Limit(c, "u", 1)).of(t)
		if want := []string{"v anon", "v u"}; !slices.Equal(got, want) {
			t.Fatalf("quota func saw %q, want %q", got, want)
		}
	})
}

// TestQuotaFuncError: an error from the quota func fails the call,
// wrapped (errors.Is finds it), before anything is charged.
func TestQuotaFuncError(t *testing.T) {
	failAfter(t, callDeadline)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			boom := errors.New("plans unavailable")
			l := must(typed.New[string](typed.WithStore(b.s), typed.WithQuotaFunc(func(_ context.Context, key string) ([]algo.Quota, error) {
				if key == "ghost" {
					return nil, boom
				}
				return freePlan, nil
			}))).of(t)
			calls := map[string]func() error{
				"Limit": func() error { _, err := l.Limit(ctx, "ghost", 1); return err },
				"Peek":  func() error { _, err := l.Peek(ctx, "ghost"); return err },
				"Reset": func() error { return l.Reset(ctx, "ghost") },
				"Wait":  func() error { _, err := l.Wait(ctx, "ghost", 1); return err },
				"Do": func() error {
					return l.Do(ctx, "ghost", func(context.Context) error { t.Error("fn ran"); return nil })
				},
			}
			for what, call := range calls {
				err := call()
				if !errors.Is(err, boom) || errors.Is(err, algo.ErrInvalid) || errors.Is(err, typed.ErrLimited) {
					t.Fatalf("%s: %v, want the quota func's error, wrapped", what, err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "throttled: ") || !strings.Contains(msg, "quota func") || !strings.Contains(msg, "plans unavailable") {
					t.Fatalf("%s: message %q", what, msg)
				}
			}
			if n := b.keys(); n != 0 {
				t.Fatalf("failed calls stored %d keys", n)
			}
			// Other keys are decided.
			if r := must(l.Limit(ctx, "ann", 1)).of(t); r.Limited {
				t.Fatalf("Limit(ann) = %v", r)
			}
		})
	}
}

// TestQuotaFuncCache: the quota func is called on every request, but its
// quotas are compiled once per set: a decision allocates nothing, and a
// func returning ever new sets keeps working past the cache's bound.
func TestQuotaFuncCache(t *testing.T) {
	s, _ := newStore(t)
	plans := &planOf{}
	l := must(typed.New[string](typed.WithStore(s), typed.WithQuotaFunc(func(_ context.Context, key string) ([]algo.Quota, error) {
		plans.calls++ // one goroutine: no lock, so the count allocates nothing
		if key[0] == 'p' {
			return paidPlan, nil
		}
		return freePlan, nil
	}))).of(t)
	must(l.Limit(ctx, "free", 1)).of(t)
	must(l.Limit(ctx, "paid", 1)).of(t)
	plans.calls = 0
	if n := testing.AllocsPerRun(100, func() {
		if _, err := l.Limit(ctx, "free", 1); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Limit with a quota func: %v allocations per call, want 0 (quotas compiled once)", n)
	}
	if n := testing.AllocsPerRun(100, func() { l.Peek(ctx, "free") }); n != 0 {
		t.Errorf("Peek with a quota func: %v allocations per call, want 0", n)
	}
	if plans.calls != 202 { // AllocsPerRun runs f once more to warm up
		t.Errorf("quota func called %d times for 202 calls", plans.calls)
	}

	// Ever new quota sets: each is compiled, and every decision is right.
	n := int64(0)
	fresh := must(typed.New[string](typed.WithStore(s), typed.WithQuotaFunc(func(context.Context, string) ([]algo.Quota, error) {
		n++
		return []algo.Quota{algo.PerDay(n)}, nil
	}))).of(t)
	for i := range int64(5000) {
		r := must(fresh.Limit(ctx, "many", 1)).of(t)
		if r.Limited || r.State.Limit != i+1 || r.State.Remaining != i {
			t.Fatalf("request %d under PerDay(%d) = %v", i, i+1, r)
		}
	}
}

// TestCancelledCall: a call whose ctx is done fails with the store's
// ErrUnavailable wrapping ctx's error and charges nothing, with one quota
// or several.
func TestCancelledCall(t *testing.T) {
	failAfter(t, callDeadline)
	for _, b := range backends(t) {
		for _, qs := range [][]algo.Quota{{algo.PerMin(5)}, {algo.PerMin(5), algo.PerHour(50).WithAlgorithm(algo.GCRA)}} {
			t.Run(fmt.Sprintf("%s/%d quotas", b.name, len(qs)), func(t *testing.T) {
				l := must(typed.New[userID](typed.WithStore(b.s), typed.WithQuotas(qs...))).of(t)
				c, cancel := context.WithCancel(ctx)
				cancel()
				for what, call := range map[string]func() error{
					"Limit": func() error { _, err := l.Limit(c, 1, 1); return err },
					"Peek":  func() error { _, err := l.Peek(c, 1); return err },
					"Reset": func() error { return l.Reset(c, 1) },
					"Do":    func() error { return l.Do(c, 1, func(context.Context) error { t.Error("fn ran"); return nil }) },
				} {
					if err := call(); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
						t.Fatalf("%s with a cancelled ctx: %v, want ErrUnavailable wrapping Canceled", what, err)
					}
				}
				if n := b.keys(); n != 0 {
					t.Fatalf("cancelled calls stored %d keys", n)
				}
			})
		}
	}
}

// TestStoreNameThroughEncoding: hooks name the store a limiter of typed
// keys decides on, through the encoding for a string store: its own name,
// else its Go type.
func TestStoreNameThroughEncoding(t *testing.T) {
	fc := store.NewFakeClock(t0)
	red, _ := newRedisStore(t, fc)
	rs, _ := newRecStore(t)
	for _, c := range []struct {
		opt  typed.Option
		want string
	}{
		{typed.WithStore(red), "redis"},
		{typed.WithStore(rs), "*typed_test.recStore"},
	} {
		var got string
		l := must(typed.New[userID](c.opt, typed.WithHooks(func(ctx context.Context, call *typed.Call[userID], next typed.Next) (typed.Result, error) {
			got = call.Store
			return next(ctx)
		}))).of(t)
		must(l.Limit(ctx, 1, 1)).of(t)
		if got != c.want {
			t.Fatalf("hook saw store %q, want %q", got, c.want)
		}
	}
}

// sameResult compares a Result with one a test built: all but Quota, which
// names the quota State shows and is checked by TestResultQuota.
func sameResult(got, want typed.Result) bool {
	got.Quota = want.Quota
	return reflect.DeepEqual(got, want)
}

// TestResultQuota checks that a Result names the quota its State shows:
// the one quota, or of several the one with the least Remaining, with its
// algorithm and name; under FallBack, the scaled copy.
func TestResultQuota(t *testing.T) {
	ctx := context.Background()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	one, err := typed.New[string](typed.WithStore(mem), typed.WithQuota(algo.PerMin(5).WithName("minute")))
	if err != nil {
		t.Fatal(err)
	}
	r, err := one.Limit(ctx, "k", 1)
	if want := algo.PerMin(5).WithName("minute").WithAlgorithm(algo.TokenBucket); err != nil || r.Quota == nil || *r.Quota != want {
		t.Fatalf("one quota: Quota = %+v, %v; want %+v", r.Quota, err, want)
	}
	two, err := typed.New[string](typed.WithStore(mem), typed.WithAlgorithm(algo.GCRA),
		typed.WithQuotas(algo.PerSec(3).WithName("burst"), algo.PerHour(100).WithName("hourly").WithAlgorithm(algo.FixedWindow)))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"burst", "burst", "burst", "burst"} {
		r, err := two.Limit(ctx, "k", 1)
		if err != nil || r.Quota.Name != want || r.State.Limit != 3 {
			t.Fatalf("two quotas, request %d: Quota %+v, Limit %d, %v; want %s (the least Remaining)", i, r.Quota, r.State.Limit, err, want)
		}
	}
	r, err = two.Limit(ctx, "k2", 98)
	if err == nil && !r.Limited {
		t.Fatalf("cost 98 on a burst of 3 passed: %+v", r)
	}
	r, err = two.Limit(ctx, "k3", 2)
	if err != nil || r.Quota.Name != "burst" || r.Quota.Algorithm != algo.GCRA || r.State.Remaining != 1 {
		t.Fatalf("two quotas: %+v, %v; want burst (GCRA) with 1 left", r, err)
	}
}
