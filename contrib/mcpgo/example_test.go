package mcpgo_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpgo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// A server whose "search" tool may be called 3 times per 30 seconds per
// session, and "deep_research" costs 3 of those. The fourth call is denied
// with a result the model can act on. (A fake clock makes the output
// exact; leave WithClock out in a real server.)
func Example() {
	clock := store.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	lim, err := typed.New[mcpgo.Key](
		typed.WithQuota(algo.PerDuration(30*time.Second, 3)),
		typed.WithStore[string](mem),
	)
	if err != nil {
		log.Fatal(err)
	}
	mw, err := mcpgo.ToolMiddleware(lim,
		mcpgo.WithKey(mcpgo.Session), // the default: a budget per session
		mcpgo.WithCosts(map[string]int64{"deep_research": 3}),
	)
	if err != nil {
		log.Fatal(err)
	}

	s := server.NewMCPServer("search", "v1", server.WithToolHandlerMiddleware(mw))
	for _, name := range []string{"search", "deep_research"} {
		s.AddTool(mcp.NewTool(name, mcp.WithString("q")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("results for " + req.GetString("q", "")), nil
		})
	}

	ctx := context.Background()
	c, err := client.NewInProcessClient(s)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "client", Version: "v1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		log.Fatal(err)
	}
	for i, tool := range []string{"search", "search", "search", "search", "deep_research"} {
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = map[string]any{"q": "mcp"}
		res, err := c.CallTool(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		text, _ := mcp.AsTextContent(res.Content[0])
		fmt.Printf("call %d (%s): error=%v %s\n", i+1, tool, res.IsError, text.Text)
		if i == 3 {
			clock.Advance(30 * time.Second)
		}
	}
	// Output:
	// call 1 (search): error=false results for mcp
	// call 2 (search): error=false results for mcp
	// call 3 (search): error=false results for mcp
	// call 4 (search): error=true rate limit exceeded for tool search; retry after 10s
	// call 5 (deep_research): error=false results for mcp
}
