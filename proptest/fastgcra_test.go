package proptest

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/fastgcra"
	"github.com/throttled-go/throttled/internal/steps"
)

// TestFastGCRAEqualsStep: the memory store's GCRA path (reciprocals instead
// of divisions) decides, reports and stores exactly what the generated step
// does, on traces over every quota family: clocks stepping back, costs 0,
// at and above capacity up to MaxInt64, times at 0 and 2^52, and stored
// states anywhere in their range (as left by a quota of the same identity
// or written by the step itself).
func TestFastGCRAEqualsStep(t *testing.T) {
	for _, kind := range quotaKinds {
		t.Run(kind, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				qc := drawQuota(t, kind)
				p, ok := qc.params[algo.GCRA]
				if !ok {
					t.Skip("not a GCRA quota")
				}
				f := fastgcra.New(p)
				now := drawStart(t, p.Period)
				var want, got steps.Slots
				fresh := true
				if rapid.Bool().Draw(t, "stored") { // a state the step could have left
					last := rapid.Int64Range(0, maxSafe).Draw(t, "last")
					ahead := rapid.SampledFrom([]int64{0, 1, p.Unit, p.Capacity - 1, p.Capacity, rapid.Int64Range(0, p.Capacity).Draw(t, "anyAhead")}).Draw(t, "ahead")
					want, got, fresh = steps.Slots{last, max(ahead, 0)}, steps.Slots{last, max(ahead, 0)}, false
				}
				for i := range rapid.IntRange(1, 40).Draw(t, "steps") {
					cost := drawCost(t, p.Burst, "cost")
					wd, wexp, wkeep := steps.Step(&want, fresh, p, now, cost)
					gd, gexp, gkeep := f.Step((*[3]int64)(&got), fresh, now, cost)
					if wd != gd || wexp != gexp || wkeep != gkeep || want != got {
						t.Fatalf("step %d at %d cost %d (fresh %v, %+v): fast path %+v exp %d keep %v state %v, step %+v exp %d keep %v state %v",
							i, now, cost, fresh, *p, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
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
