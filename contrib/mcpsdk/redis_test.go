package mcpsdk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// redisStore starts a redis-server (skipped without one, failed with
// THROTTLED_REQUIRE_REDIS=1) and returns the option of a Redis store on it
// deciding on a fake clock, the clock, and the server.
func redisStore(t *testing.T) (typed.Option, *store.FakeClock, *redistest.Server) {
	t.Helper()
	srv := redistest.Standalone(t)
	clock := store.NewFakeClock(start)
	// A generous timeout: the race detector and parallel packages can slow
	// a call past the default 200ms, which would fail it as an outage.
	rs, err := redisstore.FromURL(srv.URL(), redisstore.WithClock(clock), redisstore.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return typed.WithStore[string](rs), clock, srv
}

// TestRedis runs the scenarios on a real Redis: Keys are stored under
// their String encoding, and every figure is the memory store's.
func TestRedis(t *testing.T) {
	t.Run("limit then deny", func(t *testing.T) {
		storeOpt, clock, _ := redisStore(t)
		testLimitThenDeny(t, storeOpt, clock)
	})
	t.Run("sessions independent", func(t *testing.T) {
		storeOpt, clock, _ := redisStore(t)
		testSessionsIndependent(t, storeOpt, clock)
	})
	t.Run("concurrent", func(t *testing.T) {
		storeOpt, _, _ := redisStore(t)
		testConcurrent(t, storeOpt)
	})
	t.Run("costs", func(t *testing.T) {
		storeOpt, clock, _ := redisStore(t)
		testCosts(t, storeOpt, clock)
	})
	t.Run("wait", func(t *testing.T) {
		storeOpt, clock, _ := redisStore(t)
		testWait(t, storeOpt, clock)
	})
	t.Run("keys", func(t *testing.T) {
		srv := redistest.Standalone(t)
		rs, err := redisstore.FromURL(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		q := algo.PerMin(5)
		s := newServer(t, newLimiter(t, typed.WithStore[string](rs), typed.WithQuota(q)), mcpsdk.WithKey(mcpsdk.Tool, mcpsdk.Client))
		call(t, connect(t, s, "claude"), "echo")
		// The key's String encoding is the store's key.
		p, err := store.NewPolicy(q.WithAlgorithm(algo.TokenBucket))
		if err != nil {
			t.Fatal(err)
		}
		want := rs.Key("mcp:tool=echo,client=claude", p)
		if got := srv.Do(t, "KEYS", "*"); got != want || !strings.HasSuffix(want, "{mcp:tool=echo,client=claude}") {
			t.Fatalf("keys in Redis: %q, want %q", got, want)
		}
	})
}

// TestRedisOutage: with Redis killed, the default fail-closed limiter
// cannot decide; the call is not run and the answer says why, as a tool
// result or, with WithRPCErrors, a JSON-RPC error with code 503.
func TestRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []mcpsdk.Option
	}{{"tool result", nil}, {"rpc error", []mcpsdk.Option{mcpsdk.WithRPCErrors()}}} {
		t.Run(tc.name, func(t *testing.T) {
			storeOpt, _, srv := redisStore(t)
			s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(5))), tc.opts...)
			cs := connect(t, s, "client")
			call(t, cs, "echo")
			srv.Kill()
			res, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			checkOutage(t, res, err, tc.opts != nil)
			if s.runs.Load() != 1 {
				t.Fatalf("%d runs: the tool ran with the store down", s.runs.Load())
			}
		})
	}
}
