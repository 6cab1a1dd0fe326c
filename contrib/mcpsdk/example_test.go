package mcpsdk_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
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
	lim, err := typed.New[mcpsdk.Key](
		typed.WithQuota(algo.PerDuration(30*time.Second, 3)),
		typed.WithStore[string](mem),
	)
	if err != nil {
		log.Fatal(err)
	}
	mw, err := mcpsdk.Middleware(lim,
		mcpsdk.WithKey(mcpsdk.Session), // the default: a budget per session
		mcpsdk.WithCosts(map[string]int64{"deep_research": 3}),
	)
	if err != nil {
		log.Fatal(err)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "search", Version: "v1"}, nil)
	type query struct {
		Q string `json:"q"`
	}
	for _, name := range []string{"search", "deep_research"} {
		mcp.AddTool(server, &mcp.Tool{Name: name}, func(ctx context.Context, req *mcp.CallToolRequest, in query) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "results for " + in.Q}}}, nil, nil
		})
	}
	server.AddReceivingMiddleware(mw)

	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	if _, err := server.Connect(ctx, st, nil); err != nil {
		log.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "v1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	for i, tool := range []string{"search", "search", "search", "search", "deep_research"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"q": "mcp"}})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("call %d (%s): error=%v %s\n", i+1, tool, res.IsError, res.Content[0].(*mcp.TextContent).Text)
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
