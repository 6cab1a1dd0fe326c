package proptest

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// This file holds what the state machines share: the per-key bookkeeping
// (model, history, admissions) and the invariants checked on every step.

// fataler is what the checks need of *rapid.T (and *testing.T).
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// op is one call as it reached a store, for replaying a key's history: the
// raw clock reading, the cost (0 for a peek) and the policies of the
// request, or a Reset of those policies.
type op struct {
	at, cost int64
	ps       []*store.Policy
	reset    bool
}

func (o op) String() string {
	what := fmt.Sprintf("cost %d", o.cost)
	if o.reset {
		what = "reset"
	}
	return fmt.Sprintf("{at %d %s %v}", o.at, what, o.ps)
}

// admission is an allowed request of cost > 0 at the key's effective time.
type admission struct {
	at, cost int64
}

// track is everything the tests remember about one key's state under one
// quota identity (quotaID): the exact model and the admissions.
type track struct {
	id   quotaID
	m    *model
	hist []op        // the single-policy machine's requests since the key was last fresh by Reset
	adm  []admission // every admission since then, for the bounds

	// expireAt is when the key's state is back to initial, in the
	// caller's time of the last admission: its raw time plus its
	// ResetAfter (for the statistics).
	expireAt int64
}

func newTrack(a algo.Algorithm, q algo.Quota) *track {
	return &track{id: idOf(a, q), m: newModel(a, q)}
}

func (k *track) reset() {
	k.m.reset()
	k.hist, k.adm, k.expireAt = nil, nil, 0
}

// admit records an admission decided at raw time now, effective time eff,
// with decision d, and checks the admission bounds.
func (k *track) admit(t fataler, now, cost, eff int64, d algo.Decision) {
	t.Helper()
	k.adm = append(k.adm, admission{eff, cost})
	k.expireAt = now + d.ResetAfter
	checkBounds(t, k.m.alg, k.m, k.adm)
}

// note counts, when statistics are on, what kind of decision d of a
// request of cost at raw time now is (eff: the model's effective time).
func (k *track) note(now, eff, cost int64, d algo.Decision) {
	if debugStats == nil {
		return
	}
	a := k.m.alg.String()
	switch {
	case cost == 0:
		debugStats.add(a + " peek")
	case d.RetryAfter == never:
		debugStats.add(a + " never")
	case d.Limited:
		debugStats.add(a + " denied")
	case d.Remaining == 0:
		debugStats.add(a + " allowed to 0")
	default:
		debugStats.add(a + " allowed")
	}
	if now < eff {
		debugStats.add(a + " clock behind")
		debugStats.add(reachClockBehind)
		if d.RetryAfter > 0 || d.ResetAfter > 0 {
			debugStats.add(a + " lag added")
		}
	}
	if k.m.admitted && now >= k.expireAt {
		debugStats.add(a + " expired")
	}
	if cost == 0 {
		debugStats.add(reachCost0)
	}
	if cost > k.m.capacity() {
		debugStats.add(reachAboveCapacity)
	}
	if maxSafe-now < 3*k.m.p {
		debugStats.add(reachTimeNearEnd)
	}
	if now == maxSafe {
		debugStats.add("time = 2^52")
	}
	noteBounds(k.m)
}

// noteBounds counts the quotas on algo.Compile's representability bounds
// that a decision exercised.
func noteBounds(m *model) {
	switch {
	case m.alg.IsBucket() && m.b == maxSafe/(m.p/gcd(m.p, m.l)):
		debugStats.add(reachBucketBound)
	case m.alg == algo.SlidingWindow && m.l == maxSafe/m.p:
		debugStats.add(reachSlidingBound)
	}
	if m.p > maxSafe-4 {
		debugStats.add("period near 2^52")
	}
	if m.l > maxSafe-4 {
		debugStats.add("limit near 2^52")
	}
}

// decideModel runs the model for a request at raw time now and checks the
// store's answer d, which must be the model's to the field. It returns the
// effective time.
func (k *track) decideModel(t fataler, what string, now, cost int64, d algo.Decision) int64 {
	t.Helper()
	before := k.m.clone()
	want, eff := k.m.decide(now, cost)
	if d != want {
		t.Fatalf("%s: %v key at %d (effective %d) cost %d: store %+v, model %+v\nmodel before: %s\nhistory: %v",
			what, k.m.alg, now, eff, cost, d, want, before.describe(), k.hist)
	}
	checkDecision(t, what, k.m.alg, k.m.capacity(), cost, d)
	k.note(now, eff, cost, d)
	return eff
}

func (m *model) describe() string {
	switch {
	case !m.admitted:
		return "fresh"
	case m.alg == algo.TokenBucket:
		return fmt.Sprintf("last %d level %v", m.last, m.level.RatString())
	case m.alg == algo.LeakingBucket:
		return fmt.Sprintf("last %d water %v", m.last, m.water.RatString())
	case m.alg == algo.GCRA:
		return fmt.Sprintf("last %d tat %v", m.last, m.tat.RatString())
	default:
		return fmt.Sprintf("last %d counts %v", m.last, m.count)
	}
}

// checkDecision checks what holds of every decision on its own:
// Remaining in [0, Limit]; RetryAfter = 0 iff allowed; RetryAfter = never
// iff the cost is above the capacity (such a request is always denied);
// a denied request has a positive RetryAfter; ResetAfter ≥ 0, and 0 only
// when the key is at its initial state (Remaining = Limit).
func checkDecision(t fataler, what string, a algo.Algorithm, capacity, cost int64, d algo.Decision) {
	t.Helper()
	fail := func(why string) {
		t.Helper()
		t.Fatalf("%s: %v cost %d: %+v: %s", what, a, cost, d, why)
	}
	if d.Remaining < 0 || d.Remaining > capacity {
		fail(fmt.Sprintf("Remaining outside [0, %d]", capacity))
	}
	if (d.RetryAfter == 0) != !d.Limited {
		fail("RetryAfter must be 0 exactly when allowed")
	}
	if (cost > capacity) != (d.RetryAfter == never) {
		fail("RetryAfter must be never exactly when cost > capacity")
	}
	if d.Limited && d.RetryAfter != never && d.RetryAfter <= 0 {
		fail("a denied request must have RetryAfter > 0")
	}
	if d.ResetAfter < 0 || (d.ResetAfter == 0) != (d.Remaining == capacity) {
		fail("ResetAfter must be ≥ 0, and 0 exactly when Remaining = Limit")
	}
	if cost == 0 && d.Limited {
		fail("cost 0 must never be limited")
	}
}

// checkBounds checks, after an admission, that the key never admitted more
// than the quota allows, over the admissions' effective times (a clock that
// steps back is taken at the last admission, so effective times never
// decrease):
//
//   - token bucket, leaky bucket, GCRA (capacity B, rate L/P): over every
//     interval [t1, t2] of admission times, admitted cost ≤ B + ⌊(t2−t1)·L/P⌋
//     (the bucket holds at most B at t1 and refills (t2−t1)·L/P by t2; costs
//     are integers, so the fraction is floored);
//   - fixed window: per aligned window [kP, (k+1)P), admitted cost ≤ L;
//   - sliding window: per aligned window, admitted cost ≤ L (the estimate
//     counts the current window in full); so any interval shorter than P,
//     which meets at most two aligned windows, admits at most 2L.
//
// Only the intervals ending at the newest admission are checked: the older
// ones were checked when they ended.
func checkBounds(t fataler, a algo.Algorithm, m *model, adm []admission) {
	t.Helper()
	n := len(adm) - 1
	last := adm[n]
	if n > 0 && adm[n-1].at > last.at {
		t.Fatalf("%v: admission at effective time %d after one at %d: the key's time ran back", a, last.at, adm[n-1].at)
	}
	if a.IsBucket() {
		var sum int64
		for i := n; i >= 0; i-- {
			sum += adm[i].cost
			// ⌊(t2−t1)·L/P⌋ without overflow.
			refill := new(big.Int).Mul(big.NewInt(last.at-adm[i].at), big.NewInt(m.l))
			refill.Div(refill, big.NewInt(m.p))
			bound := new(big.Int).Add(refill, big.NewInt(m.b))
			if big.NewInt(sum).Cmp(bound) > 0 {
				t.Fatalf("%v over-admitted: %d admitted in [%d, %d], bound B + ⌊d·L/P⌋ = %d + %d\nadmissions: %v",
					a, sum, adm[i].at, last.at, m.b, refill, adm[i:])
			}
		}
		return
	}
	w := floorDiv(last.at, m.p)
	var sum int64
	for i := n; i >= 0 && floorDiv(adm[i].at, m.p) == w; i-- {
		sum += adm[i].cost
	}
	if sum > m.l {
		t.Fatalf("%v over-admitted: %d admitted in window [%d, %d), bound L = %d\nadmissions: %v", a, sum, w*m.p, (w+1)*m.p, m.l, adm)
	}
}

// newMemStore returns a memory store on clk; a bad option is a test bug.
func newMemStore(t fataler, clk store.Clock) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.WithClock(clk))
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	return s
}

// replay returns a new memory store on its own fake clock holding the
// state that hist leaves under key, for probing a key's future without
// touching the store under test.
func replay(t fataler, key string, hist []op) (*memstore.Store, *store.FakeClock) {
	t.Helper()
	clk := store.NewFakeClock(0)
	s, err := memstore.New(memstore.WithClock(clk), memstore.WithShards(1))
	if err != nil {
		t.Fatalf("replay: memstore.New: %v", err)
	}
	for _, o := range hist {
		clk.Set(o.at)
		if o.reset {
			err = s.Reset(context.Background(), key, o.ps)
		} else {
			_, err = s.Decide(context.Background(), key, o.ps, o.cost, nil)
		}
		if err != nil {
			t.Fatalf("replay %v: %v", o, err)
		}
	}
	return s, clk
}

// probe checks, on a replayed copy of the key, that the durations of d
// (the combined decision of a request of cost under ps at raw time now,
// the last entry of hist) are exact in the caller's time, even when the
// clock was behind the key's state:
//
//   - RetryAfter counts down (RetryAfter−x at now+x, the request still
//     denied) until the same request passes at exactly now+RetryAfter;
//   - ResetAfter counts down too, and at exactly now+ResetAfter a Peek
//     shows the initial state under every policy, after which the key
//     decides a request exactly as a key never used does.
func probe(t fataler, what string, ps []*store.Policy, key string, hist []op, now, cost int64, d algo.Decision, x int64) {
	t.Helper()
	ctx := context.Background()
	each := make([]algo.Decision, len(ps))
	decide := func(s *memstore.Store, k string, c int64) algo.Decision {
		t.Helper()
		got, err := s.Decide(ctx, k, ps, c, each)
		if err != nil {
			t.Fatalf("%s: probe: %v", what, err)
		}
		return got
	}
	if now+max(d.ResetAfter, d.RetryAfter) > maxSafe {
		return // the stores refuse times past 2^52
	}
	if d.Limited && d.RetryAfter != never {
		s, clk := replay(t, key, hist)
		for _, off := range []int64{x % d.RetryAfter, d.RetryAfter - 1} {
			clk.Set(now + off)
			if got := decide(s, key, cost); !got.Limited || got.RetryAfter != d.RetryAfter-off {
				t.Fatalf("%s: denied at %d with RetryAfter %d, but the same request %dµs later: %+v (want denied, RetryAfter %d)\nhistory: %v",
					what, now, d.RetryAfter, off, got, d.RetryAfter-off, hist)
			}
		}
		clk.Set(now + d.RetryAfter)
		if got := decide(s, key, cost); got.Limited {
			t.Fatalf("%s: denied at %d with RetryAfter %d, but the same request is still denied then: %+v\nhistory: %v", what, now, d.RetryAfter, got, hist)
		}
	}
	s, clk := replay(t, key, hist)
	if d.ResetAfter > 0 {
		for _, off := range []int64{x % d.ResetAfter, d.ResetAfter - 1} {
			clk.Set(now + off)
			if got := decide(s, key, 0); got.ResetAfter != d.ResetAfter-off {
				t.Fatalf("%s: ResetAfter %d at %d, but a Peek %dµs later: %+v (want ResetAfter %d)\nhistory: %v", what, d.ResetAfter, now, off, got, d.ResetAfter-off, hist)
			}
		}
	}
	clk.Set(now + d.ResetAfter)
	decide(s, key, 0)
	least := int64(-1)
	for i, p := range ps {
		if initial := (algo.Decision{Remaining: p.Max()}); each[i] != initial {
			t.Fatalf("%s: ResetAfter %d at %d, but a Peek then shows %+v under %v, not the initial state %+v\nhistory: %v", what, d.ResetAfter, now, each[i], p, initial, hist)
		}
		if least < 0 || p.Max() < least {
			least = p.Max()
		}
	}
	c := max(1, x%(least+1))
	got, gotEach := decide(s, key, c), fmt.Sprint(each)
	if fresh := decide(s, key+"\x00fresh", c); got != fresh || gotEach != fmt.Sprint(each) {
		t.Fatalf("%s: ResetAfter %d at %d, but then cost %d decides %+v %v where a fresh key decides %+v %v", what, d.ResetAfter, now, c, got, gotEach, fresh, each)
	}
}

// micros turns a Result's duration back into µs (never for typed.Never);
// a duration that is not whole µs fails the test.
func micros(t fataler, d time.Duration) int64 {
	t.Helper()
	if d == typed.Never {
		return never
	}
	if d%time.Microsecond != 0 {
		t.Fatalf("duration %v is not whole µs", d)
	}
	return int64(d / time.Microsecond)
}

// resultDecision turns the Result of a limiter with one quota, whose Limit
// is capacity, back into a Decision (µs).
func resultDecision(t fataler, capacity int64, r typed.Result) algo.Decision {
	t.Helper()
	if r.State.Limit != capacity {
		t.Fatalf("Result %v: Limit %d, want %d", r, r.State.Limit, capacity)
	}
	if r.Quotas != nil || r.Source != typed.FromStore {
		t.Fatalf("Result %v of a limiter with one quota has Quotas %v and Source %v, want nil and FromStore", r, r.Quotas, r.Source)
	}
	return algo.Decision{Limited: r.Limited, Remaining: r.State.Remaining, RetryAfter: micros(t, r.State.RetryAfter), ResetAfter: micros(t, r.State.ResetAfter)}
}

// stateOf is the typed.State of a decision under a quota whose states
// report limit as their Limit.
func stateOf(limit int64, d algo.Decision) typed.State {
	dur := func(us int64) time.Duration {
		if us == never {
			return typed.Never
		}
		return time.Duration(us) * time.Microsecond
	}
	return typed.State{Limit: limit, Remaining: d.Remaining, ResetAfter: dur(d.ResetAfter), RetryAfter: dur(d.RetryAfter)}
}

// checkResult checks a limiter's Result r against the models' decision: d
// combined, each per quota. qs are the limiter's quotas (each with its
// algorithm and name, as Limiter.Quotas returns them) and caps their
// capacities (the Limit of their states). The combined State is d with the
// Limit of the quota with the least Remaining (any of them on a tie); with
// one quota, Quotas is nil, and with several, Quotas[i] is quota i's own
// decision (a peek when it would have admitted a request another denied).
func checkResult(t fataler, what string, qs []algo.Quota, caps []int64, r typed.Result, d algo.Decision, each []algo.Decision) {
	t.Helper()
	fail := func(why string) {
		t.Helper()
		t.Fatalf("%s: %s\nResult %v, Quotas %+v\nmodels: %+v, each %+v", what, why, r, r.Quotas, d, each)
	}
	if r.Source != typed.FromStore {
		fail("not decided by the store")
	}
	if r.Limited != d.Limited {
		fail("Limited differs")
	}
	want := stateOf(r.State.Limit, d)
	if r.State != want {
		fail(fmt.Sprintf("State differs: want %v", want))
	}
	tied := false
	for i, e := range each {
		tied = tied || e.Remaining == d.Remaining && caps[i] == r.State.Limit
	}
	if !tied {
		fail(fmt.Sprintf("State.Limit %d is not the Limit of a quota with the least Remaining (%d); Limits %v", r.State.Limit, d.Remaining, caps))
	}
	if len(qs) == 1 {
		if r.Quotas != nil {
			fail("one quota, but Quotas is not nil")
		}
		return
	}
	if len(r.Quotas) != len(qs) {
		fail(fmt.Sprintf("%d quotas, but %d QuotaStates", len(qs), len(r.Quotas)))
	}
	for i, q := range qs {
		if w := (typed.QuotaState{Quota: q, Limited: each[i].Limited, State: stateOf(caps[i], each[i])}); r.Quotas[i] != w {
			fail(fmt.Sprintf("Quotas[%d] = %+v, want %+v", i, r.Quotas[i], w))
		}
	}
}
