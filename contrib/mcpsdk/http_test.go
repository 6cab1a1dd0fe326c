package mcpsdk_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
	"github.com/throttled-go/throttled/typed"
)

const (
	v2025 = "2025-11-25" // sessions over Streamable HTTP
	v2026 = "2026-07-28" // no sessions
)

// serveHTTP serves s over the Streamable HTTP transport on a loopback port
// (stateless or not), behind the SDK's bearer-token check when verify is
// set, and returns the endpoint.
func serveHTTP(t *testing.T, s *server, stateless bool, verify auth.TokenVerifier) string {
	t.Helper()
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.Server }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	if verify != nil {
		h = auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// headers adds fixed headers to every request.
type headers struct {
	h    http.Header
	next http.RoundTripper
}

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.h {
		r.Header[k] = v
	}
	return h.next.RoundTrip(r)
}

// connectHTTP connects a client to endpoint with protocol version, sending
// hdr with every request.
func connectHTTP(t *testing.T, endpoint, version string, hdr http.Header) *mcp.ClientSession {
	t.Helper()
	return connectHTTPrt(t, endpoint, version, headers{hdr, http.DefaultTransport})
}

// connectHTTPrt connects a client to endpoint with protocol version,
// sending its requests through rt.
func connectHTTPrt(t *testing.T, endpoint, version string, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	tr := &mcp.StreamableClientTransport{
		Endpoint:             endpoint,
		HTTPClient:           &http.Client{Transport: rt, Timeout: testTimeout},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "http-client", Version: "v0.0.1"}, nil)
	cs, err := c.Connect(ctxFor(t), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// recordKeys returns a hook option recording each decision's key, and the
// keys seen.
func recordKeys() (typed.Option, func() []mcpsdk.Key) {
	var mu sync.Mutex
	var keys []mcpsdk.Key
	return typed.WithHooks(func(ctx context.Context, c *typed.Call[mcpsdk.Key], next typed.Next) (typed.Result, error) {
			mu.Lock()
			keys = append(keys, c.Key)
			mu.Unlock()
			return next(ctx)
		}), func() []mcpsdk.Key {
			mu.Lock()
			defer mu.Unlock()
			return append([]mcpsdk.Key(nil), keys...)
		}
}

// TestHTTPSessions: a stateful Streamable HTTP server gives sessions ids
// on 2025-11-25; two sessions have a budget each, keyed by their ids.
func TestHTTPSessions(t *testing.T) {
	storeOpt, clock := memStore(t)
	hook, keys := recordKeys()
	s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(2))))
	url := serveHTTP(t, s, false, nil)
	a, b := connectHTTP(t, url, v2025, nil), connectHTTP(t, url, v2025, nil)
	if a.ID() == "" || b.ID() == "" || a.ID() == b.ID() {
		t.Fatalf("session ids %q %q", a.ID(), b.ID())
	}
	runTimeline(t, s, a, clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	runTimeline(t, s, b, clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	seen := map[string]bool{}
	for _, k := range keys() {
		seen[k.Session] = true
	}
	if len(seen) != 2 || !seen[a.ID()] || !seen[b.ID()] {
		t.Fatalf("keyed by %v, want the session ids %q and %q", seen, a.ID(), b.ID())
	}
}

// TestHTTPNoSession: over HTTP without a session (a stateless server, or
// protocol 2026-07-28 on any server) the Session part is missing: the call
// is refused with an internal error saying so, not counted under an empty
// key; Session.Or shares one budget on purpose.
func TestHTTPNoSession(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stateless bool
		version   string
	}{
		{"stateless 2025-11-25", true, v2025},
		{"stateless 2026-07-28", true, v2026},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeOpt, clock := memStore(t)
			l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)))
			s := newServer(t, l)
			cs := connectHTTP(t, serveHTTP(t, s, tc.stateless, nil), tc.version, nil)
			_, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			we := rpcError(t, err)
			if we.Code != jsonrpc.CodeInternalError || !strings.Contains(we.Message, "cannot rate-limit tools/call: no session id") {
				t.Fatalf("error %d %q", we.Code, we.Message)
			}
			if s.runs.Load() != 0 {
				t.Fatal("a refused call ran")
			}

			hook, keys := recordKeys()
			l = newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)), hook)
			s = newServer(t, l, mcpsdk.WithKey(mcpsdk.Session.Or("shared")))
			url := serveHTTP(t, s, tc.stateless, nil)
			runTimeline(t, s, connectHTTP(t, url, tc.version, nil), clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}})
			runTimeline(t, s, connectHTTP(t, url, tc.version, nil), clock, []step{{tool: "echo", retry: 30 * time.Second}})
			for _, k := range keys() {
				if (k != mcpsdk.Key{Session: "shared"}) {
					t.Fatalf("key %+v, want the fallback", k)
				}
			}
		})
	}
}

// TestHTTPSubject: keyed by the authenticated subject (the TokenInfo's
// UserID from the SDK's bearer-token check), a user's sessions share one
// budget and another user has their own, on a stateless 2026-07-28 server
// too.
func TestHTTPSubject(t *testing.T) {
	verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		if user, ok := strings.CutPrefix(token, "token-"); ok {
			return &auth.TokenInfo{UserID: user, Expiration: time.Now().Add(time.Hour)}, nil
		}
		return nil, auth.ErrInvalidToken
	}
	bearer := func(user string) http.Header { return http.Header{"Authorization": {"Bearer token-" + user}} }
	for _, stateless := range []bool{false, true} {
		t.Run(map[bool]string{false: "stateful", true: "stateless"}[stateless], func(t *testing.T) {
			storeOpt, clock := memStore(t)
			hook, keys := recordKeys()
			s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(2))), mcpsdk.WithKey(mcpsdk.Subject))
			url := serveHTTP(t, s, stateless, verify)
			runTimeline(t, s, connectHTTP(t, url, v2026, bearer("alice")), clock, []step{{tool: "echo", pass: true}})
			runTimeline(t, s, connectHTTP(t, url, v2025, bearer("alice")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
			runTimeline(t, s, connectHTTP(t, url, v2026, bearer("bob")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}})
			for _, k := range keys() {
				if k.Subject != "alice" && k.Subject != "bob" || (k != mcpsdk.Key{Subject: k.Subject}) {
					t.Fatalf("key %+v", k)
				}
			}
		})
	}
}

// TestHTTPHeader: a Header part keys by a header a gateway sets; a request
// without it is refused.
func TestHTTPHeader(t *testing.T) {
	storeOpt, clock := memStore(t)
	hook, keys := recordKeys()
	s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(1))), mcpsdk.WithKey(mcpsdk.Header("x-tenant"), mcpsdk.Tool))
	url := serveHTTP(t, s, true, nil)
	tenant := func(v string) http.Header { return http.Header{"X-Tenant": {v}} }
	runTimeline(t, s, connectHTTP(t, url, v2026, tenant("acme")), clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: time.Minute}, {tool: "cheap", pass: true}})
	runTimeline(t, s, connectHTTP(t, url, v2026, tenant("globex")), clock, []step{{tool: "echo", pass: true}})
	if k := keys()[0]; (k != mcpsdk.Key{Tool: "echo", Custom: "X-Tenant=acme"}) {
		t.Fatalf("key %+v", k)
	}
	_, err := connectHTTP(t, url, v2026, nil).CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if we := rpcError(t, err); !strings.Contains(we.Message, "no X-Tenant header") {
		t.Fatalf("error %q", we.Message)
	}
}

// TestProtocolVersions: over a stream connection both protocol eras are
// keyed by connection, and the Client part finds the client's name in the
// initialize request (2025-11-25) or in each request's _meta (2026-07-28).
func TestProtocolVersions(t *testing.T) {
	for _, version := range []string{v2025, v2026} {
		t.Run(version, func(t *testing.T) {
			storeOpt, clock := memStore(t)
			hook, keys := recordKeys()
			s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(1))), mcpsdk.WithKey(mcpsdk.Session, mcpsdk.Client))
			ct, st := mcp.NewInMemoryTransports()
			ss, err := s.Connect(ctxFor(t), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "claude-" + version, Version: "1"}, nil).Connect(ctxFor(t), ct, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { cs.Close(); ss.Wait() }()
			runTimeline(t, s, cs, clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: time.Minute}})
			k := keys()[0]
			if k.Client != "claude-"+version || !strings.HasPrefix(k.Session, "conn:") {
				t.Fatalf("key %+v", k)
			}
		})
	}
}

// TestHTTPRPCErrorOverTheWire: a JSON-RPC denial keeps its code and data
// over HTTP.
func TestHTTPRPCErrorOverTheWire(t *testing.T) {
	storeOpt, _ := memStore(t)
	s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1))), mcpsdk.WithKey(mcpsdk.Tool), mcpsdk.WithRPCErrors())
	cs := connectHTTP(t, serveHTTP(t, s, true, nil), v2026, nil)
	call(t, cs, "echo")
	_, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != mcpsdk.CodeRateLimited {
		t.Fatalf("error %v", err)
	}
	var d mcpsdk.Denial
	decode(t, we.Data, &d)
	if *d.RetryAfterSeconds != 60 || d.Limit != 1 {
		t.Fatalf("data %s", we.Data)
	}
}
