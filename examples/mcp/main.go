// Command mcp is an MCP server over stdio with one rate-limited tool,
// "search", built on the official Go SDK (github.com/modelcontextprotocol/go-sdk)
// and contrib/mcpsdk: each session (here, the one stdio connection) may
// call it 3 times a minute (a token bucket: one call back every 20 s). A
// denied call gets a tool result with isError set, a text the model can act
// on, and the retry-after and remaining figures as structured content.
//
// Run it with `go run .` and write JSON-RPC lines to its stdin (keep stdin
// open until the replies are out: the server stops at end of input), or
// point an MCP client (Claude Desktop, MCP Inspector) at `go run .` in
// this directory. It logs to stderr; stdout carries the protocol.
//
// For a limit shared by several server processes, give the limiter a Redis
// store: typed.WithStore[string](redisStore) with
// redisStore, err := redisstore.FromURL("redis://localhost:6379").
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
	"github.com/throttled-go/throttled/typed"
)

// searchIn is the input of the search tool.
type searchIn struct {
	Query string `json:"query" jsonschema:"what to search for"`
}

// search returns canned results as text. It declares no output schema, so
// a denial carries its figures as structured content too (see
// contrib/mcpsdk).
func search(ctx context.Context, req *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, any, error) {
	q := strings.TrimSpace(in.Query)
	if q == "" {
		return nil, nil, fmt.Errorf("empty query")
	}
	text := fmt.Sprintf("1. %s, an introduction\n2. %s in practice", q, q)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetFlags(0)
	log.SetPrefix("mcp example: ")

	lim, err := typed.New[mcpsdk.Key](typed.WithQuota(algo.PerMin(3))) // 3 per minute, burst 3
	if err != nil {
		log.Fatal(err)
	}
	mw, err := mcpsdk.Middleware(lim) // tools/call, one budget per session, cost 1
	if err != nil {
		log.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "throttled-search", Version: "v1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "search", Description: "Searches the web (3 calls per minute)."}, search)
	server.AddReceivingMiddleware(mw)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log.Print("serving on stdio: search is limited to 3 calls per minute")
	if err := server.Run(ctx, &mcp.StdioTransport{}); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
