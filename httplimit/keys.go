package httplimit

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/throttled-go/throttled/algo"
)

// KeyFunc returns the rate-limit key of a request: requests with the same
// key share the limiter's quotas. The built-in key functions tag their keys
// by kind ("ip:", "header:", "route:"), so keys of different kinds never
// collide on one store.
//
// An error fails the request without deciding it (see WithErrorHandler): an
// error wrapping ErrBadRequest is the client's fault and is answered 400 Bad
// Request with the error's message as the problem's detail; any other error
// is answered 500 Internal Server Error, its message kept from the client.
// A KeyFunc must be safe for concurrent use.
type KeyFunc func(r *http.Request) (string, error)

// ErrBadRequest is wrapped by the errors of key and cost functions that
// blame the request itself (a missing API key header, a malformed Forwarded
// header): the middleware answers them 400 Bad Request and shows their
// message to the client. Wrap it in your own functions' errors the same way,
// for example fmt.Errorf("%w: no tenant", httplimit.ErrBadRequest).
var ErrBadRequest = errors.New("httplimit: bad request")

// Proxy headers KeyByIP can read (ProxyHeader).
const (
	HeaderXForwardedFor = "X-Forwarded-For" // comma-separated addresses, the client first
	HeaderForwarded     = "Forwarded"       // RFC 7239: for= parameters, the client first
)

// IPOption configures KeyByIP.
type IPOption func(*ipKeyer) error

// TrustProxies makes KeyByIP believe the proxy header (ProxyHeader, default
// X-Forwarded-For) of requests whose peer is in one of cidrs: the client is
// then the right-most address of the header that is not itself a trusted
// proxy (every proxy appends the address it received the request from, so
// entries left of an untrusted one are the client's own claims). Each of
// cidrs is a prefix such as "10.0.0.0/8" or "2001:db8::/32", or a single
// address. By default no proxy is trusted and the key is the peer's address
// (r.RemoteAddr) whatever the headers say. Options add up.
func TrustProxies(cidrs ...string) IPOption {
	return func(k *ipKeyer) error {
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				a, aerr := netip.ParseAddr(c)
				if aerr != nil || a.Zone() != "" {
					return &algo.DataError{Name: "trusted proxy", Value: c, Reason: "not a CIDR prefix such as 10.0.0.0/8 nor an address"}
				}
				a = a.Unmap()
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if p.Addr().Is4In6() {
				// ::ffff:10.0.0.0/104 and 10.0.0.0/8 are the same hops:
				// addresses are unmapped before they are compared.
				if p.Bits() < 96 {
					return &algo.DataError{Name: "trusted proxy", Value: c, Reason: "an IPv4-mapped prefix must be at least /96"}
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			k.trusted = append(k.trusted, p.Masked())
		}
		return nil
	}
}

// ProxyHeader sets the header TrustProxies believes: HeaderXForwardedFor
// (the default) or HeaderForwarded. Exactly one is read; the other is
// ignored, since a client may send either and a proxy that writes one passes
// the other on untouched. Name the one your proxies write.
func ProxyHeader(name string) IPOption {
	return func(k *ipKeyer) error {
		switch http.CanonicalHeaderKey(name) {
		case HeaderXForwardedFor:
			k.forwarded = false
		case HeaderForwarded:
			k.forwarded = true
		default:
			return &algo.DataError{Name: "proxy header", Value: name, Reason: "must be X-Forwarded-For or Forwarded"}
		}
		return nil
	}
}

// IPv6Prefix groups IPv6 clients by their first bits bits (default 64, one
// key per /64, the smallest network a site is usually given: a client
// holding a /64 cannot multiply its quota by cycling addresses). 128 keys
// each address alone. bits must be 0 to 128.
func IPv6Prefix(bits int) IPOption {
	return func(k *ipKeyer) error {
		if bits < 0 || bits > 128 {
			return &algo.DataError{Name: "IPv6 prefix", Value: bits, Reason: "must be 0 to 128"}
		}
		k.v6bits = bits
		return nil
	}
}

// IPv4Prefix groups IPv4 clients by their first bits bits (default 32: each
// address alone). bits must be 0 to 32.
func IPv4Prefix(bits int) IPOption {
	return func(k *ipKeyer) error {
		if bits < 0 || bits > 32 {
			return &algo.DataError{Name: "IPv4 prefix", Value: bits, Reason: "must be 0 to 32"}
		}
		k.v4bits = bits
		return nil
	}
}

// KeyByIP returns a KeyFunc that keys requests by client address: the peer
// (r.RemoteAddr) unless it is a trusted proxy (TrustProxies), IPv6
// addresses grouped by /64 and IPv4 ones alone by default (IPv6Prefix,
// IPv4Prefix). Keys read "ip:203.0.113.7" or "ip:2001:db8:1:2::/64";
// IPv4-mapped IPv6 addresses count as IPv4 and zones are dropped.
//
// Behind trusted proxies the client is found by walking the proxy header
// from the right, past trusted addresses, to the first untrusted one. When
// every hop is trusted the left-most is the client; when the header is
// absent, the peer is. An entry a trusted proxy wrote that names no address
// (Forwarded's "unknown" or an obfuscated identifier, or garbage) stands for
// a client that proxy could not name, and the key is that proxy's address.
// A Forwarded field line that is not valid RFC 7239 syntax, when the walk
// reaches it, is ErrBadRequest (400): only a client can send one, since each
// proxy appends its entry to a line of its own or to a valid one. A peer
// address that is not an IP (a Unix socket listener) is an error, answered
// 500.
//
// A bad option gives a *algo.DataError naming it. The KeyFunc is safe for
// concurrent use.
func KeyByIP(opts ...IPOption) (KeyFunc, error) {
	k := &ipKeyer{v4bits: 32, v6bits: 64}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "IP option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o(k); err != nil {
			return nil, err
		}
	}
	return k.key, nil
}

// ipKeyer is KeyByIP's configuration.
type ipKeyer struct {
	trusted   []netip.Prefix
	forwarded bool // read Forwarded, not X-Forwarded-For
	v4bits    int
	v6bits    int
}

// errPeer reports a peer address that is not an IP.
var errPeer = errors.New("httplimit: the peer address is not an IP address; key requests another way (WithKey)")

func (k *ipKeyer) key(r *http.Request) (string, error) {
	a, err := k.client(r)
	if err != nil {
		return "", err
	}
	var buf [64]byte
	b := append(buf[:0], "ip:"...)
	bits := k.v6bits
	if a.Is4() {
		bits = k.v4bits
	}
	if bits == a.BitLen() {
		return string(a.AppendTo(b)), nil
	}
	p, _ := a.Prefix(bits) // bits is in range for a's family
	return string(p.AppendTo(b)), nil
}

// client returns the request's client address.
func (k *ipKeyer) client(r *http.Request) (netip.Addr, error) {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: %q", errPeer, r.RemoteAddr)
	}
	if !k.trust(peer) {
		return peer, nil
	}
	name := HeaderXForwardedFor
	if k.forwarded {
		name = HeaderForwarded
	}
	lines := r.Header[name]
	hop := peer // the last trusted hop: it wrote the entry being read
	for i := len(lines) - 1; i >= 0; i-- {
		var entries []string
		if k.forwarded {
			var err error
			if entries, err = forwardedFor(lines[i]); err != nil {
				return netip.Addr{}, err
			}
		} else {
			entries = strings.Split(lines[i], ",")
		}
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			if e == "" && !k.forwarded {
				continue // an empty list element (RFC 9110 §5.6.1)
			}
			a, ok := parseHop(e)
			if !ok {
				return hop, nil // a client the trusted hop could not name
			}
			if !k.trust(a) {
				return a, nil
			}
			hop = a
		}
	}
	return hop, nil
}

// trust reports whether a is a trusted proxy.
func (k *ipKeyer) trust(a netip.Addr) bool {
	for _, p := range k.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one hop's address: "203.0.113.7", "203.0.113.7:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711"; unmapped, without
// zone.
func parseHop(s string) (netip.Addr, bool) {
	var a netip.Addr
	var err error
	switch colons := strings.Count(s, ":"); {
	case s != "" && s[0] == '[':
		if s[len(s)-1] == ']' {
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err == nil && !a.Is6() {
				return netip.Addr{}, false
			}
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
	case colons == 1: // IPv4 and port; parsed so, a failure allocates nothing
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// forwardedFor returns the for= value of each element of one Forwarded
// field line (RFC 7239 §4), unquoted, "" for an element without one; empty
// elements are skipped. It fails, wrapping ErrBadRequest, on a line that is
// not valid syntax; unquoted values may hold ':', '[' and ']' (IPv6
// addresses some proxies fail to quote).
func forwardedFor(line string) ([]string, error) {
	var fors []string
	bad := func(why string) ([]string, error) {
		return nil, fmt.Errorf("%w: malformed Forwarded header: %s", ErrBadRequest, why)
	}
	i, n := 0, len(line)
	skipOWS := func() {
		for i < n && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	for {
		// One element: pairs separated by ';' (each optional).
		var forValue string
		hasFor, pairs := false, 0
		for {
			skipOWS()
			if i == n || line[i] == ',' || line[i] == ';' {
				if i < n && line[i] == ';' {
					i++
					continue
				}
				break
			}
			start := i
			for i < n && isTchar(line[i]) {
				i++
			}
			if i == start || i == n || line[i] != '=' {
				return bad("a parameter is not token=value")
			}
			name := line[start:i]
			i++ // '='
			var value string
			if i < n && line[i] == '"' {
				var b strings.Builder
				i++
				for {
					if i == n {
						return bad("unterminated quoted string")
					}
					c := line[i]
					if c == '"' {
						i++
						break
					}
					if c == '\\' {
						i++
						if i == n {
							return bad("unterminated quoted string")
						}
						c = line[i]
					}
					if c < 0x20 && c != '\t' || c == 0x7f {
						return bad("control character in a quoted string")
					}
					b.WriteByte(c)
					i++
				}
				value = b.String()
			} else {
				// A token, leniently with ':', '[' and ']': proxies
				// configured as for=$remote_addr write IPv6 addresses
				// unquoted.
				start := i
				for i < n && (isTchar(line[i]) || line[i] == ':' || line[i] == '[' || line[i] == ']') {
					i++
				}
				if i == start {
					return bad("empty parameter value")
				}
				value = line[start:i]
			}
			if strings.EqualFold(name, "for") {
				if hasFor {
					return bad("two for= parameters in one element")
				}
				forValue, hasFor = value, true
			}
			pairs++
			skipOWS()
			if i < n && line[i] == ';' {
				i++
				continue
			}
			if i < n && line[i] != ',' {
				return bad("parameters not separated by ';'")
			}
		}
		if pairs > 0 { // an empty list element counts for nothing
			fors = append(fors, forValue)
		}
		if i == n {
			return fors, nil
		}
		i++ // ','
	}
}

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// KeyByHeader returns a KeyFunc that keys requests by the value of header
// name, such as an API key: "header:X-Api-Key:" and the first 128 bits of
// the value's SHA-256, base64url. The digest keeps secrets out of store keys
// (Redis key names, hooks, logs) and bounds the key's length whatever a
// client sends. A request without the header, with it empty or with it more
// than once (which one would the application read?) is ErrBadRequest (400).
// The KeyFunc is safe for concurrent use.
func KeyByHeader(name string) KeyFunc {
	canon := http.CanonicalHeaderKey(name)
	prefix := "header:" + canon + ":"
	return func(r *http.Request) (string, error) {
		vs := r.Header[canon]
		switch {
		case len(vs) == 0 || vs[0] == "" && len(vs) == 1:
			return "", fmt.Errorf("%w: missing %s header", ErrBadRequest, canon)
		case len(vs) > 1:
			return "", fmt.Errorf("%w: %d %s headers, want one", ErrBadRequest, len(vs), canon)
		}
		sum := sha256.Sum256([]byte(vs[0]))
		var buf [96]byte
		b := append(buf[:0], prefix...)
		b = base64.RawURLEncoding.AppendEncode(b, sum[:16])
		return string(b), nil
	}
}

// errNoPattern reports a request no pattern routed.
var errNoPattern = errors.New("httplimit: KeyByPattern: the request has no route pattern (r.Pattern): wrap each route's handler, as in mux.Handle(pattern, m.Handler(h)), not the whole mux")

// KeyByPattern returns a KeyFunc that keys requests by the route pattern
// that matched them (r.Pattern, set by http.ServeMux since Go 1.22 and by
// chi v5.2+ when it calls a route's handler) with its method:
// "route:GET /items/{id}". A pattern without a method (chi's, or a
// ServeMux pattern such as "/items/") gets the request's, HEAD counting as
// GET; a pattern with one keeps it, so HEAD requests matched by a GET
// pattern share its key. Alone it limits a route for all clients together;
// joined with KeyByIP (JoinKeys) it limits each client on each route.
//
// The middleware must then run after routing: wrap each route's handler
// (mux.Handle("GET /items/{id}", m.Handler(h)), chi's r.With(m.Handler)),
// not the router. A request without a pattern is an error answered 500,
// since it points at that mistake. The KeyFunc is safe for concurrent use.
func KeyByPattern() KeyFunc {
	return func(r *http.Request) (string, error) {
		p := r.Pattern
		if p == "" {
			return "", errNoPattern
		}
		if i := strings.IndexAny(p, " \t"); i >= 0 {
			if i > 0 { // a method, as ServeMux reads it; else none
				return "route:" + p[:i] + " " + strings.TrimLeft(p[i:], " \t"), nil
			}
			p = strings.TrimLeft(p, " \t")
		}
		m := r.Method
		if m == "" || m == http.MethodHead {
			m = http.MethodGet
		}
		return "route:" + m + " " + p, nil
	}
}

// JoinKeys returns a KeyFunc whose key combines the keys of fs, in order,
// unambiguously: each key with '\' and '|' escaped by a '\', joined by '|'
// (so "a|b" + "c" and "a" + "b|c" differ). The first error of fs is
// returned. JoinKeys panics if fs is empty or holds nil: that is a mistake
// in setting up, not in serving. The KeyFunc is safe for concurrent use if
// every function of fs is.
func JoinKeys(fs ...KeyFunc) KeyFunc {
	if len(fs) == 0 {
		panic("httplimit: JoinKeys needs key functions")
	}
	for _, f := range fs {
		if f == nil {
			panic("httplimit: JoinKeys got a nil key function")
		}
	}
	fs = append([]KeyFunc(nil), fs...)
	return func(r *http.Request) (string, error) {
		var b strings.Builder
		for i, f := range fs {
			k, err := f(r)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteByte('|')
			}
			if strings.ContainsAny(k, `\|`) {
				for j := 0; j < len(k); j++ {
					if k[j] == '\\' || k[j] == '|' {
						b.WriteByte('\\')
					}
					b.WriteByte(k[j])
				}
				continue
			}
			b.WriteString(k)
		}
		return b.String(), nil
	}
}
