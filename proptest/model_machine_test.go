package proptest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// keys are the keys the machines use: several, so that keys are seen not to
// share state, and two with the characters the Redis store builds its hash
// tag from (one that starts with '}', which would make the tag empty) and
// a NUL.
var keys = []string{"a", "b", "{c}\x00", "}d"}

// checkDeadline bounds one rapid check of a machine: every store call of
// the check takes its context from it, so a store that stops answering
// fails the check in seconds instead of hanging the test binary.
const checkDeadline = 30 * time.Second

// backend is one store under test and a typed limiter per algorithm on it.
type backend struct {
	name string
	s    store.Store[string]
	lims map[algo.Algorithm]*typed.Limiter[string]
}

func newBackend(t fataler, name string, s store.Store[string], qc quotaCase) backend {
	t.Helper()
	b := backend{name: name, s: s, lims: map[algo.Algorithm]*typed.Limiter[string]{}}
	for _, a := range qc.algs {
		l, err := typed.New[string](typed.WithStore(s), typed.WithAlgorithm(a), typed.WithQuota(qc.q))
		if err != nil {
			t.Fatalf("typed.New(%v, %v) on %s: %v", a, qc.q, name, err)
		}
		b.lims[a] = l
	}
	return b
}

// machine drives one or more stores on one fake clock with the same random
// requests, under one quota enforced by every algorithm it is valid for
// (each algorithm's policy keeps its own state of a key). Every answer of
// every store must be the same, and equal to the exact model's.
type machine struct {
	qc       quotaCase
	clk      *store.FakeClock
	backends []backend
	// pols holds, per algorithm, the quota's policy and the same quota
	// under another name: the two keep one state (the name is a label),
	// and requests use either.
	pols  map[algo.Algorithm][2]*store.Policy
	tr    map[algo.Algorithm]map[string]*track
	edges []int64 // times worth landing on exactly: RetryAfter and ResetAfter deadlines
	ctx   context.Context
}

// newMachine returns a machine with the memory store on a fresh fake clock;
// more backends (sharing m.clk) are added by the caller.
func newMachine(t *rapid.T, qc quotaCase) *machine {
	ctx, cancel := context.WithTimeout(t.Context(), checkDeadline)
	t.Cleanup(cancel)
	m := &machine{
		qc:   qc,
		clk:  store.NewFakeClock(drawStart(t, qc.params[qc.algs[0]].Period)),
		pols: map[algo.Algorithm][2]*store.Policy{},
		tr:   map[algo.Algorithm]map[string]*track{},
		ctx:  ctx,
	}
	m.backends = append(m.backends, newBackend(t, "memory", newMemStore(t, m.clk), qc))
	for _, a := range qc.algs {
		p0 := mustPolicy(t, qc.q.WithAlgorithm(a))
		p1 := mustPolicy(t, qc.q.WithAlgorithm(a).WithName("renamed"))
		if !p0.Same(p1) || p0.Key() != p1.Key() {
			t.Fatalf("%v and %v differ only in name but do not share state (keys %q, %q)", p0, p1, p0.Key(), p1.Key())
		}
		m.pols[a] = [2]*store.Policy{p0, p1}
		m.tr[a] = map[string]*track{}
		for _, k := range keys {
			m.tr[a][k] = newTrack(a, qc.q)
		}
	}
	return m
}

// mustPolicy compiles q, which must be valid.
func mustPolicy(t fataler, q algo.Quota) *store.Policy {
	t.Helper()
	p, err := store.NewPolicy(q)
	if err != nil {
		t.Fatalf("store.NewPolicy(%v %v): %v", q, q.Algorithm, err)
	}
	return p
}

func (m *machine) setClock(to int64) { m.clk.Set(clampTime(to)) }

func (m *machine) advance(t *rapid.T) {
	p := m.qc.params[m.qc.algs[0]]
	m.setClock(m.clk.Now() + drawDelta(t, p.Period, p.Limit))
}

// toEdge sets the clock to exactly a recent RetryAfter or ResetAfter
// deadline, or a µs either side: where off-by-one errors live (a client
// that waits RetryAfter lands there too).
func (m *machine) toEdge(t *rapid.T) {
	if len(m.edges) == 0 {
		t.Skip("no deadline yet")
	}
	e := rapid.SampledFrom(m.edges).Draw(t, "edge")
	m.setClock(e + rapid.Int64Range(-1, 1).Draw(t, "edgeOffset"))
}

// noteEdges remembers the deadlines of a decision taken at raw time now:
// RetryAfter and ResetAfter are in the caller's time.
func (m *machine) noteEdges(now int64, d algo.Decision) {
	m.edges = appendEdges(m.edges, now, d)
}

func appendEdges(edges []int64, now int64, d algo.Decision) []int64 {
	if d.RetryAfter > 0 {
		edges = append(edges, now+d.RetryAfter)
	}
	if d.ResetAfter > 0 {
		edges = append(edges, now+d.ResetAfter)
	}
	if len(edges) > 16 {
		edges = edges[len(edges)-16:]
	}
	return edges
}

// capacity draws the capacity costs are drawn around: that of one of the
// algorithms under test (the buckets' is the burst, the windows' the limit).
func capacity(t *rapid.T, qc quotaCase) int64 {
	return qc.params[rapid.SampledFrom(qc.algs).Draw(t, "costFor")].Max
}

// policies draws which of a's two equivalent policies a request uses.
func (m *machine) policies(t *rapid.T, a algo.Algorithm) []*store.Policy {
	return []*store.Policy{m.pols[a][rapid.IntRange(0, 1).Draw(t, "policyName")]}
}

// decide sends one request to every store, checks that they agree and that
// they match the model; every request, peeks included, goes through here.
// It returns the decision and the policies it was taken under.
func (m *machine) decide(t *rapid.T, what string, a algo.Algorithm, key string, cost int64) (algo.Decision, []*store.Policy) {
	t.Helper()
	ps := m.policies(t, a)
	var d algo.Decision
	for i, b := range m.backends {
		each := make([]algo.Decision, 1)
		got, err := b.s.Decide(m.ctx, key, ps, cost, each)
		if err != nil {
			t.Fatalf("%s: %s Decide(%q, %v, %d) at %d: %v", what, b.name, key, ps[0], cost, m.clk.Now(), err)
		}
		if each[0] != got {
			t.Fatalf("%s: %s Decide(%q, %v, %d) at %d: combined %+v, but the one policy's %+v", what, b.name, key, ps[0], cost, m.clk.Now(), got, each[0])
		}
		if i == 0 {
			d = got
		} else if got != d {
			t.Fatalf("%s: %v key %q at %d cost %d: %s decided %+v, %s %+v\nhistory: %v",
				what, a, key, m.clk.Now(), cost, m.backends[0].name, d, b.name, got, m.tr[a][key].hist)
		}
	}
	m.check(t, what, a, key, cost, d, ps)
	return d, ps
}

// check compares one decision all stores agreed on with the model and
// records it.
func (m *machine) check(t *rapid.T, what string, a algo.Algorithm, key string, cost int64, d algo.Decision, ps []*store.Policy) {
	t.Helper()
	k := m.tr[a][key]
	now := m.clk.Now()
	eff := k.decideModel(t, what, now, cost, d)
	k.hist = append(k.hist, op{at: now, cost: cost, ps: ps})
	if !d.Limited && cost > 0 {
		k.admit(t, now, cost, eff, d)
	}
	m.noteEdges(now, d)
}

func (m *machine) limit(t *rapid.T) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	cost := drawCost(t, capacity(t, m.qc), "cost")
	x := rapid.Int64Range(0, math.MaxInt64).Draw(t, "probeOffset")
	got := map[algo.Algorithm]algo.Decision{}
	for _, a := range m.qc.algs {
		before, _ := m.decide(t, "peek before", a, key, 0)
		d, ps := m.decide(t, "limit", a, key, cost)
		got[a] = d
		if d.Limited {
			// A denied request changes nothing.
			if after, _ := m.decide(t, "peek after a denial", a, key, 0); after != before {
				t.Fatalf("%v: a denied request (cost %d) changed the key: Peek %+v before, %+v after", a, cost, before, after)
			}
		}
		k := m.tr[a][key]
		probe(t, "limit", ps, key, k.hist, m.clk.Now(), cost, d, x)
	}
	checkBucketsAgree(t, got)
}

// checkBucketsAgree: the token bucket, the leaky bucket and GCRA are three
// representations of one policy and must decide alike, field for field.
func checkBucketsAgree(t fataler, got map[algo.Algorithm]algo.Decision) {
	t.Helper()
	tb, ok := got[algo.TokenBucket]
	if !ok {
		return
	}
	for _, a := range []algo.Algorithm{algo.LeakingBucket, algo.GCRA} {
		if d, ok := got[a]; ok && d != tb {
			t.Fatalf("%v decided %+v, token_bucket %+v", a, d, tb)
		}
	}
}

func (m *machine) peek(t *rapid.T) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	for _, a := range m.qc.algs {
		first, _ := m.decide(t, "peek", a, key, 0)
		if again, _ := m.decide(t, "peek again", a, key, 0); again != first {
			t.Fatalf("%v: Peek changed the key: %+v, then %+v", a, first, again)
		}
		for _, b := range m.backends {
			st, err := b.lims[a].Peek(m.ctx, key)
			if err != nil {
				t.Fatalf("%s %v Peek(%q): %v", b.name, a, key, err)
			}
			if d := resultDecision(t, m.qc.params[a].Max, typed.Result{State: st}); d != first {
				t.Fatalf("%s %v: Limiter.Peek(%q) %+v, the store's peek %+v", b.name, a, key, st, first)
			}
		}
	}
}

// drawBatch draws the requests of a LimitAll: up to 6, keys repeating.
func drawBatch(t *rapid.T, keys []string, capacity int64) []typed.Request[string] {
	n := rapid.IntRange(1, 6).Draw(t, "batchSize")
	reqs := make([]typed.Request[string], n)
	for i := range reqs {
		reqs[i] = typed.Request[string]{Key: rapid.SampledFrom(keys).Draw(t, "batchKey"), Cost: drawCost(t, capacity, "batchCost")}
	}
	return reqs
}

// batch decides a LimitAll through typed.Limiter on every store: the
// requests are decided at one time, in input order per key, exactly as
// one by one.
func (m *machine) batch(t *rapid.T) {
	reqs := drawBatch(t, keys, capacity(t, m.qc))
	got := map[algo.Algorithm][]algo.Decision{}
	for _, a := range m.qc.algs {
		var first []algo.Decision
		for i, b := range m.backends {
			res, err := b.lims[a].LimitAll(m.ctx, reqs)
			if err != nil {
				t.Fatalf("%s %v LimitAll(%v): %v", b.name, a, reqs, err)
			}
			if len(res) != len(reqs) {
				t.Fatalf("%s %v LimitAll(%v): %d results", b.name, a, reqs, len(res))
			}
			ds := make([]algo.Decision, len(reqs))
			for j := range reqs {
				ds[j] = resultDecision(t, m.qc.params[a].Max, res[j])
			}
			if i == 0 {
				first = ds
			} else if fmt.Sprint(ds) != fmt.Sprint(first) {
				t.Fatalf("%v LimitAll(%v) at %d: %s %+v, %s %+v", a, reqs, m.clk.Now(), m.backends[0].name, first, b.name, ds)
			}
		}
		for j, r := range reqs {
			m.check(t, "batch", a, r.Key, r.Cost, first[j], []*store.Policy{m.pols[a][0]})
		}
		got[a] = first
	}
	for j := range reqs {
		one := map[algo.Algorithm]algo.Decision{}
		for a, ds := range got {
			one[a] = ds[j]
		}
		checkBucketsAgree(t, one)
	}
}

// reset forgets a key through the store or through the limiter, which
// forgets the same state.
func (m *machine) reset(t *rapid.T) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	viaLimiter := rapid.Bool().Draw(t, "resetViaLimiter")
	for _, a := range m.qc.algs {
		ps := m.policies(t, a)
		for _, b := range m.backends {
			var err error
			if viaLimiter {
				err = b.lims[a].Reset(m.ctx, key)
			} else {
				err = b.s.Reset(m.ctx, key, ps)
			}
			if err != nil {
				t.Fatalf("%s Reset(%q, %v): %v", b.name, key, a, err)
			}
		}
		m.tr[a][key].reset()
	}
}

// badInput: a clock outside [0, 2^52] µs, a negative cost, no policy, too
// many, a nil one, a per-policy output of the wrong length are invalid
// input (algo.ErrInvalid), and a done context is ErrUnavailable wrapping
// its error, on every store and path, refused before any state is touched
// (the model is not told, so a change would show on a later step).
func (m *machine) badInput(t *rapid.T) {
	now := m.clk.Now()
	defer m.clk.Set(now)
	a := rapid.SampledFrom(m.qc.algs).Draw(t, "alg")
	key := rapid.SampledFrom(keys).Draw(t, "key")
	ctx, cost, ps := m.ctx, int64(1), m.policies(t, a)
	var each []algo.Decision
	want := algo.ErrInvalid
	limiterToo := true // the limiter's own calls are bad too
	switch kind := rapid.IntRange(0, 5).Draw(t, "badKind"); kind {
	case 0:
		cost = rapid.SampledFrom([]int64{-1, math.MinInt64}).Draw(t, "cost")
	case 1:
		m.clk.Set(rapid.SampledFrom([]int64{-1, maxSafe + 1, math.MinInt64, math.MaxInt64}).Draw(t, "badTime"))
	case 2:
		c, cancel := context.WithCancel(m.ctx)
		cancel()
		ctx, want = c, store.ErrUnavailable
		cost = rapid.Int64Range(0, 2).Draw(t, "cost")
	default:
		limiterToo = false
		switch kind {
		case 3:
			ps = rapid.SampledFrom([][]*store.Policy{nil, {}, {nil}, {ps[0], nil}}).Draw(t, "badPolicies")
		case 4:
			ps = make([]*store.Policy, store.MaxPolicies+1)
			for i := range ps {
				ps[i] = m.pols[a][i%2]
			}
		default:
			each = make([]algo.Decision, rapid.SampledFrom([]int{0, 2}).Draw(t, "eachLen"))
		}
	}
	for _, b := range m.backends {
		if _, err := b.s.Decide(ctx, key, ps, cost, each); !errors.Is(err, want) {
			t.Fatalf("%s Decide(%v, cost %d, len(each) %d) at time %d: err %v, want %v", b.name, ps, cost, len(each), m.clk.Now(), err, want)
		}
		if want == store.ErrUnavailable {
			if _, err := b.s.Decide(ctx, key, ps, cost, each); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s Decide with a cancelled context: err %v, want it to wrap context.Canceled", b.name, err)
			}
			if err := b.s.Reset(ctx, key, ps); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s Reset with a cancelled context: err %v, want store.ErrUnavailable", b.name, err)
			}
		}
		if !limiterToo {
			continue
		}
		if _, err := b.lims[a].Limit(ctx, key, cost); !errors.Is(err, want) {
			t.Fatalf("%s Limit(cost %d) at time %d: err %v, want %v", b.name, cost, m.clk.Now(), err, want)
		}
		res, err := b.lims[a].LimitAll(ctx, []typed.Request[string]{{Key: key, Cost: cost}})
		var ie *typed.ItemError
		if !errors.Is(err, want) || !errors.As(err, &ie) || ie.Index != 0 || res[0].Limited || res[0].State != (typed.State{}) || res[0].Quotas != nil {
			t.Fatalf("%s LimitAll(cost %d) at time %d: %v, err %v; want a zero Result and an ItemError for request 0 matching %v", b.name, cost, m.clk.Now(), res, err, want)
		}
	}
}

func (m *machine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"advance":  m.advance,
		"advance2": m.advance, // the clock moves between most requests
		"toEdge":   m.toEdge,
		"limit":    m.limit,
		"limit2":   m.limit,
		"peek":     m.peek,
		"batch":    m.batch,
		"reset":    m.reset,
		"badInput": m.badInput,
	}
}

// TestMemoryMatchesModel drives the memory store with random traces (clock
// steps of every size, forwards, zero and backwards, and onto exact
// RetryAfter/ResetAfter deadlines; costs from 0 to far above the capacity;
// Peeks, LimitAll, Reset, invalid input) on random quotas up to the
// representability bounds, running every algorithm the quota is valid for
// on every request (each under its own policy, named or not: the name
// keeps the same state), and checks on every step:
//
//   - Limited, Remaining, RetryAfter and ResetAfter equal the exact model's,
//     durations in the caller's time when the clock is behind the key;
//   - checkDecision (Remaining in [0, Limit], RetryAfter = 0 iff allowed,
//     never iff cost > capacity, ResetAfter = 0 iff Remaining = Limit);
//   - checkBounds (never more admitted than the quota allows);
//   - a denied request and a Peek change nothing (Peek before = Peek after);
//   - probe: RetryAfter and ResetAfter count down exactly from the
//     caller's now, the same request passes exactly RetryAfter later and
//     not a µs before, the key is back at its initial state exactly
//     ResetAfter later and then decides as a fresh key;
//   - the token bucket, the leaky bucket and GCRA decide identically.
//
// One subtest per quota family, each with -rapid.checks checks; the
// traces must reach the edges listed in stats_test.go.
func TestMemoryMatchesModel(t *testing.T) {
	st := logStats(t)
	ran := 0
	for _, kind := range quotaKinds {
		check := rapid.MakeCheck(func(t *rapid.T) {
			m := newMachine(t, drawQuota(t, kind))
			t.Repeat(m.actions())
		})
		t.Run("quota="+kind, func(t *testing.T) { ran++; check(t) })
	}
	if ran == len(quotaKinds) && !t.Failed() {
		requireReached(t, st, reachClockBehind, reachCost0, reachAboveCapacity, reachTimeNearEnd, reachBucketBound, reachSlidingBound)
	}
}
