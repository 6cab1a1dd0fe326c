package proptest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// This file holds the machine for limiters with several quotas, and
// several limiters on shared keys: DESIGN §3's "a request passes iff every
// quota admits it, then every quota is charged; if any denies, none is",
// and "state belongs to (algorithm, quota, key)".

// limiterSpec is one limiter of a qmachine, as the test built it.
type limiterSpec struct {
	kind   string         // how it was drawn: first, fresh, neighbour, renamed
	alg    algo.Algorithm // WithAlgorithm: the algorithm of quotas that name none
	given  []algo.Quota   // WithQuotas's arguments; an Algorithm may be 0
	quotas []algo.Quota   // each with its algorithm: what Limiter.Quotas returns
	ids    []quotaID
	caps   []int64         // each quota's capacity, its states' Limit
	ps     []*store.Policy // the quotas compiled by the test, for replays
}

func (s *limiterSpec) String() string {
	return fmt.Sprintf("%s limiter %v", s.kind, s.ps)
}

// minCap is the least capacity of the limiter's quotas: a cost above it
// can never pass.
func (s *limiterSpec) minCap() int64 { return slices.Min(s.caps) }

// newSpec completes a limiter of the given quotas (Algorithm 0 meaning
// alg), dropping a quota that would keep the same state as an earlier one
// (a limiter refuses that: see checkDuplicateRefused).
func newSpec(t fataler, kind string, alg algo.Algorithm, given []algo.Quota) *limiterSpec {
	t.Helper()
	s := &limiterSpec{kind: kind, alg: alg}
	for _, g := range given {
		q := g
		if q.Algorithm == 0 {
			q.Algorithm = alg
		}
		id := idOf(q.Algorithm, q)
		if slices.Contains(s.ids, id) {
			continue
		}
		p := mustPolicy(t, q)
		s.given = append(s.given, g)
		s.quotas = append(s.quotas, q)
		s.ids = append(s.ids, id)
		s.caps = append(s.caps, newModel(q.Algorithm, q).capacity())
		s.ps = append(s.ps, p)
		if p.Max() != s.caps[len(s.caps)-1] {
			t.Fatalf("%v: the policy's Limit is %d, the model's capacity %d", p, p.Max(), s.caps[len(s.caps)-1])
		}
	}
	return s
}

// names are the quota names the generators use: labels that must change
// nothing but the QuotaStates' Quota.
var names = []string{"", "burst", "hourly", "daily"}

// drawQuotas draws the 1–3 quotas of a limiter, each from a quota family
// (so quotas reach algo.Compile's bounds) and under an algorithm drawn
// among those it compiles for, named or not; a quota under the limiter's
// own algorithm may leave its Algorithm 0.
func drawQuotas(t *rapid.T, alg algo.Algorithm) []algo.Quota {
	n := rapid.IntRange(1, 3).Draw(t, "quotas")
	qs := make([]algo.Quota, n)
	for i := range qs {
		kind := rapid.SampledFrom(quotaKinds).Draw(t, "quotaKind")
		qc := drawQuota(t, kind)
		a := rapid.SampledFrom(qc.algs).Draw(t, "quotaAlg")
		// A quota on a bound is often enforced by the algorithms the bound
		// is for (the quota compiles for them by construction).
		switch {
		case kind == "bucket-bound" && rapid.Bool().Draw(t, "boundAlg"):
			a = rapid.SampledFrom([]algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA}).Draw(t, "quotaAlg")
		case kind == "sliding-bound" && rapid.Bool().Draw(t, "boundAlg"):
			a = algo.SlidingWindow
		}
		q := qc.q.WithName(rapid.SampledFrom(names).Draw(t, "quotaName"))
		if a != alg || rapid.Bool().Draw(t, "explicitAlg") {
			q.Algorithm = a
		}
		qs[i] = q
	}
	return qs
}

// neighbour draws a quota next to q (enforced by a): another algorithm,
// period, limit or burst (each a state of its own), or the same quota
// under another name, or, for a window, another burst (which the windows
// ignore): the same state. It returns false when the variant drawn does
// not compile.
func neighbour(t *rapid.T, a algo.Algorithm, q algo.Quota) (algo.Quota, bool) {
	v := q.WithAlgorithm(a)
	switch rapid.IntRange(0, 5).Draw(t, "neighbourKind") {
	case 0:
		v.Algorithm = rapid.SampledFrom(algo.Algorithms).Draw(t, "neighbourAlg")
	case 1:
		v.Period += time.Millisecond
	case 2:
		v.Limit++
	case 3:
		v.Burst = v.EffectiveBurst() + 1
	case 4:
		v.Name += "'"
	default:
		v.Burst = rapid.Int64Range(1, 5).Draw(t, "neighbourBurst")
	}
	_, err := algo.Compile(v.Algorithm, v)
	return v, err == nil
}

// drawSpecs draws the limiters of a machine: a first one, and up to extra
// more, each either fresh quotas, neighbours of the first one's quotas, or
// the first one's quotas renamed and reordered (the pair must share).
func drawSpecs(t *rapid.T, extra int) []*limiterSpec {
	alg := rapid.SampledFrom(algo.Algorithms).Draw(t, "limiterAlg")
	first := newSpec(t, "first", alg, drawQuotas(t, alg))
	specs := []*limiterSpec{first}
	for range rapid.IntRange(min(1, extra), extra).Draw(t, "extraLimiters") {
		alg := rapid.SampledFrom(algo.Algorithms).Draw(t, "limiterAlg")
		switch kind := rapid.SampledFrom([]string{"fresh", "neighbour", "renamed"}).Draw(t, "limiterKind"); kind {
		case "fresh":
			specs = append(specs, newSpec(t, kind, alg, drawQuotas(t, alg)))
		case "neighbour":
			var qs []algo.Quota
			for i, q := range first.quotas {
				if v, ok := neighbour(t, q.Algorithm, q); ok {
					qs = append(qs, v)
				} else {
					qs = append(qs, first.quotas[i].WithName("same"))
				}
			}
			specs = append(specs, newSpec(t, kind, alg, qs))
		default:
			qs := make([]algo.Quota, len(first.quotas))
			for i, j := range rapid.Permutation(seq(len(qs))).Draw(t, "order") {
				qs[i] = first.quotas[j].WithName(first.quotas[j].Name + "-renamed")
			}
			specs = append(specs, newSpec(t, kind, alg, qs))
		}
	}
	return specs
}

// show renders results with their Source and every QuotaState.
func show(rs ...typed.Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%v (source %v) quotas %+v; ", r, r.Source, r.Quotas)
	}
	return b.String()
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// checkIdentities checks store.Policy's notion of shared state against the
// model's, over every pair of the machine's quotas: Same and Key agree
// with quotaID equality.
func checkIdentities(t fataler, specs []*limiterSpec) {
	t.Helper()
	var ps []*store.Policy
	var ids []quotaID
	for _, s := range specs {
		ps, ids = append(ps, s.ps...), append(ids, s.ids...)
	}
	for i := range ps {
		for j := range ps {
			same := ids[i] == ids[j]
			if ps[i].Same(ps[j]) != same || (ps[i].Key() == ps[j].Key()) != same || (ps[i].ID() == ps[j].ID()) != same {
				t.Fatalf("%v (key %q) and %v (key %q): Same %v, want %v", ps[i], ps[i].Key(), ps[j], ps[j].Key(), ps[i].Same(ps[j]), same)
			}
		}
	}
}

// checkDuplicateRefused: a limiter given two quotas that keep the same
// state (here the first quota again, renamed) is refused with
// algo.ErrInvalid, whatever the store.
func checkDuplicateRefused(t fataler, s store.Store[string], spec *limiterSpec) {
	t.Helper()
	qs := append(slices.Clone(spec.given), spec.quotas[0].WithName("duplicate"))
	if _, err := typed.New[string](typed.WithStore(s), typed.WithAlgorithm(spec.alg), typed.WithQuotas(qs...)); !errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("typed.New with quotas %v (the first twice): err %v, want algo.ErrInvalid", qs, err)
	}
}

// qbackend is one store under test and the machine's limiters on it.
type qbackend struct {
	name string
	s    store.Store[string]
	lims []*typed.Limiter[string]
}

// qmachine drives limiters with several quotas, several limiters on
// shared keys, on one or more stores on one fake clock. Every store must
// give the same Results, equal to the conjunction of the exact models of
// the limiter's quotas on the key; models are per (quotaID, key), so
// limiters whose quotas keep one state share a model.
type qmachine struct {
	clk      *store.FakeClock
	specs    []*limiterSpec
	backends []qbackend
	tr       map[string]map[quotaID]*track
	keys     []string        // the keys of this check: a few of keys, so limiters often meet on one
	hist     map[string][]op // every call on a key, for replays
	edges    []int64
	ctx      context.Context
}

func newQMachine(t *rapid.T, extra int) *qmachine {
	ctx, cancel := context.WithTimeout(t.Context(), checkDeadline)
	t.Cleanup(cancel)
	specs := drawSpecs(t, extra)
	checkIdentities(t, specs)
	p := specs[0].ps[0].Params()
	m := &qmachine{
		clk:   store.NewFakeClock(drawStart(t, p.Period)),
		specs: specs,
		tr:    map[string]map[quotaID]*track{},
		keys:  rapid.SliceOfNDistinct(rapid.SampledFrom(keys), 1, len(keys), rapid.ID[string]).Draw(t, "keys"),
		hist:  map[string][]op{},
		ctx:   ctx,
	}
	for _, k := range m.keys {
		m.tr[k] = map[quotaID]*track{}
		for _, s := range specs {
			for i, id := range s.ids {
				if m.tr[k][id] == nil {
					m.tr[k][id] = newTrack(s.quotas[i].Algorithm, s.quotas[i])
				}
			}
		}
	}
	m.addBackend(t, "memory", newMemStore(t, m.clk))
	if rapid.IntRange(0, 9).Draw(t, "tryDuplicate") == 0 {
		checkDuplicateRefused(t, m.backends[0].s, specs[0])
	}
	return m
}

// addBackend builds the machine's limiters on s.
func (m *qmachine) addBackend(t fataler, name string, s store.Store[string]) {
	t.Helper()
	b := qbackend{name: name, s: s}
	for _, spec := range m.specs {
		l, err := typed.New[string](typed.WithStore(s), typed.WithAlgorithm(spec.alg), typed.WithQuotas(spec.given...))
		if err != nil {
			t.Fatalf("%s: typed.New(%v, %v): %v", name, spec.alg, spec.given, err)
		}
		if got := l.Quotas(); !slices.Equal(got, spec.quotas) {
			t.Fatalf("%s: Quotas() = %v, want %v", name, got, spec.quotas)
		}
		b.lims = append(b.lims, l)
	}
	m.backends = append(m.backends, b)
}

// models returns the models of spec's quotas on key, in its order.
func (m *qmachine) models(spec *limiterSpec, key string) ([]*model, []*track) {
	ks := make([]*track, len(spec.ids))
	ms := make([]*model, len(spec.ids))
	for i, id := range spec.ids {
		ks[i] = m.tr[key][id]
		ms[i] = ks[i].m
	}
	return ms, ks
}

func (m *qmachine) drawSpec(t *rapid.T) (int, *limiterSpec) {
	i := rapid.IntRange(0, len(m.specs)-1).Draw(t, "limiter")
	return i, m.specs[i]
}

func (m *qmachine) advance(t *rapid.T) {
	_, s := m.drawSpec(t)
	p := s.ps[rapid.IntRange(0, len(s.ps)-1).Draw(t, "stepFor")].Params()
	m.clk.Set(clampTime(m.clk.Now() + drawDelta(t, p.Period, p.Limit)))
}

func (m *qmachine) toEdge(t *rapid.T) {
	if len(m.edges) == 0 {
		t.Skip("no deadline yet")
	}
	e := rapid.SampledFrom(m.edges).Draw(t, "edge")
	m.clk.Set(clampTime(e + rapid.Int64Range(-1, 1).Draw(t, "edgeOffset")))
}

// drawCostFor draws a cost around the capacity of one of spec's quotas.
func drawCostFor(t *rapid.T, spec *limiterSpec, label string) int64 {
	return drawCost(t, rapid.SampledFrom(spec.caps).Draw(t, label+"For"), label)
}

// expect runs the models of limiter spec on key for a request of cost at
// the clock's time, checks the Result r every store agreed on and the
// invariants, records the call, and returns the models' combined
// decision.
func (m *qmachine) expect(t *rapid.T, what string, spec *limiterSpec, key string, cost int64, r typed.Result) algo.Decision {
	t.Helper()
	now := m.clk.Now()
	ms, ks := m.models(spec, key)
	before := make([]string, len(ms))
	for i, x := range ms {
		before[i] = x.describe()
	}
	d, each, effs := conjunction(ms, now, cost)
	what = fmt.Sprintf("%s: %v, key %q at %d cost %d (models before: %v)", what, spec, key, now, cost, before)
	checkResult(t, what, spec.quotas, spec.caps, r, d, each)
	// Each quota's own decision stands on its own: a quota that would have
	// admitted a denied request shows a peek.
	for i, e := range each {
		c := cost
		if d.Limited && !e.Limited {
			c = 0
		}
		checkDecision(t, what, spec.quotas[i].Algorithm, spec.caps[i], c, e)
		ks[i].note(now, effs[i], c, e)
	}
	checkCombined(t, what, spec, cost, d)
	if !d.Limited && cost > 0 {
		for i, k := range ks {
			k.admit(t, now, cost, effs[i], each[i])
		}
	}
	m.hist[key] = append(m.hist[key], op{at: now, cost: cost, ps: spec.ps})
	m.edges = appendEdges(m.edges, now, d)
	if debugStats != nil && len(spec.ids) > 1 {
		debugStats.add("several quotas")
		if d.Limited && slices.ContainsFunc(each, func(e algo.Decision) bool { return !e.Limited }) {
			debugStats.add("denied by some quotas, a peek from the others")
		}
	}
	return d
}

// checkCombined checks what holds of a combined decision on its own:
// RetryAfter = 0 iff allowed, never iff the cost is above the least
// capacity, positive when denied otherwise; cost 0 never limited.
func checkCombined(t fataler, what string, spec *limiterSpec, cost int64, d algo.Decision) {
	t.Helper()
	switch {
	case (d.RetryAfter == 0) != !d.Limited:
		t.Fatalf("%s: combined %+v: RetryAfter must be 0 exactly when allowed", what, d)
	case (cost > spec.minCap()) != (d.RetryAfter == never):
		t.Fatalf("%s: combined %+v: RetryAfter must be never exactly when the cost is above the least capacity %d", what, d, spec.minCap())
	case d.Limited && d.RetryAfter != never && d.RetryAfter <= 0:
		t.Fatalf("%s: combined %+v: a denied request must have RetryAfter > 0", what, d)
	case cost == 0 && d.Limited:
		t.Fatalf("%s: combined %+v: cost 0 must never be limited", what, d)
	}
}

// call runs f on every backend (the limiter i of each), requires them to
// agree, and returns the first's Result.
func (m *qmachine) call(t *rapid.T, what string, i int, f func(l *typed.Limiter[string]) (typed.Result, error)) typed.Result {
	t.Helper()
	var first typed.Result
	for j, b := range m.backends {
		r, err := f(b.lims[i])
		if err != nil {
			t.Fatalf("%s on %s: %v", what, b.name, err)
		}
		if j == 0 {
			first = r
		} else if !reflect.DeepEqual(r, first) {
			t.Fatalf("%s at %d: %s %s, %s %s", what, m.clk.Now(), m.backends[0].name, show(first), b.name, show(r))
		}
	}
	return first
}

// decide sends a Limit of limiter i to every store and checks it.
func (m *qmachine) decide(t *rapid.T, what string, i int, key string, cost int64) (typed.Result, algo.Decision) {
	t.Helper()
	r := m.call(t, fmt.Sprintf("%s: Limit(%q, %d)", what, key, cost), i, func(l *typed.Limiter[string]) (typed.Result, error) {
		return l.Limit(m.ctx, key, cost)
	})
	return r, m.expect(t, what, m.specs[i], key, cost, r)
}

func (m *qmachine) limit(t *rapid.T) {
	i, spec := m.drawSpec(t)
	key := rapid.SampledFrom(m.keys).Draw(t, "key")
	cost := drawCostFor(t, spec, "cost")
	x := rapid.Int64Range(0, math.MaxInt64).Draw(t, "probeOffset")
	before, _ := m.decide(t, "peek before", i, key, 0)
	_, d := m.decide(t, "limit", i, key, cost)
	if d.Limited {
		// A denied request changes nothing, under any quota.
		if after, _ := m.decide(t, "peek after a denial", i, key, 0); !reflect.DeepEqual(after, before) {
			t.Fatalf("a denied request (cost %d) changed the key: %v %+v before, %v %+v after", cost, before, before.Quotas, after, after.Quotas)
		}
	}
	probe(t, "limit", spec.ps, key, m.hist[key], m.clk.Now(), cost, d, x)
}

// peek checks Peek (the combined state) and Limit with cost 0 (each
// quota's state too) against the models, twice: a peek changes nothing.
func (m *qmachine) peek(t *rapid.T) {
	i, spec := m.drawSpec(t)
	key := rapid.SampledFrom(m.keys).Draw(t, "key")
	var states []typed.State
	for _, b := range m.backends {
		st, err := b.lims[i].Peek(m.ctx, key)
		if err != nil {
			t.Fatalf("%s Peek(%q): %v", b.name, key, err)
		}
		states = append(states, st)
	}
	first, _ := m.decide(t, "peek", i, key, 0)
	for j, st := range states {
		if st != first.State {
			t.Fatalf("%s: %v Peek(%q) = %v, Limit(cost 0) %v", m.backends[j].name, spec, key, st, first.State)
		}
	}
	if again, _ := m.decide(t, "peek again", i, key, 0); !reflect.DeepEqual(again, first) {
		t.Fatalf("%v: a peek changed the key: %v %+v, then %v %+v", spec, first, first.Quotas, again, again.Quotas)
	}
}

// limitAll decides a batch through LimitAll on every store, as one by one
// at one time, in input order per key.
func (m *qmachine) limitAll(t *rapid.T) {
	i, spec := m.drawSpec(t)
	reqs := drawBatch(t, m.keys, rapid.SampledFrom(spec.caps).Draw(t, "batchCostFor"))
	var first []typed.Result
	for j, b := range m.backends {
		res, err := b.lims[i].LimitAll(m.ctx, reqs)
		if err != nil || len(res) != len(reqs) {
			t.Fatalf("%s LimitAll(%v): %d results, %v", b.name, reqs, len(res), err)
		}
		if j == 0 {
			first = res
		} else if !reflect.DeepEqual(res, first) {
			t.Fatalf("%v LimitAll(%v) at %d: %s %s, %s %s", spec, reqs, m.clk.Now(), m.backends[0].name, show(first...), b.name, show(res...))
		}
	}
	for j, r := range reqs {
		m.expect(t, fmt.Sprintf("LimitAll request %d", j), spec, r.Key, r.Cost, first[j])
	}
}

// reset forgets a key under every quota of a limiter, and so under every
// quota of any limiter that keeps the same states; the others keep theirs.
func (m *qmachine) reset(t *rapid.T) {
	i, spec := m.drawSpec(t)
	key := rapid.SampledFrom(m.keys).Draw(t, "key")
	for _, b := range m.backends {
		if err := b.lims[i].Reset(m.ctx, key); err != nil {
			t.Fatalf("%s %v Reset(%q): %v", b.name, spec, key, err)
		}
	}
	_, ks := m.models(spec, key)
	for _, k := range ks {
		k.reset()
	}
	m.hist[key] = append(m.hist[key], op{at: m.clk.Now(), ps: spec.ps, reset: true})
}

// badInput: a negative cost, the empty key and a clock outside
// [0, 2^52] µs are invalid input (algo.ErrInvalid), and a done context is
// store.ErrUnavailable, refused before any state is touched; in LimitAll a
// bad request fails alone (an ItemError at its index, a zero Result) and
// the others are decided.
func (m *qmachine) badInput(t *rapid.T) {
	i, spec := m.drawSpec(t)
	key := rapid.SampledFrom(m.keys).Draw(t, "key")
	now := m.clk.Now()
	switch kind := rapid.IntRange(0, 3).Draw(t, "badKind"); kind {
	case 0, 1:
		ctx, want := m.ctx, algo.ErrInvalid
		if kind == 1 {
			if rapid.Bool().Draw(t, "badTime") {
				m.clk.Set(rapid.SampledFrom([]int64{-1, maxSafe + 1, math.MinInt64, math.MaxInt64}).Draw(t, "badTime"))
				defer m.clk.Set(now)
			} else {
				c, cancel := context.WithCancel(m.ctx)
				cancel()
				ctx, want = c, store.ErrUnavailable
			}
		}
		cost := int64(1)
		if kind == 0 {
			cost = rapid.SampledFrom([]int64{-1, math.MinInt64}).Draw(t, "badCost")
		}
		for _, b := range m.backends {
			if _, err := b.lims[i].Limit(ctx, key, cost); !errors.Is(err, want) {
				t.Fatalf("%s %v Limit(cost %d) at %d: err %v, want %v", b.name, spec, cost, m.clk.Now(), err, want)
			}
			if _, err := b.lims[i].Peek(ctx, key); kind == 1 && !errors.Is(err, want) {
				t.Fatalf("%s %v Peek at %d: err %v, want %v", b.name, spec, m.clk.Now(), err, want)
			}
			if want != store.ErrUnavailable {
				continue
			}
			if err := b.lims[i].Reset(ctx, key); !errors.Is(err, want) {
				t.Fatalf("%s %v Reset with a done context: err %v, want %v", b.name, spec, err, want)
			}
		}
	default:
		// One bad request among good ones.
		reqs := drawBatch(t, m.keys, rapid.SampledFrom(spec.caps).Draw(t, "batchCostFor"))
		bad := rapid.IntRange(0, len(reqs)-1).Draw(t, "badIndex")
		if kind == 2 {
			reqs[bad].Cost = -1
		} else {
			reqs[bad].Key = ""
		}
		var first []typed.Result
		for j, b := range m.backends {
			res, err := b.lims[i].LimitAll(m.ctx, reqs)
			var ie *typed.ItemError
			if !errors.Is(err, algo.ErrInvalid) || !errors.As(err, &ie) || ie.Index != bad || len(res) != len(reqs) ||
				!reflect.DeepEqual(res[bad], typed.Result{}) {
				t.Fatalf("%s LimitAll(%v) with request %d bad: %v, err %v; want a zero Result and an ItemError at %d matching algo.ErrInvalid", b.name, reqs, bad, res, err, bad)
			}
			if j == 0 {
				first = res
			} else if !reflect.DeepEqual(res, first) {
				t.Fatalf("%v LimitAll(%v) at %d: %s %s, %s %s", spec, reqs, m.clk.Now(), m.backends[0].name, show(first...), b.name, show(res...))
			}
		}
		for j, r := range reqs {
			if j != bad {
				m.expect(t, fmt.Sprintf("LimitAll request %d (request %d bad)", j, bad), spec, r.Key, r.Cost, first[j])
			}
		}
	}
}

func (m *qmachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"advance":  m.advance,
		"advance2": m.advance,
		"toEdge":   m.toEdge,
		"limit":    m.limit,
		"limit2":   m.limit,
		"peek":     m.peek,
		"limitAll": m.limitAll,
		"reset":    m.reset,
		"badInput": m.badInput,
	}
}

// reachAll is every edge the multi-quota machines must reach.
var reachAll = []string{reachClockBehind, reachCost0, reachAboveCapacity, reachTimeNearEnd, reachBucketBound, reachSlidingBound}

// TestLimiterMatchesModels drives a limiter with 1–3 random quotas (each
// from a quota family, so quotas reach algo.Compile's 2^52 bounds, under
// an algorithm drawn for it, named or not) on the memory store with random
// traces (clock steps of every size, backwards too, and onto exact
// deadlines; costs from 0 to above every capacity; Limit, Peek, Limit with
// cost 0, LimitAll, Reset, invalid input), and checks that it is the
// conjunction of the exact models of its quotas with all-or-nothing
// charging:
//
//   - a request is allowed iff every model admits it; then every model is
//     charged, else none (later steps would show a charge the models did
//     not make);
//   - Result.Limited and Result.State equal the combined decision (least
//     Remaining with that quota's Limit, greatest RetryAfter with never
//     winning, greatest ResetAfter), and Result.Quotas[i] quota i's own
//     decision, a peek when it would admit a request another quota denied
//     (nil Quotas with one quota);
//   - Peek is Limit with cost 0 and changes nothing; a denied request
//     changes nothing under any quota;
//   - Reset forgets every quota of the limiter;
//   - each quota's decision passes checkDecision and its admissions
//     checkBounds; the combined RetryAfter counts down exactly from the
//     caller's now and the same request passes exactly then and not a µs
//     before; at the combined ResetAfter every quota is at its initial
//     state, and the key then decides as a fresh key (probe);
//   - LimitAll decides as one by one, and a bad request in it fails alone.
func TestLimiterMatchesModels(t *testing.T) {
	st := logStats(t)
	ran := false
	check := rapid.MakeCheck(func(t *rapid.T) {
		m := newQMachine(t, 0)
		t.Repeat(m.actions())
	})
	t.Run("limiters=1", func(t *testing.T) { ran = true; check(t) })
	if ran && !t.Failed() {
		requireReached(t, st, append(reachAll, "several quotas", "denied by some quotas, a peek from the others")...)
	}
}

// TestLimitersShareOnlySameQuotas interleaves two or three limiters on the
// memory store on shared keys: the first with 1–3 random quotas, the
// others with fresh quotas, with neighbours of the first one's (another
// algorithm, period, limit or burst: states of their own; another name, or
// for a window another burst: the same state), or with the first one's
// quotas renamed and reordered (a pair that must share every state). Each
// limiter is checked against the models of its quotas as in
// TestLimiterMatchesModels, with one model per (quota identity, key), so a
// store that let different quotas touch each other's state, or kept
// renamed quotas apart, fails; store.Policy's Same, Key and ID must agree
// with the models' identity.
func TestLimitersShareOnlySameQuotas(t *testing.T) {
	st := logStats(t)
	ran := false
	check := rapid.MakeCheck(func(t *rapid.T) {
		m := newQMachine(t, 2)
		if debugStats != nil {
			for _, s := range m.specs[1:] {
				debugStats.add("limiter " + s.kind)
			}
		}
		t.Repeat(m.actions())
	})
	t.Run("limiters=2..3", func(t *testing.T) { ran = true; check(t) })
	if ran && !t.Failed() {
		requireReached(t, st, append(reachAll, "limiter fresh", "limiter neighbour", "limiter renamed")...)
	}
}

// TestLimitersMemoryRedis runs the machine of TestLimitersShareOnlySameQuotas
// (one to three limiters, each with one to three quotas, on shared keys) on
// the memory store, a standalone Redis and a three-node Redis Cluster side
// by side, time injected into every store from one fake clock: every
// Result (each QuotaState included) and every error must be the same on
// the three stores, and equal to the models'.
func TestLimitersMemoryRedis(t *testing.T) {
	standalone := redistest.Client(t, redistest.Standalone(t).Addr())
	cluster := redistest.Client(t, redistest.Cluster(t).Addrs()...)
	rapid.Check(t, func(t *rapid.T) {
		m := newQMachine(t, rapid.IntRange(0, 2).Draw(t, "extraMax"))
		m.addBackend(t, "redis", newRedisStore(t, standalone, m.clk))
		m.addBackend(t, "cluster", newRedisStore(t, cluster, m.clk))
		t.Repeat(m.actions())
	})
}
