package httplimit_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// waitSleepers waits until n goroutines sleep on clk, failing the test
// after a few seconds.
func waitSleepers(t *testing.T, clk *store.FakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Sleepers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sleepers on the fake clock, want %d", clk.Sleepers(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// async sends a GET in a goroutine and returns the channel of its reply
// (or error), bounded by ctx.
func async(ctx context.Context, url string) <-chan any {
	ch := make(chan any, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := client.Do(req)
		if err != nil {
			ch <- err
			return
		}
		resp.Body.Close()
		ch <- reply{resp.StatusCode, resp.Header, ""}
	}()
	return ch
}

// TestWaitAdmits: a request over quota waits for its retry time on the
// store's clock, and passes then, not a microsecond before.
func TestWaitAdmits(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerSec(1).WithName("second")))
	var served atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	url := serve(t, mustNew(t, l, httplimit.WithWait(5*time.Second)).Handler(h))
	if rp := get(t, url); rp.Status != 200 {
		t.Fatalf("status %d", rp.Status)
	}
	ch := async(ctxTimeout(t, 10*time.Second), url)
	waitSleepers(t, clk, 1)
	clk.Advance(time.Second - time.Microsecond)
	// A µs early: it must still wait (its Sleep has not returned).
	waitSleepers(t, clk, 1)
	select {
	case r := <-ch:
		t.Fatalf("answered a µs early: %v", r)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Microsecond)
	r := <-ch
	rp, isReply := r.(reply)
	if !isReply || rp.Status != 200 {
		t.Fatalf("after the wait: %v", r)
	}
	if got := rp.Header.Get("RateLimit"); got != `"second";r=0;t=1` {
		t.Errorf("RateLimit %q: the fields of the decision that admitted it", got)
	}
	if served.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", served.Load())
	}
}

// TestWaitExactlyTheBound: a retry time equal to the bound does not exceed
// it: the request waits, and passes when the store's clock gets there.
func TestWaitExactlyTheBound(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerMin(1)))
	url := serve(t, mustNew(t, l, httplimit.WithWait(time.Minute)).Handler(ok))
	if rp := get(t, url); rp.Status != 200 {
		t.Fatalf("first request: status %d", rp.Status)
	}
	ch := async(ctxTimeout(t, 10*time.Second), url) // its retry time is 1 min exactly
	deadline := time.Now().Add(5 * time.Second)
	for clk.Sleepers() != 1 {
		select {
		case r := <-ch:
			t.Fatalf("answered without waiting: %v", r)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sleepers on the fake clock, want 1", clk.Sleepers())
		}
	}
	clk.Advance(time.Minute)
	if rp, isReply := (<-ch).(reply); !isReply || rp.Status != 200 {
		t.Fatalf("after the wait: %+v", rp)
	}
}

// TestWaitTooLong: a retry time beyond the bound is denied at once (on
// the fake clock a wait would never end: the client's 10 s timeout would
// fail the test), as is a request that can never pass; WithWait(0) is
// valid and waits for nothing.
func TestWaitTooLong(t *testing.T) {
	for _, c := range []struct {
		quota throttled.Quota
		wait  time.Duration
		retry int64
	}{
		{throttled.PerSec(1), 999 * time.Millisecond, 1},
		{throttled.PerHour(1), 30 * time.Minute, 3600},
		{throttled.PerSec(1), 0, 1}, // WithWait(0), the default: no waiting
	} {
		l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(c.quota))
		url := serve(t, mustNew(t, l, httplimit.WithWait(c.wait), httplimit.WithCost(costHeader)).Handler(ok))
		get(t, url)
		rp := get(t, url)
		check429(t, rp)
		if retryAfter(t, rp.Header) != c.retry || clk.Sleepers() != 0 {
			t.Errorf("Retry-After %d, %d sleepers; want %d, 0", retryAfter(t, rp.Header), clk.Sleepers(), c.retry)
		}
		if rp := get(t, url, "X-Cost", "2"); rp.Status != 429 || retryAfter(t, rp.Header) != -1 {
			t.Errorf("a cost that never passes: %d, Retry-After %q", rp.Status, rp.Header.Get("Retry-After"))
		}
	}
}

// TestWaitBoundPasses: when the bound passes (on the wall clock) while the
// request waits on the store's, it is denied with the last decision's
// fields.
func TestWaitBoundPasses(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerSec(1)))
	url := serve(t, mustNew(t, l, httplimit.WithWait(50*time.Millisecond)).Handler(ok))
	clk.Advance(500 * time.Millisecond) // the first request's retry time is then 1 s
	get(t, url)
	clk.Advance(999 * time.Millisecond) // 1 ms to wait, which the fake clock never gives
	rp := get(t, url)
	check429(t, rp)
	if retryAfter(t, rp.Header) != 1 || rp.Header.Get("RateLimit") != `"default";r=0;t=1` {
		t.Errorf("Retry-After %q, RateLimit %q", rp.Header.Get("Retry-After"), rp.Header.Get("RateLimit"))
	}
	waitSleepers(t, clk, 0)
}

// TestWaitClientGone: a client that goes away while its request waits
// ends the wait, and is charged nothing.
func TestWaitClientGone(t *testing.T) {
	l, clk := memLimiter(t, throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerSec(1)))
	gone := make(chan *httplimit.Error, 1)
	var served atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	m := mustNew(t, l, httplimit.WithWait(time.Minute), httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, e *httplimit.Error) {
		gone <- e
	}))
	url := serve(t, m.Handler(h))
	get(t, url)
	ctx, cancel := context.WithCancel(ctxTimeout(t, 10*time.Second))
	ch := async(ctx, url)
	waitSleepers(t, clk, 1)
	cancel()
	if err, isErr := (<-ch).(error); !isErr || !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its cancellation", err)
	}
	select {
	case e := <-gone:
		if e.Status != 503 || !errors.Is(e, context.Canceled) {
			t.Errorf("error %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end when the client left")
	}
	waitSleepers(t, clk, 0)
	// Nothing was charged: a second on, exactly one request passes.
	clk.Advance(time.Second)
	if rp := get(t, url); rp.Status != 200 || rp.Header.Get("RateLimit") != `"default";r=0;t=1` {
		t.Errorf("%d %q", rp.Status, rp.Header.Get("RateLimit"))
	}
	if served.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", served.Load())
	}
}

// TestWaitContended runs on the wall clock, the one case the fake clock
// cannot show (Wait measures its bound on the store's clock when that clock
// sleeps, and the fake one never moves by itself): two requests wait for
// the one unit that comes back after 100 ms; one gets it, and the other,
// finding the next unit 100 ms away with 80 ms of its 180 ms bound left,
// is denied at once rather than kept waiting past its bound.
func TestWaitContended(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 100 ms of wall time")
	}
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := throttled.New(throttled.WithStore(mem), throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuota(throttled.PerSec(10).WithBurst(1)))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, mustNew(t, l, httplimit.WithWait(180*time.Millisecond)).Handler(ok))
	start := time.Now()
	if rp := get(t, url); rp.Status != 200 {
		t.Fatalf("status %d", rp.Status)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	a, b := async(ctx, url), async(ctx, url)
	statuses := map[int]int{}
	for _, ch := range []<-chan any{a, b} {
		rp, isReply := (<-ch).(reply)
		if !isReply {
			t.Fatal("a request failed")
		}
		statuses[rp.Status]++
	}
	elapsed := time.Since(start)
	if statuses[200] != 1 || statuses[429] != 1 {
		t.Errorf("statuses %v after %v, want one 200 and one 429", statuses, elapsed)
	}
	if elapsed < 100*time.Millisecond {
		t.Errorf("both answered after %v, before the unit came back", elapsed)
	}
}
