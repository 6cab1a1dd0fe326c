package main

import (
	"slices"
	"testing"

	"github.com/throttled-go/throttled/algo"
)

// outcomes simulates pattern name and returns its outcomes by algorithm.
func outcomes(t *testing.T, name string) map[algo.Algorithm]outcome {
	t.Helper()
	i := slices.IndexFunc(patterns, func(p pattern) bool { return p.name == name })
	if i < 0 {
		t.Fatalf("no pattern %q", name)
	}
	runs, err := simulate(patterns[i], quota)
	if err != nil {
		t.Fatal(err)
	}
	out := map[algo.Algorithm]outcome{}
	for _, r := range runs {
		out[r.alg] = r
	}
	if len(out) != len(algo.Algorithms) {
		t.Fatalf("%d outcomes, want one per algorithm", len(out))
	}
	return out
}

// TestPatternsFitTheirCharts checks that every request is inside its
// chart's x axis, offsets ascend, and the trace starts on a window edge,
// since the charts draw the edges as multiples of the period from start.
func TestPatternsFitTheirCharts(t *testing.T) {
	if start%quota.Period.Microseconds() != 0 {
		t.Errorf("start %d is not a multiple of the period: the windows would not begin at 0 on the chart", start)
	}
	for _, pt := range patterns {
		if !slices.IsSorted(pt.offsets) || len(pt.offsets) == 0 {
			t.Errorf("%s: offsets empty or not ascending", pt.name)
		}
		for _, at := range pt.offsets {
			if at < pt.from || at >= pt.from+pt.span {
				t.Errorf("%s: request at %d µs is off the chart [%d, %d)", pt.name, at, pt.from, pt.from+pt.span)
			}
		}
		if pt.span%pt.bucket != 0 || pt.span%pt.tick != 0 {
			t.Errorf("%s: span %d is not a whole number of buckets and ticks", pt.name, pt.span)
		}
	}
}

// TestWindowBoundaryDoubles checks what the window-boundary chart claims:
// the fixed window admits twice its limit within one period around the
// edge, while the others admit at most limit plus what refills meanwhile.
func TestWindowBoundaryDoubles(t *testing.T) {
	out := outcomes(t, "window-boundary")
	if got := out[algo.FixedWindow].mostInPeriod(); got != 2*int(quota.Limit) {
		t.Errorf("fixed window admitted %d in one period, want %d (2× the limit)", got, 2*quota.Limit)
	}
	for _, a := range []algo.Algorithm{algo.SlidingWindow, algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		// 200 ms of traffic refills at most 2 tokens at 10/s.
		if got := out[a].mostInPeriod(); got > int(quota.Limit)+2 {
			t.Errorf("%s admitted %d in one period, want at most %d", a, got, quota.Limit+2)
		}
	}
}

// TestSteadyAtRate checks the steady-at-rate chart: the buckets admit
// everything (their burst absorbs the extra request), and no algorithm
// denies more than one request.
func TestSteadyAtRate(t *testing.T) {
	out := outcomes(t, "steady-at-rate")
	for a, r := range out {
		denied := len(r.events) - r.admitted()
		if a.IsBucket() && denied != 0 {
			t.Errorf("%s denied %d requests at the rate with burst %d", a, denied, quota.EffectiveBurst())
		}
		if denied > 1 {
			t.Errorf("%s denied %d requests; one extra request should cost at most one denial", a, denied)
		}
	}
}

// TestBurstSteadyIdleBurst checks the first chart's claims: each burst
// passes exactly the capacity, every algorithm is back to full after the
// idle gap, and in the overload no algorithm admits more than the rate.
func TestBurstSteadyIdleBurst(t *testing.T) {
	out := outcomes(t, "burst-steady-idle-burst")
	for a, r := range out {
		var first, second int
		for _, e := range r.events {
			switch {
			case e.d.Limited:
			case e.at < 100*ms:
				first++
			case e.at >= 6*sec:
				second++
			}
		}
		if first != int(r.p.Max) || second != int(r.p.Max) {
			t.Errorf("%s passed %d and %d of the bursts, want %d each", a, first, second, r.p.Max)
		}
		if got, bound := r.mostInPeriod(), int(quota.Limit+quota.EffectiveBurst()); got > bound {
			t.Errorf("%s admitted %d in one period, more than limit + burst = %d", a, got, bound)
		}
	}
}

// TestNumbers pins the formatting helpers the charts' bytes depend on.
func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{num(1.25), "1.2"}, {num(-0.01), "0"}, {num(3), "3"}, {num(120.06), "120.1"},
		{seconds(250 * ms), "0.25"}, {seconds(sec), "1"}, {seconds(0), "0"},
		{micros(sec), "1 s"}, {micros(20 * ms), "20 ms"}, {micros(950_001), "950.001 ms"}, {micros(1), "1 µs"}, {micros(999), "999 µs"}, {micros(ms), "1 ms"}, {micros(1_001), "1.001 ms"},
		{esc(`a<b & "c"`), "a&lt;b &amp; &quot;c&quot;"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for v, want := range map[int64]int64{-1: 1, 0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 20: 20, 21: 50, 50_000: 50_000, 950_001: 1_000_000} {
		if got := niceMax(v); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", v, got, want)
		}
	}
}
