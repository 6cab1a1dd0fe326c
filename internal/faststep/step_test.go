package faststep

import (
	"math"
	"strings"
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
// generated binding does (proptest's TestFastStepEqualsStep checks the same
// on its quota families; this one lives here so that make mutate, which
// runs a package's own tests, sees Step's mutants killed), for every algorithm New covers, on traces from
// a fresh key or from any state the step could have left, with clocks
// moving forwards and back (to 0 and 2^52), and costs 0, 1, at and above
// the limit, up to MaxInt64.
func TestStepEqualsGenerated(t *testing.T) {
	for _, a := range fiveAlgorithms {
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
					if a == algo.FixedWindow || a == algo.SlidingWindow {
						top = p.Limit
					}
					count := func(label string) int64 {
						return max(0, rapid.OneOf(rapid.SampledFrom([]int64{0, 1, top - 1, top}), rapid.Int64Range(0, top)).Draw(t, label))
					}
					second := count("second")
					var third int64 // the sliding window's current count
					if a == algo.SlidingWindow {
						third = count("third")
					}
					want, got, fresh = steps.Slots{last, second, third}, steps.Slots{last, second, third}, false
				}
				for i := range rapid.IntRange(1, 30).Draw(t, "steps") {
					cost := rapid.OneOf(
						rapid.SampledFrom([]int64{0, 1, p.Max - 1, p.Max, p.Max + 1, math.MaxInt64}),
						rapid.Int64Range(0, p.Max+2),
					).Draw(t, "cost")
					cost = max(cost, 0)
					wd, wexp, wkeep := steps.Step(&want, fresh, p, now, cost)
					gd, gexp, gkeep := f.Step((*[3]int64)(&got), fresh, now, cost)
					if wd != gd || wexp != gexp || wkeep != gkeep || want != got {
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

// fiveAlgorithms are those New has a step for; an algorithm added to algo
// runs the generated binding until it has one here.
var fiveAlgorithms = []algo.Algorithm{algo.FixedWindow, algo.SlidingWindow, algo.TokenBucket, algo.LeakingBucket, algo.GCRA}

// TestNewCoversTheFiveAlgorithms: New has a step with reciprocals for
// each of the five; for params of no algorithm it has none, and Step runs
// the generated binding (which refuses them).
func TestNewCoversTheFiveAlgorithms(t *testing.T) {
	for _, a := range fiveAlgorithms {
		p, err := algo.Compile(a, algo.PerSec(10))
		if err != nil {
			t.Fatal(err)
		}
		if f := New(&p); f == nil || f.unit.d == 0 {
			t.Errorf("New(%v) = %+v, want a step with reciprocals", a, f)
		}
	}
	f := New(&algo.Params{Unit: 1, Rate: 1, Period: 1})
	if f == nil || f.unit.d != 0 {
		t.Fatalf("New(params of no algorithm) = %+v, want Params without reciprocals", f)
	}
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, "unknown algorithm") {
			t.Errorf("Step of no algorithm: recovered %q, want the generated binding's panic", r)
		}
	}()
	var st [3]int64
	f.Step(&st, true, 0, 1)
}

// TestStepAtProductEdges: the compares made on elapsed·Rate agree with
// algo's quotient compares exactly at their edges, where random draws
// rarely land: a product one below, equal to and one above the level,
// water or ahead it is compared with, and a product of exactly 2^63
// (2^52 µs elapsed at a Rate of 2^11), the first that does not fit an
// int64.
func TestStepAtProductEdges(t *testing.T) {
	quota := func(periodMicros, limit, burst int64) algo.Quota {
		return algo.Quota{Rate: algo.Rate{Period: time.Duration(periodMicros) * time.Microsecond, Limit: limit}, Burst: burst}
	}
	quotas := []algo.Quota{
		quota(1e6, 3, 0),     // Rate 3
		quota(1e6, 1e9, 5),   // Rate 1000
		quota(7000, 2, 0),    // Rate 1
		quota(1001, 2048, 2), // Rate 2048, for the 2^63 product
	}
	check := func(t *testing.T, f *Params, p *algo.Params, st steps.Slots, now, cost int64) {
		t.Helper()
		want, got := st, st
		wd, wexp, wkeep := steps.Step(&want, false, p, now, cost)
		gd, gexp, gkeep := f.Step((*[3]int64)(&got), false, now, cost)
		if wd != gd || wexp != gexp || wkeep != gkeep || want[0] != got[0] || want[1] != got[1] {
			t.Fatalf("%v %+v from %v at %d cost %d: Step %+v exp %d keep %v state %v, generated %+v exp %d keep %v state %v",
				p.Algorithm, *p, st, now, cost, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
		}
	}
	for _, a := range []algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		for _, q := range quotas {
			p, err := algo.Compile(a, q)
			if err != nil {
				t.Fatal(err)
			}
			f := New(&p)
			const last = 1000
			for _, k := range []int64{1, 2, 5} { // elapsed µs
				for _, j := range []int64{-1, 0, 1} {
					// The compared amount (the room below capacity for the
					// token bucket, the water or ahead otherwise) is k·Rate + j.
					amount := k*p.Rate + j
					second := amount
					if a == algo.TokenBucket {
						second = p.Capacity - amount
					}
					if second < 0 || second > p.Capacity {
						continue
					}
					for _, cost := range []int64{0, 1} {
						check(t, f, &p, steps.Slots{last, second}, last+k, cost)
					}
				}
			}
			if p.Rate == 2048 { // elapsed·Rate = 2^52 · 2^11 = 2^63
				for _, second := range []int64{0, 1, p.Unit, p.Capacity} {
					check(t, f, &p, steps.Slots{0, second}, maxTime, 1)
				}
			}
		}
	}
}

// TestAbove: above compares e·r with a exactly, for products that do and
// do not fit an int64.
func TestAbove(t *testing.T) {
	for _, c := range []struct {
		e, r, a int64
		want    bool
	}{
		{3, 4, 11, true}, {3, 4, 12, false}, {3, 4, 13, false}, {0, 9, -1, true}, {0, 9, 0, false},
		{1 << 52, 1 << 11, math.MaxInt64, true}, // 2^63 > MaxInt64
		{1 << 31, 1 << 31, 1<<62 - 1, true}, {1 << 31, 1 << 31, 1 << 62, false},
		{1 << 40, 1 << 40, math.MaxInt64, true}, // 2^80: hi != 0
	} {
		if got := above(c.e, c.r, c.a); got != c.want {
			t.Errorf("above(%d, %d, %d) = %v, want %v", c.e, c.r, c.a, got, c.want)
		}
	}
}
