package algo

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// refModel is DESIGN §3 in exact rational arithmetic, with no store, no
// rounding of the state and no cleverness: it says whether a request passes
// and what Remaining is. A time before the last admission is taken as the
// time of the last admission ("time never runs backwards inside a key").
type refModel struct {
	a         Algorithm
	p, l, b   int64 // period (µs), limit, burst
	started   bool  // something was admitted
	lastAdmit int64
	level     *big.Rat        // buckets: tokens in the bucket at lastAdmit
	counts    map[int64]int64 // windows: cost admitted per window index
}

func newRef(a Algorithm, q Quota) *refModel {
	return &refModel{a: a, p: int64(q.Period / time.Microsecond), l: q.Limit, b: q.EffectiveBurst(), counts: map[int64]int64{}}
}

func ratFloor(r *big.Rat) int64 {
	q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for a positive denominator
	return q.Int64()
}

func (r *refModel) decide(now, cost int64) (limited bool, remaining int64) {
	if !r.started { // no admission yet: a full bucket, no time to keep to
		r.lastAdmit, r.level = now, new(big.Rat).SetInt64(r.b)
	}
	now = max(now, r.lastAdmit)
	admit := func() {
		if cost > 0 {
			r.started, r.lastAdmit = true, now
		}
	}
	switch r.a {
	case FixedWindow:
		w := floorDiv(now, r.p)
		if r.counts[w]+cost > r.l {
			return true, r.l - r.counts[w]
		}
		r.counts[w] += cost
		admit()
		return false, r.l - r.counts[w]
	case SlidingWindow:
		w := floorDiv(now, r.p)
		e := now - w*r.p
		est := func() int64 { return floorDiv(r.counts[w-1]*(r.p-e), r.p) + r.counts[w] }
		if est()+cost > r.l {
			return true, r.l - est()
		}
		r.counts[w] += cost
		admit()
		return false, r.l - est()
	default:
		// level(now) = min(B, level(lastAdmit) + (now−lastAdmit)·L/P)
		level := new(big.Rat).Add(r.level, big.NewRat((now-r.lastAdmit)*r.l, r.p))
		if full := new(big.Rat).SetInt64(r.b); level.Cmp(full) > 0 {
			level = full
		}
		c := new(big.Rat).SetInt64(cost)
		if c.Cmp(level) > 0 {
			return true, ratFloor(level)
		}
		level.Sub(level, c)
		if cost > 0 {
			r.level = level
		}
		admit()
		return false, ratFloor(level)
	}
}

// traceQuotas are quotas with awkward ratios: fractional refill, Rate > 1,
// burst above and below the limit, the shortest period, windows where the
// weighted term matters.
var traceQuotas = []Quota{
	PerSec(3),
	PerSec(10),
	PerMin(60).WithBurst(10),
	PerSec(1).WithBurst(3),
	PerHour(7).WithBurst(2),
	PerDuration(7*time.Millisecond, 3).WithBurst(5),
	PerDuration(13*time.Millisecond, 4).WithBurst(1),
	PerDuration(1001*time.Microsecond, 7),
	PerDuration(time.Millisecond, 1),
	PerDuration(time.Millisecond, 1000),
	PerDuration(time.Millisecond, 5000),
	PerSec(2_000_000).WithBurst(3),
	// At Compile's bounds: limit×period = 2^52 (sliding window), and a
	// bucket capacity of burst×unit = 2^52.
	PerDuration(1<<22*time.Microsecond, 1<<30),
	PerDuration(1<<22*time.Microsecond, 1).WithBurst(1 << 30),
}

// randomTrace returns n requests starting at start; times never go back
// unless back is set. Gaps cluster around 0, 1µs, the emission interval
// P/L and the period, where the edges are.
func randomTrace(rng *rand.Rand, p Params, start int64, n int, back bool) []step {
	steps := make([]step, 0, n)
	at := start
	interval := max(1, p.Period/p.Limit)
	for range n {
		switch x := rng.IntN(100); {
		case x < 25: // same instant
		case x < 35:
			at++
		case x < 60:
			at += rng.Int64N(3*interval + 1)
		case x < 80:
			at += rng.Int64N(p.Period + 1)
		case x < 90:
			at += p.Period - 1 + rng.Int64N(3)
		case x < 95:
			at += rng.Int64N(3*p.Period + 1)
		default:
			if back {
				at -= rng.Int64N(2*p.Period + 1)
			}
		}
		var cost int64
		switch x := rng.IntN(100); {
		case x < 10:
			cost = 0
		case x < 60:
			cost = 1
		case x < 85:
			cost = 1 + rng.Int64N(p.Max)
		case x < 92:
			cost = p.Max
		default:
			cost = p.Max + 1 + rng.Int64N(3)
		}
		steps = append(steps, step{at: at, cost: cost})
	}
	return steps
}

// TestAgainstReference plays random traces on each algorithm through the
// store model and compares every decision with the exact rational model,
// then runs checkDecision on it, which proves RetryAfter and ResetAfter
// exact, and checks that storing what a cost-0 request returns would change
// nothing while time goes forward (a Peek changes nothing). Half the traces have a clock that steps back: the model takes such a
// time as the last admission's, so matching it means a stepped-back clock
// never admits more than the latest time would.
func TestAgainstReference(t *testing.T) {
	const traces, length = 60, 60
	for _, a := range Algorithms {
		for _, q := range traceQuotas {
			t.Run(fmt.Sprintf("algo=%s/quota=%v", a, q), func(t *testing.T) {
				p := mustCompile(t, a, q)
				rng := rand.New(rand.NewPCG(uint64(p.Period), uint64(p.Limit)<<8|uint64(a)))
				for i := range traces {
					start := rng.Int64N(MaxTime / 2)
					back := i%2 == 1
					steps := randomTrace(rng, p, start, length, back)
					k, ref, peeks := newSim(p), newRef(a, q), newSim(p)
					peeks.storePeeks()
					for j, st := range steps {
						before := k.clone()
						d := k.limit(st.at, st.cost)
						// (Only while time goes forward: a stored Peek would move the
						// state's time, which a later stepped-back request keeps to.)
						if pd := peeks.limit(st.at, st.cost); !back && pd != d {
							t.Fatalf("trace %d step %d (at=%d cost=%d): %+v, but %+v when the states of cost-0 requests are stored too\ntrace: %v",
								i, j, st.at, st.cost, d, pd, steps[:j+1])
						}
						limited, remaining := ref.decide(st.at, st.cost)
						if d.Limited != limited || d.Remaining != remaining {
							t.Fatalf("trace %d step %d (at=%d cost=%d): got %+v, reference Limited=%v Remaining=%d\ntrace: %v",
								i, j, st.at, st.cost, d, limited, remaining, steps[:j+1])
						}
						checkDecision(t, fmt.Sprintf("trace %d step %d", i, j), before, k, st.at, st.cost, d)
						if t.Failed() {
							t.Fatalf("trace: %v", steps[:j+1])
						}
					}
				}
			})
		}
	}
}

// TestBucketsAgree: the token bucket, the leaky bucket and GCRA are three
// representations of one policy and must give identical decisions on every
// timeline, including clocks that step back, costs of 0 and costs above the
// burst.
func TestBucketsAgree(t *testing.T) {
	type trace struct {
		name  string
		quota Quota
		steps []step
	}
	var traces []trace
	for _, tl := range bucketTimelines() {
		traces = append(traces, trace{"timeline/" + tl.name, tl.quota, tl.steps})
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, q := range traceQuotas {
		p := mustCompile(t, TokenBucket, q)
		for i := range 20 {
			traces = append(traces, trace{fmt.Sprintf("random/%v/%d", q, i), q,
				randomTrace(rng, p, MaxTime/4+rng.Int64N(MaxTime/4), 80, true)})
		}
	}
	for _, tr := range traces {
		t.Run(tr.name, func(t *testing.T) {
			sims := map[Algorithm]sim{}
			for _, a := range []Algorithm{TokenBucket, LeakingBucket, GCRA} {
				sims[a] = newSim(mustCompile(t, a, tr.quota))
			}
			for j, st := range tr.steps {
				want := sims[TokenBucket].limit(st.at, st.cost)
				for _, a := range []Algorithm{LeakingBucket, GCRA} {
					if got := sims[a].limit(st.at, st.cost); got != want {
						t.Fatalf("step %d (at=%d cost=%d): %s decided %+v, token_bucket %+v", j, st.at, st.cost, a, got, want)
					}
				}
			}
		})
	}
}
