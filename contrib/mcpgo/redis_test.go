package mcpgo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpgo"
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
		s := newServer(t, newLimiter(t, typed.WithStore[string](rs), typed.WithQuota(q)), mcpgo.WithKey(mcpgo.Tool, mcpgo.Client))
		call(t, connect(t, s, "claude", ""), "echo")
		// The key's String encoding, the same as contrib/mcpsdk's, is the
		// store's key.
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
// cannot decide; the tool is not run and the answer says why, as a tool
// result or, with WithErrors, an error matching store.ErrUnavailable
// (a JSON-RPC internal error on the wire).
func TestRedisOutage(t *testing.T) {
	const text = "rate limiter unavailable: tool echo was not run; try again later"
	t.Run("tool result", func(t *testing.T) {
		storeOpt, _, srv := redisStore(t)
		s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(5))))
		c := connect(t, s, "client", "")
		call(t, c, "echo")
		srv.Kill()
		res := call(t, c, "echo")
		if !res.IsError || textOf(t, res) != text {
			t.Fatalf("result %+v", res)
		}
		var sc map[string]string
		decode(t, res.Meta.AdditionalFields[mcpgo.MetaKey], &sc)
		if sc["error"] != "rate_limiter_unavailable" || sc["name"] != "echo" || res.StructuredContent != nil {
			t.Fatalf("_meta %v, structured content %v", sc, res.StructuredContent)
		}
		if s.runs.Load() != 1 {
			t.Fatalf("%d runs: the tool ran with the store down", s.runs.Load())
		}
	})
	t.Run("errors", func(t *testing.T) {
		storeOpt, _, srv := redisStore(t)
		mw, err := mcpgo.ToolMiddleware(newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(5))), mcpgo.WithErrors())
		if err != nil {
			t.Fatal(err)
		}
		var seen error
		s := &testServer{MCPServer: server.NewMCPServer("s", "1")}
		s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
			return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := next(ctx, req)
				seen = err
				return res, err
			}
		}, mw)
		s.AddTool(mcp.NewTool("echo"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			s.runs.Add(1)
			return mcp.NewToolResultText("hi"), nil
		})
		c := connect(t, s, "client", "")
		call(t, c, "echo")
		srv.Kill()
		_, err = callTool(ctxFor(t), c, "echo")
		if !errors.Is(err, mcp.ErrInternalError) || err.Error() != "internal error: "+text {
			t.Fatalf("client error %v", err)
		}
		if !errors.Is(seen, store.ErrUnavailable) || seen.Error() != text {
			t.Fatalf("the outer middleware saw %v", seen)
		}
		if s.runs.Load() != 1 {
			t.Fatalf("%d runs", s.runs.Load())
		}
	})
}
