package mcpgo

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/algo"
)

// Key is the rate-limit key of one call: the parts chosen with WithKey,
// each in its own field; the parts not chosen are empty. It is the key type
// of the limiter the middleware decides on (a typed.Limiter[Key]), so a
// quota function (typed.WithQuotaFunc) can give each tool, subject or
// client its own quotas, and Reset can forget one key.
//
// A memory store keeps Keys as they are; a store of string keys (Redis, or a
// *memstore.Store) keeps String's encoding. Key and its encoding are the
// same in the contrib/mcpsdk module (for the official Go SDK), so moving
// between the two SDKs keeps each key's state; Method, which that module
// fills for servers limiting several methods, stays empty here.
type Key struct {
	Method  string // unused here (contrib/mcpsdk's part Method)
	Tool    string // the tool's name (part Tool)
	Session string // the session id (part Session)
	Subject string // the authenticated subject (part SubjectFrom)
	Client  string // the client's name from its clientInfo (part Client)
	Custom  string // the parts Header and Func, as "name=value" pairs joined by ","
}

// String encodes k as "mcp:" followed by its non-empty fields as
// "field=value" pairs joined by ",", in the order of the struct, with '%',
// ',' and '=' in values percent-encoded: "mcp:tool=search,session=abc".
// Distinct Keys have distinct encodings. The zero Key (WithKey with no
// parts: one limit for every call) is "mcp:all".
func (k Key) String() string {
	var b strings.Builder
	b.WriteString("mcp:")
	n := b.Len()
	add := func(name, v string) {
		if v == "" {
			return
		}
		if b.Len() > n {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escape(v))
	}
	add("method", k.Method)
	add("tool", k.Tool)
	add("session", k.Session)
	add("subject", k.Subject)
	add("client", k.Client)
	add("custom", k.Custom)
	if b.Len() == n {
		b.WriteString("all")
	}
	return b.String()
}

// escape percent-encodes the bytes that separate a Key's fields.
func escape(v string) string {
	if !strings.ContainsAny(v, "%,=") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '%', ',', '=':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Call describes the tool call being limited, for key and cost functions,
// and for the limiter's quota function and hooks through CallFromContext.
type Call struct {
	// Name is the tool's name.
	Name string
	// Request is the SDK's request.
	Request mcp.CallToolRequest
}

type callKey struct{}

// CallFromContext returns the call being limited, when ctx is the context
// the middleware passes to the limiter: in a quota function
// (typed.WithQuotaFunc) it lets a key that does not hold the tool still get
// the tool's quotas (a session's budget plus a quota of the expensive tool's
// own); in a typed.Hook it labels metrics by tool.
func CallFromContext(ctx context.Context) (*Call, bool) {
	c, ok := ctx.Value(callKey{}).(*Call)
	return c, ok
}

// partKind says which field of Key a part fills.
type partKind uint8

const (
	kindTool partKind = iota + 1
	kindSession
	kindSubjectFrom
	kindClient
	kindHeader
	kindFunc
)

// Part is one component of a rate-limit key, given to WithKey. The parts
// are the package's variables Tool, Session and Client, and the functions
// Header, Func and SubjectFrom. A part whose value a call lacks (no session
// id, no subject...) makes the middleware refuse the call with an error
// naming the part (a JSON-RPC internal error on the wire), rather than
// count every such call under one empty key; Or gives a fallback value
// instead. Tool is never missing. The zero Part is not usable.
type Part struct {
	kind     partKind
	name     string // the header's or the func's name
	f        func(context.Context, *Call) (string, error)
	fallback string
	hasFall  bool // Or was called
}

var (
	// Tool keys by the tool's name: every tool has its own budget.
	Tool = Part{kind: kindTool}
	// Session keys by the MCP session id (server.ClientSessionFromContext):
	// the Streamable HTTP and SSE transports' ids, the in-process
	// transport's. A call without a session, or with an empty id (a
	// stateless Streamable HTTP server, and protocol 2026-07-28, which has
	// no sessions), is missing the part: refused, unless Or gives a
	// fallback. mcp-go names every stdio session "stdio": processes
	// sharing a Redis store then share one key; key them by a subject, or
	// give each process a Func part of its own.
	Session = Part{kind: kindSession}
	// Client keys by the client's name from its clientInfo (the
	// initialize request's, or the request's _meta on protocol
	// 2026-07-28). The client chooses it: use it for fairness among
	// well-behaved clients, not against abuse. Missing when not given.
	Client = Part{kind: kindClient}
)

// Header keys by the value of the request's HTTP header name
// (CallToolRequest.Header), for a subject or tenant a trusted gateway sets
// (X-User-Id). The value goes into Key.Custom as "name=value" and so into
// the store's keys: do not key by secrets such as a raw bearer token (hash
// it in a Func instead). Missing when the request has no such header
// (every request over stdio).
func Header(name string) Part {
	return Part{kind: kindHeader, name: http.CanonicalHeaderKey(name)}
}

// Func keys by f's answer, stored in Key.Custom as "name=value". An empty
// answer is a missing part; an error refuses the call with an error that
// wraps it.
func Func(name string, f func(ctx context.Context, c *Call) (string, error)) Part {
	return Part{kind: kindFunc, name: name, f: f}
}

// SubjectFrom keys by the authenticated subject f returns, stored in
// Key.Subject. mcp-go has no authentication of its own: f reads the user
// the application verified (one its server.WithHTTPContextFunc put in the
// context, say). An empty answer is a missing part; an error refuses the
// call.
func SubjectFrom(f func(ctx context.Context, c *Call) (string, error)) Part {
	return Part{kind: kindSubjectFrom, name: "subject", f: f}
}

// Or returns p with a fallback value, used when a call lacks p's value:
// Session.Or("anonymous") counts every sessionless call under one key, on
// purpose. The fallback must not be empty.
func (p Part) Or(fallback string) Part {
	p.fallback, p.hasFall = fallback, true
	return p
}

// String names the part: "session", "tool", "header X-User-Id"...
func (p Part) String() string {
	switch p.kind {
	case kindTool:
		return "tool"
	case kindSession:
		return "session"
	case kindSubjectFrom:
		return "subject func"
	case kindClient:
		return "client"
	case kindHeader:
		return "header " + p.name
	case kindFunc:
		return "func " + p.name
	}
	return "invalid part"
}

// field returns which Key field p fills, for WithKey's check that no two
// parts fill one field.
func (p Part) field() string {
	switch p.kind {
	case kindSubjectFrom:
		return "Subject"
	case kindHeader, kindFunc:
		return "Custom " + p.name
	}
	return p.String()
}

// check reports a part that cannot work.
func (p Part) check() error {
	switch {
	case p.kind == 0:
		return &algo.DataError{Name: "key part", Value: "zero Part", Reason: "use Tool, Session, Client, Header, Func or SubjectFrom"}
	case p.hasFall && p.fallback == "":
		return &algo.DataError{Name: "key part", Value: p.String(), Reason: "Or needs a non-empty fallback"}
	case (p.kind == kindHeader || p.kind == kindFunc) && (p.name == "" || strings.ContainsAny(p.name, "=,%")):
		return &algo.DataError{Name: "key part", Value: p.String(), Reason: "needs a name without '=', ',' or '%'"}
	case (p.kind == kindFunc || p.kind == kindSubjectFrom) && p.f == nil:
		return &algo.DataError{Name: "key part", Value: p.String(), Reason: "needs a function"}
	}
	return nil
}

// missing describes a call lacking p's value, and how to fix it.
func (p Part) missing(c *Call) error {
	what := map[partKind]string{
		kindSession:     "no session id (a stateless server, or protocol 2026-07-28, has none)",
		kindSubjectFrom: "no subject (the subject func returned \"\")",
		kindClient:      "no client name (clientInfo)",
		kindHeader:      "no " + p.name + " header",
		kindFunc:        "no value for " + p.String() + " (it returned \"\")",
	}[p.kind]
	return fmt.Errorf("throttled: cannot rate-limit tool %s: %s; key by other parts, or give this part a fallback with Or", c.Name, what)
}

// value returns p's value for c, or "" when c lacks it.
func (p Part) value(ctx context.Context, c *Call) (string, error) {
	switch p.kind {
	case kindTool:
		return c.Name, nil
	case kindSession:
		if server.IsModernRequest(ctx) && len(c.Request.Header) > 0 {
			// Over HTTP, protocol 2026-07-28 has no sessions: mcp-go v1.2
			// serves each such request on a session of its own, with no
			// id; should one get an id, it would identify nothing.
			return "", nil
		}
		if s := server.ClientSessionFromContext(ctx); s != nil {
			return s.SessionID(), nil
		}
		return "", nil
	case kindClient:
		if info := c.Request.Params.Meta.ClientInfo(); info != nil && info.Name != "" {
			return info.Name, nil
		}
		if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
			return s.GetClientInfo().Name, nil
		}
		return "", nil
	case kindHeader:
		return c.Request.Header.Get(p.name), nil
	case kindFunc, kindSubjectFrom:
		v, err := p.f(ctx, c)
		if err != nil {
			return "", fmt.Errorf("throttled: key part %s: %w", p, err)
		}
		return v, nil
	}
	return "", nil
}

// keyOf builds the key of c from parts.
func keyOf(ctx context.Context, parts []Part, c *Call) (Key, error) {
	var k Key
	for _, p := range parts {
		v, err := p.value(ctx, c)
		if err != nil {
			return Key{}, err
		}
		if v == "" {
			switch {
			case p.hasFall:
				v = p.fallback
			case p.kind != kindTool:
				return Key{}, p.missing(c)
			}
		}
		switch p.kind {
		case kindTool:
			k.Tool = v
		case kindSession:
			k.Session = v
		case kindSubjectFrom:
			k.Subject = v
		case kindClient:
			k.Client = v
		case kindHeader, kindFunc:
			if k.Custom != "" {
				k.Custom += ","
			}
			k.Custom += p.name + "=" + escape(v)
		}
	}
	return k, nil
}
