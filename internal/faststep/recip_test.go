package faststep

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

// TestReciprocal: Floor and Ceil equal integer division for divisors from 1
// to past 2^53 and dividends at the edges: multiples of d and their
// neighbours, the ends of the exact range [0, 2^53), negatives, MaxInt64.
func TestReciprocal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := rapid.OneOf(
			rapid.Int64Range(1, 16),
			rapid.Int64Range(1, 1<<53),
			rapid.Int64Range(1, math.MaxInt64),
			rapid.SampledFrom([]int64{1 << 52, 1<<52 - 1, 1<<52 + 1, 1 << 53, 1<<53 - 1, 1<<53 + 1, 1e6, 1e9}),
		).Draw(t, "d")
		v := NewReciprocal(d)
		k := rapid.Int64Range(0, (1<<53)/d).Draw(t, "k") // k·d ≤ 2^53
		a := rapid.OneOf(
			rapid.Just(k*d+rapid.Int64Range(-1, 1).Draw(t, "off")),
			rapid.Int64Range(0, 1<<53-1),
			rapid.SampledFrom([]int64{0, 1, 1<<53 - 1, 1 << 53, 1<<53 + 1, -1, -d, math.MaxInt64, math.MinInt64 + 1}),
			rapid.Int64Range(math.MinInt64+1, math.MaxInt64),
		).Draw(t, "a")
		if got, want := v.Floor(a), floorDiv(a, d); got != want {
			t.Fatalf("Floor(%d) by %d = %d, want %d", a, d, got, want)
		}
		if got, want := v.Ceil(a), ceilDiv(a, d); got != want {
			t.Fatalf("Ceil(%d) by %d = %d, want %d", a, d, got, want)
		}
	})
}

// TestReciprocalExhaustive checks every dividend below 2^16 for every
// divisor below 2^10, and the top of the exact range for each.
func TestReciprocalExhaustive(t *testing.T) {
	for d := int64(1); d < 1<<10; d++ {
		v := NewReciprocal(d)
		for a := int64(-3); a < 1<<16; a++ {
			if v.Floor(a) != floorDiv(a, d) || v.Ceil(a) != ceilDiv(a, d) {
				t.Fatalf("d %d a %d: Floor %d Ceil %d", d, a, v.Floor(a), v.Ceil(a))
			}
		}
		for a := int64(1<<53 - 1<<12); a < 1<<53+4; a++ {
			if v.Floor(a) != floorDiv(a, d) || v.Ceil(a) != ceilDiv(a, d) {
				t.Fatalf("d %d a %d: Floor %d Ceil %d", d, a, v.Floor(a), v.Ceil(a))
			}
		}
	}
}

func TestNewReciprocalRefusesNonPositive(t *testing.T) {
	for _, d := range []int64{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewReciprocal(%d) did not panic", d)
				}
			}()
			NewReciprocal(d)
		}()
	}
}
