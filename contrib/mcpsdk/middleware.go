package mcpsdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// JSON-RPC error codes of the middleware's protocol errors. Both lie
// outside the range JSON-RPC 2.0 reserves (-32768 to -32000): MCP
// 2026-07-28 reserves -32020 to -32099 for codes its specification defines
// (none for rate limiting) and says new codes SHOULD be allocated outside
// the JSON-RPC range, which earlier revisions allow too. They mirror the
// HTTP statuses, as ToolHive's rate-limit code 429 does.
const (
	// CodeRateLimited is the default code of a denial sent as a JSON-RPC
	// error (see WithRPCErrors and WithErrorCode).
	CodeRateLimited int64 = 429
	// CodeUnavailable is the code of a JSON-RPC error sent when the store
	// could not decide (store.ErrUnavailable).
	CodeUnavailable int64 = 503
)

// Option configures Middleware.
type Option func(*config)

type config struct {
	parts     []Part
	methods   map[string]bool
	costs     map[string]int64
	costFunc  func(context.Context, *Call) (int64, error)
	wait      time.Duration
	rpcErrors bool
	code      int64
	result    func(*Denial) *mcp.CallToolResult // nil: the default
	errs      []error
	schemas   sync.Map // tool name → bool: it has an output schema (learnt from tools/list)
}

// WithKey sets what a call's key is made of: any combination of parts, in
// a fixed Key field each (default: WithKey(Session), one budget per
// session). With no parts every call shares one key: a limit for the whole
// server. Two parts may not fill the same field (Subject and SubjectFrom,
// two Header or Func parts of one name).
func WithKey(parts ...Part) Option {
	return func(c *config) {
		seen := map[string]bool{}
		for _, p := range parts {
			if err := p.check(); err != nil {
				c.errs = append(c.errs, err)
				return
			}
			if f := p.field(); seen[f] {
				c.errs = append(c.errs, &algo.DataError{Name: "key part", Value: p.String(), Reason: "fills the same Key field as another part"})
				return
			} else {
				seen[f] = true
			}
		}
		c.parts = append([]Part(nil), parts...)
	}
}

// WithMethods sets the MCP methods the middleware limits (default
// "tools/call"), such as "tools/call", "resources/read" and "prompts/get";
// calls of other methods pass untouched. Denials of methods other than
// tools/call are always JSON-RPC errors (their results have no error
// flag). Notifications cannot be limited: they have no reply to carry a
// denial.
func WithMethods(methods ...string) Option {
	return func(c *config) {
		if len(methods) == 0 {
			c.errs = append(c.errs, &algo.DataError{Name: "methods", Value: "none", Reason: "WithMethods needs at least one method"})
			return
		}
		c.methods = map[string]bool{}
		for _, m := range methods {
			if m == "" || strings.HasPrefix(m, "notifications/") {
				c.errs = append(c.errs, &algo.DataError{Name: "method", Value: m, Reason: "must be a request method, not empty or a notification"})
				return
			}
			c.methods[m] = true
		}
	}
}

// WithCosts sets the cost of calls by Call.Name (the tool's name): an
// expensive tool costs more and so drains a budget faster. Names not in
// costs cost 1; cost 0 makes a tool free (never limited). It replaces
// WithCostFunc.
func WithCosts(costs map[string]int64) Option {
	return func(c *config) {
		for name, n := range costs {
			if n < 0 {
				c.errs = append(c.errs, &algo.DataError{Name: "cost of " + name, Value: n, Reason: "must not be negative"})
				return
			}
		}
		c.costs, c.costFunc = costs, nil
	}
}

// WithCostFunc sets the cost of each call (default 1): from the tool's
// arguments, say. An error refuses the call with a JSON-RPC internal
// error. It replaces WithCosts.
func WithCostFunc(f func(ctx context.Context, c *Call) (int64, error)) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "cost func", Value: "nil", Reason: "WithCostFunc needs a function"})
			return
		}
		c.costFunc, c.costs = f, nil
	}
}

// WithWait makes a limited call wait, up to max, for its turn instead of
// being denied at once (default 0: no waiting). A call whose RetryAfter is
// above max (or Never) is denied at once; otherwise it waits as
// typed.Limiter.Wait does (sleeping RetryAfter, then trying again, so
// contending callers queue), for at most max in all, and within the
// limiter's own typed.WithTimeout if it has one. When max runs out the call
// is decided once more and denied if still limited. A client cancelling
// the call ends the wait (the call then fails with the context's error).
//
// max runs on the wall clock. Wait sleeps on the store's clock when that
// is a store.FakeClock (tests): there the first check is exact, and a
// typed.WithTimeout on the limiter bounds the whole wait on the fake clock.
// A waiting call holds its goroutine and, over HTTP, its request: keep max
// short.
func WithWait(max time.Duration) Option {
	return func(c *config) {
		if max < 0 {
			c.errs = append(c.errs, &algo.DataError{Name: "wait", Value: max, Reason: "must not be negative"})
			return
		}
		c.wait = max
	}
}

// WithRPCErrors makes denials of tools/call JSON-RPC errors (code
// WithErrorCode's, message Denial.Text, data the Denial as JSON) instead of
// tool results with IsError, and a store outage a JSON-RPC error with code
// CodeUnavailable. A model never sees a JSON-RPC error; the client program
// does: use it where the client, not the model, handles back-off.
func WithRPCErrors() Option {
	return func(c *config) { c.rpcErrors = true }
}

// WithErrorCode sets the JSON-RPC error code of denials sent as errors
// (default CodeRateLimited, 429). Codes from -32768 to -32000 are refused:
// JSON-RPC reserves them, and MCP 2026-07-28 forbids undefined codes in
// -32020..-32099.
func WithErrorCode(code int64) Option {
	return func(c *config) {
		if code >= -32768 && code <= -32000 {
			c.errs = append(c.errs, &algo.DataError{Name: "error code", Value: code, Reason: "lies in the range JSON-RPC reserves (-32768 to -32000)"})
			return
		}
		c.code = code
	}
}

// WithDenialResult sets how a denial of tools/call becomes a tool result,
// for another wording or language. f's result is sent as it is: give
// structured content only to tools without an output schema (see
// Middleware). A nil result from f stands for the default one.
func WithDenialResult(f func(d *Denial) *mcp.CallToolResult) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "denial result", Value: "nil", Reason: "WithDenialResult needs a function"})
			return
		}
		c.result = f
	}
}

// Middleware returns a receiving middleware (Server.AddReceivingMiddleware)
// that rate-limits the calls of the methods WithMethods sets (default
// tools/call) on l, keyed as WithKey sets (default Session), each costing
// what WithCosts or WithCostFunc say (default 1). l's quotas, algorithm,
// store and outage policy apply; with a quota function the tool can pick
// the quotas (see Key and CallFromContext).
//
// An allowed call goes on to the next handler. A denied one never reaches
// it and is answered with:
//   - for tools/call, a tool result with IsError set, a text the model can
//     act on ("rate limit exceeded for tool search; retry after 2.5s") and
//     the Denial in _meta under MetaKey and, for a tool listed without an
//     output schema, as structured content (WithDenialResult changes it).
//     A tool with an output schema gets none: a client validating output
//     schemas, as the TypeScript SDK does even in error results, would
//     reject it. The middleware learns the schemas from the tools/list
//     results it passes on; a tool not listed yet gets none either;
//   - for other methods, and for tools/call with WithRPCErrors, a JSON-RPC
//     error with code CodeRateLimited (WithErrorCode), Denial.Text as
//     message and the Denial as data.
//
// When the store cannot decide (store.ErrUnavailable; with l's default
// outage policy, typed.FailClosed), the call is not run, and the answer is
// a tool result with IsError and the text "rate limiter unavailable: tool
// X was not run; try again later" (and {"error":"rate_limiter_unavailable",
// ...} in _meta, and as structured content as for denials), or a
// JSON-RPC error with code
// CodeUnavailable for other methods and with WithRPCErrors. The store's
// error is not shown to the client; watch for it with a typed.Hook. With
// typed.FailOpen or typed.FallBack the limiter decides and no error
// arises.
//
// A call whose key lacks a part (see Part), a key, cost or quota function
// that fails, and invalid input (a negative cost) are refused with a
// JSON-RPC internal error (-32603) whose message says why. A call whose
// client cancelled it fails with the context's error.
//
// Middleware reports a bad option as a *algo.DataError. The middleware is
// safe for concurrent use and holds no goroutines; all its state is the
// limiter's.
func Middleware(l *typed.Limiter[Key], opts ...Option) (mcp.Middleware, error) {
	if l == nil {
		return nil, &algo.DataError{Name: "limiter", Value: "nil", Reason: "Middleware needs a limiter"}
	}
	c := &config{parts: []Part{Session}, methods: map[string]bool{"tools/call": true}, code: CodeRateLimited}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		o(c)
	}
	if len(c.errs) > 0 {
		return nil, c.errs[0]
	}
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if c.methods[method] {
				call := &Call{Method: method, Name: nameOf(req), Request: req}
				if answer, err := c.admit(context.WithValue(ctx, callKey{}, call), l, call); answer != nil || err != nil {
					return answer, err
				}
			}
			res, err := next(ctx, method, req)
			if lr, ok := res.(*mcp.ListToolsResult); ok && err == nil {
				c.learn(lr.Tools)
			}
			return res, err
		}
	}, nil
}

// admit decides call: it returns nil and nil when the call may go on, else
// what to answer instead (a tool result, or an error).
func (c *config) admit(ctx context.Context, l *typed.Limiter[Key], call *Call) (mcp.Result, error) {
	key, err := keyOf(ctx, c.parts, call)
	if err != nil {
		return nil, internalError(err)
	}
	cost, err := c.costOf(ctx, call)
	if err != nil {
		return nil, internalError(err)
	}
	res, err := c.decide(ctx, l, key, cost)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, store.ErrUnavailable):
		return c.unavailable(call)
	case err != nil:
		return nil, internalError(err)
	case !res.Limited:
		return nil, nil
	}
	d := newDenial(call, key, cost, res)
	if call.Method != "tools/call" || c.rpcErrors {
		return nil, d.rpcError(c.code)
	}
	if c.result != nil {
		if r := c.result(d); r != nil {
			return r, nil
		}
	}
	// The default, also for a nil result, which would let the call through.
	return toolError(d.Text(), d, c.schemaless(call.Name)), nil
}

// MetaKey is the _meta key of a denial's or an outage's tool result, whose
// value is the structured form of the answer (the Denial, or
// {"error":"rate_limiter_unavailable",...}), whatever the tool's output
// schema.
const MetaKey = "io.github.throttled-go/rate-limit"

// toolError is a tool result with IsError, text, and v in _meta and, when
// structured is set, as structured content.
func toolError(text string, v any, structured bool) *mcp.CallToolResult {
	r := &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: text}},
		Meta:    mcp.Meta{MetaKey: v},
	}
	if structured {
		r.StructuredContent = v
	}
	return r
}

// learn records which tools have an output schema, from a tools/list
// result.
func (c *config) learn(tools []*mcp.Tool) {
	for _, t := range tools {
		if t != nil {
			has := t.OutputSchema != nil
			if v := reflect.ValueOf(t.OutputSchema); has && v.Kind() == reflect.Pointer && v.IsNil() {
				has = false
			}
			c.schemas.Store(t.Name, has)
		}
	}
}

// schemaless reports whether the tool name was listed without an output
// schema. A client that validates output schemas (the TypeScript SDK's
// Client.callTool does so whenever structuredContent is present, IsError
// or not) would reject a denial's structured content in a tool with one,
// and a tool not listed here may have one.
func (c *config) schemaless(name string) bool {
	has, ok := c.schemas.Load(name)
	return ok && !has.(bool)
}

// unavailable answers a call the store could not decide.
func (c *config) unavailable(call *Call) (mcp.Result, error) {
	text := fmt.Sprintf("rate limiter unavailable: %s was not run; try again later", what(call))
	if call.Method != "tools/call" || c.rpcErrors {
		return nil, &jsonrpc.Error{Code: CodeUnavailable, Message: text}
	}
	return toolError(text, map[string]string{"error": "rate_limiter_unavailable", "method": call.Method, "name": call.Name}, c.schemaless(call.Name)), nil
}

// decide decides a call of cost for key, waiting as WithWait says.
func (c *config) decide(ctx context.Context, l *typed.Limiter[Key], key Key, cost int64) (typed.Result, error) {
	res, err := l.Limit(ctx, key, cost)
	if err != nil || !res.Limited || c.wait <= 0 || res.State.RetryAfter == typed.Never || res.State.RetryAfter > c.wait {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	res, err = l.Wait(wctx, key, cost)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, typed.ErrLimited):
		return res, nil // res is the last, limited, decision
	case ctx.Err() == nil && wctx.Err() != nil:
		// The wait ran out (possibly inside a store call, which then
		// decided nothing): decide once more on the caller's context.
		return l.Limit(ctx, key, cost)
	}
	return res, err
}

// costOf returns the cost of call.
func (c *config) costOf(ctx context.Context, call *Call) (int64, error) {
	if c.costFunc != nil {
		n, err := c.costFunc(ctx, call)
		if err != nil {
			return 0, fmt.Errorf("throttled: cost func: %w", err)
		}
		return n, nil
	}
	if n, ok := c.costs[call.Name]; ok {
		return n, nil
	}
	return 1, nil
}

// nameOf returns the tool's or prompt's name, or the resource's URI.
func nameOf(req mcp.Request) string {
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		if p != nil {
			return p.Name
		}
	case *mcp.GetPromptParams:
		if p != nil {
			return p.Name
		}
	case *mcp.ReadResourceParams:
		if p != nil {
			return p.URI
		}
	}
	return ""
}

// internalError is a JSON-RPC internal error carrying err's message (a
// plain Go error would go out with code 0).
func internalError(err error) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
}

// Denial describes a denied call: what a denial's tool result carries in
// _meta under MetaKey (and as structured content, for a tool without an
// output schema), and the data of a denial's JSON-RPC error. Its JSON is,
// for example:
//
//	{"error":"rate_limited","method":"tools/call","name":"search","cost":1,
//	 "retryAfterSeconds":2.5,"remaining":0,"limit":5,"resetAfterSeconds":12.5}
//
// with "quotas" (each quota's state) when the key has several quotas.
type Denial struct {
	// Error is "rate_limited".
	Error string `json:"error"`
	// Method is the call's method; Name the tool's name (see Call.Name).
	Method string `json:"method"`
	Name   string `json:"name,omitempty"`
	// Cost is what the call would have cost.
	Cost int64 `json:"cost"`
	// RetryAfterSeconds is how long until the same call would pass with
	// no other traffic, in seconds (exact to the µs); null when it can
	// never pass (its cost is above the limit).
	RetryAfterSeconds *float64 `json:"retryAfterSeconds"`
	// Remaining is what could still pass now, and Limit the most that can
	// pass at once (the quota with the least left, with several).
	Remaining int64 `json:"remaining"`
	Limit     int64 `json:"limit"`
	// ResetAfterSeconds is how long until the key is back to a full
	// budget with no other traffic.
	ResetAfterSeconds float64 `json:"resetAfterSeconds"`
	// Quotas holds each quota's state when the key has more than one.
	Quotas []QuotaStatus `json:"quotas,omitempty"`

	// Key and Result are the call's key and the limiter's decision, for a
	// WithDenialResult function; they are not sent.
	Key    Key          `json:"-"`
	Result typed.Result `json:"-"`
}

// QuotaStatus is one quota's part in a Denial.
type QuotaStatus struct {
	// Name is the quota's name (algo.Quota.Name), if it has one.
	Name string `json:"name,omitempty"`
	// Quota is the quota as text, such as "10/m" or "100/s burst 200".
	Quota string `json:"quota"`
	// Limited reports that this quota denied the call.
	Limited           bool     `json:"limited"`
	RetryAfterSeconds *float64 `json:"retryAfterSeconds"`
	Remaining         int64    `json:"remaining"`
	Limit             int64    `json:"limit"`
	ResetAfterSeconds float64  `json:"resetAfterSeconds"`
}

func newDenial(call *Call, key Key, cost int64, res typed.Result) *Denial {
	s := res.State
	d := &Denial{
		Error: "rate_limited", Method: call.Method, Name: call.Name, Cost: cost,
		RetryAfterSeconds: retrySeconds(s.RetryAfter), Remaining: s.Remaining, Limit: s.Limit,
		ResetAfterSeconds: secs(s.ResetAfter), Key: key, Result: res,
	}
	for _, q := range res.Quotas {
		d.Quotas = append(d.Quotas, QuotaStatus{
			Name: q.Quota.Name, Quota: q.Quota.String(), Limited: q.Limited,
			RetryAfterSeconds: retrySeconds(q.State.RetryAfter), Remaining: q.State.Remaining,
			Limit: q.State.Limit, ResetAfterSeconds: secs(q.State.ResetAfter),
		})
	}
	return d
}

// retrySeconds returns a RetryAfter in seconds, nil for Never.
func retrySeconds(d time.Duration) *float64 {
	if d == typed.Never {
		return nil
	}
	s := secs(d)
	return &s
}

// secs returns d in seconds, the float64 nearest to it: 18.922212, where
// d.Seconds() gives 18.922212000000002.
func secs(d time.Duration) float64 { return float64(d) / float64(time.Second) }

// Text returns the denial as a sentence the model can act on: "rate limit
// exceeded for tool search; retry after 2.5s" (the time rounded up to the
// millisecond), naming the quotas that denied it when the key has several
// ("for tool search (quota \"daily\" 100/d)"), or "...; a call costing 50
// can never pass (limit 10)".
func (d *Denial) Text() string {
	var b strings.Builder
	b.WriteString("rate limit exceeded for ")
	b.WriteString(what(&Call{Method: d.Method, Name: d.Name}))
	var denying []string
	for _, q := range d.Quotas {
		if q.Limited {
			s := q.Quota
			if q.Name != "" {
				s = fmt.Sprintf("%q %s", q.Name, q.Quota)
			}
			denying = append(denying, s)
		}
	}
	switch len(denying) {
	case 0:
	case 1:
		fmt.Fprintf(&b, " (quota %s)", denying[0])
	default:
		fmt.Fprintf(&b, " (quotas %s)", strings.Join(denying, ", "))
	}
	if d.RetryAfterSeconds == nil {
		fmt.Fprintf(&b, "; a call costing %d can never pass (limit %d)", d.Cost, d.Limit)
		return b.String()
	}
	retry := time.Duration(math.Round(*d.RetryAfterSeconds*1e6)) * time.Microsecond
	fmt.Fprintf(&b, "; retry after %s", ceilMilli(retry))
	return b.String()
}

// ceilMilli rounds d up to the millisecond.
func ceilMilli(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d
}

// what names a call's target for messages: "tool search".
func what(c *Call) string {
	switch c.Method {
	case "tools/call":
		return "tool " + c.Name
	case "prompts/get":
		return "prompt " + c.Name
	case "resources/read":
		return "resource " + c.Name
	}
	return c.Method
}

// rpcError returns d as a JSON-RPC error with code.
func (d *Denial) rpcError(code int64) error {
	data, err := json.Marshal(d)
	if err != nil {
		data = nil // cannot happen: plain fields
	}
	return &jsonrpc.Error{Code: code, Message: d.Text(), Data: data}
}
