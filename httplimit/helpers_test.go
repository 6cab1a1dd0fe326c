package httplimit_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// t0 is the fake clocks' start, 2026-01-01T00:00:00Z: a multiple of every
// period the tests use, so fixed windows start there.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// memLimiter returns a limiter on a fresh memory store with a fake clock
// reading t0, and the clock.
func memLimiter(t testing.TB, opts ...throttled.Option) (*throttled.Limiter, *store.FakeClock) {
	t.Helper()
	clk := store.NewFakeClock(t0)
	mem, err := memstore.New(memstore.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	l, err := throttled.New(append([]throttled.Option{throttled.WithStore(mem)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

// mustNew returns httplimit.New(l, opts...), failing the test on an error.
func mustNew(t testing.TB, l *throttled.Limiter, opts ...httplimit.Option) *httplimit.Middleware {
	t.Helper()
	m, err := httplimit.New(l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ok is the limited handler of most tests: it answers 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// serve starts a real HTTP server on loopback running h, closed when the
// test ends, and returns its URL.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// client is the HTTP client of the tests: a real one, with a deadline so a
// hung server fails the test in seconds.
var client = &http.Client{Timeout: 10 * time.Second}

// reply is a response as the tests check it: status, fields, body.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

// do sends method url with the header fields hdr (name, value pairs) and
// returns the reply.
func do(t testing.TB, method, url string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(body)}
}

// get is do(t, "GET", url, hdr...).
func get(t testing.TB, url string, hdr ...string) reply { t.Helper(); return do(t, "GET", url, hdr...) }

// limitItem is one item of the RateLimit field.
type limitItem struct {
	Name string
	R    int64
	T    int64 // -1: no t
}

// policyItem is one item of the RateLimit-Policy field.
type policyItem struct {
	Name  string
	Q, W  int64
	Burst int64  // throttled-burst; -1: none
	Unit  string // qu; "" none
}

// parseLimit parses the RateLimit field of h strictly: a List of String
// items, each with an Integer r ≥ 0 and at most an Integer t ≥ 0, no other
// parameter, no name twice.
func parseLimit(t testing.TB, h http.Header) []limitItem {
	t.Helper()
	members, err := parseSFList(h.Values("RateLimit")...)
	if err != nil {
		t.Fatalf("RateLimit %q: %v", h.Values("RateLimit"), err)
	}
	var items []limitItem
	seen := map[string]bool{}
	for _, m := range members {
		it, ok := m.(sfItem)
		name, isStr := it.Value.(string)
		if !ok || !isStr {
			t.Fatalf("RateLimit %q: member %v is not a String item", h.Values("RateLimit"), m)
		}
		if seen[name] {
			t.Fatalf("RateLimit %q: %q twice", h.Values("RateLimit"), name)
		}
		seen[name] = true
		li := limitItem{Name: name, T: -1}
		for _, p := range it.Params {
			v, isInt := p.Value.(int64)
			if !isInt || v < 0 {
				t.Fatalf("RateLimit %q: %s=%v is not a non-negative Integer", h.Values("RateLimit"), p.Key, p.Value)
			}
			switch p.Key {
			case "r":
				li.R = v
			case "t":
				li.T = v
			default:
				t.Fatalf("RateLimit %q: unexpected parameter %s", h.Values("RateLimit"), p.Key)
			}
		}
		if _, has := it.param("r"); !has {
			t.Fatalf("RateLimit %q: %q has no r", h.Values("RateLimit"), name)
		}
		items = append(items, li)
	}
	if len(items) == 0 {
		t.Fatalf("RateLimit %q: no item", h.Values("RateLimit"))
	}
	return items
}

// parsePolicy parses the RateLimit-Policy field of h strictly: String
// items with an Integer q ≥ 0 and w > 0, optionally qu (a String) and
// throttled-burst (an Integer > 0), nothing else, no name twice.
func parsePolicy(t testing.TB, h http.Header) []policyItem {
	t.Helper()
	vals := h.Values("RateLimit-Policy")
	members, err := parseSFList(vals...)
	if err != nil {
		t.Fatalf("RateLimit-Policy %q: %v", vals, err)
	}
	var items []policyItem
	seen := map[string]bool{}
	for _, m := range members {
		it, ok := m.(sfItem)
		name, isStr := it.Value.(string)
		if !ok || !isStr {
			t.Fatalf("RateLimit-Policy %q: member %v is not a String item", vals, m)
		}
		if seen[name] {
			t.Fatalf("RateLimit-Policy %q: %q twice", vals, name)
		}
		seen[name] = true
		pi := policyItem{Name: name, Q: -1, W: -1, Burst: -1}
		for _, p := range it.Params {
			switch p.Key {
			case "q", "w", "throttled-burst":
				v, isInt := p.Value.(int64)
				if !isInt || v < 0 || (p.Key != "q" && v == 0) {
					t.Fatalf("RateLimit-Policy %q: %s=%v is not a valid Integer", vals, p.Key, p.Value)
				}
				switch p.Key {
				case "q":
					pi.Q = v
				case "w":
					pi.W = v
				default:
					pi.Burst = v
				}
			case "qu":
				s, isStr := p.Value.(string)
				if !isStr {
					t.Fatalf("RateLimit-Policy %q: qu=%v is not a String", vals, p.Value)
				}
				pi.Unit = s
			default:
				t.Fatalf("RateLimit-Policy %q: unexpected parameter %s", vals, p.Key)
			}
		}
		if pi.Q < 0 {
			t.Fatalf("RateLimit-Policy %q: %q has no q", vals, name)
		}
		items = append(items, pi)
	}
	if len(items) == 0 {
		t.Fatalf("RateLimit-Policy %q: no item", vals)
	}
	return items
}

// retryAfter returns the Retry-After of h in delay-seconds, -1 when absent;
// anything else fails the test.
func retryAfter(t testing.TB, h http.Header) int64 {
	t.Helper()
	vs := h.Values("Retry-After")
	if len(vs) == 0 {
		return -1
	}
	if len(vs) > 1 {
		t.Fatalf("Retry-After sent %d times: %q", len(vs), vs)
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < 0 || strings.TrimSpace(vs[0]) != vs[0] || strings.HasPrefix(vs[0], "+") {
		t.Fatalf("Retry-After %q is not delay-seconds", vs[0])
	}
	return n
}

// problem is an application/problem+json body, every member kept to check
// that no unexpected one is sent.
type problem struct {
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Status           int      `json:"status"`
	Detail           string   `json:"detail"`
	ViolatedPolicies []string `json:"violated-policies"`
	RetryAfter       *int64   `json:"retry-after"`
}

// parseProblem checks that rp is a well-formed problem with rp's status
// and returns it.
func parseProblem(t testing.TB, rp reply) problem {
	t.Helper()
	if ct := rp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (body %q)", ct, rp.Body)
	}
	if cl := rp.Header.Get("Content-Length"); cl != strconv.Itoa(len(rp.Body)) {
		t.Fatalf("Content-Length %q for a body of %d bytes", cl, len(rp.Body))
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(rp.Body), &raw); err != nil {
		t.Fatalf("problem body %q: %v", rp.Body, err)
	}
	for k := range raw {
		switch k {
		case "type", "title", "status", "detail", "violated-policies", "retry-after":
		default:
			t.Fatalf("problem body %q: unexpected member %q", rp.Body, k)
		}
	}
	var p problem
	dec := json.NewDecoder(strings.NewReader(rp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %q: %v", rp.Body, err)
	}
	if p.Type == "" || p.Title == "" || p.Status != rp.Status {
		t.Fatalf("problem %+v for status %d: want type, title and the status", p, rp.Status)
	}
	return p
}

// check429 checks that rp is a well-formed 429: a problem of the draft's
// type whose retry-after equals the Retry-After field, and which names
// violated policies that are items of the RateLimit field.
func check429(t testing.TB, rp reply) problem {
	t.Helper()
	if rp.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429 (body %q)", rp.Status, rp.Body)
	}
	p := parseProblem(t, rp)
	if p.Type != httplimit.TypeQuotaExceeded || p.Title != httplimit.TitleQuotaExceeded {
		t.Fatalf("problem %+v: want the quota-exceeded type and title", p)
	}
	ra := retryAfter(t, rp.Header)
	switch {
	case ra < 0 && p.RetryAfter != nil, ra >= 0 && (p.RetryAfter == nil || *p.RetryAfter != ra):
		t.Fatalf("problem retry-after %v, Retry-After field %d: want them equal", p.RetryAfter, ra)
	case ra == 0:
		t.Fatalf("Retry-After: 0 on a 429")
	}
	names := map[string]bool{}
	for _, it := range parseLimit(t, rp.Header) {
		names[it.Name] = true
	}
	if len(p.ViolatedPolicies) == 0 {
		t.Fatalf("problem %+v: no violated policy", p)
	}
	for _, v := range p.ViolatedPolicies {
		if !names[v] {
			t.Fatalf("violated policy %q is not an item of RateLimit %q", v, rp.Header.Values("RateLimit"))
		}
	}
	return p
}

// ctxTimeout returns a context that ends after d, cancelled with the test.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// secs returns d in seconds rounded up, the rounding the fields use,
// computed independently of the package.
func secs(d time.Duration) int64 {
	n := int64(d / time.Second)
	if d%time.Second != 0 {
		n++
	}
	return n
}
