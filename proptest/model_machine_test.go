package proptest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// keys are the keys the machines use: several, so that keys are seen not to
// share state, one with the characters the Redis store builds its hash tag
// from and a NUL.
var keys = []string{"a", "b", "{c}\x00"}

// backend is one store under test and a typed limiter per algorithm on it.
type backend struct {
	name string
	s    store.Store
	lims map[algo.Algorithm]*typed.Limiter[string]
}

func newBackend(t fataler, name string, s store.Store, qc quotaCase) backend {
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
// requests. Every answer of every store must be the same, and equal to the
// exact model's.
type machine struct {
	qc       quotaCase
	clk      *clock.Fake
	backends []backend
	tr       map[algo.Algorithm]map[string]*track
	edges    []int64 // times worth landing on exactly: RetryAfter and ResetAfter deadlines
	ctx      context.Context
}

// newMachine returns a machine with the memory store on a fresh fake clock;
// more backends (sharing m.clk) are added by the caller.
func newMachine(t *rapid.T, qc quotaCase) *machine {
	m := &machine{
		qc:  qc,
		clk: clock.NewFake(drawStart(t, qc.params[qc.algs[0]].Period)),
		tr:  map[algo.Algorithm]map[string]*track{},
		ctx: context.Background(),
	}
	mem := memstore.New(memstore.WithClock(m.clk), memstore.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	m.backends = append(m.backends, newBackend(t, "memory", mem, qc))
	for _, a := range qc.algs {
		m.tr[a] = map[string]*track{}
		for _, k := range keys {
			m.tr[a][k] = newTrack(qc, a)
		}
	}
	return m
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

func (m *machine) noteEdges(eff int64, d algo.Decision) {
	if d.RetryAfter > 0 {
		m.edges = append(m.edges, eff+d.RetryAfter)
	}
	if d.ResetAfter > 0 {
		m.edges = append(m.edges, eff+d.ResetAfter)
	}
	if len(m.edges) > 16 {
		m.edges = m.edges[len(m.edges)-16:]
	}
}

// capacity draws the capacity costs are drawn around: that of one of the
// algorithms under test (the buckets' is the burst, the windows' the limit).
func capacity(t *rapid.T, qc quotaCase) int64 {
	return qc.params[rapid.SampledFrom(qc.algs).Draw(t, "costFor")].Max
}

// decide sends one request to every store, checks that they agree and that
// they match the model; every request, peeks included, goes through here.
func (m *machine) decide(t *rapid.T, what string, a algo.Algorithm, key string, cost int64) (algo.Decision, int64) {
	t.Helper()
	var d algo.Decision
	for i, b := range m.backends {
		got, err := b.s.Decide(m.ctx, key, m.qc.params[a], cost)
		if err != nil {
			t.Fatalf("%s: %s Decide(%q, %v, %d) at %d: %v", what, b.name, key, a, cost, m.clk.Now(), err)
		}
		if i == 0 {
			d = got
		} else if got != d {
			t.Fatalf("%s: %v key %q at %d cost %d: %s decided %+v, %s %+v\nhistory: %v",
				what, a, key, m.clk.Now(), cost, m.backends[0].name, d, b.name, got, m.tr[a][key].hist)
		}
	}
	return d, m.check(t, what, a, key, cost, d)
}

// check compares one decision all stores agreed on with the model, records
// it and returns the effective time it was taken at.
func (m *machine) check(t *rapid.T, what string, a algo.Algorithm, key string, cost int64, d algo.Decision) int64 {
	t.Helper()
	k := m.tr[a][key]
	now := m.clk.Now()
	eff := k.decideModel(t, what, now, cost, d)
	k.apply(t, now, cost, eff, d)
	m.noteEdges(eff, d)
	return eff
}

func (m *machine) limit(t *rapid.T) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	cost := drawCost(t, capacity(t, m.qc), "cost")
	x := rapid.Int64Range(0, math.MaxInt64).Draw(t, "probeOffset")
	got := map[algo.Algorithm]algo.Decision{}
	for _, a := range m.qc.algs {
		before, _ := m.decide(t, "peek before", a, key, 0)
		d, eff := m.decide(t, "limit", a, key, cost)
		got[a] = d
		if d.Limited {
			// A denied request changes nothing.
			if after, _ := m.decide(t, "peek after a denial", a, key, 0); after != before {
				t.Fatalf("%v: a denied request (cost %d) changed the key: Peek %+v before, %+v after", a, cost, before, after)
			}
		}
		k := m.tr[a][key]
		probe(t, "limit", k.p, key, k.hist, eff, cost, d, x)
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
		if d := got[a]; d != tb {
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
	}
}

// drawBatch draws the requests of a LimitBatch: up to 6, keys repeating.
func drawBatch(t *rapid.T, qc quotaCase) []typed.Request[string] {
	n := rapid.IntRange(1, 6).Draw(t, "batchSize")
	c := capacity(t, qc)
	reqs := make([]typed.Request[string], n)
	for i := range reqs {
		reqs[i] = typed.Request[string]{Key: rapid.SampledFrom(keys).Draw(t, "batchKey"), Cost: drawCost(t, c, "batchCost")}
	}
	return reqs
}

// batch decides a LimitBatch through typed.Limiter on every store: the
// requests are decided at one time, in input order per key, exactly as
// one by one.
func (m *machine) batch(t *rapid.T) {
	reqs := drawBatch(t, m.qc)
	got := map[algo.Algorithm][]algo.Decision{}
	for _, a := range m.qc.algs {
		var first []algo.Decision
		for i, b := range m.backends {
			res, err := b.lims[a].LimitBatch(m.ctx, reqs)
			if err != nil {
				t.Fatalf("%s %v LimitBatch(%v): %v", b.name, a, reqs, err)
			}
			ds := make([]algo.Decision, len(reqs))
			for j := range reqs {
				ds[j] = resultDecision(t, m.qc.params[a], res[j])
			}
			if i == 0 {
				first = ds
			} else if fmt.Sprint(ds) != fmt.Sprint(first) {
				t.Fatalf("%v LimitBatch(%v) at %d: %s %+v, %s %+v", a, reqs, m.clk.Now(), m.backends[0].name, first, b.name, ds)
			}
		}
		for j, r := range reqs {
			m.check(t, "batch", a, r.Key, r.Cost, first[j])
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

func (m *machine) reset(t *rapid.T) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	for _, a := range m.qc.algs {
		for _, b := range m.backends {
			if err := b.s.Reset(m.ctx, key, a); err != nil {
				t.Fatalf("%s Reset(%q, %v): %v", b.name, key, a, err)
			}
		}
		m.tr[a][key].reset()
	}
}

// badInput: a clock outside [0, 2^52] µs and a negative cost are invalid
// input on every store and path, refused before any state is touched (the
// model is not told, so a change would show on a later step).
func (m *machine) badInput(t *rapid.T) {
	now := m.clk.Now()
	defer m.clk.Set(now)
	cost := int64(1)
	if rapid.Bool().Draw(t, "badCost") {
		cost = rapid.SampledFrom([]int64{-1, math.MinInt64}).Draw(t, "cost")
	} else {
		m.clk.Set(rapid.SampledFrom([]int64{-1, maxSafe + 1, math.MinInt64, math.MaxInt64}).Draw(t, "badTime"))
	}
	a := rapid.SampledFrom(m.qc.algs).Draw(t, "alg")
	key := rapid.SampledFrom(keys).Draw(t, "key")
	for _, b := range m.backends {
		if _, err := b.s.Decide(m.ctx, key, m.qc.params[a], cost); !errors.Is(err, algo.ErrInvalid) {
			t.Fatalf("%s Decide(cost %d) at time %d: err %v, want algo.ErrInvalid", b.name, cost, m.clk.Now(), err)
		}
		_, err := b.lims[a].LimitBatch(m.ctx, []typed.Request[string]{{Key: key, Cost: cost}})
		if !errors.Is(err, algo.ErrInvalid) {
			t.Fatalf("%s LimitBatch(cost %d) at time %d: err %v, want algo.ErrInvalid", b.name, cost, m.clk.Now(), err)
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
// Peeks, LimitBatch, Reset, invalid input) on random quotas up to the
// representability bounds, running every algorithm the quota is valid for
// on every request, and checks on every step:
//
//   - Limited, Remaining, RetryAfter and ResetAfter equal the exact model's;
//   - checkDecision (Remaining in [0, Limit], RetryAfter = 0 iff allowed,
//     Never iff cost > capacity, ResetAfter = 0 iff Remaining = Limit);
//   - checkBounds (never more admitted than the quota allows);
//   - a denied request and a Peek change nothing (Peek before = Peek after);
//   - probe: RetryAfter and ResetAfter count down exactly, the same request
//     passes exactly RetryAfter later, the key is back at its initial state
//     exactly ResetAfter later and then decides as a fresh key;
//   - the token bucket, the leaky bucket and GCRA decide identically.
//
// One subtest per quota family, each with -rapid.checks checks.
func TestMemoryMatchesModel(t *testing.T) {
	logStats(t)
	for _, kind := range quotaKinds {
		t.Run("quota="+kind, rapid.MakeCheck(func(t *rapid.T) {
			m := newMachine(t, drawQuota(t, kind))
			t.Repeat(m.actions())
		}))
	}
}
