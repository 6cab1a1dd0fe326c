package faststep

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/steps"
)

const maxTime = algo.MaxTime

// drawParams draws a quota at and around the edges Compile accepts (tiny
// and huge periods and limits, bursts of 1, the default and the largest)
// and compiles it for algorithm a; it skips quotas a refuses.
func drawParams(t *rapid.T, a algo.Algorithm) *algo.Params {
	period := rapid.OneOf(
		rapid.SampledFrom([]int64{1000, 1001, 7000, 1e6, 60e6, 3600e6, 86400e6, maxTime, maxTime - 1}),
		rapid.Int64Range(1000, 1e7),
		rapid.Int64Range(1000, maxTime),
	).Draw(t, "period")
	limit := rapid.OneOf(
		rapid.SampledFrom([]int64{1, 2, 3, 7, 1000, 1e6, 1e9, maxTime}),
		rapid.Int64Range(1, 100),
		rapid.Int64Range(1, maxTime),
	).Draw(t, "limit")
	burst := rapid.OneOf(
		rapid.SampledFrom([]int64{0, 1, 2, maxTime}),
		rapid.Int64Range(0, 1000),
		rapid.Int64Range(0, maxTime),
	).Draw(t, "burst")
	q := algo.Quota{Rate: algo.Rate{Period: time.Duration(period) * time.Microsecond, Limit: limit}, Burst: burst}
	p, err := algo.Compile(a, q)
	if err != nil {
		t.Skip("not a valid quota for", a)
	}
	return &p
}

// TestStepEqualsGenerated: Step decides, reports and stores what the
// generated binding does, for every algorithm New covers, on traces from
// a fresh key or from any state the step could have left, with clocks
// moving forwards and back (to 0 and 2^52), and costs 0, 1, at and above
// the limit, up to MaxInt64.
func TestStepEqualsGenerated(t *testing.T) {
	for _, a := range []algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA, algo.FixedWindow} {
		t.Run(a.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				p := drawParams(t, a)
				f := New(p)
				if f == nil {
					t.Fatalf("New(%v) = nil", a)
				}
				now := rapid.OneOf(rapid.SampledFrom([]int64{0, 1, maxTime - 1, maxTime}), rapid.Int64Range(0, maxTime)).Draw(t, "start")
				var want, got steps.Slots
				fresh := true
				if rapid.Bool().Draw(t, "stored") {
					last := rapid.Int64Range(0, maxTime).Draw(t, "last")
					top := p.Capacity // units, for the buckets and GCRA
					if a == algo.FixedWindow {
						top = p.Limit
					}
					second := rapid.OneOf(rapid.SampledFrom([]int64{0, 1, top - 1, top}), rapid.Int64Range(0, top)).Draw(t, "second")
					want, got, fresh = steps.Slots{last, max(second, 0)}, steps.Slots{last, max(second, 0)}, false
				}
				for i := range rapid.IntRange(1, 30).Draw(t, "steps") {
					cost := rapid.OneOf(
						rapid.SampledFrom([]int64{0, 1, p.Max - 1, p.Max, p.Max + 1, math.MaxInt64}),
						rapid.Int64Range(0, p.Max+2),
					).Draw(t, "cost")
					cost = max(cost, 0)
					wd, wexp, wkeep := steps.Step(&want, fresh, p, now, cost)
					gd, gexp, gkeep := f.Step((*[3]int64)(&got), fresh, now, cost)
					if wd != gd || wexp != gexp || wkeep != gkeep || want[0] != got[0] || want[1] != got[1] {
						t.Fatalf("%v step %d at %d cost %d (fresh %v, %+v): Step %+v exp %d keep %v state %v, generated %+v exp %d keep %v state %v",
							a, i, now, cost, fresh, *p, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
					}
					if wkeep {
						fresh = false
					}
					delta := rapid.OneOf(
						rapid.SampledFrom([]int64{0, 1, -1, p.Period, -p.Period, maxTime, -maxTime}),
						rapid.Int64Range(-p.Period, 2*p.Period),
						rapid.Int64Range(0, max(1, p.Period/max(1, p.Limit))*3),
					).Draw(t, "delta")
					now = min(max(now+delta, 0), maxTime)
				}
			})
		})
	}
}

// TestNewCoversTheFourAlgorithms: New has a step for the buckets, GCRA
// and the fixed window, and none for the sliding window (which runs the
// generated binding).
func TestNewCoversTheFourAlgorithms(t *testing.T) {
	for _, a := range algo.Algorithms {
		p, err := algo.Compile(a, algo.PerSec(10))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := New(&p) != nil, a != algo.SlidingWindow; got != want {
			t.Errorf("New(%v) != nil is %v, want %v", a, got, want)
		}
	}
}
