package httplimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

// redisLimiter returns a limiter on a real redis-server of its own, deciding
// on a fake clock reading t0, with the server and the store. Keys expire on
// the server's clock, which runs while the fake one stands still: without
// the hour of TTL slack a key could expire (be forgotten) before the fake
// time of its reset.
func redisLimiter(t testing.TB, opts ...throttled.Option) (*throttled.Limiter, *redistest.Server, *redisstore.Store, *store.FakeClock) {
	t.Helper()
	srv := redistest.Standalone(t)
	clk := store.NewFakeClock(t0)
	rs, err := redisstore.FromURL(srv.URL(), redisstore.WithClock(clk), redisstore.WithTimeout(5*time.Second), redisstore.WithTTLSlack(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	l, err := throttled.New(append([]throttled.Option{throttled.WithStore(rs)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l, srv, rs, clk
}

// TestOutageFailClosed: with the store down and the default outage policy,
// requests get 503 with Retry-After and no RateLimit, and the handler does
// not run.
func TestOutageFailClosed(t *testing.T) {
	for _, c := range []struct {
		opts []httplimit.Option
		want int64
	}{
		{nil, 5},
		{[]httplimit.Option{httplimit.WithOutageRetryAfter(1500 * time.Millisecond)}, 2},
	} {
		l, srv, _, _ := redisLimiter(t, throttled.WithQuota(throttled.PerMin(10).WithName("minute")))
		url := serve(t, mustNew(t, l, c.opts...).Handler(ok))
		if rp := get(t, url); rp.Status != 200 || rp.Header.Get("RateLimit") == "" {
			t.Fatalf("before the outage: %d %v", rp.Status, rp.Header)
		}
		srv.Kill()
		rp := get(t, url)
		p := parseProblem(t, rp)
		if rp.Status != 503 || retryAfter(t, rp.Header) != c.want || p.RetryAfter == nil || *p.RetryAfter != c.want || p.Type != "about:blank" || p.Title != "Service Unavailable" {
			t.Errorf("during the outage: %d, Retry-After %q, problem %+v", rp.Status, rp.Header.Get("Retry-After"), p)
		}
		if want := "The rate limiter is unavailable: retry in " + strconv.FormatInt(c.want, 10) + " s."; p.Detail != want {
			t.Errorf("detail %q, want %q", p.Detail, want)
		}
		if rp.Header.Get("RateLimit") != "" || rp.Body == "ok" {
			t.Errorf("during the outage: RateLimit %q, body %q", rp.Header.Get("RateLimit"), rp.Body)
		}
	}
}

// TestOutageFailOpen: requests pass; RateLimit-Policy is sent, RateLimit
// (unknown state) is not.
func TestOutageFailOpen(t *testing.T) {
	l, srv, _, _ := redisLimiter(t, throttled.WithQuota(throttled.PerMin(1).WithName("minute")), throttled.WithOutagePolicy(throttled.FailOpen))
	url := serve(t, mustNew(t, l, httplimit.WithLegacyHeaders()).Handler(ok))
	get(t, url)
	check429(t, get(t, url))
	srv.Kill()
	for range 3 {
		rp := get(t, url)
		if rp.Status != 200 || rp.Body != "ok" {
			t.Fatalf("fail open: %d %q", rp.Status, rp.Body)
		}
		if got := rp.Header.Get("RateLimit-Policy"); got != `"minute";q=1;w=60` {
			t.Errorf("RateLimit-Policy %q", got)
		}
		for _, f := range []string{"RateLimit", "X-RateLimit-Remaining", "Retry-After"} {
			if v := rp.Header.Values(f); v != nil {
				t.Errorf("%s %q sent with an unknown state", f, v)
			}
		}
	}
}

// TestOutageFallBack: the local store decides with the quota divided among
// the instances; the fields tell its state.
func TestOutageFallBack(t *testing.T) {
	l, srv, _, _ := redisLimiter(t, throttled.WithAlgorithm(throttled.FixedWindow),
		throttled.WithQuotas(throttled.PerMin(4).WithName("minute"), throttled.PerHour(100).WithName("hour")),
		throttled.WithOutagePolicy(throttled.FallBack(2)))
	url := serve(t, mustNew(t, l).Handler(ok))
	srv.Kill()
	want := []struct {
		status int
		limit  string
	}{
		{200, `"minute";r=1;t=60, "hour";r=49;t=3600`},
		{200, `"minute";r=0;t=60, "hour";r=48;t=3600`},
		{429, `"minute";r=0;t=60, "hour";r=48;t=3600`},
	}
	for i, w := range want {
		rp := get(t, url)
		if rp.Status != w.status || rp.Header.Get("RateLimit") != w.limit {
			t.Errorf("request %d: %d %q, want %d %q", i, rp.Status, rp.Header.Get("RateLimit"), w.status, w.limit)
		}
		if got := rp.Header.Get("RateLimit-Policy"); got != `"minute";q=4;w=60, "hour";q=100;w=3600` {
			t.Errorf("RateLimit-Policy %q: the configured quotas", got)
		}
		if w.status == 429 {
			check429(t, rp)
		}
	}
}

// TestStoreScriptError: a store error other than an outage (here a key
// holding something else) is a 500, not a panic, and charges nothing.
func TestStoreScriptError(t *testing.T) {
	l, srv, rs, _ := redisLimiter(t, throttled.WithQuota(throttled.PerMin(3)))
	p, err := store.NewPolicy(l.Quotas()[0])
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "HSET", rs.Key("ip:127.0.0.1", p), "f", "v")
	url := serve(t, mustNew(t, l).Handler(ok))
	rp := get(t, url)
	pb := parseProblem(t, rp)
	if rp.Status != 500 || pb.Detail != "The rate limiter failed; the request was not processed." || rp.Header.Get("Retry-After") != "" {
		t.Errorf("%d %v %+v", rp.Status, rp.Header, pb)
	}
	if got := srv.Do(t, "TYPE", rs.Key("ip:127.0.0.1", p)); got != "hash" {
		t.Errorf("the key is now a %s", got)
	}
}
