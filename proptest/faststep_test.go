package proptest

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/faststep"
	"github.com/throttled-go/throttled/internal/steps"
)

// TestFastStepEqualsStep: the memory store's steps with reciprocals
// (internal/faststep, every algorithm)
// decide, report and store exactly what the generated steps do, on traces
// over every quota family: clocks stepping back, costs 0, at and above
// capacity up to MaxInt64, times at 0 and 2^52, and stored states anywhere
// in their range (as a quota of the same identity could leave them) as
// well as those the step writes itself.
func TestFastStepEqualsStep(t *testing.T) {
	for _, kind := range quotaKinds {
		t.Run(kind, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				qc := drawQuota(t, kind)
				a := rapid.SampledFrom(qc.algs).Draw(t, "algorithm")
				p := qc.params[a]
				f := faststep.New(p) // for an algorithm without a step there, the generated binding
				now := drawStart(t, p.Period)
				var want, got steps.Slots
				fresh := true
				if rapid.Bool().Draw(t, "stored") { // a state the step could have left
					last := rapid.Int64Range(0, maxSafe).Draw(t, "last")
					count := func(label string) int64 {
						return rapid.SampledFrom([]int64{0, 1, p.Limit - 1, p.Limit, rapid.Int64Range(0, p.Limit).Draw(t, "any"+label)}).Draw(t, label)
					}
					var second, third int64
					switch a {
					case algo.FixedWindow:
						second = count("count")
					case algo.SlidingWindow: // the previous window's count and the current one's
						second, third = count("prev"), count("curr")
					default: // the buckets' and GCRA's level, water or ahead, in units
						second = rapid.SampledFrom([]int64{0, 1, p.Unit, p.Capacity - 1, p.Capacity, rapid.Int64Range(0, p.Capacity).Draw(t, "anyUnits")}).Draw(t, "units")
					}
					want, got, fresh = steps.Slots{last, max(second, 0), max(third, 0)}, steps.Slots{last, max(second, 0), max(third, 0)}, false
				}
				for i := range rapid.IntRange(1, 40).Draw(t, "steps") {
					cost := drawCost(t, p.Max, "cost")
					wd, wexp, wkeep := steps.Step(&want, fresh, p, now, cost)
					gd, gexp, gkeep := f.Step((*[3]int64)(&got), fresh, now, cost)
					if wd != gd || wexp != gexp || wkeep != gkeep || want != got {
						t.Fatalf("%v step %d at %d cost %d (fresh %v, %+v): fast step %+v exp %d keep %v state %v, generated step %+v exp %d keep %v state %v",
							a, i, now, cost, fresh, *p, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
					}
					if wkeep {
						fresh = false
					}
					now = clampTime(now + drawDelta(t, p.Period, p.Limit))
				}
			})
		})
	}
}
