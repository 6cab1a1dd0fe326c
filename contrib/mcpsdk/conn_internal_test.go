package mcpsdk

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestConnIDsForgotten: the id of a connection's session is forgotten once
// the session is closed and collected, so a server with many short
// connections does not grow the table.
func TestConnIDsForgotten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := map[string]bool{}
	s := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "id"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		id := sessionOf(req)
		if seen[id] {
			t.Errorf("connection id %q given twice", id)
		}
		seen[id] = true
		return nil, struct{}{}, nil
	})
	before := conns.size()
	const n = 20
	for range n {
		ct, st := mcp.NewInMemoryTransports()
		ss, err := s.Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "id", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
		cs.Close()
		ss.Wait()
	}
	for conns.size() > before {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d ids still held after the sessions closed", conns.size()-before, n)
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids for %d connections", len(seen), n)
	}
}
