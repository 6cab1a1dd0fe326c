package algo

import (
	"fmt"
	"testing"
)

// Durations in microseconds, for reading timelines.
const (
	usec    int64 = 1
	msec    int64 = 1_000 * usec
	second  int64 = 1_000 * msec
	minute  int64 = 60 * second
	hour    int64 = 60 * minute
	day     int64 = 24 * hour
	week    int64 = 7 * day
	century int64 = 100 * 365 * day // 3_153_600_000_000_000µs, under MaxSafe
)

// keySim is one key of a store driving a step function the way the stores
// do (see store/memstore's generated bindings):
//   - a key with no stored state starts from XInit(q, now);
//   - the new state is stored only when the request was allowed and cost > 0;
//   - a stored state expires ResetAfter after its own time (its Last), and an
//     expired key is absent, so the next request starts fresh.
//
// A frozen keySim never expires: it shows what the state itself says.
type keySim[S comparable] struct {
	p      Params
	init   func(Params, int64) S
	step   func(S, Params, int64, int64) (S, Decision)
	last   func(S) int64
	stored bool
	state  S
	expiry int64 // µs: the stored state is gone from this time on
	frozen bool
	// writePeeks stores the state a cost-0 request returns too, which a
	// store does not do; it must make no difference.
	writePeeks bool
	// changedOnDeny records a step that denied a request yet returned a
	// state different from the one it was given.
	changedOnDeny string
}

// sim is a keySim of any algorithm.
type sim interface {
	// limit decides a request of cost at time at and keeps the state as a
	// store would.
	limit(at, cost int64) Decision
	// clone returns an independent copy.
	clone() sim
	// freeze returns a copy holding the state in effect at time at (the
	// stored one, or a fresh one if the key is absent then) that never
	// expires.
	freeze(at int64) sim
	params() Params
	// violation reports a broken invariant of the step function seen so far.
	violation() string
	// storePeeks makes the key store the state returned by cost-0 requests.
	storePeeks()
}

func (k *keySim[S]) current(at int64) S {
	if k.stored && (k.frozen || at < k.expiry) {
		return k.state
	}
	return k.init(k.p, at)
}

func (k *keySim[S]) limit(at, cost int64) Decision {
	s := k.current(at)
	ns, d := k.step(s, k.p, at, cost)
	if d.Limited && ns != s && k.changedOnDeny == "" {
		k.changedOnDeny = fmt.Sprintf("denied request (at=%d cost=%d) changed the state %+v to %+v", at, cost, s, ns)
	}
	if !d.Limited && (cost > 0 || k.writePeeks) {
		k.stored, k.state, k.expiry = true, ns, at+d.ResetAfter // ResetAfter holds from at, even with lag
	}
	return d
}

func (k *keySim[S]) clone() sim { c := *k; return &c }

func (k *keySim[S]) freeze(at int64) sim {
	c := *k
	c.state, c.stored, c.frozen = k.current(at), true, true
	return &c
}

func (k *keySim[S]) params() Params    { return k.p }
func (k *keySim[S]) violation() string { return k.changedOnDeny }
func (k *keySim[S]) storePeeks()       { k.writePeeks = true }

// newSim returns an empty key for p's algorithm.
func newSim(p Params) sim {
	switch p.Algorithm {
	case FixedWindow:
		return &keySim[FixedWindowState]{p: p, init: FixedWindowInit, step: FixedWindowStep,
			last: func(s FixedWindowState) int64 { return s.Last }}
	case SlidingWindow:
		return &keySim[SlidingWindowState]{p: p, init: SlidingWindowInit, step: SlidingWindowStep,
			last: func(s SlidingWindowState) int64 { return s.Last }}
	case TokenBucket:
		return &keySim[TokenBucketState]{p: p, init: TokenBucketInit, step: TokenBucketStep,
			last: func(s TokenBucketState) int64 { return s.Last }}
	case LeakingBucket:
		return &keySim[LeakingBucketState]{p: p, init: LeakingBucketInit, step: LeakingBucketStep,
			last: func(s LeakingBucketState) int64 { return s.Last }}
	case GCRA:
		return &keySim[GCRAState]{p: p, init: GCRAInit, step: GCRAStep,
			last: func(s GCRAState) int64 { return s.Last }}
	}
	panic(fmt.Sprintf("newSim: %v", p.Algorithm))
}

func mustCompile(t testing.TB, a Algorithm, q Quota) Params {
	t.Helper()
	p, err := Compile(a, q)
	if err != nil {
		t.Fatalf("Compile(%s, %v): %v", a, q, err)
	}
	return p
}

// checkDecision checks, for the request of cost at time at that got d, what
// holds for every decision of every algorithm. before is the key as it was
// before the request and after as it is after it; neither is changed.
//
//   - Limit's bounds: 0 ≤ Remaining ≤ Max, ResetAfter ≥ 0, RetryAfter is 0
//     exactly when allowed, never exactly when cost exceeds the capacity, and
//     cost 0 is never limited.
//   - Peek (cost 0) right after reports the same Remaining and ResetAfter.
//   - RetryAfter is exact: the same request passes after waiting RetryAfter
//     and is still limited 1µs earlier (both on the store and on the state
//     itself); a never request stays limited whatever the wait.
//   - ResetAfter is exact: with no traffic the state is back to
//     Remaining == Max (and ResetAfter 0) at ResetAfter, and not 1µs earlier.
//   - A denied request leaves the state as it was.
//
// When the clock stepped back (at earlier than the state's time) the step
// functions decide as at the state's time (algo's doc) and add the lag to
// the durations, so the waits hold from at, the caller's time.
func checkDecision(t testing.TB, label string, before, after sim, at, cost int64, d Decision) {
	t.Helper()
	p := after.params()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s (at=%d cost=%d → %+v): %s", label, at, cost, d, fmt.Sprintf(format, args...))
	}
	if v := after.violation(); v != "" {
		fail("%s", v)
	}
	if d.Remaining < 0 || d.Remaining > p.Max {
		fail("Remaining outside [0, %d]", p.Max)
	}
	if d.ResetAfter < 0 {
		fail("negative ResetAfter")
	}
	switch {
	case !d.Limited && d.RetryAfter != 0:
		fail("allowed with RetryAfter %d, want 0", d.RetryAfter)
	case d.Limited && cost > p.Max && d.RetryAfter != never:
		fail("cost above the capacity %d: want RetryAfter never", p.Max)
	case d.Limited && cost <= p.Max && d.RetryAfter <= 0:
		fail("limited with RetryAfter %d, want > 0", d.RetryAfter)
	case cost == 0 && d.Limited:
		fail("cost 0 limited")
	}

	if pk := after.clone().limit(at, 0); pk != (Decision{Remaining: d.Remaining, ResetAfter: d.ResetAfter}) {
		fail("Peek right after reports %+v", pk)
	}

	now := at
	frozen := after.freeze(at)
	if pk := frozen.clone().limit(now+d.ResetAfter, 0); pk.Remaining != p.Max || pk.ResetAfter != 0 {
		fail("at ResetAfter (t=%d) Peek shows %+v, want Remaining %d, ResetAfter 0", now+d.ResetAfter, pk, p.Max)
	}
	if d.ResetAfter > 0 {
		if pk := frozen.clone().limit(now+d.ResetAfter-1, 0); pk.Remaining == p.Max {
			fail("1µs before ResetAfter (t=%d) Peek already shows Remaining == Limit: %+v", now+d.ResetAfter-1, pk)
		}
	}

	if !d.Limited {
		return
	}
	if d.RetryAfter == never {
		for _, k := range []sim{before.clone(), frozen.clone()} {
			if r := k.limit(now+p.Period, cost); !r.Limited || r.RetryAfter != never {
				fail("a period later the never-passing request gets %+v", r)
			}
		}
		return
	}
	for name, k := range map[string]sim{"store": before, "state": frozen} {
		if r := k.clone().limit(now+d.RetryAfter, cost); r.Limited {
			fail("%s: retried after RetryAfter (t=%d) still limited: %+v", name, now+d.RetryAfter, r)
		}
		if r := k.clone().limit(now+d.RetryAfter-1, cost); !r.Limited {
			fail("%s: retried 1µs before RetryAfter (t=%d) already allowed: %+v", name, now+d.RetryAfter-1, r)
		}
	}
}

// recorder is a testing.TB that records Errorf calls (the only methods
// checkDecision uses besides Helper).
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckDecisionCatchesMutants makes sure the checks are sharp: a token
// bucket whose step is off by one in any field, or that changes the state
// on a denial, must be flagged on the trace below, and the real one not.
func TestCheckDecisionCatchesMutants(t *testing.T) {
	mutants := map[string]func(s, ns TokenBucketState, d Decision) (TokenBucketState, Decision){
		"none": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) { return ns, d },
		"RetryAfter+1": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.Limited && d.RetryAfter != never {
				d.RetryAfter++
			}
			return ns, d
		},
		"RetryAfter-1": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.Limited && d.RetryAfter > 1 {
				d.RetryAfter--
			}
			return ns, d
		},
		"ResetAfter+1": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.ResetAfter > 0 {
				d.ResetAfter++
			}
			return ns, d
		},
		"ResetAfter-1": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.ResetAfter > 0 {
				d.ResetAfter--
			}
			return ns, d
		},
		"denial takes a unit": func(s, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.Limited {
				s.Level--
				return s, d
			}
			return ns, d
		},
		"never forgotten": func(_, ns TokenBucketState, d Decision) (TokenBucketState, Decision) {
			if d.RetryAfter == never {
				d.RetryAfter = 1
			}
			return ns, d
		},
	}
	p := mustCompile(t, TokenBucket, PerSec(3))
	trace := []step{{0, 3, false, 0, 0, 0}, {0, 4, false, 0, 0, 0}, {333_333, 1, false, 0, 0, 0}, {333_334, 1, false, 0, 0, 0}, {400_000, 1, false, 0, 0, 0}, {2 * second, 2, false, 0, 0, 0}}
	for name, mutate := range mutants {
		t.Run(name, func(t *testing.T) {
			k := &keySim[TokenBucketState]{p: p, init: TokenBucketInit,
				step: func(s TokenBucketState, p Params, now, cost int64) (TokenBucketState, Decision) {
					ns, d := TokenBucketStep(s, p, now, cost)
					return mutate(s, ns, d)
				},
				last: func(s TokenBucketState) int64 { return s.Last }}
			rec := &recorder{}
			for _, st := range trace {
				before := k.clone()
				d := k.limit(st.at, st.cost)
				checkDecision(rec, "mutant", before, k, st.at, st.cost, d)
			}
			if name == "none" && len(rec.errs) > 0 {
				t.Errorf("the real step was flagged: %q", rec.errs)
			}
			if name != "none" && len(rec.errs) == 0 {
				t.Errorf("mutant %q not caught", name)
			}
		})
	}
}
