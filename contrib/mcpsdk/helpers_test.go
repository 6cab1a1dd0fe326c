package mcpsdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/contrib/mcpsdk"
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
	return typed.WithStore(memstore.For[mcpsdk.Key](ms)), clock
}

// newLimiter returns a limiter of Keys with opts.
func newLimiter(t *testing.T, opts ...typed.Option) *typed.Limiter[mcpsdk.Key] {
	t.Helper()
	l, err := typed.New[mcpsdk.Key](opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// server is an MCP server with tools "echo", "expensive" and "cheap" (with
// an output schema) and "plain" (without) that count their runs, a
// resource and a prompt, behind the middleware.
type server struct {
	*mcp.Server
	runs atomic.Int64 // tool runs
}

type echoIn struct {
	Text string `json:"text"`
}

type echoOut struct {
	Echo string `json:"echo"`
}

// newServer returns a server with mw as its receiving middleware.
func newServer(t *testing.T, l *typed.Limiter[mcpsdk.Key], opts ...mcpsdk.Option) *server {
	t.Helper()
	mw, err := mcpsdk.Middleware(l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "v0.0.1"}, nil)}
	for _, name := range []string{"echo", "expensive", "cheap"} {
		mcp.AddTool(s.Server, &mcp.Tool{Name: name, Description: "echoes its text"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			s.runs.Add(1)
			return nil, echoOut{Echo: in.Text}, nil
		})
	}
	// plain has no output schema.
	mcp.AddTool(s.Server, &mcp.Tool{Name: "plain", Description: "echoes its text"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		s.runs.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	s.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "notes"}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
	})
	s.AddReceivingMiddleware(mw)
	return s
}

// connect connects a new client named name to s over the in-memory
// transport and returns its session, closed when the test ends.
func connect(t *testing.T, s *server, name string) *mcp.ClientSession {
	t.Helper()
	ctx := ctxFor(t)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "v0.0.1"}, nil)
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

// call calls tool on cs and fails the test on a protocol error.
func call(t *testing.T, cs *mcp.ClientSession, tool string) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "hi"}})
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
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("result content is %T, want *mcp.TextContent", res.Content[0])
	}
	return tc.Text
}

// denialOf decodes a denial from its result's _meta, failing the test
// unless res is a denial.
func denialOf(t *testing.T, res *mcp.CallToolResult) mcpsdk.Denial {
	t.Helper()
	if !res.IsError {
		t.Fatalf("result is not an error: %+v", res)
	}
	var d mcpsdk.Denial
	decode(t, res.Meta[mcpsdk.MetaKey], &d)
	if d.Error != "rate_limited" {
		t.Fatalf("_meta %+v holds no denial", res.Meta)
	}
	return d
}

// decode converts v (a JSON value decoded into any, or raw JSON) into out.
func decode(t *testing.T, v, out any) {
	t.Helper()
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// rpcError returns err as a JSON-RPC error, failing the test if it is not
// one.
func rpcError(t *testing.T, err error) *jsonrpc.Error {
	t.Helper()
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a JSON-RPC error", err, err)
	}
	return we
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

// isDenial reports whether res is a denial (not an outage, say).
func isDenial(res *mcp.CallToolResult) bool {
	d, ok := res.Meta[mcpsdk.MetaKey].(map[string]any)
	return res.IsError && ok && d["error"] == "rate_limited"
}
