package proptest

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// The deny cache (typed.WithDenyCache) must change no decision: this file
// runs random traces twice, on a store under test where some limiters
// cache denials and on a reference store where none does, on one fake
// clock that only moves forward (a cached denial relies on time not
// running backwards, as the store's own exactness does), and compares
// every answer.
//
// What is asserted, and why it holds:
//
//   - Limited is identical on every request. The store denied a request of
//     cost c at time T with RetryAfter r: with no other traffic it passes
//     from T+r on and not before. Other limiters only use quota up, and a
//     larger cost needs more, so the request of cost >= c stays denied
//     before T+r; the cache denies only while at <= now < at+min(r, max),
//     where at, its clock reading before the store call, is T here (one
//     fake clock). Resets give quota back: every limiter's Reset drops its
//     own cached denial of the key, and the trace resets through all of
//     them (a Reset through one limiter only is what max bounds).
//   - A cached Result's RetryAfter is positive, Never exactly when the
//     store says Never, and never later than the store's answer at the
//     same moment, nor is its ResetAfter: both are the store's earlier
//     answers counted down, and other traffic and larger costs only move
//     those moments later. (A cached Result cannot be earlier than the
//     truth in the other direction: it is the truth of an older state.)
//   - With a single client of a single cost (TestDenyCacheSingleClient),
//     the cached RetryAfter and ResetAfter equal the store's exactly, for
//     every algorithm and for two quotas, each quota's too, as does each
//     quota's Limited: without other traffic the store's durations count
//     down exactly (DESIGN §3; see probe in check_test.go), its RetryAfter
//     being the exact earliest time and ResetAfter the exact time to the
//     initial state, in whole µs on one clock. Remaining is the one field
//     that is stale: the cache reports it as of the denial, and without
//     traffic it can only have grown, so it is at most the store's.
//   - Whatever the store decides (allowed requests, peeks, the first
//     denial) is the same Result as the reference's, field by field.

// denyHits counts the cached answers the traces checked, so a test can
// tell that the cache was exercised.
var denyHits atomic.Int64

// denyClient is one limiter of a trace on the store under test, with its
// twin without a cache on the reference store.
type denyClient struct {
	cached bool
	max    time.Duration
	cost   int64 // its usual cost
	l, ref *typed.Limiter[string]
}

func (c *denyClient) String() string {
	if !c.cached {
		return fmt.Sprintf("{no cache, cost %d}", c.cost)
	}
	return fmt.Sprintf("{cache max %v, cost %d}", c.max, c.cost)
}

// denyRig is one trace's limiters and clock.
type denyRig struct {
	clk      *store.FakeClock
	qs       []algo.Quota
	capacity int64 // the least of the quotas' capacities
	interval int64 // the first quota's period / limit, µs, at least 1
	period   int64 // the first quota's period, µs
	single   bool  // one client of one cost
	clients  []*denyClient
	ctx      context.Context
}

var denyKeys = []string{"a", "b"}

// drawDenyQuotas draws one quota under each algorithm, or two quotas under
// algorithms of their own, of the families that run into their limits.
func drawDenyQuotas(t *rapid.T) []algo.Quota {
	shape := rapid.IntRange(0, len(algo.Algorithms)).Draw(t, "shape")
	draw := func(label string) (algo.Quota, []algo.Algorithm) {
		qc := drawQuota(t, rapid.SampledFrom([]string{"small", "everyday"}).Draw(t, label+"Kind"))
		return qc.q, qc.algs
	}
	if shape < len(algo.Algorithms) {
		a := algo.Algorithms[shape]
		q, algs := draw("quota")
		for _, b := range algs {
			if b == a {
				return []algo.Quota{q.WithAlgorithm(a)}
			}
		}
		t.Skip("quota not valid for the algorithm")
	}
	q1, algs1 := draw("quota1")
	q2, algs2 := draw("quota2")
	return []algo.Quota{
		q1.WithAlgorithm(rapid.SampledFrom(algs1).Draw(t, "alg1")),
		q2.WithAlgorithm(rapid.SampledFrom(algs2).Draw(t, "alg2")),
	}
}

// newDenyRig draws a trace's quotas and clients, on a store under test and
// a reference store made by newStore on the rig's clock.
func newDenyRig(t *rapid.T, newStore func(*rapid.T, *store.FakeClock) store.Store[string], single bool) *denyRig {
	ctx, cancel := context.WithTimeout(t.Context(), checkDeadline)
	t.Cleanup(cancel)
	r := &denyRig{qs: drawDenyQuotas(t), single: single, ctx: ctx, capacity: -1}
	for _, q := range r.qs {
		p, err := store.NewPolicy(q)
		if err != nil {
			t.Fatalf("NewPolicy(%v): %v", q, err)
		}
		if r.capacity < 0 || p.Max() < r.capacity {
			r.capacity = p.Max()
		}
	}
	r.period = int64(r.qs[0].Period / time.Microsecond)
	r.interval = max(1, r.period/r.qs[0].Limit)
	r.clk = store.NewFakeClock(rapid.SampledFrom([]int64{0, 1 << 40, r.period * 1000}).Draw(t, "start") + rapid.Int64Range(0, 1<<40).Draw(t, "startOffset"))
	test, ref := newStore(t, r.clk), newStore(t, r.clk)
	n := 1
	if !single {
		n = rapid.IntRange(2, 4).Draw(t, "clients")
	}
	for i := range n {
		c := &denyClient{cached: i == 0 || rapid.Bool().Draw(t, "cached")}
		c.cost = drawCost(t, r.capacity, "usualCost")
		if single && c.cost == 0 {
			c.cost = 1
		}
		opts := []typed.Option{typed.WithStore(test), typed.WithQuotas(r.qs...)}
		if c.cached {
			switch rapid.IntRange(0, 3).Draw(t, "maxKind") {
			case 0:
				c.max = time.Microsecond
			case 1:
				c.max = time.Duration(rapid.Int64Range(1, 3*r.period).Draw(t, "max")) * time.Microsecond
			default:
				c.max = time.Hour
			}
			opts = append(opts, typed.WithDenyCache(c.max))
		}
		var err error
		if c.l, err = typed.New[string](opts...); err != nil {
			t.Skipf("typed.New(%v): %v", r.qs, err) // two quotas keeping one state
		}
		if c.ref, err = typed.New[string](typed.WithStore(ref), typed.WithQuotas(r.qs...)); err != nil {
			t.Fatalf("typed.New(%v) for the reference: %v", r.qs, err)
		}
		r.clients = append(r.clients, c)
	}
	return r
}

func (r *denyRig) drawClient(t *rapid.T) *denyClient {
	return r.clients[rapid.IntRange(0, len(r.clients)-1).Draw(t, "client")]
}

// drawCost draws a request's cost: the client's usual one, or (with
// several clients) any cost, 0 and above the capacity included.
func (r *denyRig) drawCost(t *rapid.T, c *denyClient) int64 {
	if r.single || rapid.IntRange(0, 2).Draw(t, "usual") > 0 {
		return c.cost
	}
	return drawCost(t, r.capacity, "cost")
}

// compare checks the Result got of the store under test against want, the
// reference's, for a request of cost by c.
func (r *denyRig) compare(t *rapid.T, what string, c *denyClient, cost int64, got, want typed.Result) {
	t.Helper()
	what = fmt.Sprintf("%s by %v at %d, cost %d under %v", what, c, r.clk.Now(), cost, r.qs)
	if got.Limited != want.Limited {
		t.Fatalf("%s: Limited %v (%v from %v), the store without a cache says %v (%v)", what, got.Limited, got, got.Source, want.Limited, want)
	}
	if got.Source != typed.FromDenyCache {
		if got.Source != want.Source || got.State != want.State || *got.Quota != *want.Quota || !reflect.DeepEqual(got.Quotas, want.Quotas) {
			t.Fatalf("%s: the store decided\n%v %v %v %+v, want\n%v %v %v %+v", what, got, got.Source, *got.Quota, got.Quotas, want, want.Source, *want.Quota, want.Quotas)
		}
		return
	}
	denyHits.Add(1)
	g, w := got.State, want.State
	switch {
	case !c.cached || cost == 0:
		t.Fatalf("%s: answered from a deny cache", what)
	case g.RetryAfter <= 0 || (g.RetryAfter == typed.Never) != (w.RetryAfter == typed.Never):
		t.Fatalf("%s: cached RetryAfter %v, the store says %v", what, g.RetryAfter, w.RetryAfter)
	case g.RetryAfter > w.RetryAfter || g.ResetAfter > w.ResetAfter:
		t.Fatalf("%s: cached %v later than the store's %v", what, g, w)
	case got.Quota == nil || len(got.Quotas) != len(want.Quotas):
		t.Fatalf("%s: cached Quota %v and Quotas %+v, the store's %v and %+v", what, got.Quota, got.Quotas, want.Quota, want.Quotas)
	}
	if !r.single {
		return
	}
	if g.RetryAfter != w.RetryAfter || g.ResetAfter != w.ResetAfter || g.Remaining > w.Remaining || (len(r.qs) == 1 && g.Limit != w.Limit) {
		t.Fatalf("%s: one client, cached %v, the store says %v: want equal durations and Limit, Remaining at most", what, g, w)
	}
	for i, gq := range got.Quotas {
		wq := want.Quotas[i]
		gs, ws := gq.State, wq.State
		if gq.Quota != wq.Quota || gq.Limited != wq.Limited || gs.RetryAfter != ws.RetryAfter || gs.ResetAfter != ws.ResetAfter || gs.Limit != ws.Limit || gs.Remaining > ws.Remaining {
			t.Fatalf("%s: one client, quota %d: cached %+v, the store says %+v", what, i, gq, wq)
		}
	}
}

func (r *denyRig) limit(t *rapid.T) {
	c := r.drawClient(t)
	key := rapid.SampledFrom(denyKeys).Draw(t, "key")
	cost := r.drawCost(t, c)
	got, err := c.l.Limit(r.ctx, key, cost)
	if err != nil {
		t.Fatalf("Limit(%q, %d): %v", key, cost, err)
	}
	want, err := c.ref.Limit(r.ctx, key, cost)
	if err != nil {
		t.Fatalf("reference Limit(%q, %d): %v", key, cost, err)
	}
	r.compare(t, fmt.Sprintf("Limit(%q)", key), c, cost, got, want)
}

// hammer sends a burst of requests of one client on one key, the clock
// moving a little between them: the hot key a deny cache is for.
func (r *denyRig) hammer(t *rapid.T) {
	c := r.drawClient(t)
	key := rapid.SampledFrom(denyKeys).Draw(t, "key")
	cost := r.drawCost(t, c)
	step := rapid.Int64Range(0, 2*r.interval).Draw(t, "hammerStep")
	for i := range rapid.IntRange(1, 30).Draw(t, "hammerLen") {
		got, err := c.l.Limit(r.ctx, key, cost)
		if err != nil {
			t.Fatalf("Limit(%q, %d): %v", key, cost, err)
		}
		want, err := c.ref.Limit(r.ctx, key, cost)
		if err != nil {
			t.Fatalf("reference Limit(%q, %d): %v", key, cost, err)
		}
		r.compare(t, fmt.Sprintf("Limit(%q) #%d of a hammer", key, i), c, cost, got, want)
		r.clk.Set(r.clk.Now() + step)
	}
}

func (r *denyRig) peek(t *rapid.T) {
	c := r.drawClient(t)
	key := rapid.SampledFrom(denyKeys).Draw(t, "key")
	got, err := c.l.Limit(r.ctx, key, 0)
	if err != nil {
		t.Fatalf("Peek(%q): %v", key, err)
	}
	want, err := c.ref.Limit(r.ctx, key, 0)
	if err != nil {
		t.Fatalf("reference Peek(%q): %v", key, err)
	}
	if got.Source != typed.FromStore {
		t.Fatalf("Peek(%q) by %v: decided by %v, want the store", key, c, got.Source)
	}
	r.compare(t, fmt.Sprintf("Peek(%q)", key), c, 0, got, want)
}

func (r *denyRig) batch(t *rapid.T) {
	c := r.drawClient(t)
	reqs := make([]typed.Request[string], rapid.IntRange(1, 4).Draw(t, "batchSize"))
	for i := range reqs {
		reqs[i] = typed.Request[string]{Key: rapid.SampledFrom(denyKeys).Draw(t, "key"), Cost: r.drawCost(t, c)}
	}
	got, err := c.l.LimitAll(r.ctx, reqs)
	if err != nil {
		t.Fatalf("LimitAll(%v): %v", reqs, err)
	}
	want, err := c.ref.LimitAll(r.ctx, reqs)
	if err != nil {
		t.Fatalf("reference LimitAll(%v): %v", reqs, err)
	}
	for i, req := range reqs {
		r.compare(t, fmt.Sprintf("LimitAll(%v)[%d]", reqs, i), c, req.Cost, got[i], want[i])
	}
}

// reset resets a key through every limiter, as every process would be
// told to: each drops its own cached denial.
func (r *denyRig) reset(t *rapid.T) {
	key := rapid.SampledFrom(denyKeys).Draw(t, "key")
	for _, c := range r.clients {
		if err := c.l.Reset(r.ctx, key); err != nil {
			t.Fatalf("Reset(%q): %v", key, err)
		}
		if err := c.ref.Reset(r.ctx, key); err != nil {
			t.Fatalf("reference Reset(%q): %v", key, err)
		}
	}
}

// advance moves the clock forward: not at all, a µs, around the emission
// interval and the period, or far.
func (r *denyRig) advance(t *rapid.T) {
	var d int64
	switch rapid.IntRange(0, 7).Draw(t, "deltaKind") {
	case 0:
		d = 0
	case 1:
		d = 1
	case 2:
		d = rapid.Int64Range(0, 3*r.interval).Draw(t, "delta")
	case 3:
		d = max(0, r.interval+rapid.Int64Range(-1, 1).Draw(t, "delta"))
	case 4:
		d = r.period + rapid.Int64Range(-1, 1).Draw(t, "delta")
	case 5:
		d = rapid.Int64Range(0, 3*r.period).Draw(t, "delta")
	case 6:
		d = rapid.Int64Range(0, 1<<40).Draw(t, "delta")
	default:
		d = rapid.Int64Range(0, 1000).Draw(t, "delta")
	}
	r.clk.Set(r.clk.Now() + d)
}

func (r *denyRig) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"limit":   r.limit,
		"hammer":  r.hammer, // denials come from repeated requests
		"peek":    r.peek,
		"batch":   r.batch,
		"advance": r.advance,
		"reset":   r.reset,
	}
}

// denyCheck runs traces on the stores newStore makes.
func denyCheck(t *testing.T, newStore func(*rapid.T, *store.FakeClock) store.Store[string], single bool) {
	before := denyHits.Load()
	rapid.Check(t, func(t *rapid.T) {
		newDenyRig(t, newStore, single).actionsRun(t)
	})
	if hits := denyHits.Load() - before; hits == 0 && !t.Failed() {
		t.Errorf("no request was answered from a deny cache: the traces did not exercise it")
	} else {
		t.Logf("%d requests answered from a deny cache", hits)
	}
}

func (r *denyRig) actionsRun(t *rapid.T) { t.Repeat(r.actions()) }

func denyStores(t *testing.T) map[string]func(*rapid.T, *store.FakeClock) store.Store[string] {
	c := redistest.Client(t, redistest.Standalone(t).Addr())
	return map[string]func(*rapid.T, *store.FakeClock) store.Store[string]{
		"memory": func(t *rapid.T, clk *store.FakeClock) store.Store[string] { return newMemStore(t, clk) },
		"redis":  func(t *rapid.T, clk *store.FakeClock) store.Store[string] { return newRedisStore(t, c, clk) },
	}
}

// TestDenyCacheSameDecisions: several limiters on shared keys, some with a
// deny cache (of random max), some without, with costs of their own, 0
// and above the capacity, one quota under each algorithm or two quotas,
// the clock moving forward by random steps: every decision is the one of
// the same trace with no cache anywhere, on the memory store and on Redis
// (see the top of this file for what is asserted and why).
func TestDenyCacheSameDecisions(t *testing.T) {
	for name, newStore := range denyStores(t) {
		t.Run("store="+name, func(t *testing.T) { denyCheck(t, newStore, false) })
	}
}

// TestDenyCacheSingleClient: one limiter with a deny cache, one cost:
// cached Results are the store's but for Remaining (at most the store's),
// their durations exact.
func TestDenyCacheSingleClient(t *testing.T) {
	for name, newStore := range denyStores(t) {
		t.Run("store="+name, func(t *testing.T) { denyCheck(t, newStore, true) })
	}
}
