package proptest

import (
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
)

// never is the RetryAfter, in µs, of a request that can never pass. It is
// spelled here rather than taken from algo so the model owes algo nothing
// but the Decision type it is compared with.
const never = int64(-1)

// model is one key of one algorithm as DESIGN.md §3 defines it, in exact
// rational arithmetic (math/big), written from the design rather than from
// the algo package: no units, no scaling, no clamping tricks. Rounding
// happens only at the edges: Remaining is floored, RetryAfter and
// ResetAfter are rounded up to the microsecond.
//
// State is kept as §3 and the store contract say:
//   - only a request allowed with cost > 0 changes the state;
//   - a time earlier than the last admission is taken as the last
//     admission's time (the key's "effective" time never runs back): the
//     decision is the one taken at that effective time, and its
//     RetryAfter and ResetAfter, when positive, get the lag (effective
//     time − caller's time) added, so that they hold in the caller's time;
//   - a key is fresh until its first admission, and forgetting it (Reset)
//     makes it fresh again.
//
// Because the model keeps every admission's effect exactly, a key whose
// ResetAfter has passed is, by the model's own arithmetic, back at its
// initial state; the model never needs an expiry.
//
// A model is the state of one key under one quota identity (see quotaID):
// quotas that differ only in name, or windows that differ only in burst,
// share one model per key.
type model struct {
	alg     algo.Algorithm
	q       algo.Quota
	p, l, b int64 // period (µs), limit, burst

	admitted bool  // something was admitted since the key was fresh
	last     int64 // effective time of the last admission, µs

	level *big.Rat        // token bucket: tokens in the bucket at last
	water *big.Rat        // leaky bucket: water in the bucket at last
	tat   *big.Rat        // GCRA: theoretical arrival time, absolute µs
	count map[int64]int64 // windows: cost admitted per aligned window index
}

func newModel(a algo.Algorithm, q algo.Quota) *model {
	b := q.Burst
	if b == 0 {
		b = q.Limit
	}
	return &model{alg: a, q: q, p: int64(q.Period / time.Microsecond), l: q.Limit, b: b, count: map[int64]int64{}}
}

func (m *model) clone() *model {
	c := *m
	c.count = make(map[int64]int64, len(m.count))
	for k, v := range m.count {
		c.count[k] = v
	}
	for _, r := range []**big.Rat{&c.level, &c.water, &c.tat} {
		if *r != nil {
			*r = new(big.Rat).Set(*r)
		}
	}
	return &c
}

// reset forgets the key, as Store.Reset does.
func (m *model) reset() { *m = *newModel(m.alg, m.q) }

// capacity is the largest cost that can ever pass, and the Limit a state
// reports: the burst for the buckets, the limit for the windows.
func (m *model) capacity() int64 {
	if m.alg == algo.FixedWindow || m.alg == algo.SlidingWindow {
		return m.l
	}
	return m.b
}

// effective returns the time a request at now is decided at.
func (m *model) effective(now int64) int64 {
	if m.admitted && now < m.last {
		return m.last
	}
	return now
}

// decide decides a request of cost at now and applies it. It returns the
// decision, with its durations in the caller's time (from now), and the
// effective time it was taken at.
func (m *model) decide(now, cost int64) (algo.Decision, int64) {
	eff := m.effective(now)
	var d algo.Decision
	switch m.alg {
	case algo.TokenBucket:
		d = m.tokenBucket(eff, cost)
	case algo.LeakingBucket:
		d = m.leakingBucket(eff, cost)
	case algo.GCRA:
		d = m.gcra(eff, cost)
	case algo.FixedWindow:
		d = m.fixedWindow(eff, cost)
	case algo.SlidingWindow:
		d = m.slidingWindow(eff, cost)
	default:
		panic(fmt.Sprintf("model: algorithm %v", m.alg))
	}
	if !d.Limited && cost > 0 {
		m.admitted, m.last = true, eff
	}
	// Durations measured from eff hold from now once the lag is added;
	// 0 (nothing to wait for) and never stay as they are.
	if lag := eff - now; lag > 0 {
		if d.RetryAfter > 0 {
			d.RetryAfter += lag
		}
		if d.ResetAfter > 0 {
			d.ResetAfter += lag
		}
	}
	return d, eff
}

// peek is decide(now, 0) on a copy: what the key looks like at now.
func (m *model) peek(now int64) algo.Decision {
	d, _ := m.clone().decide(now, 0)
	return d
}

// quotaID is what makes two quotas keep one state per key (DESIGN §3:
// state belongs to (algorithm, quota, key)): the algorithm, the period, the
// limit, and the burst for the bucket algorithms, which use it. The name is
// a label, and the windows ignore the burst. It is restated here rather
// than taken from store.Policy, so the tests judge the stores' notion of
// identity instead of sharing it.
type quotaID struct {
	alg           algo.Algorithm
	period, limit int64
	burst         int64 // 0 for the windows
}

// idOf returns the identity of q enforced by a.
func idOf(a algo.Algorithm, q algo.Quota) quotaID {
	id := quotaID{alg: a, period: int64(q.Period / time.Microsecond), limit: q.Limit}
	if a != algo.FixedWindow && a != algo.SlidingWindow {
		id.burst = q.Burst
		if id.burst == 0 {
			id.burst = q.Limit
		}
	}
	return id
}

// combine is DESIGN §3's rule for a request under several quotas, from
// each quota's own decision: Limited if any quota denies it, the least
// Remaining, the greatest ResetAfter, and the greatest RetryAfter, never
// if any quota can never pass it (the time at which every quota admits
// it).
func combine(each []algo.Decision) algo.Decision {
	c := algo.Decision{Remaining: math.MaxInt64}
	for _, d := range each {
		c.Limited = c.Limited || d.Limited
		c.Remaining = min(c.Remaining, d.Remaining)
		c.ResetAfter = max(c.ResetAfter, d.ResetAfter)
		switch {
		case c.RetryAfter == never:
		case d.RetryAfter == never:
			c.RetryAfter = never
		default:
			c.RetryAfter = max(c.RetryAfter, d.RetryAfter)
		}
	}
	return c
}

// conjunction decides a request of cost at now under several models (one
// key's state under each quota of a limiter) at once, as DESIGN §3 says a
// limiter with several quotas does: the request passes iff every model
// admits it, and then every model is charged; if any denies it, none is,
// and a model that would have admitted it reports what a peek shows. It
// returns the combined decision, each model's, and each model's effective
// time.
func conjunction(ms []*model, now, cost int64) (algo.Decision, []algo.Decision, []int64) {
	each := make([]algo.Decision, len(ms))
	effs := make([]int64, len(ms))
	trial := make([]*model, len(ms))
	passes := true
	for i, m := range ms {
		trial[i] = m.clone()
		each[i], effs[i] = trial[i].decide(now, cost)
		passes = passes && !each[i].Limited
	}
	for i, m := range ms {
		switch {
		case passes:
			*m = *trial[i]
		case !each[i].Limited:
			each[i] = m.peek(now)
		}
	}
	return combine(each), each, effs
}

func rat(n int64) *big.Rat       { return new(big.Rat).SetInt64(n) }
func frac(a, b int64) *big.Rat   { return big.NewRat(a, b) }
func add(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }
func mul(a, b *big.Rat) *big.Rat { return new(big.Rat).Mul(a, b) }
func quo(a, b *big.Rat) *big.Rat { return new(big.Rat).Quo(a, b) }
func minRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}
func maxRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// floorRat is ⌊r⌋; it panics if that does not fit an int64 (a model bug).
func floorRat(r *big.Rat) int64 {
	q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean division: floor for a positive denominator
	if !q.IsInt64() {
		panic(fmt.Sprintf("model: ⌊%v⌋ does not fit int64", r))
	}
	return q.Int64()
}

// ceilRat is ⌈r⌉.
func ceilRat(r *big.Rat) int64 { return -floorRat(new(big.Rat).Neg(r)) }

// perMicro is the refill (drain) rate L/P tokens per µs.
func (m *model) perMicro() *big.Rat { return frac(m.l, m.p) }

// micros converts an amount of tokens to the µs the rate needs for it,
// rounded up: ⌈tokens·P/L⌉.
func (m *model) micros(tokens *big.Rat) int64 { return ceilRat(quo(tokens, m.perMicro())) }

// Token bucket: capacity B, level starts at B and refills continuously at
// L/P per µs, never above B; a request passes iff cost ≤ level and then
// takes cost tokens.
func (m *model) tokenBucket(eff, cost int64) algo.Decision {
	full := rat(m.b)
	level := full
	if m.admitted {
		level = minRat(full, add(m.level, mul(rat(eff-m.last), m.perMicro())))
	}
	reset := func(level *big.Rat) int64 { return m.micros(sub(full, level)) }
	if cost > m.b {
		return algo.Decision{Limited: true, Remaining: floorRat(level), RetryAfter: never, ResetAfter: reset(level)}
	}
	c := rat(cost)
	if c.Cmp(level) > 0 {
		return algo.Decision{Limited: true, Remaining: floorRat(level), RetryAfter: m.micros(sub(c, level)), ResetAfter: reset(level)}
	}
	level = sub(level, c)
	if cost > 0 {
		m.level = level
	}
	return algo.Decision{Remaining: floorRat(level), ResetAfter: reset(level)}
}

// Leaky bucket (meter): water starts at 0 and drains at L/P per µs, never
// below 0; a request passes iff water + cost ≤ B and then pours cost in.
func (m *model) leakingBucket(eff, cost int64) algo.Decision {
	full := rat(m.b)
	water := rat(0)
	if m.admitted {
		water = maxRat(rat(0), sub(m.water, mul(rat(eff-m.last), m.perMicro())))
	}
	room := func(water *big.Rat) int64 { return floorRat(sub(full, water)) }
	if cost > m.b {
		return algo.Decision{Limited: true, Remaining: room(water), RetryAfter: never, ResetAfter: m.micros(water)}
	}
	after := add(water, rat(cost))
	if after.Cmp(full) > 0 {
		return algo.Decision{Limited: true, Remaining: room(water), RetryAfter: m.micros(sub(after, full)), ResetAfter: m.micros(water)}
	}
	if cost > 0 {
		m.water = after
	}
	return algo.Decision{Remaining: room(after), ResetAfter: m.micros(after)}
}

// GCRA (virtual scheduling): emission interval T = P/L, tolerance
// τ = (B−1)·T. With tat = max(TAT, now), a request passes iff
// tat + cost·T − now ≤ τ + T = B·T, and then TAT = tat + cost·T. A fresh
// key has TAT = now.
func (m *model) gcra(eff, cost int64) algo.Decision {
	T := frac(m.p, m.l)
	now := rat(eff)
	tat := now
	if m.admitted {
		tat = maxRat(m.tat, now)
	}
	limit := mul(rat(m.b), T) // τ + T
	// Remaining: the most unit requests that would still pass now, k with
	// tat + k·T − now ≤ B·T.
	remaining := func(tat *big.Rat) int64 { return floorRat(quo(sub(limit, sub(tat, now)), T)) }
	// ResetAfter: until TAT ≤ now, the initial state.
	reset := func(tat *big.Rat) int64 { return ceilRat(sub(tat, now)) }
	if cost > m.b {
		return algo.Decision{Limited: true, Remaining: remaining(tat), RetryAfter: never, ResetAfter: reset(tat)}
	}
	next := add(tat, mul(rat(cost), T))
	if over := sub(sub(next, now), limit); over.Sign() > 0 {
		// Waiting Δ ≤ tat − now lowers next − now by Δ; cost ≤ B makes
		// over ≤ tat − now, so the earliest pass is at Δ = over.
		return algo.Decision{Limited: true, Remaining: remaining(tat), RetryAfter: ceilRat(over), ResetAfter: reset(tat)}
	}
	if cost > 0 {
		m.tat = next
	}
	return algo.Decision{Remaining: remaining(next), ResetAfter: reset(next)}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Fixed window: windows [kP, (k+1)P); a request passes iff the window's
// count + cost ≤ L. Nothing changes within a window, and a fresh window
// passes any cost ≤ L, so a denied request passes exactly at the next
// window, and the key is back to its initial state there too.
func (m *model) fixedWindow(eff, cost int64) algo.Decision {
	w := floorDiv(eff, m.p)
	end := (w + 1) * m.p
	count := m.count[w]
	reset := func(count int64) int64 {
		if count == 0 {
			return 0
		}
		return end - eff
	}
	if cost > m.l {
		return algo.Decision{Limited: true, Remaining: m.l - count, RetryAfter: never, ResetAfter: reset(count)}
	}
	if count+cost > m.l {
		return algo.Decision{Limited: true, Remaining: m.l - count, RetryAfter: end - eff, ResetAfter: reset(count)}
	}
	if cost > 0 {
		m.count[w] += cost
	}
	return algo.Decision{Remaining: m.l - count - cost, ResetAfter: reset(count + cost)}
}

// estimate is the sliding window's two-window estimate at time t:
// ⌊prev·(P−e)/P⌋ + curr, e being t's offset into its window.
func (m *model) estimate(t int64) int64 {
	w := floorDiv(t, m.p)
	e := t - w*m.p
	return floorRat(frac(m.count[w-1]*(m.p-e), m.p)) + m.count[w]
	// (count ≤ L and (P−e) ≤ P with L·P ≤ 2^52 by Compile: no overflow.)
}

// earliest returns the least Δ in [lo, hi] with ok(Δ), for ok monotone
// (false…false true…true) and ok(hi) true.
func earliest(lo, hi int64, ok func(int64) bool) int64 {
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Sliding window: a request passes iff estimate + cost ≤ L. RetryAfter and
// ResetAfter are found by search rather than formula: with no other
// traffic the estimate never grows (within a window the weighted term
// shrinks; across a boundary ⌊curr·P/P⌋ = curr), so "passes at now+Δ" and
// "estimate is 0 at now+Δ" are monotone in Δ, and both hold by now+2P.
func (m *model) slidingWindow(eff, cost int64) algo.Decision {
	est := m.estimate(eff)
	reset := func() int64 {
		return earliest(0, 2*m.p, func(d int64) bool { return m.estimate(eff+d) == 0 })
	}
	if cost > m.l {
		return algo.Decision{Limited: true, Remaining: max(0, m.l-est), RetryAfter: never, ResetAfter: reset()}
	}
	if est+cost > m.l {
		retry := earliest(1, 2*m.p, func(d int64) bool { return m.estimate(eff+d)+cost <= m.l })
		return algo.Decision{Limited: true, Remaining: max(0, m.l-est), RetryAfter: retry, ResetAfter: reset()}
	}
	if cost > 0 {
		m.count[floorDiv(eff, m.p)] += cost
	}
	return algo.Decision{Remaining: max(0, m.l-m.estimate(eff)), ResetAfter: reset()}
}

// TestModelByHand pins the model to timelines worked out by hand from
// DESIGN §3, so that the model is not only checked against the code it
// judges. Quota: 3 per second (P = 1e6µs, L = 3), burst 2.
func TestModelByHand(t *testing.T) {
	q := algo.PerSec(3).WithBurst(2)
	bucket := []step{
		// A full bucket of 2 gives both: level 0, back to 2 after 2·P/L = 666666.67µs.
		{at: 0, cost: 2, want: algo.Decision{ResetAfter: 666667}},
		// 0.1s later the level is 0.3: a 1 needs 0.7 more, 0.7·P/L = 233333.33µs;
		// full again after 1.7·P/L = 566666.67µs.
		{at: 100_000, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 233334, ResetAfter: 566667}},
		// At 1/3s the level is exactly 1.
		{at: 333_333, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 1, ResetAfter: 333334}},
		{at: 333_334, cost: 1, want: algo.Decision{ResetAfter: 666666}},
		// A cost above the burst never passes.
		{at: 333_334, cost: 3, want: algo.Decision{Limited: true, RetryAfter: never, ResetAfter: 666666}},
		// The clock steps back to 0, 333334µs behind the last admission:
		// the key decides as at 333334 (level 0.000002: a 1 needs
		// 0.999998·P/L = 333332.67µs more, full after 666666µs) and the
		// durations get the lag, so they hold from 0: the 1 passes at
		// 666667 (level 1.000001), not at 666666 (0.999998).
		{at: 0, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 333_333 + 333_334, ResetAfter: 666_666 + 333_334}},
		{at: 0, cost: 0, want: algo.Decision{ResetAfter: 1_000_000}},
	}
	windows := map[algo.Algorithm][]step{
		algo.FixedWindow: {
			{at: 0, cost: 3, want: algo.Decision{ResetAfter: 1_000_000}},
			{at: 999_999, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 1, ResetAfter: 1}},
			{at: 1_000_000, cost: 1, want: algo.Decision{Remaining: 2, ResetAfter: 1_000_000}},
			// The clock steps back 0.5s: the key decides in its window
			// [1s, 2s), which ends 1.5s after the caller's now.
			{at: 500_000, cost: 2, want: algo.Decision{ResetAfter: 1_500_000}},
			{at: 500_000, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 1_500_000, ResetAfter: 1_500_000}},
		},
		algo.SlidingWindow: {
			// ⌊3·(P−e)/P⌋ is 0 once 3(P−e) < P, from e = 666667 of the next window.
			{at: 0, cost: 3, want: algo.Decision{ResetAfter: 1_666_667}},
			// Half into the next window the estimate is ⌊3·0.5⌋ = 1: 2 more fit.
			// Then ⌊2·(P−e)/P⌋ is 0 from e = 500001 of the window after.
			{at: 1_500_000, cost: 2, want: algo.Decision{ResetAfter: 1_000_001}},
			// A 1 fits when ⌊3·(P−e)/P⌋ + 2 ≤ 2, from e = 666667.
			{at: 1_500_000, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 166_667, ResetAfter: 1_000_001}},
			// The clock steps back 0.5s: decided as at 1.5s (estimate 3),
			// durations 0.5s longer.
			{at: 1_000_000, cost: 1, want: algo.Decision{Limited: true, RetryAfter: 666_667, ResetAfter: 1_500_001}},
			{at: 1_000_000, cost: 0, want: algo.Decision{ResetAfter: 1_500_001}},
		},
	}
	for _, a := range []algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		windows[a] = bucket
	}
	for a, steps := range windows {
		m := newModel(a, q)
		if got := m.capacity(); got != map[bool]int64{true: 2, false: 3}[a.IsBucket()] {
			t.Errorf("%v: capacity %d", a, got)
		}
		for i, st := range steps {
			if d, _ := m.decide(st.at, st.cost); d != st.want {
				t.Errorf("%v step %d (at %d cost %d): model %+v, by hand %+v", a, i, st.at, st.cost, d, st.want)
			}
		}
	}
}

// TestConjunctionByHand pins conjunction (several quotas on one key) to a
// timeline worked out by hand: a token bucket of 2 per second (burst 2)
// and a fixed window of 3 per second on one key.
func TestConjunctionByHand(t *testing.T) {
	ms := []*model{newModel(algo.TokenBucket, algo.PerSec(2)), newModel(algo.FixedWindow, algo.PerSec(3))}
	steps := []struct {
		at, cost int64
		want     algo.Decision
		each     []algo.Decision
	}{
		// Both admit: the bucket is empty (full again after 1s), the
		// window counts 2 of 3.
		{0, 2, algo.Decision{ResetAfter: 1_000_000},
			[]algo.Decision{{ResetAfter: 1_000_000}, {Remaining: 1, ResetAfter: 1_000_000}}},
		// The bucket refilled 1; the window takes its third.
		{500_000, 1, algo.Decision{ResetAfter: 1_000_000},
			[]algo.Decision{{ResetAfter: 1_000_000}, {ResetAfter: 500_000}}},
		// Both deny: the bucket holds 0.5, the window is full until 1s.
		{750_000, 1, algo.Decision{Limited: true, RetryAfter: 250_000, ResetAfter: 750_000},
			[]algo.Decision{{Limited: true, RetryAfter: 250_000, ResetAfter: 750_000}, {Limited: true, RetryAfter: 250_000, ResetAfter: 250_000}}},
		// A new window would admit 2, the bucket (holding 1) does not: the
		// window shows its peek, and nothing is charged...
		{1_000_000, 2, algo.Decision{Limited: true, Remaining: 1, RetryAfter: 500_000, ResetAfter: 500_000},
			[]algo.Decision{{Limited: true, Remaining: 1, RetryAfter: 500_000, ResetAfter: 500_000}, {Remaining: 3}}},
		// ...so a 1 leaves the window at 2 of 3, not 0.
		{1_000_000, 1, algo.Decision{ResetAfter: 1_000_000},
			[]algo.Decision{{ResetAfter: 1_000_000}, {Remaining: 2, ResetAfter: 1_000_000}}},
		// 3 is above the bucket's burst: never, whatever the window says.
		{1_000_000, 3, algo.Decision{Limited: true, RetryAfter: never, ResetAfter: 1_000_000},
			[]algo.Decision{{Limited: true, RetryAfter: never, ResetAfter: 1_000_000}, {Limited: true, Remaining: 2, RetryAfter: 1_000_000, ResetAfter: 1_000_000}}},
	}
	for i, st := range steps {
		d, each, _ := conjunction(ms, st.at, st.cost)
		if d != st.want || fmt.Sprint(each) != fmt.Sprint(st.each) {
			t.Errorf("step %d (at %d cost %d): model %+v %+v, by hand %+v %+v", i, st.at, st.cost, d, each, st.want, st.each)
		}
	}
}
