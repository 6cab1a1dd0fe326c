package typed_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// hookLimiter returns a limiter of 3 per minute on a fresh memory store
// with the given hooks, and a limiter without hooks sharing its state.
func hookLimiter(t *testing.T, hooks ...typed.Hook[string]) (*typed.Limiter[string], *typed.Limiter[string]) {
	t.Helper()
	mem, err := memstore.New(memstore.WithClock(store.NewFakeClock(1_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	opts := []typed.Option{typed.WithStore(mem), typed.WithQuota(algo.PerMin(3).WithName("minute"))}
	l, err := typed.New[string](append(opts, typed.WithHooks(hooks...))...)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := typed.New[string](opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l, plain
}

// TestHooksOrderAndCall checks that hooks run in order, the first
// outermost, and see the call: key, cost, quotas and store.
func TestHooksOrderAndCall(t *testing.T) {
	var trace []string
	mark := func(name string) typed.Hook[string] {
		return func(ctx context.Context, c *typed.Call[string], next typed.Next) (typed.Result, error) {
			trace = append(trace, name+" before")
			if c.Key != "k" || c.Cost != 2 || c.Store != "memory" || len(c.Quotas) != 1 || c.Quotas[0].Name != "minute" || c.Quotas[0].Algorithm != algo.TokenBucket || c.Batch {
				t.Errorf("%s saw %+v", name, c)
			}
			r, err := next(ctx)
			trace = append(trace, name+" after")
			return r, err
		}
	}
	l, _ := hookLimiter(t, mark("a"), mark("b"))
	r, err := l.Limit(context.Background(), "k", 2)
	if err != nil || r.Limited || r.State.Remaining != 1 {
		t.Fatalf("Limit = %+v, %v", r, err)
	}
	if got, want := strings.Join(trace, ", "), "a before, b before, b after, a after"; got != want {
		t.Fatalf("hooks ran %s, want %s", got, want)
	}
}

// TestHookDecidesOnce checks that a hook calling next twice charges once,
// and that a hook may replace the Result or deny on its own.
func TestHookDecidesOnce(t *testing.T) {
	failAfter(t, callDeadline)
	twice := func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
		if _, err := next(ctx); err != nil {
			return typed.Result{}, err
		}
		return next(ctx)
	}
	l, plain := hookLimiter(t, twice)
	ctx := context.Background()
	if r, err := l.Limit(ctx, "k", 1); err != nil || r.State.Remaining != 2 {
		t.Fatalf("Limit through a hook calling next twice = %+v, %v; want Remaining 2 (charged once)", r, err)
	}
	if st, _ := plain.Peek(ctx, "k"); st.Remaining != 2 {
		t.Fatalf("the store shows Remaining %d, want 2", st.Remaining)
	}

	denyAll := func(context.Context, *typed.Call[string], typed.Next) (typed.Result, error) {
		return typed.Result{Limited: true}, nil
	}
	l, plain = hookLimiter(t, denyAll)
	if r, err := l.Limit(ctx, "k", 1); err != nil || !r.Limited {
		t.Fatalf("Limit through a denying hook = %+v, %v", r, err)
	}
	if st, _ := plain.Peek(ctx, "k"); st.Remaining != 3 {
		t.Fatalf("a hook that did not call next charged the store: Remaining %d, want 3", st.Remaining)
	}
	if err := l.Do(ctx, "k", func(context.Context) error { t.Fatal("ran"); return nil }); !errors.Is(err, typed.ErrLimited) {
		t.Fatalf("Do through a denying hook: %v, want ErrLimited", err)
	}
}

// TestHookPanicAndError checks that a panicking hook is logged and the
// caller still gets the decision, made once, and that a hook's error
// reaches the caller with the hook's Result.
func TestHookPanicAndError(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(prev)

	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hook typed.Hook[string]
	}{
		{"panics before next", func(context.Context, *typed.Call[string], typed.Next) (typed.Result, error) {
			panic("boom")
		}},
		{"panics after next", func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
			_, _ = next(ctx)
			panic("boom")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			l, plain := hookLimiter(t, tc.hook)
			r, err := l.Limit(ctx, "k", 1)
			if err != nil || r.Limited || r.State.Remaining != 2 {
				t.Fatalf("Limit through a panicking hook = %+v, %v; want allowed, Remaining 2", r, err)
			}
			if st, _ := plain.Peek(ctx, "k"); st.Remaining != 2 {
				t.Fatalf("the store shows Remaining %d, want 2: decided once", st.Remaining)
			}
			if !strings.Contains(logs.String(), "throttled: hook panicked") || !strings.Contains(logs.String(), "boom") {
				t.Fatalf("the panic was not logged: %q", logs.String())
			}
		})
	}

	errHook := errors.New("hook says no")
	failing := func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
		r, _ := next(ctx)
		return r, errHook
	}
	l, _ := hookLimiter(t, failing)
	r, err := l.Limit(ctx, "k", 1)
	if !errors.Is(err, errHook) || r.State.Remaining != 2 {
		t.Fatalf("Limit through a failing hook = %+v, %v; want its error with the decision", r, err)
	}
}

// TestHooksInBatch checks that each request of a LimitAll goes through the
// hooks, marked Batch, with its own decision.
func TestHooksInBatch(t *testing.T) {
	var seen []string
	var batch []bool
	h := func(ctx context.Context, c *typed.Call[string], next typed.Next) (typed.Result, error) {
		r, err := next(ctx)
		if err == nil && !r.Limited {
			seen = append(seen, c.Key)
		}
		batch = append(batch, c.Batch)
		return r, err
	}
	l, _ := hookLimiter(t, h)
	res, err := l.LimitAll(context.Background(), []typed.Request[string]{{Key: "a", Cost: 1}, {Key: "b", Cost: 4}, {Key: "a", Cost: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Limited != true || res[2].State.Remaining != 0 {
		t.Fatalf("LimitAll = %+v", res)
	}
	if strings.Join(seen, ",") != "a,a" || len(batch) != 3 || !batch[0] || !batch[1] || !batch[2] {
		t.Fatalf("hooks saw allowed %v, batch flags %v; want a,a and three batch calls", seen, batch)
	}
}

// TestHooksSeeFallback checks that a hook sees which store decided.
func TestHooksSeeFallback(t *testing.T) {
	var sources []typed.Source
	h := func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
		r, err := next(ctx)
		sources = append(sources, r.Source)
		return r, err
	}
	srv := redistest.Standalone(t)
	down, err := redisstore.FromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	srv.Kill()
	l, err := typed.New[string](typed.WithStore(down), typed.WithOutagePolicy(typed.FallBack(1)), typed.WithHooks(h))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := l.Limit(context.Background(), "k", 1); err != nil || r.Source != typed.FromFallback {
		t.Fatalf("Limit on a down store = %+v, %v", r, err)
	}
	if len(sources) != 1 || sources[0] != typed.FromFallback {
		t.Fatalf("the hook saw %v, want [fallback]", sources)
	}
}

// TestWithHooksInvalid checks the refusals of WithHooks.
func TestWithHooksInvalid(t *testing.T) {
	if _, err := typed.New[string](typed.WithHooks[string](nil)); !errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("a nil hook: %v, want ErrInvalid", err)
	}
	h := func(context.Context, *typed.Call[int], typed.Next) (typed.Result, error) { return typed.Result{}, nil }
	if _, err := typed.New[string](typed.WithHooks(h)); !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), "hooks") {
		t.Fatalf("hooks of int keys on a string limiter: %v, want ErrInvalid naming the hooks", err)
	}
}

// TestHooksAllocateNothing checks that a decision through a hook that only
// calls next allocates nothing of the limiter's own.
func TestHooksAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so this path allocates under -race; make test also runs the allocation tests without -race")
	}
	pass := func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
		return next(ctx)
	}
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[string](typed.WithStore(mem), typed.WithQuota(algo.PerSec(1_000_000_000)), typed.WithHooks(pass, pass))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := l.Limit(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a Limit through two hooks allocates %v times, want 0", n)
	}
}
