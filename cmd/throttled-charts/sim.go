package main

import (
	"fmt"
	"slices"

	"github.com/throttled-go/throttled/algo"
)

// Durations in microseconds, the unit of the step functions.
const (
	ms  int64 = 1_000
	sec int64 = 1_000 * ms
)

// start is the simulated clock's first reading, in µs since the Unix epoch:
// 2026-01-01T00:00:00Z, a multiple of every whole-second period, so the
// traces begin on a window edge.
const start int64 = 1_767_225_600 * sec

// quota is the one quota every chart applies to all five algorithms.
var quota = algo.PerSec(10).WithBurst(10)

// pattern is a deterministic traffic pattern on the simulated clock.
type pattern struct {
	name    string  // file name without .svg, under docs/algorithms
	title   string  // what the chart's title calls it
	about   string  // one line on what the pattern is and what to look for
	from    int64   // µs after start where the x axis begins
	span    int64   // µs the x axis shows, from from
	bucket  int64   // µs per bar of offered and admitted requests
	tick    int64   // µs between labelled x-axis ticks
	offsets []int64 // request times in µs after start; cost 1 each
}

// every returns the offsets from, from+step, … before until.
func every(from, until, step int64) []int64 {
	var out []int64
	for t := from; t < until; t += step {
		out = append(out, t)
	}
	return out
}

// patterns are the charts' traffic patterns, in the order the README shows them.
var patterns = []pattern{
	{
		name:  "burst-steady-idle-burst",
		title: "Burst, steady overload, idle, burst",
		about: "20 requests in the first 100 ms; 20/s (twice the rate) from 0.5 s to 4 s; silence; 20 requests in 100 ms at 6.25 s.",
		span:  7 * sec, bucket: 200 * ms, tick: sec,
		offsets: concat(
			every(0, 100*ms, 5*ms),
			every(500*ms, 4*sec, 50*ms),
			every(6250*ms, 6350*ms, 5*ms)),
	},
	{
		name:  "window-boundary",
		title: "A burst on each side of a window edge",
		about: "10 requests in the last 100 ms of a window (0.9–1 s), then 10 in the first 100 ms of the next (1–1.1 s); nothing else.",
		from:  500 * ms, span: sec, bucket: 20 * ms, tick: 100 * ms,
		offsets: concat(
			every(900*ms, sec, 10*ms),
			every(sec, 1100*ms, 10*ms)),
	},
	{
		name:  "steady-at-rate",
		title: "Steady load at the rate, plus one extra request",
		about: "One request every 100 ms (10/s, exactly the quota's rate) from 50 ms to 4 s, and one extra request at 2.5 s.",
		span:  4 * sec, bucket: 100 * ms, tick: 500 * ms,
		offsets: concat(every(50*ms, 4*sec, 100*ms), []int64{2500 * ms}),
	},
}

// concat returns the offsets of all parts, in ascending order.
func concat(parts ...[]int64) []int64 {
	var out []int64
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.Sort(out)
	return out
}

// event is one decision: the request's offset from start and what the step
// function decided.
type event struct {
	at int64
	d  algo.Decision
}

// outcome is one algorithm's decisions on one pattern.
type outcome struct {
	alg    algo.Algorithm
	p      algo.Params
	events []event
}

// stepper decides a request of cost at time now and keeps the state.
type stepper func(now, cost int64) algo.Decision

// keep wraps a step function and its state into a stepper.
func keep[S any](s S, p algo.Params, step func(S, algo.Params, int64, int64) (S, algo.Decision)) stepper {
	return func(now, cost int64) algo.Decision {
		var d algo.Decision
		s, d = step(s, p, now, cost)
		return d
	}
}

// newStepper returns algorithm a's real step function on a key that is new
// at time now.
func newStepper(a algo.Algorithm, p algo.Params, now int64) (stepper, error) {
	switch a {
	case algo.FixedWindow:
		return keep(algo.FixedWindowInit(p, now), p, algo.FixedWindowStep), nil
	case algo.SlidingWindow:
		return keep(algo.SlidingWindowInit(p, now), p, algo.SlidingWindowStep), nil
	case algo.TokenBucket:
		return keep(algo.TokenBucketInit(p, now), p, algo.TokenBucketStep), nil
	case algo.LeakingBucket:
		return keep(algo.LeakingBucketInit(p, now), p, algo.LeakingBucketStep), nil
	case algo.GCRA:
		return keep(algo.GCRAInit(p, now), p, algo.GCRAStep), nil
	}
	return nil, fmt.Errorf("no step function for algorithm %v", a)
}

// simulate runs every algorithm on pattern pt with quota q, each on a fresh
// key, in algo.Algorithms order.
func simulate(pt pattern, q algo.Quota) ([]outcome, error) {
	var runs []outcome
	for _, a := range algo.Algorithms {
		p, err := algo.Compile(a, q)
		if err != nil {
			return nil, err
		}
		step, err := newStepper(a, p, start)
		if err != nil {
			return nil, err
		}
		r := outcome{alg: a, p: p}
		for _, at := range pt.offsets {
			r.events = append(r.events, event{at: at, d: step(start+at, 1)})
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// admitted returns how many of r's requests passed.
func (r outcome) admitted() int {
	n := 0
	for _, e := range r.events {
		if !e.d.Limited {
			n++
		}
	}
	return n
}

// mostInPeriod returns the most requests r admitted within any half-open
// interval one period long: the quota's limit for a perfect limiter with no
// burst, twice it for a fixed window hit on both sides of an edge.
func (r outcome) mostInPeriod() int {
	var times []int64
	for _, e := range r.events {
		if !e.d.Limited {
			times = append(times, e.at)
		}
	}
	best, lo := 0, 0
	for hi, t := range times {
		for times[lo] <= t-r.p.Period {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// retries returns the longest finite RetryAfter r told a denied request, in
// µs, and how many denials were told Never.
func (r outcome) retries() (longest int64, never int) {
	for _, e := range r.events {
		switch {
		case !e.d.Limited:
		case e.d.RetryAfter < 0:
			never++
		default:
			longest = max(longest, e.d.RetryAfter)
		}
	}
	return longest, never
}
