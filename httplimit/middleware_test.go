package httplimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/httplimit"
)

func TestNewRefuses(t *testing.T) {
	l, _ := memLimiter(t)
	if _, err := httplimit.New(nil); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("nil limiter: %v", err)
	}
	for name, o := range map[string]httplimit.Option{
		"nil option":            nil,
		"nil key":               httplimit.WithKey(nil),
		"nil cost":              httplimit.WithCost(nil),
		"negative wait":         httplimit.WithWait(-time.Second),
		"empty unit":            httplimit.WithQuotaUnit(""),
		"non-ASCII unit":        httplimit.WithQuotaUnit("octets\u00e9"),
		"zero outage retry":     httplimit.WithOutageRetryAfter(0),
		"negative outage retry": httplimit.WithOutageRetryAfter(-time.Second),
		"nil denied handler":    httplimit.WithDeniedHandler(nil),
		"nil error handler":     httplimit.WithErrorHandler(nil),
	} {
		if _, err := httplimit.New(l, o); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
	m := mustNew(t, l)
	defer func() {
		if recover() == nil {
			t.Error("Handler(nil) did not panic")
		}
	}()
	m.Handler(nil)
}

// TestMethods: CORS preflights pass uncharged by default; HEAD is limited
// like GET and its 429 has the fields and no body; WithSkip(nil) limits
// preflights too.
func TestMethods(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url := serve(t, mustNew(t, l).Handler(ok))
	preflight := []string{"Origin", "https://example.com", "Access-Control-Request-Method", "POST"}
	for range 3 {
		rp := do(t, "OPTIONS", url, preflight...)
		if rp.Status != 200 || rp.Header.Get("RateLimit") != "" {
			t.Fatalf("preflight: status %d, RateLimit %q; want 200 without fields", rp.Status, rp.Header.Get("RateLimit"))
		}
	}
	if rp := do(t, "HEAD", url); rp.Status != 200 || rp.Header.Get("RateLimit") != `"default";r=0;t=60` {
		t.Fatalf("HEAD: status %d, RateLimit %q", rp.Status, rp.Header.Get("RateLimit"))
	}
	rp := do(t, "HEAD", url)
	if rp.Status != 429 || rp.Body != "" || retryAfter(t, rp.Header) != 60 || rp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("HEAD over quota: status %d, body %q, fields %v", rp.Status, rp.Body, rp.Header)
	}
	// The GET twin shows the same fields and the body HEAD announced.
	g := get(t, url)
	check429(t, g)
	if g.Header.Get("Content-Length") != rp.Header.Get("Content-Length") {
		t.Errorf("Content-Length: HEAD %q, GET %q", rp.Header.Get("Content-Length"), g.Header.Get("Content-Length"))
	}
	// HEAD gets no body, even from a writer that would keep one.
	rec := httptest.NewRecorder()
	head := httptest.NewRequest("HEAD", "/", nil)
	head.RemoteAddr = "127.0.0.1:1"
	mustNew(t, l).Handler(ok).ServeHTTP(rec, head)
	if rec.Code != 429 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != g.Header.Get("Content-Length") {
		t.Errorf("HEAD: %d, body %q, Content-Length %q", rec.Code, rec.Body, rec.Header().Get("Content-Length"))
	}
	// A plain OPTIONS, not a preflight, is limited.
	check429(t, do(t, "OPTIONS", url))

	l2, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url2 := serve(t, mustNew(t, l2, httplimit.WithSkip(nil)).Handler(ok))
	do(t, "OPTIONS", url2, preflight...)
	check429(t, do(t, "OPTIONS", url2, preflight...))

	// A skip function of one's own.
	l3, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url3 := serve(t, mustNew(t, l3, httplimit.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" })).Handler(ok))
	for range 3 {
		if rp := get(t, url3+"/healthz"); rp.Status != 200 {
			t.Fatalf("health check: %d", rp.Status)
		}
	}
}

// TestHandlers: the denied and error handlers replace the answers and get
// what they need; the fields are set before them.
func TestHandlers(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuotas(throttled.PerMin(1).WithName("minute"), throttled.PerHour(10).WithName("hour")))
	var mu sync.Mutex
	var denials []*httplimit.Denial
	var errs []*httplimit.Error
	m := mustNew(t, l,
		httplimit.WithCost(costHeader),
		httplimit.WithDeniedHandler(func(w http.ResponseWriter, r *http.Request, d *httplimit.Denial) {
			mu.Lock()
			denials = append(denials, d)
			mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "slow down, %s (RateLimit %s)", d.Key, w.Header().Get("RateLimit"))
		}),
		httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, e *httplimit.Error) {
			mu.Lock()
			errs = append(errs, e)
			mu.Unlock()
			http.Error(w, "nope", http.StatusTeapot)
		}),
	)
	url := serve(t, m.Handler(ok))
	get(t, url)
	rp := get(t, url)
	if rp.Status != 503 || rp.Body != `slow down, ip:127.0.0.1 (RateLimit "minute";r=0;t=60, "hour";r=9;t=360)` || retryAfter(t, rp.Header) != 60 {
		t.Errorf("denied handler: %d %q, Retry-After %q", rp.Status, rp.Body, rp.Header.Get("Retry-After"))
	}
	if rp := get(t, url, "X-Cost", "x"); rp.Status != http.StatusTeapot {
		t.Errorf("error handler: %d %q", rp.Status, rp.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	d := denials[0]
	if d.Key != "ip:127.0.0.1" || d.Cost != 1 || !d.Result.Limited || d.RetryAfter != time.Minute || fmt.Sprint(d.Violated) != "[minute]" {
		t.Errorf("denial %+v", d)
	}
	if p := d.Problem(); p.Status != 429 || p.RetryAfter != 60 || p.Detail != `Quota "minute" exceeded: retry in 60 s.` {
		t.Errorf("denial problem %+v", p)
	}
	e := errs[0]
	if e.Status != 500 || e.Op != "cost" || e.Key != "ip:127.0.0.1" || e.Err == nil || !strings.HasPrefix(e.Error(), "httplimit: cost: ") || errors.Unwrap(e) != e.Err {
		t.Errorf("error %+v", e)
	}
}

// TestFailures: key and cost errors by policy, invalid input 500, never a
// panic; nothing is charged for a request not decided.
func TestFailures(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(5)))
	m := mustNew(t, l, httplimit.WithCost(costHeader), httplimit.WithKey(func(r *http.Request) (string, error) {
		switch r.URL.Path {
		case "/bad":
			return "", fmt.Errorf("%w: no tenant in the path", httplimit.ErrBadRequest)
		case "/broken":
			return "", errors.New("tenant database at 10.1.2.3 is down")
		case "/empty":
			return "", nil
		}
		return "k", nil
	}))
	url := serve(t, m.Handler(ok))
	cases := []struct {
		path, cost string
		status     int
		detail     string
	}{
		{"/bad", "1", 400, "no tenant in the path"},
		{"/broken", "1", 500, "The rate limiter failed; the request was not processed."},
		{"/empty", "1", 500, "The rate limiter failed; the request was not processed."}, // the limiter refuses the empty key
		{"/ok", "-1", 500, "The rate limiter failed; the request was not processed."},   // a negative cost
		{"/ok", "1.5", 500, "The rate limiter failed; the request was not processed."},
		{"/ok", "", 200, ""},
	}
	for _, c := range cases {
		rp := get(t, url+c.path, "X-Cost", c.cost)
		if rp.Status != c.status {
			t.Errorf("%s cost %q: status %d, want %d (%q)", c.path, c.cost, rp.Status, c.status, rp.Body)
			continue
		}
		if c.status == 200 {
			continue
		}
		p := parseProblem(t, rp)
		if p.Detail != c.detail || p.Type != "about:blank" || p.Title != http.StatusText(c.status) || p.RetryAfter != nil {
			t.Errorf("%s: problem %+v", c.path, p)
		}
		if rp.Header.Get("RateLimit") != "" || rp.Header.Get("Retry-After") != "" {
			t.Errorf("%s: a request not decided got fields %v", c.path, rp.Header)
		}
	}
	if st, _ := l.Peek(context.Background(), "k"); st.Remaining != 4 {
		t.Errorf("remaining %d, want 4: only the good request was charged", st.Remaining)
	}
}

// TestClientGone: a client that goes away before its request is decided
// gets a 503 nobody reads, and is charged nothing.
func TestClientGone(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(5)))
	entered := make(chan struct{})
	got := make(chan *httplimit.Error, 1)
	var served atomic.Bool
	m := mustNew(t, l,
		httplimit.WithKey(func(r *http.Request) (string, error) {
			close(entered)
			<-r.Context().Done() // the server notices the client left
			return "k", nil
		}),
		httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, e *httplimit.Error) {
			got <- e
		}),
	)
	url := serve(t, m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Store(true) })))
	ctx, cancel := context.WithCancel(ctxTimeout(t, 10*time.Second))
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	go func() {
		<-entered
		cancel()
	}()
	if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context.Canceled", err)
	}
	select {
	case e := <-got:
		if e.Status != 503 || e.Op != "limit" || !errors.Is(e, context.Canceled) || e.RetryAfter != 0 {
			t.Errorf("error %+v", e)
		}
		if p := e.Problem(); p.Detail != "The request ended before the rate limiter decided it." {
			t.Errorf("problem %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the middleware did not give up on a gone client")
	}
	if served.Load() {
		t.Error("the handler ran")
	}
	if st, _ := l.Peek(context.Background(), "k"); st.Remaining != 5 {
		t.Errorf("remaining %d, want 5: nothing charged", st.Remaining)
	}
}

// TestWriteProblem: the body is the members in order, with a newline.
func TestWriteProblem(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1).WithName("m")))
	url := serve(t, mustNew(t, l).Handler(ok))
	get(t, url)
	rp := get(t, url)
	want := `{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded","status":429,"detail":"Quota \"m\" exceeded: retry in 60 s.","violated-policies":["m"],"retry-after":60}` + "\n"
	if rp.Body != want {
		t.Errorf("body\n%s\nwant\n%s", rp.Body, want)
	}
	if rp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", rp.Header.Get("X-Content-Type-Options"))
	}
}

// TestPerRoute: routes of a ServeMux with middlewares of their own, and a
// chi-style middleware chain (anything that takes a handler).
func TestPerRoute(t *testing.T) {
	search, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1).WithName("search")))
	write, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(2).WithName("write")))
	ms, mw := mustNew(t, search), mustNew(t, write)
	mux := http.NewServeMux()
	mux.Handle("GET /search", ms.Handler(ok))
	mux.Handle("POST /items", mw.Handler(ok))
	mux.Handle("GET /free", ok)
	// A chain as chi builds it: []func(http.Handler) http.Handler.
	chain := []func(http.Handler) http.Handler{ms.Handler, func(h http.Handler) http.Handler { return h }}
	var h http.Handler = ok
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i](h)
	}
	mux.Handle("GET /chained", h)
	url := serve(t, mux)
	steps := []struct {
		method, path string
		want         int
		policy       string
	}{
		{"GET", "/search", 200, `"search";q=1;w=60`},
		{"GET", "/search", 429, `"search";q=1;w=60`},
		{"POST", "/items", 200, `"write";q=2;w=60`},
		{"POST", "/items", 200, `"write";q=2;w=60`},
		{"POST", "/items", 429, `"write";q=2;w=60`},
		{"GET", "/free", 200, ""},
		{"GET", "/chained", 429, `"search";q=1;w=60`}, // the search quota, shared
	}
	for i, s := range steps {
		rp := do(t, s.method, url+s.path)
		if rp.Status != s.want || rp.Header.Get("RateLimit-Policy") != s.policy {
			t.Errorf("step %d %s %s: %d %q, want %d %q", i, s.method, s.path, rp.Status, rp.Header.Get("RateLimit-Policy"), s.want, s.policy)
		}
	}
}

// TestZeroCost: a request of cost 0 passes and reports the state.
func TestZeroCost(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)), throttled.WithCost(0))
	url := serve(t, mustNew(t, l).Handler(ok))
	for range 3 {
		if rp := get(t, url); rp.Status != 200 || rp.Header.Get("RateLimit") != `"default";r=1` {
			t.Fatalf("status %d, RateLimit %q", rp.Status, rp.Header.Get("RateLimit"))
		}
	}
}

// errWriter is a ResponseWriter whose client went away: every Write fails.
type errWriter struct{ h http.Header }

func (e *errWriter) Header() http.Header        { return e.h }
func (e *errWriter) Write([]byte) (int, error)  { return 0, io.ErrClosedPipe }
func (e *errWriter) WriteHeader(statusCode int) {}

func TestWriteProblemWriteError(t *testing.T) {
	w := &errWriter{h: http.Header{}}
	httplimit.WriteProblem(w, request("1.2.3.4:1"), httplimit.Problem{Type: "about:blank", Title: "Teapot", Status: 418})
	if w.h.Get("Content-Type") != "application/problem+json" {
		t.Errorf("fields %v", w.h)
	}
}

// TestHandlerAddsFields: a handler may add field lines of its own (a
// policy of an upstream service) without clobbering the middleware's,
// which share one allocation.
func TestHandlerAddsFields(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(5).WithName("m")))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("RateLimit-Policy", `"upstream";q=9`)
		w.Header().Add("X-RateLimit-Limit", "9")
		w.Header().Add("X-RateLimit-Remaining", "8")
	})
	url := serve(t, mustNew(t, l, httplimit.WithLegacyHeaders()).Handler(h))
	rp := get(t, url)
	want := map[string][]string{
		"Ratelimit-Policy":      {`"m";q=5;w=60`, `"upstream";q=9`},
		"Ratelimit":             {`"m";r=4;t=12`},
		"X-Ratelimit-Limit":     {"5", "9"},
		"X-Ratelimit-Remaining": {"4", "8"},
		"X-Ratelimit-Reset":     {"12"},
	}
	for k, v := range want {
		if got := rp.Header.Values(k); fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	if got := parsePolicy(t, rp.Header); len(got) != 2 {
		t.Errorf("policies %v", got)
	}
}
