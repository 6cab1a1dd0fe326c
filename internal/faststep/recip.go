// Package faststep runs the steps of the five algorithms on stored state as
// internal/steps does, with their divisions by the quota's constants
// (Unit, Rate, Period) done by multiplying by reciprocals computed once per
// quota. Its decisions,
// durations and states equal the generated steps' for every input the
// stores give it: proptest's TestFastStepEqualsStep compares them on every
// quota family, and this package's tests compare the reciprocals with
// integer division.
package faststep

import "math/bits"

// exactBits bounds the dividends the reciprocal divides: below 2^53,
// which holds every value a step divides (they stay at or below
// algo.MaxSafe); others are divided by the hardware.
const exactBits = 53

// Reciprocal divides by a fixed positive divisor d. For 0 ≤ a < 2^53,
// ⌊a/d⌋ = ⌊a·m / 2^k⌋ with m = ⌈2^k/d⌉ and k = max(53 + ⌈log₂ d⌉, 64):
// m·d − 2^k < d ≤ 2^(k−53), which is the condition for the product to be
// exact over 53-bit dividends (Granlund and Montgomery, 1994).
type Reciprocal struct {
	d     int64
	m     uint64 // 0: d is 1
	shift uint   // k − 64
}

// NewReciprocal returns d's reciprocal; d must be positive.
func NewReciprocal(d int64) Reciprocal {
	if d <= 0 {
		panic("faststep: divisor must be positive")
	}
	if d == 1 {
		return Reciprocal{d: 1}
	}
	c := uint(bits.Len64(uint64(d - 1))) // ⌈log₂ d⌉
	k := max(exactBits+c, 64)
	m, r := bits.Div64(1<<(k-64), 0, uint64(d)) // 2^(k−64) < d: no overflow
	if r != 0 {
		m++
	}
	return Reciprocal{d: d, m: m, shift: k - 64}
}

// Floor returns ⌊a/d⌋ for any a.
func (v *Reciprocal) Floor(a int64) int64 {
	if uint64(a) < 1<<exactBits { // 0 ≤ a < 2^53
		if v.m == 0 {
			return a
		}
		hi, _ := bits.Mul64(uint64(a), v.m)
		return int64(hi >> v.shift)
	}
	q := a / v.d
	if a < 0 && a%v.d != 0 {
		q--
	}
	return q
}

// Ceil returns ⌈a/d⌉ for any a > math.MinInt64 (as algo's ceilDiv).
func (v *Reciprocal) Ceil(a int64) int64 {
	if uint64(a) < 1<<exactBits {
		q := v.Floor(a)
		if q*v.d != a { // q·d ≤ a: no overflow
			q++
		}
		return q
	}
	return -v.Floor(-a)
}
