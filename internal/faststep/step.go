package faststep

import (
	"math/bits"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/steps"
)

// Params are a quota's parameters with the reciprocals of the divisors its
// step uses. Build them with New.
type Params struct {
	P                  *algo.Params
	unit, rate, period Reciprocal
}

// New returns p's Params; p must be built by algo.Compile and not change
// afterwards. The five algorithms of package algo have a step here; an
// algorithm without one gets Params whose Step runs the generated binding
// (internal/steps). New never returns nil, so that store.Policy.Step is a
// call of Step alone, small enough to be inlined.
func New(p *algo.Params) *Params {
	switch p.Algorithm {
	case algo.TokenBucket, algo.LeakingBucket, algo.GCRA, algo.FixedWindow, algo.SlidingWindow:
		return &Params{P: p, unit: NewReciprocal(p.Unit), rate: NewReciprocal(p.Rate), period: NewReciprocal(p.Period)}
	}
	return &Params{P: p}
}

// Step is the algorithm's step run on a stored state as the generated
// binding (internal/steps) runs it: fresh means the key has no state; it
// returns the decision and, when the request consumed something, the
// state to store (in *st, its fields in the algorithm's State order) and
// its expiry, now + ResetAfter; otherwise keep is false and *st is
// unchanged. Only the arithmetic differs from algo's: divisions by the
// quota's constants are reciprocal multiplications, and the comparisons
// that algo makes on a quotient before multiplying (⌈x/Rate⌉ against an
// elapsed time) are made on the 128-bit product, which is equivalent for
// integers. Times are µs in [0, algo.MaxTime], as the stores check, and
// stored states are those the step wrote.
func (f *Params) Step(st *[3]int64, fresh bool, now, cost int64) (d algo.Decision, expireAt int64, keep bool) {
	var s0, s1, s2 int64 // s2: the sliding window's third field, 0 for the others
	switch f.P.Algorithm {
	case algo.SlidingWindow:
		s0, s1, s2, d = f.slidingWindow(st[0], st[1], st[2], fresh, now, cost)
	case algo.GCRA:
		s0, s1, d = f.gcra(st[0], st[1], fresh, now, cost)
	case algo.TokenBucket:
		s0, s1, d = f.tokenBucket(st[0], st[1], fresh, now, cost)
	case algo.LeakingBucket:
		s0, s1, d = f.leakingBucket(st[0], st[1], fresh, now, cost)
	case algo.FixedWindow:
		s0, s1, d = f.fixedWindow(st[0], st[1], fresh, now, cost)
	default: // no step here (see New)
		return steps.Step((*steps.Slots)(st), fresh, f.P, now, cost)
	}
	if d.Limited || cost == 0 {
		return d, 0, false
	}
	*st = [3]int64{s0, s1, s2} // as the generated bindings write it
	return d, now + d.ResetAfter, true
}

// above reports e·r > a, for e, r ≥ 0, on the exact 128-bit product: for
// integers, ⌈a/r⌉ > e ⇔ a > e·r, and ⌈a/r⌉ ≤ e ⇔ a ≤ e·r.
func above(e, r, a int64) bool {
	hi, lo := bits.Mul64(uint64(e), uint64(r))
	return hi != 0 || lo >= 1<<63 || int64(lo) > a
}

// gcra is algo.GCRAStep (and GCRAInit for a fresh key): the new state's
// fields and the decision.
func (f *Params) gcra(last, ahead int64, fresh bool, now, cost int64) (int64, int64, algo.Decision) {
	q := f.P
	if fresh {
		last, ahead = now, 0
	}
	now, lag := behind(last, now)
	// tat is max(TAT, now) − now, scaled by Rate: Ahead − elapsed·Rate
	// when that is positive (⌈Ahead/Rate⌉ > elapsed ⇔ Ahead > elapsed·Rate).
	var tat int64
	if !above(now-last, q.Rate, ahead-1) { // elapsed·Rate < Ahead
		tat = ahead - (now-last)*q.Rate
	}
	if cost > q.Burst {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(q.Capacity - tat), RetryAfter: -1, ResetAfter: later(f.rate.Ceil(tat), lag)}
	}
	newTAT := tat + cost*q.Unit
	if newTAT > q.Capacity {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(q.Capacity - tat), RetryAfter: f.rate.Ceil(newTAT-q.Capacity) + lag, ResetAfter: later(f.rate.Ceil(tat), lag)}
	}
	return now, newTAT, algo.Decision{Remaining: f.unit.Floor(q.Capacity - newTAT), ResetAfter: later(f.rate.Ceil(newTAT), lag)}
}

// tokenBucket is algo.TokenBucketStep (and TokenBucketInit).
func (f *Params) tokenBucket(last, level int64, fresh bool, now, cost int64) (int64, int64, algo.Decision) {
	q := f.P
	if fresh {
		last, level = now, q.Capacity
	}
	now, lag := behind(last, now)
	if level < q.Capacity {
		// elapsed ≥ ⌈(Capacity − level)/Rate⌉ ⇔ elapsed·Rate ≥ Capacity − level
		if above(now-last, q.Rate, q.Capacity-level-1) {
			level = q.Capacity
		} else {
			level = level + (now-last)*q.Rate
		}
	}
	if cost > q.Burst {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(level), RetryAfter: -1, ResetAfter: later(f.rate.Ceil(q.Capacity-level), lag)}
	}
	need := cost * q.Unit
	if need > level {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(level), RetryAfter: f.rate.Ceil(need-level) + lag, ResetAfter: later(f.rate.Ceil(q.Capacity-level), lag)}
	}
	level -= need
	return now, level, algo.Decision{Remaining: f.unit.Floor(level), ResetAfter: later(f.rate.Ceil(q.Capacity-level), lag)}
}

// leakingBucket is algo.LeakingBucketStep (and LeakingBucketInit).
func (f *Params) leakingBucket(last, water int64, fresh bool, now, cost int64) (int64, int64, algo.Decision) {
	q := f.P
	if fresh {
		last, water = now, 0
	}
	now, lag := behind(last, now)
	if water > 0 {
		// elapsed ≥ ⌈water/Rate⌉ ⇔ elapsed·Rate ≥ water
		if above(now-last, q.Rate, water-1) {
			water = 0
		} else {
			water = water - (now-last)*q.Rate
		}
	}
	room := q.Capacity - water
	if cost > q.Burst {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(room), RetryAfter: -1, ResetAfter: later(f.rate.Ceil(water), lag)}
	}
	pour := cost * q.Unit
	if pour > room {
		return 0, 0, algo.Decision{Limited: true, Remaining: f.unit.Floor(room), RetryAfter: f.rate.Ceil(pour-room) + lag, ResetAfter: later(f.rate.Ceil(water), lag)}
	}
	water += pour
	return now, water, algo.Decision{Remaining: f.unit.Floor(q.Capacity - water), ResetAfter: later(f.rate.Ceil(water), lag)}
}

// fixedWindow is algo.FixedWindowStep (and FixedWindowInit).
func (f *Params) fixedWindow(last, count int64, fresh bool, now, cost int64) (int64, int64, algo.Decision) {
	q := f.P
	if fresh {
		last, count = now, 0
	}
	now, lag := behind(last, now)
	start := f.period.Floor(now) * q.Period
	end := start + q.Period
	if last < start {
		count = 0
	}
	var reset int64
	if count > 0 {
		reset = end - now
	}
	if cost > q.Limit {
		return 0, 0, algo.Decision{Limited: true, Remaining: q.Limit - count, RetryAfter: -1, ResetAfter: later(reset, lag)}
	}
	if cost > q.Limit-count {
		return 0, 0, algo.Decision{Limited: true, Remaining: q.Limit - count, RetryAfter: end - now + lag, ResetAfter: later(reset, lag)}
	}
	count += cost
	if count > 0 {
		reset = end - now
	}
	return now, count, algo.Decision{Remaining: q.Limit - count, ResetAfter: later(reset, lag)}
}

// slidingWindow is algo.SlidingWindowStep (and SlidingWindowInit): the new
// state's fields and the decision. Its divisions by Period use the
// reciprocal; those by the window's counts (which change with each
// request) stay the hardware's.
func (f *Params) slidingWindow(last, prev, curr int64, fresh bool, now, cost int64) (int64, int64, int64, algo.Decision) {
	q := f.P
	if fresh {
		last, prev, curr = now, 0, 0
	}
	now, lag := behind(last, now)
	start := f.period.Floor(now) * q.Period
	if last < start {
		if last >= start-q.Period {
			prev = curr
		} else {
			prev = 0
		}
		curr = 0
	}
	e := now - start
	used := f.period.Floor(prev*(q.Period-e)) + curr
	limited := cost > q.Limit-used
	if !limited {
		curr += cost
		used += cost
	}
	// Back to the initial state once the weighted prev term floors to zero.
	var reset int64
	if curr > 0 {
		reset = q.Period - e + q.Period - ceilDiv(q.Period, curr) + 1
	} else if used > 0 {
		reset = q.Period - ceilDiv(q.Period, prev) + 1 - e
	}
	remaining := max(0, q.Limit-used)
	if !limited {
		return now, prev, curr, algo.Decision{Remaining: remaining, ResetAfter: later(reset, lag)}
	}
	if cost > q.Limit {
		return 0, 0, 0, algo.Decision{Limited: true, Remaining: remaining, RetryAfter: -1, ResetAfter: later(reset, lag)}
	}
	var retry int64
	if q.Limit-cost-curr >= 0 {
		retry = q.Period - ceilDiv((q.Limit-cost-curr+1)*q.Period, prev) + 1 - e
	} else {
		retry = q.Period - e + max(0, q.Period-ceilDiv((q.Limit-cost+1)*q.Period, curr)+1)
	}
	return 0, 0, 0, algo.Decision{Limited: true, Remaining: remaining, RetryAfter: retry + lag, ResetAfter: later(reset, lag)}
}

// floorDiv is algo's: ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a < 0 && a%b != 0 {
		q--
	}
	return q
}

// ceilDiv is algo's: ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// behind returns the time a step decides at and the lag its durations
// get, as algo's steps do: a clock behind the state's last time decides as
// at that time, and the durations hold in the caller's time.
func behind(last, now int64) (at, lag int64) {
	if now < last {
		return last, last - now
	}
	return now, 0
}

// later is algo's: d + lag for d > 0, else d.
func later(d, lag int64) int64 {
	if d > 0 {
		return d + lag
	}
	return d
}
