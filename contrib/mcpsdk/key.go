package mcpsdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
)

// Key is the rate-limit key of one call: the parts chosen with WithKey,
// each in its own field; the parts not chosen are empty. It is the key type
// of the limiter the middleware decides on (a typed.Limiter[Key]), so a
// quota function (typed.WithQuotaFunc) can give each tool, subject or
// client its own quotas, and Reset can forget one key.
//
// A memory store keeps Keys as they are; a store of string keys (Redis, or a
// *memstore.Store) keeps String's encoding. The encoding is the same in the
// contrib/mcpgo module, so moving between the two SDKs keeps each key's
// state.
type Key struct {
	Method  string // the MCP method, such as "tools/call" (part Method)
	Tool    string // the tool's or prompt's name, or the resource's URI (part Tool)
	Session string // the session id, or the connection's id (part Session)
	Subject string // the authenticated subject (parts Subject, SubjectFrom)
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

// Call describes the call being limited, for key and cost functions, and
// for the limiter's quota function and hooks through CallFromContext.
type Call struct {
	// Method is the MCP method: "tools/call", or another one given to
	// WithMethods.
	Method string
	// Name is the tool's name (tools/call), the prompt's name
	// (prompts/get) or the resource's URI (resources/read); "" for the
	// other methods.
	Name string
	// Request is the SDK's request, such as a *mcp.CallToolRequest.
	Request mcp.Request
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
	kindMethod partKind = iota + 1
	kindTool
	kindSession
	kindSubject
	kindSubjectFrom
	kindClient
	kindHeader
	kindFunc
)

// Part is one component of a rate-limit key, given to WithKey. The parts
// are the package's variables Method, Tool, Session, Subject and Client,
// and the functions Header, Func and SubjectFrom. A part whose value a call
// lacks (no session id, no authenticated subject...) makes the middleware
// refuse the call with a JSON-RPC internal error naming the part, rather
// than count every such call under one empty key; Or gives a fallback
// value instead. Tool and Method are never missing. The zero Part is not
// usable.
type Part struct {
	kind     partKind
	name     string // the header's or the func's name
	f        func(context.Context, *Call) (string, error)
	fallback string
	hasFall  bool // Or was called
}

var (
	// Method keys by the MCP method ("tools/call"), so that the methods
	// given to WithMethods have separate budgets.
	Method = Part{kind: kindMethod}
	// Tool keys by the tool's name: every tool has its own budget. For
	// prompts/get it is the prompt's name, for resources/read the
	// resource's URI (unbounded with resource templates: many keys), and
	// "" for other methods.
	Tool = Part{kind: kindTool}
	// Session keys by the MCP session: over HTTP, the Streamable HTTP
	// transport's session id (Mcp-Session-Id). A request that came over a
	// stream connection (stdio, in-memory, io and command transports, and
	// the legacy SSE transport: no HTTP header on the request) has no id
	// but is its connection's: it is keyed by an id the middleware gives
	// each connection (unique in the process, and across processes sharing
	// a store), on every protocol revision. A request over HTTP on a
	// Stateless server, or on protocol 2026-07-28 (which has no sessions)
	// is missing the part: refused, unless Or gives a fallback.
	Session = Part{kind: kindSession}
	// Subject keys by the authenticated user: the UserID of the request's
	// auth.TokenInfo (set by the SDK's auth.RequireBearerToken with a
	// TokenVerifier that sets UserID). Missing without a token or UserID.
	Subject = Part{kind: kindSubject}
	// Client keys by the client's name from its clientInfo (the
	// initialize request's, or the request's _meta on protocol
	// 2026-07-28). The client chooses it: use it for fairness among
	// well-behaved clients, not against abuse. Missing when not given.
	Client = Part{kind: kindClient}
)

// Header keys by the value of the request's HTTP header name, for a
// subject or tenant a trusted gateway sets (X-User-Id). The value goes into
// Key.Custom as "name=value" and so into the store's keys: do not key by
// secrets such as a raw bearer token (hash it in a Func instead). Missing
// when the request has no such header (every request over stdio).
func Header(name string) Part {
	return Part{kind: kindHeader, name: http.CanonicalHeaderKey(name)}
}

// Func keys by f's answer, stored in Key.Custom as "name=value". An empty
// answer is a missing part; an error refuses the call with a JSON-RPC
// internal error that carries it.
func Func(name string, f func(ctx context.Context, c *Call) (string, error)) Part {
	return Part{kind: kindFunc, name: name, f: f}
}

// SubjectFrom keys by the subject f returns, stored in Key.Subject like
// Subject's: for authentication the SDK does not know about (a subject
// the HTTP handler put in the request's context, a header verified
// elsewhere). An empty answer is a missing part; an error refuses the call.
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
	case kindMethod:
		return "method"
	case kindTool:
		return "tool"
	case kindSession:
		return "session"
	case kindSubject:
		return "subject"
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
	case kindSubject, kindSubjectFrom:
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
		return &algo.DataError{Name: "key part", Value: "zero Part", Reason: "use Method, Tool, Session, Subject, Client, Header, Func or SubjectFrom"}
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
		kindSession:     "no session id (a Stateless server, or protocol 2026-07-28, has none)",
		kindSubject:     "no authenticated subject (the request has no TokenInfo with a UserID)",
		kindSubjectFrom: "no subject (the subject func returned \"\")",
		kindClient:      "no client name (clientInfo)",
		kindHeader:      "no " + p.name + " header",
		kindFunc:        "no value for " + p.String() + " (it returned \"\")",
	}[p.kind]
	return fmt.Errorf("throttled: cannot rate-limit %s: %s; key by other parts, or give this part a fallback with Or", c.Method, what)
}

// value returns p's value for c, or "" when c lacks it.
func (p Part) value(ctx context.Context, c *Call) (string, error) {
	switch p.kind {
	case kindMethod:
		return c.Method, nil
	case kindTool:
		return c.Name, nil
	case kindSession:
		return sessionOf(c.Request), nil
	case kindSubject:
		if e := c.Request.GetExtra(); e != nil && e.TokenInfo != nil {
			return e.TokenInfo.UserID, nil
		}
		return "", nil
	case kindClient:
		if r, ok := c.Request.(interface{ ClientInfo() *mcp.Implementation }); ok {
			if info := r.ClientInfo(); info != nil {
				return info.Name, nil
			}
		}
		return "", nil
	case kindHeader:
		if e := c.Request.GetExtra(); e != nil {
			return e.Header.Get(p.name), nil
		}
		return "", nil
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
			case p.kind != kindTool && p.kind != kindMethod:
				return Key{}, p.missing(c)
			}
		}
		switch p.kind {
		case kindMethod:
			k.Method = v
		case kindTool:
			k.Tool = v
		case kindSession:
			k.Session = v
		case kindSubject, kindSubjectFrom:
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

// sessionOf returns the session id of r, the id of its connection when it
// came over a stream connection, or "".
func sessionOf(r mcp.Request) string {
	ss, _ := r.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return ""
	}
	if e := r.GetExtra(); e != nil && e.Header != nil {
		// Over HTTP, protocol 2026-07-28 has no sessions. go-sdk v1.8
		// serves it only with a Stateless handler (no id); should a
		// stateful handler serve it, it would give each request a new
		// session, whose id identifies nothing (keyed by it, no call would
		// ever be limited).
		if v, ok := r.(interface{ ProtocolVersion() string }); ok && v.ProtocolVersion() >= sessionlessVersion {
			return ""
		}
		// Without an id (a Stateless handler), each request has a session
		// of its own too.
		return ss.ID()
	}
	if id := ss.ID(); id != "" {
		return id
	}
	return conns.id(ss)
}

// sessionlessVersion is the first protocol revision without sessions.
const sessionlessVersion = "2026-07-28"

// connIDs gives each stream connection's *mcp.ServerSession an id, and
// forgets it when the session is garbage collected.
type connIDs struct {
	mu    sync.Mutex
	ids   map[weak.Pointer[mcp.ServerSession]]string
	next  uint64
	nonce string // tells this process's ids from other processes'
}

var conns = &connIDs{ids: map[weak.Pointer[mcp.ServerSession]]string{}, nonce: newNonce()}

func newNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// id returns ss's connection id, "conn:<process nonce>:<n>".
func (c *connIDs) id(ss *mcp.ServerSession) string {
	wp := weak.Make(ss)
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.ids[wp]; ok {
		return id
	}
	c.next++
	id := "conn:" + c.nonce + ":" + strconv.FormatUint(c.next, 10)
	c.ids[wp] = id
	runtime.AddCleanup(ss, func(wp weak.Pointer[mcp.ServerSession]) {
		c.mu.Lock()
		delete(c.ids, wp)
		c.mu.Unlock()
	}, wp)
	return id
}

// size returns how many connections have an id, for tests.
func (c *connIDs) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}
