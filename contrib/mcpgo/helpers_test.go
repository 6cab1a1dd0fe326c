package mcpgo_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/contrib/mcpgo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// start is the fake clock's starting time: 2026-01-01T00:00:00Z in µs.
const start = 1767225600_000000

// testTimeout bounds every test's MCP traffic, so a hang fails in seconds.
const testTimeout = 20 * time.Second

// ctxFor returns a context that ends with the test or after testTimeout.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// memStore returns the option of a memory store on a fake clock, keeping
// Keys as they are, and the clock.
func memStore(t *testing.T) (typed.Option, *store.FakeClock) {
	t.Helper()
	clock := store.NewFakeClock(start)
	ms, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return typed.WithStore(memstore.For[mcpgo.Key](ms)), clock
}

// newLimiter returns a limiter of Keys with opts.
func newLimiter(t *testing.T, opts ...typed.Option) *typed.Limiter[mcpgo.Key] {
	t.Helper()
	l, err := typed.New[mcpgo.Key](opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testServer is an MCP server with tools "echo", "expensive" and "cheap"
// (with an output schema) and "plain" (without) that count their runs,
// behind the middleware.
type testServer struct {
	*server.MCPServer
	runs atomic.Int64 // tool runs
}

// newServer returns a server with the middleware on l with opts.
func newServer(t *testing.T, l *typed.Limiter[mcpgo.Key], opts ...mcpgo.Option) *testServer {
	t.Helper()
	mw, err := mcpgo.ToolMiddleware(l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{MCPServer: server.NewMCPServer("test-server", "v0.0.1", server.WithToolHandlerMiddleware(mw))}
	type echoOut struct {
		Echo string `json:"echo"`
	}
	for _, name := range []string{"echo", "expensive", "cheap", "plain"} {
		opts := []mcp.ToolOption{mcp.WithDescription("echoes its text"), mcp.WithString("text")}
		if name != "plain" {
			opts = append(opts, mcp.WithOutputSchema[echoOut]())
		}
		s.AddTool(mcp.NewTool(name, opts...), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			s.runs.Add(1)
			text := req.GetString("text", "")
			return mcp.NewToolResultStructured(echoOut{Echo: text}, text), nil
		})
	}
	return s
}

// connect connects a new in-process client named name to s, initialized
// with protocol version (empty: the newest), and closes it when the test
// ends.
func connect(t *testing.T, s *testServer, name, version string) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClient(s.MCPServer)
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c, name, version)
	return c
}

// initialize starts c and initializes it as name with protocol version.
func initialize(t *testing.T, c *client.Client, name, version string) {
	t.Helper()
	ctx := ctxFor(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: name, Version: "v0.0.1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// callTool calls tool on c.
func callTool(ctx context.Context, c *client.Client, tool string) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = map[string]any{"text": "hi"}
	return c.CallTool(ctx, req)
}

// call calls tool on c and fails the test on a protocol error.
func call(t *testing.T, c *client.Client, tool string) *mcp.CallToolResult {
	t.Helper()
	res, err := callTool(ctxFor(t), c, tool)
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	return res
}

// textOf returns the text of a result's one text content.
func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("result has %d contents, want 1: %+v", len(res.Content), res)
	}
	tc, ok := mcp.AsTextContent(res.Content[0])
	if !ok {
		t.Fatalf("result content is %T, want text", res.Content[0])
	}
	return tc.Text
}

// denialOf decodes a denial from its result's _meta, failing the test
// unless res is a denial.
func denialOf(t *testing.T, res *mcp.CallToolResult) mcpgo.Denial {
	t.Helper()
	if !res.IsError {
		t.Fatalf("result is not an error: %+v", res)
	}
	if res.Meta == nil {
		t.Fatalf("result has no _meta: %+v", res)
	}
	var d mcpgo.Denial
	decode(t, res.Meta.AdditionalFields[mcpgo.MetaKey], &d)
	if d.Error != "rate_limited" {
		t.Fatalf("_meta %+v holds no denial", res.Meta.AdditionalFields)
	}
	return d
}

// decode converts v, a JSON value decoded into any, into out.
func decode(t *testing.T, v, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// seconds returns d in seconds, as a Denial reports it.
func seconds(d time.Duration) float64 { return d.Seconds() }

// eventually waits (in real time, briefly) until cond holds, failing the
// test after testTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recordKeys returns a hook option recording each decision's key, and the
// keys seen.
func recordKeys() (typed.Option, func() []mcpgo.Key) {
	var mu sync.Mutex
	var keys []mcpgo.Key
	return typed.WithHooks(func(ctx context.Context, c *typed.Call[mcpgo.Key], next typed.Next) (typed.Result, error) {
			mu.Lock()
			keys = append(keys, c.Key)
			mu.Unlock()
			return next(ctx)
		}), func() []mcpgo.Key {
			mu.Lock()
			defer mu.Unlock()
			return append([]mcpgo.Key(nil), keys...)
		}
}

// isDenial reports whether res is a denial (not an outage, say).
func isDenial(res *mcp.CallToolResult) bool {
	if res.Meta == nil {
		return false
	}
	d, ok := res.Meta.AdditionalFields[mcpgo.MetaKey].(map[string]any)
	return res.IsError && ok && d["error"] == "rate_limited"
}
