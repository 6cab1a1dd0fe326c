package httplimit_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/httplimit"
)

// request returns a request from remote with the header fields hdr (name,
// value pairs; a name given twice gives two field lines).
func request(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// keyLog records the keys a key function returns, for tests to read from
// their own goroutine.
type keyLog struct {
	mu   sync.Mutex
	keys []string
}

// wrap returns f recording its keys in k.
func (k *keyLog) wrap(f httplimit.KeyFunc) httplimit.KeyFunc {
	return func(r *http.Request) (string, error) {
		key, err := f(r)
		k.mu.Lock()
		k.keys = append(k.keys, key)
		k.mu.Unlock()
		return key, err
	}
}

// at returns the i-th key recorded.
func (k *keyLog) at(i int) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[i]
}

// keyWithin returns f(r), failing the test at once if f has not returned
// within a few seconds: a key function parses what clients send, and one
// that loops on some input would hang a server's request for good, so the
// tests end such a loop in seconds rather than at the test binary's
// timeout. The deadline is generous: f takes microseconds.
func keyWithin(t *testing.T, f httplimit.KeyFunc, r *http.Request) (string, error) {
	t.Helper()
	type keyErr struct {
		key string
		err error
	}
	done := make(chan keyErr, 1)
	go func() {
		k, err := f(r)
		done <- keyErr{k, err}
	}()
	select {
	case ke := <-done:
		return ke.key, ke.err
	case <-time.After(5 * time.Second):
		t.Fatalf("the key function has not returned after 5s on %s %v (RemoteAddr %q)", r.Method, r.Header, r.RemoteAddr)
		return "", nil
	}
}

// mustKeyByIP returns KeyByIP(opts...), failing the test on an error.
func mustKeyByIP(t *testing.T, opts ...httplimit.IPOption) httplimit.KeyFunc {
	t.Helper()
	f, err := httplimit.KeyByIP(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestKeyByIP(t *testing.T) {
	xff := httplimit.HeaderXForwardedFor
	fwd := httplimit.HeaderForwarded
	trust := httplimit.TrustProxies("10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1")
	forwarded := httplimit.ProxyHeader("forwarded")
	cases := []struct {
		name   string
		opts   []httplimit.IPOption
		remote string
		hdr    []string
		want   string
	}{
		// The peer, whatever the headers say, when no proxy is trusted.
		{"peer", nil, "203.0.113.7:5555", []string{xff, "198.51.100.1", fwd, "for=198.51.100.2"}, "ip:203.0.113.7"},
		{"peer without port", nil, "203.0.113.7", nil, "ip:203.0.113.7"},
		{"IPv6 /64", nil, "[2001:db8:1:2:3:4:5:6]:443", nil, "ip:2001:db8:1:2::/64"},
		{"IPv6 /128", []httplimit.IPOption{httplimit.IPv6Prefix(128)}, "[2001:db8:1:2:3:4:5:6]:443", nil, "ip:2001:db8:1:2:3:4:5:6"},
		{"IPv6 /48", []httplimit.IPOption{httplimit.IPv6Prefix(48)}, "[2001:db8:1:2:3:4:5:6]:443", nil, "ip:2001:db8:1::/48"},
		{"IPv4 /24", []httplimit.IPOption{httplimit.IPv4Prefix(24)}, "203.0.113.7:1", nil, "ip:203.0.113.0/24"},
		{"IPv4-mapped", nil, "[::ffff:203.0.113.7]:1", nil, "ip:203.0.113.7"},
		{"zone", nil, "[fe80::1:2%eth0]:1", nil, "ip:fe80::/64"},
		{"untrusted peer", []httplimit.IPOption{trust}, "203.0.113.7:1", []string{xff, "198.51.100.1"}, "ip:203.0.113.7"},

		// Behind trusted proxies: the right-most untrusted hop.
		{"one proxy", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "198.51.100.1"}, "ip:198.51.100.1"},
		{"spoofed entries", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6, 10.9.9.9, 198.51.100.1"}, "ip:198.51.100.1"},
		{"proxy chain", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6, 198.51.100.1, 10.0.0.3, 192.0.2.1"}, "ip:198.51.100.1"},
		{"every hop trusted", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "10.0.0.3, 10.0.0.2"}, "ip:10.0.0.3"},
		{"no header", []httplimit.IPOption{trust}, "10.0.0.1:1", nil, "ip:10.0.0.1"},
		{"two lines", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6", xff, "198.51.100.1, 10.0.0.9"}, "ip:198.51.100.1"},
		{"walk into an earlier line", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6, 198.51.100.1", xff, "10.0.0.9"}, "ip:198.51.100.1"},
		{"empty elements", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "198.51.100.1, ,10.0.0.2,"}, "ip:198.51.100.1"},
		{"ports and brackets", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "198.51.100.1:4711"}, "ip:198.51.100.1"},
		{"bracketed IPv6", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "[2001:db8:5::1]"}, "ip:2001:db8:5::/64"},
		{"bracketed IPv6 with port", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "[2001:db8:5::1]:443"}, "ip:2001:db8:5::/64"},
		{"trusted IPv6 proxy", []httplimit.IPOption{trust}, "[2001:db8:ffff:1::1]:1", []string{xff, "2001:db8:7:7::7"}, "ip:2001:db8:7:7::/64"},
		{"garbage from the proxy", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6, garbage"}, "ip:10.0.0.1"},
		{"garbage from a proxy in the chain", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{xff, "6.6.6.6, [1.2.3.4], 10.0.0.2"}, "ip:10.0.0.2"},
		{"XFF mode ignores Forwarded", []httplimit.IPOption{trust}, "10.0.0.1:1", []string{fwd, "for=6.6.6.6", xff, "198.51.100.1"}, "ip:198.51.100.1"},
		{"IPv4-mapped trusted prefix", []httplimit.IPOption{httplimit.TrustProxies("::ffff:10.0.0.0/104")}, "10.0.0.1:1", []string{xff, "198.51.100.1"}, "ip:198.51.100.1"},
		{"IPv4-mapped trusted address", []httplimit.IPOption{httplimit.TrustProxies("::ffff:10.0.0.1")}, "10.0.0.1:1", []string{xff, "198.51.100.1"}, "ip:198.51.100.1"},
		// ::ffff:0.0.0.0/96, the shortest IPv4-mapped prefix accepted, is
		// 0.0.0.0/0: every IPv4 hop is trusted, so the left-most is the client.
		{"IPv4-mapped /96 trusts every IPv4 hop", []httplimit.IPOption{httplimit.TrustProxies("::ffff:0.0.0.0/96")}, "203.0.113.9:1", []string{xff, "198.51.100.1, 192.0.2.200"}, "ip:198.51.100.1"},
		{"IPv4 /32 is the address", []httplimit.IPOption{httplimit.IPv4Prefix(32)}, "203.0.113.7:1", nil, "ip:203.0.113.7"},

		// RFC 7239 Forwarded.
		{"Forwarded", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=198.51.100.1;proto=http;by=203.0.113.43"}, "ip:198.51.100.1"},
		{"Forwarded ignores XFF", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{xff, "6.6.6.6", fwd, "for=198.51.100.1"}, "ip:198.51.100.1"},
		{"Forwarded IPv6", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, `For="[2001:db8:cafe::17]:4711"`}, "ip:2001:db8:cafe::/64"},
		{"Forwarded chain", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, `for=6.6.6.6, for=198.51.100.1;by=x, for="10.0.0.5:80" ; proto=https`}, "ip:198.51.100.1"},
		{"Forwarded unknown", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=6.6.6.6, for=unknown"}, "ip:10.0.0.1"},
		{"Forwarded obfuscated", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, `for=6.6.6.6, for="_gazonk", for=10.0.0.2`}, "ip:10.0.0.2"},
		{"Forwarded without for", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=6.6.6.6, proto=https;by=10.0.0.1"}, "ip:10.0.0.1"},
		{"Forwarded escapes", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, `for="198.51.100.\1";x="a\"b,c"`}, "ip:198.51.100.1"},
		{"Forwarded empty elements", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, " , for=198.51.100.1 ,, ;; "}, "ip:198.51.100.1"},
		{"Forwarded unquoted IPv6", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=2001:db8:9::1, for=[2001:db8:8::1]"}, "ip:2001:db8:8::/64"},
		{"Forwarded bad line not reached", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, `for="broken`, fwd, "for=198.51.100.1"}, "ip:198.51.100.1"},
		// A quoted string may hold spaces and tabs (qdtext, RFC 9110 §5.6.4);
		// a token every tchar, '!' and '~' at the ends of the set included.
		{"Forwarded quoted space and tab", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=198.51.100.1;x=\"a b\tc\""}, "ip:198.51.100.1"},
		{"Forwarded every tchar", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=198.51.100.1;by=!#$%&'*+-.^_`|~09azAZ;!x~=1"}, "ip:198.51.100.1"},
		{"Forwarded OWS around pairs", []httplimit.IPOption{trust, forwarded}, "10.0.0.1:1", []string{fwd, "for=6.6.6.6 ; by=x\t,\t for=198.51.100.1 ;\tproto=https ; by=10.0.0.1"}, "ip:198.51.100.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := keyWithin(t, mustKeyByIP(t, c.opts...), request(c.remote, c.hdr...))
			if err != nil || got != c.want {
				t.Errorf("key %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestKeyByIPErrors: a malformed Forwarded line the walk reaches is the
// client's fault (400); a peer that is not an IP is the server's (500).
func TestKeyByIPErrors(t *testing.T) {
	fwd := httplimit.HeaderForwarded
	f := mustKeyByIP(t, httplimit.TrustProxies("10.0.0.0/8"), httplimit.ProxyHeader(fwd))
	for _, line := range []string{
		`for`, `for=`, `for=1.2.3.4 x=y`, `for="abc`, `for="abc\`, "for=\"a\x01\"", `for=1.2.3.4;for=5.6.7.8`, `=x`, `for=a@b`,
	} {
		k, err := keyWithin(t, f, request("10.0.0.1:1", fwd, line))
		if !errors.Is(err, httplimit.ErrBadRequest) || !strings.Contains(err.Error(), "malformed Forwarded header") {
			t.Errorf("Forwarded %q: key %q, error %v; want ErrBadRequest", line, k, err)
		}
	}
	for _, remote := range []string{"", "@", "/tmp/sock", "[::1", "[1.2.3.4]:80"} {
		k, err := mustKeyByIP(t)(request(remote))
		if err == nil || errors.Is(err, httplimit.ErrBadRequest) {
			t.Errorf("RemoteAddr %q: key %q, error %v; want an error that is not ErrBadRequest", remote, k, err)
		}
	}
}

func TestIPOptionsRefused(t *testing.T) {
	for name, o := range map[string]httplimit.IPOption{
		"bad CIDR":             httplimit.TrustProxies("10.0.0.0/8", "ten"),
		"zone":                 httplimit.TrustProxies("fe80::1%eth0"),
		"short IPv4-mapped":    httplimit.TrustProxies("::ffff:10.0.0.0/90"),
		"X-Real-IP":            httplimit.ProxyHeader("X-Real-IP"),
		"IPv6 prefix too long": httplimit.IPv6Prefix(129),
		"IPv6 prefix negative": httplimit.IPv6Prefix(-1),
		"IPv4 prefix too long": httplimit.IPv4Prefix(33),
		"IPv4 prefix negative": httplimit.IPv4Prefix(-1),
		"nil option":           nil,
	} {
		if _, err := httplimit.KeyByIP(o); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
	if _, err := httplimit.KeyByIP(httplimit.ProxyHeader("x-forwarded-for"), httplimit.IPv6Prefix(0), httplimit.IPv4Prefix(0)); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

// TestSpoofedHeadersIgnored: from an untrusted peer, forwarding headers
// change nothing: every request below shares the peer's quota.
func TestSpoofedHeadersIgnored(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(3)))
	url := serve(t, mustNew(t, l).Handler(ok))
	spoofs := [][]string{
		{"X-Forwarded-For", "198.51.100.1"},
		{"Forwarded", "for=198.51.100.2"},
		{"X-Forwarded-For", "198.51.100.3, 198.51.100.4", "X-Real-IP", "198.51.100.5"},
		{"X-Forwarded-For", "127.0.0.2"},
	}
	for i, h := range spoofs {
		rp := get(t, url, h...)
		if want := []int{200, 200, 200, 429}[i]; rp.Status != want {
			t.Fatalf("request %d with %q: status %d, want %d", i, h, rp.Status, want)
		}
	}
	// Trusting a proxy that is not the peer changes nothing either.
	l2, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url2 := serve(t, mustNew(t, l2, httplimit.WithKey(mustKeyByIP(t, httplimit.TrustProxies("10.0.0.0/8")))).Handler(ok))
	get(t, url2, "X-Forwarded-For", "198.51.100.1")
	if rp := get(t, url2, "X-Forwarded-For", "198.51.100.2"); rp.Status != 429 {
		t.Fatalf("an untrusted peer changed its key with X-Forwarded-For: status %d", rp.Status)
	}
}

// TestTrustedProxy: behind a trusted proxy (the loopback peer), clients are
// told apart by the header the proxy writes, and a client cannot escape its
// quota by sending its own entries.
func TestTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		header string
		format func(client string, spoof string) string
	}{
		{httplimit.HeaderXForwardedFor, func(c, s string) string {
			if s == "" {
				return c
			}
			return s + ", " + c
		}},
		{httplimit.HeaderForwarded, func(c, s string) string {
			e := `for="` + c + `"`
			if strings.Contains(c, ":") {
				e = `for="[` + c + `]:4711"`
			}
			if s == "" {
				return e
			}
			return "for=" + s + ";proto=https, " + e
		}},
	} {
		t.Run(c.header, func(t *testing.T) {
			l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(2)))
			key := mustKeyByIP(t, httplimit.TrustProxies("127.0.0.0/8", "::1"), httplimit.ProxyHeader(c.header))
			url := serve(t, mustNew(t, l, httplimit.WithKey(key)).Handler(ok))
			steps := []struct {
				client, spoof string
				want          int
			}{
				{"198.51.100.1", "", 200},
				{"198.51.100.1", "", 200},
				{"198.51.100.1", "", 429},
				{"198.51.100.1", "198.51.100.99", 429}, // its own claim is ignored
				{"198.51.100.2", "", 200},
				{"2001:db8:1:2::1", "", 200},
				{"2001:db8:1:2:ffff:ffff:ffff:ffff", "", 200}, // the same /64
				{"2001:db8:1:2::77", "2001:db8:9::1", 429},
				{"2001:db8:1:3::1", "", 200}, // another /64
			}
			for i, s := range steps {
				rp := get(t, url, c.header, c.format(s.client, s.spoof))
				if rp.Status != s.want {
					t.Fatalf("step %d (%+v): status %d, want %d", i, s, rp.Status, s.want)
				}
			}
		})
	}
}

// TestIPv6Peer: a real IPv6 peer is keyed by its /64 (skipped where the
// host has no IPv6 loopback).
func TestIPv6Peer(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	var keys keyLog
	m := mustNew(t, l, httplimit.WithKey(keys.wrap(mustKeyByIP(t))))
	srv := httptest.NewUnstartedServer(m.Handler(ok))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	if rp := get(t, srv.URL); rp.Status != 200 {
		t.Fatalf("status %d", rp.Status)
	}
	if rp := get(t, srv.URL); rp.Status != 429 {
		t.Fatalf("status %d", rp.Status)
	}
	if k := keys.at(0); k != "ip:::/64" {
		t.Errorf("key %q, want ip:::/64", k)
	}
}

func TestKeyByHeader(t *testing.T) {
	f := httplimit.KeyByHeader("x-api-key")
	sum := sha256.Sum256([]byte("secret-1"))
	want := "header:X-Api-Key:" + base64.RawURLEncoding.EncodeToString(sum[:16])
	if k, err := f(request("1.2.3.4:1", "X-Api-Key", "secret-1")); k != want || err != nil {
		t.Errorf("key %q, %v; want %q", k, err, want)
	}
	if k, _ := f(request("1.2.3.4:1", "X-Api-Key", strings.Repeat("x", 1<<16))); len(k) != len(want) {
		t.Errorf("a 64 KiB value gave a key of %d bytes, want %d", len(k), len(want))
	}
	for _, hdr := range [][]string{nil, {"X-Api-Key", ""}, {"X-Api-Key", "a", "X-Api-Key", "b"}} {
		if k, err := f(request("1.2.3.4:1", hdr...)); !errors.Is(err, httplimit.ErrBadRequest) {
			t.Errorf("%q: key %q, error %v; want ErrBadRequest", hdr, k, err)
		}
	}

	// Over HTTP: keys apart, and a missing key answered 400.
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url := serve(t, mustNew(t, l, httplimit.WithKey(f)).Handler(ok))
	if rp := get(t, url, "X-Api-Key", "a"); rp.Status != 200 {
		t.Fatalf("status %d", rp.Status)
	}
	if rp := get(t, url, "X-Api-Key", "b"); rp.Status != 200 {
		t.Fatalf("status %d", rp.Status)
	}
	check429(t, get(t, url, "X-Api-Key", "a"))
	rp := get(t, url)
	p := parseProblem(t, rp)
	if rp.Status != 400 || p.Detail != "missing X-Api-Key header" || p.Type != "about:blank" || p.Title != "Bad Request" {
		t.Errorf("missing key: %d %+v", rp.Status, p)
	}
	if rp.Header.Values("RateLimit") != nil || rp.Header.Values("Retry-After") != nil {
		t.Errorf("a request not decided got rate-limit fields: %v", rp.Header)
	}
}

// TestKeyByPattern: routes of a ServeMux keyed by pattern and method; HEAD
// shares GET's key.
func TestKeyByPattern(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(2)))
	var keys keyLog
	m := mustNew(t, l, httplimit.WithKey(keys.wrap(httplimit.KeyByPattern())))
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", m.Handler(ok))
	mux.Handle("/other/", m.Handler(ok))
	url := serve(t, mux)
	steps := []struct {
		method, path string
		want         int
		key          string
	}{
		{"GET", "/items/1", 200, "route:GET /items/{id}"},
		{"HEAD", "/items/2", 200, "route:GET /items/{id}"},
		{"GET", "/items/3", 429, "route:GET /items/{id}"},
		{"GET", "/other/a", 200, "route:GET /other/"},
		{"POST", "/other/b", 200, "route:POST /other/"},
		{"HEAD", "/other/c", 200, "route:GET /other/"},
		{"GET", "/other/d", 429, "route:GET /other/"},
		{"POST", "/other/e", 200, "route:POST /other/"},
	}
	for i, s := range steps {
		rp := do(t, s.method, url+s.path)
		if rp.Status != s.want || keys.at(i) != s.key {
			t.Errorf("step %d %s %s: status %d key %q, want %d %q", i, s.method, s.path, rp.Status, keys.at(i), s.want, s.key)
		}
		if s.method == "HEAD" && (rp.Body != "" || rp.Header.Get("RateLimit") == "") {
			t.Errorf("HEAD: body %q, RateLimit %q", rp.Body, rp.Header.Get("RateLimit"))
		}
	}

	// Around the whole mux there is no pattern yet: a clear 500.
	l2, _ := memLimiter(t)
	url2 := serve(t, mustNew(t, l2, httplimit.WithKey(httplimit.KeyByPattern())).Handler(mux))
	rp := get(t, url2+"/items/1")
	if p := parseProblem(t, rp); rp.Status != 500 || strings.Contains(p.Detail, "pattern") {
		t.Errorf("status %d, problem %+v: want 500 without internals", rp.Status, p)
	}
	if k, err := httplimit.KeyByPattern()(request("1.2.3.4:1")); err == nil || !strings.Contains(err.Error(), "wrap each route's handler") {
		t.Errorf("no pattern: key %q, error %v", k, err)
	}
	r := request("1.2.3.4:1")
	r.Method, r.Pattern = "", "/x"
	if k, _ := httplimit.KeyByPattern()(r); k != "route:GET /x" {
		t.Errorf("no method: key %q", k)
	}
	r.Pattern = "POST\t example.com/y"
	if k, _ := httplimit.KeyByPattern()(r); k != "route:POST example.com/y" {
		t.Errorf("pattern with a host: key %q", k)
	}
}

// TestKeyByPatternNoMethodAfterBlank: http.ServeMux reads a pattern as
// "[METHOD ][HOST]/[PATH]", where the method ends at the first space or
// tab, so " /items" (and "\t/items") is a pattern with an empty method:
// ServeMux routes every method to it. As for "/items", the key then takes
// the request's method, HEAD counting as GET, and GET and POST have
// separate budgets.
func TestKeyByPatternNoMethodAfterBlank(t *testing.T) {
	for _, pattern := range []string{" /items", "\t /items"} {
		var keys keyLog
		mux := http.NewServeMux()
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if _, err := keys.wrap(httplimit.KeyByPattern())(r); err != nil {
				t.Errorf("%q: %v", r.Pattern, err)
			}
		})
		for _, method := range []string{"GET", "POST", "HEAD"} {
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/items", nil))
		}
		for i, want := range []string{"route:GET /items", "route:POST /items", "route:GET /items"} {
			if got := keys.at(i); got != want {
				t.Errorf("pattern %q, request %d: key %q, want %q", pattern, i, got, want)
			}
		}
	}
}

func TestJoinKeys(t *testing.T) {
	c := func(s string) httplimit.KeyFunc {
		return func(*http.Request) (string, error) { return s, nil }
	}
	r := request("1.2.3.4:1")
	seen := map[string][]string{}
	for _, parts := range [][]string{
		{"a|b", "c"}, {"a", "b|c"}, {"a", "b", "c"}, {`a\`, "b"}, {"a", `\b`}, {`a\|b`}, {`a\`, `|b`}, {"a|", "b"}, {"a", "|b"}, {"", "a"}, {"a", ""}, {"a|b"}, {`a\`, `\`, "b"},
	} {
		fs := make([]httplimit.KeyFunc, len(parts))
		for i, p := range parts {
			fs[i] = c(p)
		}
		k, err := httplimit.JoinKeys(fs...)(r)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%q and %q both join to %q", prev, parts, k)
		}
		seen[k] = parts
	}
	k, _ := httplimit.JoinKeys(httplimit.KeyByPattern(), mustKeyByIP(t))(func() *http.Request {
		r := request("1.2.3.4:1")
		r.Pattern = "GET /a|b"
		return r
	}())
	if k != `route:GET /a\|b|ip:1.2.3.4` {
		t.Errorf("key %q", k)
	}
	if _, err := httplimit.JoinKeys(c("a"), httplimit.KeyByHeader("X-Key"))(r); !errors.Is(err, httplimit.ErrBadRequest) {
		t.Errorf("error %v, want the key function's", err)
	}
	for _, fs := range [][]httplimit.KeyFunc{nil, {c("a"), nil}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("JoinKeys(%d functions, a nil one or none) did not panic", len(fs))
				}
			}()
			httplimit.JoinKeys(fs...)
		}()
	}
}
