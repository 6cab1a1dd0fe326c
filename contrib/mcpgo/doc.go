// Package mcpgo rate-limits the tool calls of an MCP server built on
// github.com/mark3labs/mcp-go with a throttled limiter: a
// server.ToolHandlerMiddleware for server.WithToolHandlerMiddleware or
// MCPServer.Use.
//
//	lim, err := typed.New[mcpgo.Key](
//		typed.WithQuota(algo.PerMin(60)),
//		typed.WithStore[string](store), // memory or Redis
//	)
//	mw, err := mcpgo.ToolMiddleware(lim,
//		mcpgo.WithKey(mcpgo.Session, mcpgo.Tool), // each session, each tool
//		mcpgo.WithCosts(map[string]int64{"deep_research": 5}),
//	)
//	s := server.NewMCPServer("search", "1.0.0", server.WithToolHandlerMiddleware(mw))
//
// By default it keeps one budget per session (WithKey: any combination of
// Session, Tool, Client, Header, Func and SubjectFrom parts), each call
// costing 1 (WithCosts, WithCostFunc). Quotas are the limiter's: several at
// once (typed.WithQuotas), or per key with typed.WithQuotaFunc, whose
// function sees the Key (its Tool, Subject, Client...) and, through
// CallFromContext, the call itself. Key and its string encoding are those
// of the contrib/mcpsdk module, for the official Go SDK.
//
// # Denials
//
// A denied call does not reach the tool. It is answered with a tool result
// the model can act on: IsError set, the text "rate limit exceeded for tool
// search; retry after 2.5s", and a Denial (retryAfterSeconds, remaining,
// limit, resetAfterSeconds, each quota's state) in _meta under MetaKey
// and, for tools without an output schema, as structured content: clients
// that validate output schemas (the TypeScript SDK does, even in error
// results) would reject it in a tool with one. With WithErrors it is a
// *DenialError instead, for an outer
// middleware or the client program; mcp-go v1.2 sends every error of a tool
// middleware as a JSON-RPC internal error (-32603) with the error's text, as
// its middlewares cannot choose the code. (contrib/mcpsdk sends code 429,
// outside the ranges JSON-RPC and MCP 2026-07-28 reserve.) WithWait lets a
// call wait a bounded time for its turn.
//
// # Sessions
//
// Sessions of the Streamable HTTP (stateful), SSE and in-process
// transports have ids; mcp-go names every stdio session "stdio". A
// stateless Streamable HTTP server, and protocol 2026-07-28 over HTTP
// (which has no sessions), give a call no session id: a key with the
// Session part then refuses the call with an error saying so (a JSON-RPC
// internal error on the wire), rather than put every client under one key.
// Key such servers by SubjectFrom (a user your HTTPContextFunc
// authenticated) or a Header set by a trusted gateway, or give
// Session.Or("shared") to share one budget on purpose.
//
// # Store outages
//
// When the limiter's store cannot decide (store.ErrUnavailable, with the
// default typed.FailClosed outage policy) the tool is not run and the
// answer is a tool result with IsError and "rate limiter unavailable: tool
// X was not run; try again later" (with WithErrors, an error with that text
// matching store.ErrUnavailable). typed.WithOutagePolicy(typed.FailOpen) or
// typed.FallBack(n) keep tools running instead.
//
// The middleware is safe for concurrent use and holds no goroutines.
package mcpgo
