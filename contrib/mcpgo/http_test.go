package mcpgo_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpgo"
	"github.com/throttled-go/throttled/typed"
)

const (
	v2025 = "2025-11-25" // sessions over Streamable HTTP
	v2026 = "2026-07-28" // no sessions
)

// serveHTTP serves s over the Streamable HTTP transport on a loopback port
// with opts, and returns the endpoint.
func serveHTTP(t *testing.T, s *testServer, opts ...server.StreamableHTTPOption) string {
	t.Helper()
	hs := httptest.NewServer(server.NewStreamableHTTPServer(s.MCPServer, opts...))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp"
}

// connectHTTP connects a client named name to endpoint with protocol
// version, sending headers with every request.
func connectHTTP(t *testing.T, endpoint, name, version string, headers map[string]string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(endpoint, transport.WithHTTPHeaders(headers), transport.WithHTTPTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c, name, version)
	return c
}

// TestHTTPSessions: a Streamable HTTP server gives sessions ids on
// 2025-11-25; two sessions have a budget each, keyed by their ids.
func TestHTTPSessions(t *testing.T) {
	storeOpt, clock := memStore(t)
	hook, keys := recordKeys()
	s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(2))))
	url := serveHTTP(t, s)
	a, b := connectHTTP(t, url, "a", v2025, nil), connectHTTP(t, url, "b", v2025, nil)
	if a.GetSessionId() == "" || b.GetSessionId() == "" || a.GetSessionId() == b.GetSessionId() {
		t.Fatalf("session ids %q %q", a.GetSessionId(), b.GetSessionId())
	}
	runTimeline(t, s, a, clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	runTimeline(t, s, b, clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	seen := map[string]bool{}
	for _, k := range keys() {
		seen[k.Session] = true
	}
	if len(seen) != 2 || !seen[a.GetSessionId()] || !seen[b.GetSessionId()] {
		t.Fatalf("keyed by %v, want the session ids %q and %q", seen, a.GetSessionId(), b.GetSessionId())
	}
}

// TestHTTPNoSession: over HTTP without a session (a stateless server, or
// protocol 2026-07-28 on any server) the Session part is missing: the call
// is refused with an error saying so, not counted under an empty key;
// Session.Or shares one budget on purpose.
func TestHTTPNoSession(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stateless bool
		version   string
	}{
		{"stateless 2025-11-25", true, v2025},
		{"stateless 2026-07-28", true, v2026},
		{"stateful 2026-07-28", false, v2026},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeOpt, clock := memStore(t)
			l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)))
			s := newServer(t, l)
			c := connectHTTP(t, serveHTTP(t, s, server.WithStateLess(tc.stateless)), "client", tc.version, nil)
			_, err := callTool(ctxFor(t), c, "echo")
			if !errors.Is(err, mcp.ErrInternalError) || !strings.Contains(err.Error(), "cannot rate-limit tool echo: no session id") {
				t.Fatalf("error %v", err)
			}
			if s.runs.Load() != 0 {
				t.Fatal("a refused call ran")
			}

			hook, keys := recordKeys()
			l = newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)), hook)
			s = newServer(t, l, mcpgo.WithKey(mcpgo.Session.Or("shared")))
			url := serveHTTP(t, s, server.WithStateLess(tc.stateless))
			runTimeline(t, s, connectHTTP(t, url, "a", tc.version, nil), clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}})
			runTimeline(t, s, connectHTTP(t, url, "b", tc.version, nil), clock, []step{{tool: "echo", retry: 30 * time.Second}})
			for _, k := range keys() {
				if (k != mcpgo.Key{Session: "shared"}) {
					t.Fatalf("key %+v, want the fallback", k)
				}
			}
		})
	}
}

type userCtxKey struct{}

// TestHTTPSubject: keyed by a subject the application authenticated (here
// an HTTPContextFunc reads it from the Authorization header into the
// context), a user's sessions share one budget and another user has their
// own, on any protocol revision.
func TestHTTPSubject(t *testing.T) {
	storeOpt, clock := memStore(t)
	hook, keys := recordKeys()
	subject := mcpgo.SubjectFrom(func(ctx context.Context, c *mcpgo.Call) (string, error) {
		u, _ := ctx.Value(userCtxKey{}).(string)
		return u, nil
	})
	s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(2))), mcpgo.WithKey(subject))
	url := serveHTTP(t, s, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
		if user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer token-"); ok {
			return context.WithValue(ctx, userCtxKey{}, user)
		}
		return ctx
	}))
	bearer := func(user string) map[string]string { return map[string]string{"Authorization": "Bearer token-" + user} }
	runTimeline(t, s, connectHTTP(t, url, "a", v2026, bearer("alice")), clock, []step{{tool: "echo", pass: true}})
	runTimeline(t, s, connectHTTP(t, url, "b", v2025, bearer("alice")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	runTimeline(t, s, connectHTTP(t, url, "c", v2026, bearer("bob")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}})
	for _, k := range keys() {
		if k.Subject != "alice" && k.Subject != "bob" || (k != mcpgo.Key{Subject: k.Subject}) {
			t.Fatalf("key %+v", k)
		}
	}
}

// TestHTTPHeader: a Header part keys by a header a gateway sets; a request
// without it is refused.
func TestHTTPHeader(t *testing.T) {
	storeOpt, clock := memStore(t)
	hook, keys := recordKeys()
	s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(1))), mcpgo.WithKey(mcpgo.Header("x-tenant"), mcpgo.Tool))
	url := serveHTTP(t, s, server.WithStateLess(true))
	tenant := func(v string) map[string]string { return map[string]string{"X-Tenant": v} }
	runTimeline(t, s, connectHTTP(t, url, "a", v2026, tenant("acme")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: time.Minute}, {tool: "cheap", pass: true}})
	runTimeline(t, s, connectHTTP(t, url, "b", v2025, tenant("globex")), clock, []step{{tool: "echo", pass: true}})
	if k := keys()[0]; (k != mcpgo.Key{Tool: "echo", Custom: "X-Tenant=acme"}) {
		t.Fatalf("key %+v", k)
	}
	_, err := callTool(ctxFor(t), connectHTTP(t, url, "c", v2026, nil), "echo")
	if err == nil || !strings.Contains(err.Error(), "no X-Tenant header") {
		t.Fatalf("error %v", err)
	}
}

// TestHTTPErrorsOverTheWire: mcp-go sends a WithErrors denial as a JSON-RPC
// internal error (-32603: its middlewares cannot choose the code) whose
// message is the denial's text.
func TestHTTPErrorsOverTheWire(t *testing.T) {
	storeOpt, _ := memStore(t)
	s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1))), mcpgo.WithKey(mcpgo.Tool), mcpgo.WithErrors())
	c := connectHTTP(t, serveHTTP(t, s, server.WithStateLess(true)), "client", v2026, nil)
	call(t, c, "echo")
	_, err := callTool(ctxFor(t), c, "echo")
	if !errors.Is(err, mcp.ErrInternalError) || err.Error() != "internal error: rate limit exceeded for tool echo; retry after 1m0s" {
		t.Fatalf("error %v", err)
	}
}
