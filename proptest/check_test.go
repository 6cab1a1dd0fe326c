package proptest

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
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

// op is one request as it reached a store: the raw clock reading and the cost
// (0 for a peek).
type op struct {
	at, cost int64
}

// admission is an allowed request of cost > 0 at the key's effective time.
type admission struct {
	at, cost int64
}

// track is everything the tests remember about one key of one algorithm.
type track struct {
	alg  algo.Algorithm
	p    *algo.Params
	m    *model
	hist []op        // every request since the key was last fresh by Reset, in order
	adm  []admission // every admission since then, for the bounds

	// expireAt is when the memory store's entry expires: the last
	// admission's effective time plus its ResetAfter (for the statistics).
	expireAt int64
}

func newTrack(qc quotaCase, a algo.Algorithm) *track {
	return &track{alg: a, p: qc.params[a], m: newModel(a, qc.q)}
}

func (k *track) reset() {
	k.m.reset()
	k.hist, k.adm, k.expireAt = nil, nil, 0
}

// apply records a request decided at raw time now with decision d (already
// compared with the model by the caller, which passes the model's effective
// time eff) and checks the admission bounds.
func (k *track) apply(t fataler, now, cost, eff int64, d algo.Decision) {
	t.Helper()
	k.hist = append(k.hist, op{now, cost})
	if !d.Limited && cost > 0 {
		k.adm = append(k.adm, admission{eff, cost})
		k.expireAt = eff + d.ResetAfter
		checkBounds(t, k.alg, k.m, k.adm)
	}
}

// decideModel runs the model for a request and checks the store's answer d.
func (k *track) decideModel(t fataler, what string, now, cost int64, d algo.Decision) int64 {
	t.Helper()
	before := k.m.clone()
	want, eff := k.m.decide(now, cost)
	if d != want {
		t.Fatalf("%s: %v key at %d (effective %d) cost %d: store %+v, model %+v\nmodel before: %s\nhistory: %v",
			what, k.alg, now, eff, cost, d, want, before.describe(), k.hist)
	}
	checkDecision(t, what, k.p, cost, d)
	if debugStats != nil {
		switch {
		case cost == 0:
			debugStats.add(k.alg.String() + " peek")
		case d.RetryAfter == algo.Never:
			debugStats.add(k.alg.String() + " never")
		case d.Limited:
			debugStats.add(k.alg.String() + " denied")
		case d.Remaining == 0:
			debugStats.add(k.alg.String() + " allowed to 0")
		default:
			debugStats.add(k.alg.String() + " allowed")
		}
		if now < eff {
			debugStats.add(k.alg.String() + " clock behind")
		}
		if k.m.admitted && now >= k.expireAt {
			debugStats.add(k.alg.String() + " expired")
		}
	}
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
// Remaining in [0, Limit]; RetryAfter = 0 iff allowed; RetryAfter = Never
// iff the cost is above the capacity (such a request is always denied);
// a denied request has a positive RetryAfter; ResetAfter ≥ 0, and 0 only
// when the key is at its initial state (Remaining = Limit).
func checkDecision(t fataler, what string, p *algo.Params, cost int64, d algo.Decision) {
	t.Helper()
	fail := func(why string) {
		t.Helper()
		t.Fatalf("%s: %v cost %d: %+v: %s", what, p.Algorithm, cost, d, why)
	}
	if d.Remaining < 0 || d.Remaining > p.Max {
		fail(fmt.Sprintf("Remaining outside [0, %d]", p.Max))
	}
	if (d.RetryAfter == 0) != !d.Limited {
		fail("RetryAfter must be 0 exactly when allowed")
	}
	if (cost > p.Max) != (d.RetryAfter == algo.Never) {
		fail("RetryAfter must be Never exactly when cost > capacity")
	}
	if d.Limited && d.RetryAfter != algo.Never && d.RetryAfter <= 0 {
		fail("a denied request must have RetryAfter > 0")
	}
	if d.ResetAfter < 0 || (d.ResetAfter == 0) != (d.Remaining == p.Max) {
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

// replay returns a new memory store on its own fake clock holding the state
// that hist leaves under key, for probing a key's future without touching
// the store under test.
func replay(t fataler, p *algo.Params, key string, hist []op) (*memstore.Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(0)
	s := memstore.New(memstore.WithClock(clk), memstore.WithSweepInterval(0))
	for _, o := range hist {
		clk.Set(o.at)
		if _, err := s.Decide(context.Background(), key, p, o.cost); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	return s, clk
}

// probe checks, on a replayed copy of the key, that the durations of d (the
// decision of a request of cost at effective time eff, the last entry of
// hist) are exact:
//
//   - RetryAfter counts down (RetryAfter−x at eff+x, the request still
//     denied) until the same request passes at exactly eff+RetryAfter;
//   - ResetAfter counts down too, and at exactly eff+ResetAfter a Peek shows
//     the initial state, after which the key decides a request exactly as a
//     key never used does.
func probe(t fataler, what string, p *algo.Params, key string, hist []op, eff, cost int64, d algo.Decision, x int64) {
	t.Helper()
	ctx := context.Background()
	decide := func(s store.Store, k string, c int64) algo.Decision {
		t.Helper()
		got, err := s.Decide(ctx, k, p, c)
		if err != nil {
			t.Fatalf("%s: probe: %v", what, err)
		}
		return got
	}
	if eff+d.ResetAfter > maxSafe {
		return // the stores refuse times past 2^52
	}
	if d.Limited && d.RetryAfter != algo.Never {
		s, clk := replay(t, p, key, hist)
		for _, off := range []int64{x % d.RetryAfter, d.RetryAfter - 1} {
			clk.Set(eff + off)
			if got := decide(s, key, cost); !got.Limited || got.RetryAfter != d.RetryAfter-off {
				t.Fatalf("%s: denied at %d with RetryAfter %d, but the same request %dµs later: %+v (want denied, RetryAfter %d)",
					what, eff, d.RetryAfter, off, got, d.RetryAfter-off)
			}
		}
		clk.Set(eff + d.RetryAfter)
		if got := decide(s, key, cost); got.Limited {
			t.Fatalf("%s: denied at %d with RetryAfter %d, but the same request is still denied then: %+v", what, eff, d.RetryAfter, got)
		}
		s.Close()
	}
	s, clk := replay(t, p, key, hist)
	defer s.Close()
	if d.ResetAfter > 0 {
		for _, off := range []int64{x % d.ResetAfter, d.ResetAfter - 1} {
			clk.Set(eff + off)
			if got := decide(s, key, 0); got.ResetAfter != d.ResetAfter-off {
				t.Fatalf("%s: ResetAfter %d at %d, but a Peek %dµs later: %+v (want ResetAfter %d)", what, d.ResetAfter, eff, off, got, d.ResetAfter-off)
			}
		}
	}
	clk.Set(eff + d.ResetAfter)
	initial := algo.Decision{Remaining: p.Max}
	if got := decide(s, key, 0); got != initial {
		t.Fatalf("%s: ResetAfter %d at %d, but a Peek then shows %+v, not the initial state %+v", what, d.ResetAfter, eff, got, initial)
	}
	c := max(1, x%(p.Max+1))
	if got, fresh := decide(s, key, c), decide(s, key+"\x00fresh", c); got != fresh {
		t.Fatalf("%s: ResetAfter %d at %d, but then cost %d decides %+v where a fresh key decides %+v", what, d.ResetAfter, eff, c, got, fresh)
	}
}

// resultDecision turns a typed Result back into a Decision (µs).
func resultDecision(t fataler, p *algo.Params, r typed.Result) algo.Decision {
	t.Helper()
	if r.State.Limit != p.Max {
		t.Fatalf("Result %v: Limit %d, want %d", r, r.State.Limit, p.Max)
	}
	us := func(d time.Duration) int64 {
		if d == typed.Never {
			return algo.Never
		}
		if d%time.Microsecond != 0 {
			t.Fatalf("Result %v: duration %v is not whole µs", r, d)
		}
		return int64(d / time.Microsecond)
	}
	return algo.Decision{Limited: r.Limited, Remaining: r.State.Remaining, RetryAfter: us(r.State.RetryAfter), ResetAfter: us(r.State.ResetAfter)}
}
