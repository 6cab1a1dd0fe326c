package httplimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

var algorithms = []throttled.Algorithm{throttled.FixedWindow, throttled.SlidingWindow, throttled.TokenBucket, throttled.LeakingBucket, throttled.GCRA}

// wantFields checks the RateLimit and RateLimit-Policy fields of rp exactly
// against the limiter's state at the clock's time: r is each quota's
// Remaining as a peek shows it; t is the Retry-After of a quota that denied
// the request (found by deciding the same request again, which charges
// nothing as it is denied), else its ResetAfter, both rounded up, and left
// out at 0; the policy items are the limiter's quotas.
func wantFields(t *testing.T, rp reply, l *throttled.Limiter, key string, cost int64, names ...string) {
	t.Helper()
	ctx := context.Background()
	peek, err := l.Limit(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	var again throttled.Result
	if rp.Status == http.StatusTooManyRequests {
		if again, err = l.Limit(ctx, key, cost); err != nil || !again.Limited {
			t.Fatalf("the denied request decided again: %v, %v; want denied again", again, err)
		}
	}
	states := []throttled.QuotaState{{Quota: l.Quotas()[0], State: peek.State}}
	if peek.Quotas != nil {
		states = peek.Quotas
	}
	items := parseLimit(t, rp.Header)
	if len(items) != len(states) {
		t.Fatalf("RateLimit %q: %d items for %d quotas", rp.Header.Values("RateLimit"), len(items), len(states))
	}
	for i, it := range items {
		st := states[i].State
		want := limitItem{Name: names[i], R: st.Remaining, T: secs(st.ResetAfter)}
		if rp.Status == http.StatusTooManyRequests {
			limited, ra := again.Limited, again.State.RetryAfter
			if again.Quotas != nil {
				limited, ra = again.Quotas[i].Limited, again.Quotas[i].State.RetryAfter
			}
			if limited && ra != throttled.Never {
				want.T = secs(ra)
			}
		}
		if want.T == 0 {
			want.T = -1
		}
		if it != want {
			t.Errorf("RateLimit item %d = %+v, want %+v (state %v)", i, it, want, st)
		}
	}
	pols := parsePolicy(t, rp.Header)
	if len(pols) != len(states) {
		t.Fatalf("RateLimit-Policy %q: %d items for %d quotas", rp.Header.Values("RateLimit-Policy"), len(pols), len(states))
	}
	for i, q := range l.Quotas() {
		want := policyItem{Name: names[i], Q: q.Limit, W: secs(q.Period), Burst: -1}
		if q.Algorithm != throttled.FixedWindow && q.Algorithm != throttled.SlidingWindow && q.EffectiveBurst() != q.Limit {
			want.Burst = q.EffectiveBurst()
		}
		if pols[i] != want {
			t.Errorf("RateLimit-Policy item %d = %+v, want %+v", i, pols[i], want)
		}
	}
	if rp.Status == http.StatusTooManyRequests {
		if ra := retryAfter(t, rp.Header); again.State.RetryAfter == throttled.Never && ra != -1 || again.State.RetryAfter != throttled.Never && ra != secs(again.State.RetryAfter) {
			t.Errorf("Retry-After %d for RetryAfter %v", ra, again.State.RetryAfter)
		}
	} else if ra := retryAfter(t, rp.Header); ra != -1 {
		t.Errorf("Retry-After %d on a %d", ra, rp.Status)
	}
}

// TestFieldsTimeline checks the fields of one quota request by request
// against values worked out by hand from the algorithms' definitions (not
// read from the limiter), at one instant and after the clock moves.
func TestFieldsTimeline(t *testing.T) {
	type step struct {
		advance time.Duration // clock move before the request
		status  int
		r, t    int64 // t -1: none
		retry   int64 // Retry-After, -1: none
	}
	cases := []struct {
		alg    throttled.Algorithm
		quota  throttled.Quota
		policy string
		steps  []step
	}{
		{
			// GCRA, 5/s burst 10: one unit back every 200 ms.
			throttled.GCRA, throttled.PerSec(5).WithBurst(10), `"default";q=5;w=1;throttled-burst=10`,
			[]step{
				{0, 200, 9, 1, -1},                     // reset after 200 ms → 1 s
				{0, 200, 8, 1, -1},                     // 400 ms
				{0, 200, 7, 1, -1},                     // 600 ms
				{0, 200, 6, 1, -1},                     // 800 ms
				{0, 200, 5, 1, -1},                     // 1 s exactly
				{0, 200, 4, 2, -1},                     // 1.2 s
				{0, 200, 3, 2, -1},                     //
				{0, 200, 2, 2, -1},                     //
				{0, 200, 1, 2, -1},                     //
				{0, 200, 0, 2, -1},                     // 2 s
				{0, 429, 0, 1, 1},                      // retry after 200 ms → 1
				{199 * time.Millisecond, 429, 0, 1, 1}, // 1 ms left → 1
				{time.Millisecond, 200, 0, 2, -1},      // 2 s again
				{2 * time.Second, 200, 9, 1, -1},       // whole again, then one taken
			},
		},
		{
			// Fixed window, 3 per 2 s: all back at the window's end.
			throttled.FixedWindow, throttled.PerDuration(2*time.Second, 3), `"default";q=3;w=2`,
			[]step{
				{0, 200, 2, 2, -1},
				{500 * time.Millisecond, 200, 1, 2, -1}, // 1.5 s to the end → 2
				{500 * time.Millisecond, 200, 0, 1, -1}, // 1 s
				{0, 429, 0, 1, 1},
				{999 * time.Millisecond, 429, 0, 1, 1}, // 1 ms → 1
				{time.Millisecond, 200, 2, 2, -1},      // a new window
			},
		},
		{
			// Token bucket, 2 per 1.5 s (w rounds up to 2), burst 2: a unit
			// back every 750 ms.
			throttled.TokenBucket, throttled.PerDuration(1500*time.Millisecond, 2), `"default";q=2;w=2`,
			[]step{
				{0, 200, 1, 1, -1}, // 750 ms
				{0, 200, 0, 2, -1}, // 1.5 s
				{0, 429, 0, 1, 1},  // 750 ms
				{750 * time.Millisecond, 200, 0, 2, -1},
			},
		},
		{
			// Sliding window, 2/s: the estimate is ⌊prev·(1s−e)/1s⌋ + curr,
			// e the time into the window; the state is whole once the
			// weighted prev floors to 0.
			throttled.SlidingWindow, throttled.PerSec(2), `"default";q=2;w=1`,
			[]step{
				{0, 200, 1, 2, -1},                // reset at 1 s + 1 µs, when ⌊1·(1s−e)/1s⌋ = 0
				{0, 200, 0, 2, -1},                // reset at 1.5 s + 1 µs
				{0, 429, 0, 2, 2},                 // next window, e ≥ 1 µs: ⌊2·(1s−e)/1s⌋ + 1 ≤ 2
				{time.Second, 429, 0, 1, 1},       // e = 0: 1 µs more
				{time.Microsecond, 200, 0, 1, -1}, // admitted; reset 1 s on
			},
		},
	}
	for _, c := range cases {
		t.Run(c.alg.String(), func(t *testing.T) {
			l, clk := memLimiter(t, throttled.WithAlgorithm(c.alg), throttled.WithQuota(c.quota))
			url := serve(t, mustNew(t, l).Handler(ok))
			for i, s := range c.steps {
				clk.Advance(s.advance)
				rp := get(t, url)
				if rp.Status != s.status {
					t.Fatalf("step %d: status %d, want %d", i, rp.Status, s.status)
				}
				items := parseLimit(t, rp.Header)
				if want := (limitItem{"default", s.r, s.t}); len(items) != 1 || items[0] != want {
					t.Errorf("step %d: RateLimit %q, want %+v", i, rp.Header.Values("RateLimit"), want)
				}
				if got := rp.Header.Get("RateLimit-Policy"); got != c.policy {
					t.Errorf("step %d: RateLimit-Policy %q, want %q", i, got, c.policy)
				}
				parsePolicy(t, rp.Header)
				if ra := retryAfter(t, rp.Header); ra != s.retry {
					t.Errorf("step %d: Retry-After %d, want %d", i, ra, s.retry)
				}
				if s.status == 429 {
					check429(t, rp)
				} else if rp.Body != "ok" {
					t.Errorf("step %d: body %q", i, rp.Body)
				}
			}
		})
	}
}

// TestFieldsMatchState drives every algorithm with random costs and clock
// moves, and checks each response's fields against the limiter's state.
func TestFieldsMatchState(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			l, clk := memLimiter(t, throttled.WithAlgorithm(alg), throttled.WithQuota(throttled.PerDuration(2500*time.Millisecond, 7).WithBurst(9)))
			m := mustNew(t, l, httplimit.WithCost(costHeader))
			url := serve(t, m.Handler(ok))
			rng := rand.New(rand.NewPCG(1, uint64(alg)))
			denied := 0
			for i := range 60 {
				clk.Advance(time.Duration(rng.IntN(900)) * time.Millisecond)
				cost := int64(rng.IntN(4))
				rp := get(t, url, "X-Cost", strconv.FormatInt(cost, 10))
				if rp.Status == 429 {
					denied++
					check429(t, rp)
				} else if rp.Status != 200 {
					t.Fatalf("request %d: status %d %q", i, rp.Status, rp.Body)
				}
				wantFields(t, rp, l, "ip:127.0.0.1", cost, "default")
			}
			if denied == 0 {
				t.Errorf("no request denied: the test exercised no 429")
			}
		})
	}
}

// costHeader is a cost function reading X-Cost (default 1).
func costHeader(r *http.Request) (int64, error) {
	s := r.Header.Get("X-Cost")
	if s == "" {
		return 1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// TestRetryAfterIsExact: a client that waits Retry-After is admitted, one
// that comes back a second sooner is not, on every algorithm, for costs up
// to the burst, with periods that are not whole seconds.
func TestRetryAfterIsExact(t *testing.T) {
	for _, alg := range algorithms {
		for _, q := range []throttled.Quota{
			throttled.PerDuration(1500*time.Millisecond, 3).WithBurst(5),
			throttled.PerMin(10),
			throttled.PerDuration(300*time.Millisecond, 7),
		} {
			t.Run(fmt.Sprintf("%s/%s", alg, q), func(t *testing.T) {
				l, clk := memLimiter(t, throttled.WithAlgorithm(alg), throttled.WithQuota(q))
				url := serve(t, mustNew(t, l, httplimit.WithCost(costHeader)).Handler(ok))
				rng := rand.New(rand.NewPCG(2, uint64(alg)))
				for round := range 12 {
					cost := strconv.Itoa(1 + rng.IntN(int(min(q.Limit, 3))))
					var rp reply
					for n := 0; ; n++ {
						if rp = get(t, url, "X-Cost", cost); rp.Status != 200 {
							break
						}
						if n > 100 {
							t.Fatal("never denied")
						}
					}
					check429(t, rp)
					ra := retryAfter(t, rp.Header)
					if ra < 1 {
						t.Fatalf("round %d: Retry-After %d on a 429", round, ra)
					}
					clk.Advance(time.Duration(ra-1) * time.Second)
					if early := get(t, url, "X-Cost", cost); early.Status != 429 {
						t.Fatalf("round %d: a client %d s early (Retry-After %d) got %d", round, 1, ra, early.Status)
					}
					clk.Advance(time.Second)
					if rp := get(t, url, "X-Cost", cost); rp.Status != 200 {
						t.Fatalf("round %d: a client obeying Retry-After %d got %d", round, ra, rp.Status)
					}
					clk.Advance(time.Duration(rng.IntN(700)) * time.Millisecond)
				}
			})
		}
	}
}

// TestSeveralQuotas: one item per quota, in order, with their names;
// violated-policies names the quotas that denied; Retry-After is the
// latest of theirs, and a client obeying it is admitted.
func TestSeveralQuotas(t *testing.T) {
	l, clk := memLimiter(t,
		throttled.WithAlgorithm(throttled.GCRA),
		throttled.WithQuotas(
			throttled.PerSec(5).WithBurst(10).WithName("burst"),
			throttled.PerDay(20).WithAlgorithm(throttled.FixedWindow).WithName("daily"),
			throttled.PerMin(100).WithAlgorithm(throttled.SlidingWindow),
		))
	url := serve(t, mustNew(t, l).Handler(ok))
	names := []string{"burst", "daily", "quota3"}
	key := "ip:127.0.0.1"

	rp := get(t, url)
	wantFields(t, rp, l, key, 1, names...)
	if got, want := rp.Header.Get("RateLimit-Policy"), `"burst";q=5;w=1;throttled-burst=10, "daily";q=20;w=86400, "quota3";q=100;w=60`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := rp.Header.Get("RateLimit"), `"burst";r=9;t=1, "daily";r=19;t=86400, "quota3";r=99;t=61`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	for range 9 {
		wantFields(t, get(t, url), l, key, 1, names...)
	}
	// The burst is spent: the burst quota alone denies.
	rp = get(t, url)
	p := check429(t, rp)
	wantFields(t, rp, l, key, 1, names...)
	if !reflect.DeepEqual(p.ViolatedPolicies, []string{"burst"}) || retryAfter(t, rp.Header) != 1 {
		t.Errorf("violated %q, Retry-After %d; want [burst], 1", p.ViolatedPolicies, retryAfter(t, rp.Header))
	}
	if got, want := rp.Header.Get("RateLimit"), `"burst";r=0;t=1, "daily";r=10;t=86400, "quota3";r=90;t=115`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	// Ten more, two seconds later and 200 ms apart, so the burst quota
	// keeps room: the daily quota is spent, and denies alone.
	clk.Advance(2 * time.Second)
	for range 10 {
		if rp := get(t, url); rp.Status != 200 {
			t.Fatalf("status %d", rp.Status)
		}
		clk.Advance(200 * time.Millisecond)
	}
	rp = get(t, url)
	p = check429(t, rp)
	wantFields(t, rp, l, key, 1, names...)
	if want := int64(86400 - 4); !reflect.DeepEqual(p.ViolatedPolicies, []string{"daily"}) || retryAfter(t, rp.Header) != want {
		t.Errorf("violated %q, Retry-After %d; want [daily], %d", p.ViolatedPolicies, retryAfter(t, rp.Header), want)
	}
	// A second early the day is not over; at its end the request passes.
	clk.Advance((86400 - 4 - 1) * time.Second)
	if rp := get(t, url); rp.Status != 429 {
		t.Fatalf("a second before the day's end: status %d, want 429", rp.Status)
	}
	clk.Advance(time.Second)
	if rp := get(t, url); rp.Status != 200 {
		t.Fatalf("at the day's end: status %d, want 200", rp.Status)
	}
}

// TestSeveralQuotasDeny: when two quotas deny, both are violated and
// Retry-After is the later of their retry times.
func TestSeveralQuotasDeny(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.FixedWindow), throttled.WithQuotas(
		throttled.PerMin(2).WithName("minute"),
		throttled.PerHour(2).WithName("hour"),
	))
	url := serve(t, mustNew(t, l).Handler(ok))
	clk.Advance(30 * time.Second)
	get(t, url)
	get(t, url)
	rp := get(t, url)
	p := check429(t, rp)
	wantFields(t, rp, l, "ip:127.0.0.1", 1, "minute", "hour")
	if !reflect.DeepEqual(p.ViolatedPolicies, []string{"minute", "hour"}) {
		t.Errorf("violated %q, want [minute hour]", p.ViolatedPolicies)
	}
	if got, want := rp.Header.Get("RateLimit"), `"minute";r=0;t=30, "hour";r=0;t=3570`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	if ra := retryAfter(t, rp.Header); ra != 3570 {
		t.Errorf("Retry-After %d, want 3570", ra)
	}
	if p.Detail != `Quotas "minute", "hour" exceeded: retry in 3570 s.` {
		t.Errorf("detail %q", p.Detail)
	}
}

// TestNeverPasses: a cost above a quota's capacity is denied without
// Retry-After, as no wait would help.
func TestNeverPasses(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithAlgorithm(throttled.TokenBucket), throttled.WithQuota(throttled.PerSec(5).WithName("api")))
	url := serve(t, mustNew(t, l, httplimit.WithCost(costHeader)).Handler(ok))
	get(t, url) // one unit used, so the quota has a reset time
	rp := get(t, url, "X-Cost", "6")
	p := check429(t, rp)
	if p.RetryAfter != nil || retryAfter(t, rp.Header) != -1 {
		t.Errorf("retry-after %v, Retry-After %d: want none", p.RetryAfter, retryAfter(t, rp.Header))
	}
	if p.Detail != `Quota "api" cannot ever admit a request of cost 6.` || !reflect.DeepEqual(p.ViolatedPolicies, []string{"api"}) {
		t.Errorf("problem %+v", p)
	}
	wantFields(t, rp, l, "ip:127.0.0.1", 6, "api")
}

// TestLegacyHeaders: X-RateLimit-* describe the quota with the least
// remaining, Reset in delta seconds.
func TestLegacyHeaders(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.FixedWindow), throttled.WithQuotas(
		throttled.PerMin(3).WithName("minute"),
		throttled.PerHour(10).WithName("hour"),
	))
	url := serve(t, mustNew(t, l, httplimit.WithLegacyHeaders()).Handler(ok))
	clk.Advance(20 * time.Second)
	legacy := func(rp reply) string {
		return rp.Header.Get("X-RateLimit-Limit") + " " + rp.Header.Get("X-RateLimit-Remaining") + " " + rp.Header.Get("X-RateLimit-Reset")
	}
	want := []string{"3 2 40", "3 1 40", "3 0 40", "3 0 40"} // the minute binds; its window ends in 40 s
	for i, w := range want {
		rp := get(t, url)
		if got := legacy(rp); got != w {
			t.Errorf("request %d: X-RateLimit %q, want %q", i, got, w)
		}
		if i == 3 && rp.Status != 429 {
			t.Errorf("request %d: status %d", i, rp.Status)
		}
	}
	// A minute on, a new minute window: after one more request the minute
	// has 2 left and the hour 6; the minute, with the least, binds.
	clk.Advance(time.Minute)
	if got := legacy(get(t, url)); got != "3 2 40" {
		t.Errorf("next minute: X-RateLimit %q, want %q", got, "3 2 40")
	}

	// A tie for the least Remaining: the fields describe one quota, the
	// first with the least, whose Limit Result.State reports. Token
	// buckets, "a" 6 a minute and "b" 8 an hour, b charged twice before by
	// a limiter holding only b (identical quotas share a key's state):
	// after one request both have 5 left; a's Limit is 6 and its missing
	// token is back in 10 s (b's three in 1350 s).
	clk2 := store.NewFakeClock(t0)
	mem, err := memstore.New(memstore.WithClock(clk2))
	if err != nil {
		t.Fatal(err)
	}
	b := throttled.PerHour(8).WithName("b")
	lb := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuota(b))
	if _, err := lb.Limit(context.Background(), "ip:127.0.0.1", 2); err != nil {
		t.Fatal(err)
	}
	lab := throttled.MustNew(throttled.WithStore(mem), throttled.WithQuotas(throttled.PerMin(6).WithName("a"), b))
	rp := get(t, serve(t, mustNew(t, lab, httplimit.WithLegacyHeaders()).Handler(ok)))
	if got, want := rp.Header.Get("RateLimit"), `"a";r=5;t=10, "b";r=5;t=1350`; got != want {
		t.Fatalf("tie: RateLimit %q, want %q", got, want)
	}
	if got := legacy(rp); got != "6 5 10" {
		t.Errorf("tie: X-RateLimit %q, want %q (quota a's, the first with the least)", got, "6 5 10")
	}

	// One quota: its state.
	l1, _ := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerSec(2).WithBurst(4)))
	url1 := serve(t, mustNew(t, l1, httplimit.WithLegacyHeaders()).Handler(ok))
	for i, w := range []string{"4 3 1", "4 2 1", "4 1 2", "4 0 2", "4 0 1"} {
		if got := legacy(get(t, url1)); got != w {
			t.Errorf("one quota, request %d: X-RateLimit %q, want %q", i, got, w)
		}
	}
}

// TestQuotaUnit: qu is sent when set.
func TestQuotaUnit(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1000).WithName("bytes")))
	url := serve(t, mustNew(t, l, httplimit.WithQuotaUnit("content-bytes"), httplimit.WithCost(costHeader)).Handler(ok))
	rp := get(t, url, "X-Cost", "100")
	if got, want := rp.Header.Get("RateLimit-Policy"), `"bytes";q=1000;qu="content-bytes";w=60`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got := parsePolicy(t, rp.Header); got[0].Unit != "content-bytes" {
		t.Errorf("qu %q", got[0].Unit)
	}
	if got := parseLimit(t, rp.Header); got[0].R != 900 {
		t.Errorf("r %d, want 900", got[0].R)
	}
}

// TestQuotaNames: names are escaped as sf-strings; names that cannot be
// sent, or that two quotas share, are refused by New.
func TestQuotaNames(t *testing.T) {
	// Printable ASCII is 0x20 (space) to 0x7e (~), both ends allowed.
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(5).WithName(`say "hi" \o/ ~`)))
	rp := get(t, serve(t, mustNew(t, l).Handler(ok)))
	if got := parseLimit(t, rp.Header)[0].Name; got != `say "hi" \o/ ~` {
		t.Errorf("name %q", got)
	}
	if got := parsePolicy(t, rp.Header)[0].Name; got != `say "hi" \o/ ~` {
		t.Errorf("policy name %q", got)
	}
	if _, err := httplimit.New(l, httplimit.WithQuotaUnit("~ ~")); err != nil {
		t.Errorf("quota unit %q: %v", "~ ~", err)
	}
	for _, qs := range [][]throttled.Quota{
		{throttled.PerMin(5).WithName("täglich")},
		{throttled.PerMin(5).WithName("tab\there")},
		{throttled.PerMin(5).WithName("a"), throttled.PerHour(50).WithName("a")},
		{throttled.PerMin(5), throttled.PerHour(50).WithName("quota1")},
	} {
		l, _ := memLimiter(t, throttled.WithQuotas(qs...))
		if _, err := httplimit.New(l); err == nil {
			t.Errorf("New with quotas %v: no error", qs)
		}
	}
}

// TestQuotaFunc: a limiter whose quotas come from a function: the fields
// come from the decision (Result.Quotas, or Result.Quota with one quota).
func TestQuotaFunc(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithAlgorithm(throttled.FixedWindow), throttled.WithQuotaFunc(func(_ context.Context, key string) ([]throttled.Quota, error) {
		return []throttled.Quota{throttled.PerMin(3).WithName("minute"), throttled.PerHour(5), throttled.PerDay(9).WithName("jour\u00e9")}, nil
	}))
	url := serve(t, mustNew(t, l).Handler(ok))
	rp := get(t, url)
	if got, want := rp.Header.Get("RateLimit-Policy"), `"minute";q=3;w=60, "quota2";q=5;w=3600, "quota3";q=9;w=86400`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := rp.Header.Get("RateLimit"), `"minute";r=2;t=60, "quota2";r=4;t=3600, "quota3";r=8;t=86400`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	parsePolicy(t, rp.Header)
	get(t, url)
	get(t, url)
	p := check429(t, get(t, url))
	if !reflect.DeepEqual(p.ViolatedPolicies, []string{"minute"}) {
		t.Errorf("violated %q", p.ViolatedPolicies)
	}

	l1, _ := memLimiter(t, throttled.WithAlgorithm(throttled.FixedWindow), throttled.WithQuotaFunc(func(_ context.Context, key string) ([]throttled.Quota, error) {
		return []throttled.Quota{throttled.PerMin(1).WithName("minute")}, nil
	}))
	url1 := serve(t, mustNew(t, l1).Handler(ok))
	rp = get(t, url1)
	if got, want := rp.Header.Get("RateLimit-Policy"), `"minute";q=1;w=60`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := rp.Header.Get("RateLimit"), `"minute";r=0;t=60`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	p = check429(t, get(t, url1))
	if !reflect.DeepEqual(p.ViolatedPolicies, []string{"minute"}) {
		t.Errorf("violated %q", p.ViolatedPolicies)
	}
}
