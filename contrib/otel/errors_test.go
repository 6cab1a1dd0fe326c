package throttledotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// TestErrorTypes: each kind of error a hook can see gets its error.type:
// a key the store cannot encode (invalid), a Redis key holding something
// else (script), and an error of another hook (_OTHER). Unavailable and
// canceled are in TestOutage and TestRequestsAndDuration.
func TestErrorTypes(t *testing.T) {
	r, mp := newReader(t)
	hook, err := throttledotel.NewHook[int](throttledotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	q := algo.PerMin(5).WithName("m")
	clock := store.NewFakeClock(fakeStart)

	// invalid: the key func refuses negative keys.
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	keyFunc := typed.WithKeyFunc(func(k int) (string, error) {
		if k < 0 {
			return "", errors.New("negative")
		}
		return "u" + string(rune('0'+k%10)), nil
	})
	l, err := typed.New[int](typed.WithStore[string](mem), keyFunc, typed.WithQuota(q), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Limit(testCtx(t), -1, 1); !errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("negative key: %v", err)
	}

	// script: the key's Redis key holds a string.
	srv := redistest.Standalone(t)
	rs, err := redisstore.FromURL(srv.URL(), redisstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	lr, err := typed.New[int](typed.WithStore[string](rs), keyFunc, typed.WithQuota(q), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.NewPolicy(q.WithAlgorithm(algo.TokenBucket))
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "SET", rs.Key("u7", p), "garbage")
	if _, err := lr.Limit(testCtx(t), 7, 1); !errors.Is(err, store.ErrScript) {
		t.Fatalf("garbage key: %v", err)
	}

	// _OTHER: a hook inside ours fails the call.
	errVeto := errors.New("vetoed")
	veto := func(context.Context, *typed.Call[int], typed.Next) (typed.Result, error) {
		return typed.Result{}, errVeto
	}
	lv, err := typed.New[int](typed.WithStore[string](mem), keyFunc, typed.WithQuota(q), typed.WithHooks(hook, veto))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lv.Limit(testCtx(t), 1, 1); !errors.Is(err, errVeto) {
		t.Fatalf("veto: %v", err)
	}

	common := []string{"throttled.algorithm=token_bucket", "throttled.operation=limit", "throttled.result=error"}
	at := func(kv ...string) string { return a(append(append([]string(nil), common...), kv...)...) }
	equal(t, throttledotel.MetricRequests, collect(t, r).sum(t, throttledotel.MetricRequests, "{request}"), map[string]int64{
		at("throttled.store=memory", "error.type=invalid"): 1,
		at("throttled.store=redis", "error.type=script"):   1,
		at("throttled.store=memory", "error.type=_OTHER"):  1,
	})
}
