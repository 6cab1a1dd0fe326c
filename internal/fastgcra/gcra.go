package fastgcra

import (
	"math/bits"

	"github.com/throttled-go/throttled/algo"
)

// Params are a GCRA quota's parameters with the reciprocals of its
// divisors. Build them with New.
type Params struct {
	P          *algo.Params
	unit, rate Reciprocal
}

// New returns p's Params; p must be a GCRA quota's, built by algo.Compile.
func New(p *algo.Params) *Params {
	return &Params{P: p, unit: NewReciprocal(p.Unit), rate: NewReciprocal(p.Rate)}
}

// Step is algo.GCRAStep run on a stored state as the generated binding
// (internal/steps) runs it: fresh means the key has no state; it returns the
// decision and, when the request consumed something, the state to store
// (in *st) and its expiry, now + ResetAfter; otherwise keep is false. Only
// the arithmetic differs: divisions by Unit and Rate are reciprocal
// multiplications, and GCRAStep's ⌈Ahead/Rate⌉ > elapsed is the equivalent
// Ahead > elapsed·Rate on a 128-bit product.
func (f *Params) Step(st *[3]int64, fresh bool, now, cost int64) (d algo.Decision, expireAt int64, keep bool) {
	q := f.P
	last, ahead := st[0], st[1]
	if fresh { // algo.GCRAInit
		last, ahead = now, 0
	}
	at := now
	var lag int64
	if at < last {
		lag = last - at
		at = last
	}
	// tat is max(TAT, now) − now, scaled by Rate: Ahead − elapsed·Rate
	// when that is positive. ⌈A/R⌉ > e ⇔ A/R > e ⇔ A > e·R, for integer e.
	var tat int64
	if hi, lo := bits.Mul64(uint64(at-last), uint64(q.Rate)); hi == 0 && lo < 1<<63 && int64(lo) < ahead {
		tat = ahead - int64(lo)
	}
	if cost > q.Burst {
		return algo.Decision{Limited: true, Remaining: f.unit.Floor(q.Capacity - tat), RetryAfter: -1, ResetAfter: later(f.rate.Ceil(tat), lag)}, 0, false
	}
	newTAT := tat + cost*q.Unit
	if newTAT > q.Capacity {
		return algo.Decision{Limited: true, Remaining: f.unit.Floor(q.Capacity - tat), RetryAfter: f.rate.Ceil(newTAT-q.Capacity) + lag, ResetAfter: later(f.rate.Ceil(tat), lag)}, 0, false
	}
	d = algo.Decision{Remaining: f.unit.Floor(q.Capacity - newTAT), ResetAfter: later(f.rate.Ceil(newTAT), lag)}
	if cost == 0 {
		return d, 0, false
	}
	st[0], st[1] = at, newTAT
	return d, now + d.ResetAfter, true
}

// later is algo's: d + lag for d > 0, else d.
func later(d, lag int64) int64 {
	if d > 0 {
		return d + lag
	}
	return d
}
