// Package mcpsdk rate-limits the calls an MCP server built on
// github.com/modelcontextprotocol/go-sdk receives, with a throttled
// limiter: an mcp.Middleware for Server.AddReceivingMiddleware.
//
//	lim, err := typed.New[mcpsdk.Key](
//		typed.WithQuota(algo.PerMin(60)),
//		typed.WithStore[string](store), // memory or Redis
//	)
//	mw, err := mcpsdk.Middleware(lim,
//		mcpsdk.WithKey(mcpsdk.Session, mcpsdk.Tool), // each session, each tool
//		mcpsdk.WithCosts(map[string]int64{"deep_research": 5}),
//	)
//	server.AddReceivingMiddleware(mw)
//
// By default it limits "tools/call" (WithMethods adds "resources/read",
// "prompts/get" or any other request method), one budget per session
// (WithKey: any combination of Session, Tool, Method, Subject, Client,
// Header and Func parts), each call costing 1 (WithCosts, WithCostFunc).
// Quotas are the limiter's: several at once (typed.WithQuotas), or per key
// with typed.WithQuotaFunc, whose function sees the Key (its Tool, Subject,
// Client...) and, through CallFromContext, the call itself.
//
// # Denials
//
// A denied tools/call does not reach the tool. It is answered with a tool
// result the model can act on: IsError set, the text "rate limit exceeded
// for tool search; retry after 2.5s", and a Denial (retryAfterSeconds,
// remaining, limit, resetAfterSeconds, each quota's state) in _meta under
// MetaKey and, for tools without an output schema, as structured content:
// clients that validate output schemas (the TypeScript SDK does, even in
// error results) would reject it in a tool with one. With WithRPCErrors it
// is a JSON-RPC error instead, with code
// CodeRateLimited (429): MCP 2026-07-28 reserves -32020..-32099 for codes
// its specification defines, and asks for other codes outside JSON-RPC's
// reserved -32768..-32000, so the common -32029 is not conformant; 429
// mirrors HTTP's Too Many Requests. Other methods' denials are always
// JSON-RPC errors. WithWait lets a call wait a bounded time for its turn.
//
// # Sessions
//
// Requests of the Streamable HTTP transport in a stateful server carry a
// session id. Requests over stdio, in-memory and other stream transports
// have none, but their connection is the session: the middleware keys them
// by a per-connection id. A Stateless server, and protocol 2026-07-28
// (which has no sessions), give requests over HTTP no session at all: a
// key with the Session part then refuses the call with a JSON-RPC internal
// error saying so, rather than put every client under one key. Key such
// servers by Subject (or a Header set by a trusted gateway), or give
// Session.Or("shared") to share one budget on purpose.
//
// # Store outages
//
// When the limiter's store cannot decide (store.ErrUnavailable, with the
// default typed.FailClosed outage policy) the call is not run and the
// answer is a tool result with IsError and "rate limiter unavailable: tool
// X was not run; try again later" (a JSON-RPC error with code
// CodeUnavailable, 503, with WithRPCErrors and for other methods).
// typed.WithOutagePolicy(typed.FailOpen) or typed.FallBack(n) keep tools
// running instead.
//
// The middleware is safe for concurrent use and holds no goroutines.
package mcpsdk
