package store_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/store"
)

// stepQuotas is a spread of quotas for the Step comparison: Unit and Rate
// both 1, one of them 1, neither 1 (PerSec(3), PerMin(7) with burst 5),
// bursts below and above the limit, long periods with large limits,
// whose Rate is large and Unit small, so that elapsed·Rate leaves 64 bits
// long before the clock does, and capacities up to algo.MaxSafe. Quotas
// an algorithm cannot compile exactly (a sliding window of a large limit
// over a long period) are skipped for that algorithm.
var stepQuotas = []algo.Quota{
	algo.PerSec(3),
	algo.PerMin(7).WithBurst(5),
	algo.PerSec(1),                        // Rate 1, Unit 10^6
	algo.PerSec(1_000_000),                // Unit 1, Rate 1
	algo.PerSec(4_000_000).WithBurst(9),   // Unit 1, Rate 4
	algo.PerDuration(time.Millisecond, 7), // Unit 1000, Rate 7
	algo.PerDuration(1500*time.Millisecond, 3).WithBurst(1),
	algo.PerHour(100).WithBurst(250),
	algo.PerDay(1_000_003).WithBurst(7), // Unit 8.64·10^10, Rate 1,000,003
	algo.PerDuration(time.Hour, 1<<40).WithBurst(1000),
	algo.PerDuration(3*time.Millisecond, 1<<50).WithBurst(1 << 20), // Rate 2^47, Unit 375
	algo.PerWeek(1 << 33).WithBurst(3),
	algo.PerSec(3).WithBurst(1 << 32),                                    // capacity 2^32·10^6, near 2^52
	algo.PerMin(7).WithBurst(75_000_000),                                 // capacity 4.5·10^15, near 2^52
	algo.PerSec(1_000_000).WithBurst(algo.MaxSafe),                       // Unit 1, Rate 1, capacity 2^52
	algo.PerDuration(time.Millisecond, 4000).WithBurst(algo.MaxSafe / 4), // Unit 1, Rate 4, capacity 2^50
	algo.PerDuration(7*24*time.Hour, 999_999_937),                        // a prime limit; burst = limit
	algo.PerDuration(97*time.Millisecond+13*time.Microsecond, 11),        // a period of 97,013µs
}

// stepPolicies compiles the stepQuotas that algorithm a takes, and fails
// if it takes too few for the comparison to mean much.
func stepPolicies(t *testing.T, a algo.Algorithm) []*store.Policy {
	t.Helper()
	var ps []*store.Policy
	for _, q := range stepQuotas {
		p, err := store.NewPolicy(q.WithAlgorithm(a))
		if err != nil {
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) < 8 {
		t.Fatalf("%v compiles only %d of the %d quotas", a, len(ps), len(stepQuotas))
	}
	return ps
}

// drawPolicy draws one of ps or, half of the time, a random quota for a
// that compiles (periods up to about 28 hours, so that a burst up to 2^15
// keeps the bucket capacity within 2^52 and a limit up to 2^15 keeps the
// sliding window exact).
func drawPolicy(t *rapid.T, a algo.Algorithm, ps []*store.Policy) *store.Policy {
	if rapid.Bool().Draw(t, "random quota") {
		period := rapid.Int64Range(1000, 100_000_000_000).Draw(t, "period µs")
		var limit int64
		if a == algo.SlidingWindow || rapid.Bool().Draw(t, "small limit") {
			limit = rapid.Int64Range(1, 1<<15).Draw(t, "limit")
		} else {
			limit = rapid.Int64Range(1, 1<<50).Draw(t, "large limit")
		}
		burst := rapid.Int64Range(1, 1<<15).Draw(t, "burst")
		if a.IsBucket() && limit > 1<<15 {
			// burst 0 would be the limit, past exactness: keep it drawn.
		} else if rapid.Bool().Draw(t, "default burst") {
			burst = 0
		}
		q := algo.PerDuration(time.Duration(period)*time.Microsecond, limit).WithBurst(burst).WithAlgorithm(a)
		p, err := store.NewPolicy(q)
		if err != nil {
			t.Fatalf("NewPolicy(%+v): %v (the generator should draw only exact quotas)", q, err)
		}
		return p
	}
	return rapid.SampledFrom(ps).Draw(t, "policy")
}

// drawCost draws a cost around the policy's capacity: 0 (a peek), 1, the
// capacity, one more, a random one, or a huge one.
func drawCost(t *rapid.T, p *store.Policy) int64 {
	m := p.Max()
	switch rapid.IntRange(0, 6).Draw(t, "cost kind") {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return m
	case 3:
		return m + 1
	case 4:
		return rapid.Int64Range(0, m+2).Draw(t, "cost")
	case 5:
		return rapid.SampledFrom([]int64{algo.MaxSafe, algo.MaxSafe + 1, math.MaxInt64 / 2, math.MaxInt64}).Draw(t, "huge cost")
	default:
		return rapid.Int64Range(0, math.MaxInt64).Draw(t, "any cost")
	}
}

// drawNow moves the time from now: a little or a lot forwards, sometimes
// backwards (a clock stepped back), kept within [0, algo.MaxTime].
func drawNow(t *rapid.T, now, period int64) int64 {
	var d int64
	switch rapid.IntRange(0, 7).Draw(t, "time kind") {
	case 0:
		d = 0
	case 1:
		d = rapid.Int64Range(0, 2*period).Draw(t, "forward")
	case 2:
		d = rapid.Int64Range(0, 10_000).Draw(t, "forward µs")
	case 3:
		d = rapid.Int64Range(0, algo.MaxTime).Draw(t, "far forward")
	case 4:
		d = -rapid.Int64Range(0, 2*period).Draw(t, "backward")
	case 5, 6:
		// Log-uniform, forwards or backwards: every scale from 1µs to
		// 2^52µs, where elapsed·Rate crosses 2^63 and 2^64 for some Rate.
		e := rapid.IntRange(0, 52).Draw(t, "scale")
		d = rapid.Int64Range(0, int64(1)<<e).Draw(t, "scaled")
		if rapid.Bool().Draw(t, "scaled backward") {
			d = -d
		}
	default:
		d = -rapid.Int64Range(0, algo.MaxTime).Draw(t, "far backward")
	}
	return min(max(now+d, 0), algo.MaxTime)
}

// sameFields reports whether two stored states of algorithm a hold the
// same fields. The slots past them are not part of the state (steps.Step
// and faststep write them 0).
func sameFields(a algo.Algorithm, x, y [3]int64) bool {
	return slices.Equal(x[:steps.Fields[a]], y[:steps.Fields[a]])
}

// TestPolicyStepMatchesSteps checks, for every algorithm, that a policy's
// Step (the reciprocal arithmetic of internal/faststep) decides,
// expires, keeps and stores exactly as the generated step binding
// steps.Step on the policy's parameters, along random histories of one
// key: time moving forwards and backwards, costs from 0 to huge, and the
// key now and then going fresh (as a store drops expired or reset state)
// or kept past its expiry.
// While fresh, the slots hold garbage, which neither may read.
func TestPolicyStepMatchesSteps(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			ps := stepPolicies(t, a)
			rapid.Check(t, func(t *rapid.T) {
				p := drawPolicy(t, a, ps)
				if p.Algorithm() != a {
					t.Fatalf("policy %v has algorithm %v, want %v", p, p.Algorithm(), a)
				}
				now := rapid.Int64Range(0, algo.MaxTime).Draw(t, "start")
				var got, want [3]int64
				fresh := true
				var expireAt int64
				// A store drops expired state; Step must also decide on
				// state kept past its expiry, as a caller may pass it.
				expires := rapid.Bool().Draw(t, "expires")
				n := rapid.IntRange(1, 60).Draw(t, "steps")
				for i := range n {
					if i > 0 {
						now = drawNow(t, now, p.Params().Period)
					}
					switch {
					case !fresh && expires && now >= expireAt:
						fresh = true // the store's expiry
					case !fresh && rapid.IntRange(0, 15).Draw(t, "reset") == 0:
						fresh = true // a Reset
					}
					if fresh {
						for j := range got {
							got[j] = rapid.Int64().Draw(t, "garbage")
						}
					}
					want = got // the slots past the state's fields may differ: reset them
					cost := drawCost(t, p)
					before := got
					gd, gexp, gkeep := p.Step(&got, fresh, now, cost)
					wd, wexp, wkeep := steps.Step((*steps.Slots)(&want), fresh, p.Params(), now, cost)
					if gd != wd || gexp != wexp || gkeep != wkeep {
						t.Fatalf("step %d of %v at %d, cost %d, fresh %v, state %v:\nStep       = %+v, expire %d, keep %v\nsteps.Step = %+v, expire %d, keep %v",
							i, p, now, cost, fresh, before, gd, gexp, gkeep, wd, wexp, wkeep)
					}
					if !sameFields(a, got, want) {
						t.Fatalf("step %d of %v at %d, cost %d, fresh %v, state %v: Step stored %v, steps.Step %v",
							i, p, now, cost, fresh, before, got, want)
					}
					if !gkeep && got != before {
						t.Fatalf("step %d of %v at %d, cost %d: keep is false but the state changed from %v to %v",
							i, p, now, cost, before, got)
					}
					if gkeep {
						if cost == 0 || gd.Limited {
							t.Fatalf("step %d of %v: keep with cost %d and decision %+v", i, p, cost, gd)
						}
						fresh, expireAt = false, gexp
					}
				}
			})
		})
	}
}

// TestPolicyStepEdges compares Step with steps.Step at the corners rapid
// may not reach: times 0 and algo.MaxTime, a state at one end read at the
// other, and costs from the capacity to math.MaxInt64.
func TestPolicyStepEdges(t *testing.T) {
	times := []int64{0, 1, algo.MaxTime / 2, algo.MaxTime - 1, algo.MaxTime}
	for _, a := range algo.Algorithms {
		for _, p := range stepPolicies(t, a) {
			m := p.Max()
			costs := []int64{0, 1, m - 1, m, m + 1, algo.MaxSafe, math.MaxInt64}
			for _, t1 := range times {
				for _, c1 := range costs {
					for _, t2 := range times {
						for _, c2 := range costs {
							var got, want [3]int64
							gd, gexp, gkeep := p.Step(&got, true, t1, c1)
							wd, wexp, wkeep := steps.Step((*steps.Slots)(&want), true, p.Params(), t1, c1)
							if gd != wd || gexp != wexp || gkeep != wkeep || !sameFields(a, got, want) {
								t.Fatalf("%v fresh at %d cost %d: Step = %+v %d %v %v, steps.Step = %+v %d %v %v",
									p, t1, c1, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
							}
							fresh := !gkeep
							want = got
							before := got
							gd, gexp, gkeep = p.Step(&got, fresh, t2, c2)
							wd, wexp, wkeep = steps.Step((*steps.Slots)(&want), fresh, p.Params(), t2, c2)
							if gd != wd || gexp != wexp || gkeep != wkeep || !sameFields(a, got, want) {
								t.Fatalf("%v state %v (fresh %v) at %d cost %d: Step = %+v %d %v %v, steps.Step = %+v %d %v %v",
									p, before, fresh, t2, c2, gd, gexp, gkeep, got, wd, wexp, wkeep, want)
							}
						}
					}
				}
			}
		}
	}
}
