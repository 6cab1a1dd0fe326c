package typed_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// chaosTimeout is the Redis store's call timeout in the chaos tests, and
// chaosMargin what a call may take beyond it on a loaded 2-core machine.
const (
	chaosTimeout = 100 * time.Millisecond
	chaosMargin  = 400 * time.Millisecond
)

// chaosStore connects a Redis store with a short timeout to srv's address.
func chaosStore(t *testing.T, url string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.FromURL(url, append([]redisstore.Option{redisstore.WithTimeout(chaosTimeout)}, opts...)...)
	if err != nil {
		t.Fatalf("FromURL(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// timed runs f and fails the test when it takes longer than the timeout and
// the margin.
func withinTimeout[T any](t *testing.T, what string, f func() (T, error)) (T, error) {
	t.Helper()
	start := time.Now()
	v, err := f()
	if d := time.Since(start); d > chaosTimeout+chaosMargin {
		t.Errorf("%s took %v, want at most the timeout %v and a margin of %v", what, d, chaosTimeout, chaosMargin)
	}
	return v, err
}

// eventually retries check every 10 ms until it succeeds or 10 s pass.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settledGoroutines waits for the goroutine count to fall to at most n
// and fails the test if it does not within 5 s.
func settledGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutageKillAndRestart kills redis-server (SIGKILL) under load and
// restarts it, for each outage policy: no panic, every call returns within
// the timeout and a margin, the policy decides while the server is down
// (the fallback exactly as a memory store with the scaled quota would), and
// the limiter goes back to Redis after the restart with no restart of its
// own.
func TestOutageKillAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy typed.OutagePolicy
		want   typed.Source // what decides while the server is down
	}{
		{"fail_closed", typed.FailClosed, typed.FromStore},
		{"fail_open", typed.FailOpen, typed.FromFailOpen},
		{"fallback", typed.FallBack(2), typed.FromFallback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Standalone(t)
			rs := chaosStore(t, srv.URL())
			quota := algo.PerMin(10)
			l, err := typed.New[string](typed.WithStore(rs), typed.WithQuota(quota), typed.WithOutagePolicy(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for range 3 {
				r, err := l.Limit(ctx, "k", 1)
				if err != nil || r.Source != typed.FromStore {
					t.Fatalf("before the outage: %+v, %v", r, err)
				}
			}
			before := runtime.NumGoroutine()

			srv.Kill()
			// The fallback must decide as a fresh memory store with the quota
			// divided by 2 (limit and burst 5) would.
			mem, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			model, err := typed.New[string](typed.WithStore(mem), typed.WithQuota(algo.PerMin(5)))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				r, err := withinTimeout(t, fmt.Sprintf("call %d while down", i), func() (typed.Result, error) { return l.Limit(ctx, "k", 1) })
				switch tc.want {
				case typed.FromStore: // fail closed
					if !errors.Is(err, store.ErrUnavailable) {
						t.Fatalf("call %d while down: %+v, %v; want store.ErrUnavailable", i, r, err)
					}
				case typed.FromFailOpen:
					if err != nil || r.Limited || r.Source != typed.FromFailOpen || r.State.Limit != 10 {
						t.Fatalf("call %d while down: %+v, %v; want allowed, from fail-open, Limit 10", i, r, err)
					}
				case typed.FromFallback:
					m, _ := model.Limit(ctx, "k", 1)
					if err != nil || r.Source != typed.FromFallback || r.Limited != m.Limited || r.State.Remaining != m.State.Remaining || r.State.Limit != 5 {
						t.Fatalf("call %d while down: %+v, %v; want %+v from the fallback", i, r, err, m)
					}
				}
			}

			srv.Restart(t)
			// Calls may still fail (and be decided by the policy) while the
			// client reconnects; the first one Redis decides sees a fresh
			// key, as the restarted server lost it.
			eventually(t, "back on Redis after the restart", func() error {
				r, err := l.Limit(ctx, "k", 1)
				if err != nil || r.Source != typed.FromStore {
					return fmt.Errorf("%+v, %v", r, err)
				}
				if r.State.Remaining != 9 {
					t.Fatalf("first call Redis decided after the restart: %+v; want Remaining 9 (the restarted server lost the key)", r)
				}
				return nil
			})
			settledGoroutines(t, before+1)
		})
	}
}

// TestOutageHungServer stops redis-server with SIGSTOP for longer than the
// timeout: calls return within the timeout (the fallback ones at once once
// the circuit is open), and SIGCONT brings the limiter back to Redis.
func TestOutageHungServer(t *testing.T) {
	srv := redistest.Standalone(t)
	rs := chaosStore(t, srv.URL())
	closed, err := typed.New[string](typed.WithStore(rs), typed.WithQuota(algo.PerMin(100)))
	if err != nil {
		t.Fatal(err)
	}
	fallback, err := typed.New[string](typed.WithStore(rs), typed.WithQuota(algo.PerMin(100)), typed.WithOutagePolicy(typed.FallBack(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := fallback.Limit(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume(t)
		}
	}()
	for i := range 5 {
		if _, err := withinTimeout(t, "a fail-closed call to a hung server", func() (typed.Result, error) { return closed.Limit(ctx, "k", 1) }); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("fail-closed call %d to a hung server: %v, want store.ErrUnavailable", i, err)
		}
	}
	var slow int
	for i := range 20 {
		start := time.Now()
		r, err := withinTimeout(t, "a fallback call to a hung server", func() (typed.Result, error) { return fallback.Limit(ctx, "k", 1) })
		if err != nil || r.Source != typed.FromFallback {
			t.Fatalf("fallback call %d to a hung server: %+v, %v", i, r, err)
		}
		if time.Since(start) >= chaosTimeout {
			slow++
		}
	}
	if slow > 1 {
		t.Errorf("%d of 20 fallback calls waited for the hung server; only the first should (the circuit opens)", slow)
	}
	srv.Resume(t)
	resumed = true
	eventually(t, "back on Redis after SIGCONT", func() error {
		r, err := fallback.Limit(ctx, "k", 0)
		if err != nil || r.Source != typed.FromStore {
			return fmt.Errorf("%+v, %v", r, err)
		}
		return nil
	})
	if _, err := closed.Limit(ctx, "k", 1); err != nil {
		t.Fatalf("fail-closed after SIGCONT: %v", err)
	}
}

// TestOutageClusterNodeKilled kills one master of a 3-node cluster. Failing
// closed, the keys in its slots fail and the others keep being decided by
// Redis. With FallBack every call is decided, by Redis or by the fallback
// (the circuit is per limiter: once open, every key falls back until a
// probe succeeds).
func TestOutageClusterNodeKilled(t *testing.T) {
	c := redistest.Cluster(t)
	rs := chaosStore(t, "redis://"+c.Addrs()[0]+"?addr="+c.Addrs()[1]+"&addr="+c.Addrs()[2])
	closed, err := typed.New[string](typed.WithStore(rs), typed.WithQuota(algo.PerMin(100)))
	if err != nil {
		t.Fatal(err)
	}
	fallback, err := typed.New[string](typed.WithStore(rs), typed.WithQuota(algo.PerMin(100)), typed.WithOutagePolicy(typed.FallBack(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
		// The client may take a moment to learn every slot's node.
		eventually(t, "before the kill, "+keys[i], func() error {
			if r, err := closed.Limit(ctx, keys[i], 1); err != nil || r.Source != typed.FromStore {
				return fmt.Errorf("%+v, %v", r, err)
			}
			return nil
		})
	}
	c.KillNode(0)
	var failed, decided int
	for _, k := range keys {
		r, err := withinTimeout(t, "a fail-closed call with a node down", func() (typed.Result, error) { return closed.Limit(ctx, k, 1) })
		switch {
		case errors.Is(err, store.ErrUnavailable):
			failed++
		case err == nil && r.Source == typed.FromStore && r.State.Remaining == 98:
			decided++
		default:
			t.Fatalf("%s with a node down: %+v, %v", k, r, err)
		}
	}
	if failed == 0 || decided == 0 {
		t.Errorf("failing closed with one node of three down: %d keys failed, %d decided; want both (the dead node's keys fail, the others work)", failed, decided)
	}
	for _, k := range keys {
		r, err := withinTimeout(t, "a fallback call with a node down", func() (typed.Result, error) { return fallback.Limit(ctx, k, 1) })
		if err != nil || r.Limited {
			t.Fatalf("%s with a node down, falling back: %+v, %v", k, r, err)
		}
	}
}
