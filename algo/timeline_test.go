package algo

import (
	"fmt"
	"testing"
	"time"
)

// step is one row of a timeline: a request of cost at time at (µs since the
// epoch) and the Decision it must get. Cost 0 is a Peek.
type step struct {
	at        int64
	cost      int64
	limited   bool
	remaining int64
	retry     int64 // RetryAfter, µs; never when the cost can never pass
	reset     int64 // ResetAfter, µs
}

type timeline struct {
	name  string
	quota Quota
	steps []step
}

// runTimeline plays steps against one key kept as a store keeps it, checking
// each decision against its row and against checkDecision.
func runTimeline(t *testing.T, a Algorithm, q Quota, steps []step) {
	t.Helper()
	k := newSim(mustCompile(t, a, q))
	for i, st := range steps {
		before := k.clone()
		d := k.limit(st.at, st.cost)
		want := Decision{Limited: st.limited, Remaining: st.remaining, RetryAfter: st.retry, ResetAfter: st.reset}
		if d != want {
			t.Fatalf("step %d: at=%d cost=%d:\n got %+v\nwant %+v", i, st.at, st.cost, d, want)
		}
		checkDecision(t, fmt.Sprintf("step %d", i), before, k, st.at, st.cost, d)
	}
}

// t2025 is 2025-01-01T00:00:00Z, a whole number of days (not weeks) since the epoch.
const t2025 = 1_735_689_600 * second

// bucketTimelines hold for the token bucket, the leaky bucket and GCRA alike:
// the three are one policy.
func bucketTimelines() []timeline {
	return []timeline{
		{"throttled-py/per_min(60,burst=10)", PerMin(60).WithBurst(10), []step{
			// at    cost  limited remaining retry reset
			{0, 1, false, 9, 0, 1 * second},
			{0, 1, false, 8, 0, 2 * second},
			{0, 1, false, 7, 0, 3 * second},
			{0, 1, false, 6, 0, 4 * second},
			{0, 1, false, 5, 0, 5 * second},
			{0, 1, false, 4, 0, 6 * second},
			{0, 1, false, 3, 0, 7 * second},
			{0, 1, false, 2, 0, 8 * second},
			{0, 1, false, 1, 0, 9 * second},
			{0, 1, false, 0, 0, 10 * second},
			{0, 1, true, 0, 1 * second, 10 * second}, // the eleventh: one token a second
			{second - 1, 1, true, 0, 1, 9*second + 1},
			{second, 1, false, 0, 0, 10 * second},
			{second, 1, true, 0, 1 * second, 10 * second},
			{11 * second, 0, false, 10, 0, 0}, // full again: the key has expired
			{11 * second, 10, false, 0, 0, 10 * second},
		}},
		// Seed: limit("key", 1) → remaining 59, reset_after 1; limit("key", 60)
		// → limited. throttled-py prints retry_after=60; exactly, 59 tokens are
		// there and one more comes in 1s, so RetryAfter is 1s.
		{"throttled-py/default_60_per_min", PerMin(60), []step{
			{0, 1, false, 59, 0, 1 * second},
			{0, 0, false, 59, 0, 1 * second}, // peek
			{0, 60, true, 59, 1 * second, 1 * second},
			{0, 61, true, 59, never, 1 * second},
			{1 * second, 60, false, 0, 0, 60 * second},
			{1 * second, 1, true, 0, 1 * second, 60 * second},
			{31 * second, 0, false, 30, 0, 30 * second},
		}},
		// Seed: the second ping() is limited: remaining=0, reset_after=60, retry_after=60.
		{"throttled-py/per_min(1)", PerMin(1), []step{
			{0, 1, false, 0, 0, 60 * second},
			{0, 1, true, 0, 60 * second, 60 * second},
			{60*second - 1, 1, true, 0, 1, 1},
			{60 * second, 1, false, 0, 0, 60 * second},
			{60 * second, 2, true, 0, never, 60 * second},
		}},
		{"cost=capacity_on_fresh_key", PerSec(5), []step{
			{0, 5, false, 0, 0, 1 * second},
			{0, 1, true, 0, 200 * msec, 1 * second},
		}},
		{"cost>capacity", PerSec(5), []step{
			{0, 6, true, 5, never, 0}, // fresh key: nothing stored
			{0, 2, false, 3, 0, 400 * msec},
			{0, 6, true, 3, never, 400 * msec}, // state unchanged
			{0, 0, false, 3, 0, 400 * msec},
			{0, 3, false, 0, 0, 1 * second},
		}},
		{"burst_above_limit", PerSec(5).WithBurst(8), []step{
			{0, 8, false, 0, 0, 1600 * msec},
			{0, 9, true, 0, never, 1600 * msec},
			{200 * msec, 1, false, 0, 0, 1600 * msec},
			{1800 * msec, 0, false, 8, 0, 0},
			{1800 * msec, 9, true, 8, never, 0},
		}},
		{"burst_below_limit", PerSec(10).WithBurst(2), []step{
			{0, 2, false, 0, 0, 200 * msec},
			{0, 1, true, 0, 100 * msec, 200 * msec},
			{100 * msec, 1, false, 0, 0, 200 * msec},
			{100 * msec, 3, true, 0, never, 200 * msec},
			{10 * second, 2, false, 0, 0, 200 * msec}, // never more than the burst, however long the wait
		}},
		{"period_1ms", PerDuration(time.Millisecond, 1), []step{
			{0, 1, false, 0, 0, 1000},
			{999, 1, true, 0, 1, 1},
			{1000, 1, false, 0, 0, 1000},
		}},
		{"period_1ms/limit_3", PerDuration(time.Millisecond, 3), []step{
			// one token each 333⅓µs: Unit 1000, Rate 3
			{0, 3, false, 0, 0, 1000},
			{333, 0, false, 0, 0, 667},
			{333, 1, true, 0, 1, 667},
			{334, 1, false, 0, 0, 1000}, // 1002 units − 1000: the 2 extra are kept
			{666, 1, true, 0, 1, 668},   // 2 + 332·3 = 998 units
			{667, 1, false, 0, 0, 1000}, // 2 + 333·3 = 1001 units
		}},
		{"period_1ms/limit_1000", PerDuration(time.Millisecond, 1000), []step{
			{0, 1000, false, 0, 0, 1000},
			{1, 1, false, 0, 0, 1000},
			{1, 2, true, 0, 2, 1000},
			{1001, 0, false, 1000, 0, 0},
		}},
		{"huge_period/100y_limit_3", PerDuration(time.Duration(century)*time.Microsecond, 3), []step{
			// one token each century/3 = 1_051_200_000_000_000µs
			{0, 1, false, 2, 0, century / 3},
			{0, 2, false, 0, 0, century},
			{0, 1, true, 0, century / 3, century},
			{century/3 - 1, 1, true, 0, 1, 2*century/3 + 1},
			{century / 3, 1, false, 0, 0, century},
			{century / 3, 3, true, 0, century, century},
		}},
		{"realistic_epoch/per_hour(7,burst=2)", PerHour(7).WithBurst(2), []step{
			// Unit 3.6e9, Rate 7: one token each 514_285_714.28…µs
			{t2025, 1, false, 1, 0, 514_285_715},
			{t2025, 1, false, 0, 0, 1_028_571_429},
			{t2025, 1, true, 0, 514_285_715, 1_028_571_429},
			{t2025 + 514_285_714, 1, true, 0, 1, 514_285_715}, // 3_599_999_998 units of 3.6e9
			{t2025 + 514_285_715, 1, false, 0, 0, 1_028_571_428},
		}},
		{"fractional_refill_kept", PerSec(3), []step{
			// one token each 333_333⅓µs: Unit 1_000_000, Rate 3
			{0, 3, false, 0, 0, 1 * second},
			{333_333, 0, false, 0, 0, 666_667}, // 999_999 units
			{333_333, 1, true, 0, 1, 666_667},
			{333_334, 0, false, 1, 0, 666_666}, // 1_000_002 units
			{333_334, 1, false, 0, 0, 1 * second},
			{666_667, 1, false, 0, 0, 1 * second}, // 2 + 999_999 units: the ⅔ kept
			{1 * second, 1, false, 0, 0, 1 * second},
			{1 * second, 1, true, 0, 333_334, 1 * second},
		}},
		{"fraction_accumulates_over_1000_steps_of_1µs", PerSec(3).WithBurst(2000), accumulateSteps()},
		{"clock_back", PerSec(10), []step{
			// Unit 100_000, Rate 1. A time before the state's is taken as the
			// state's time, so nothing is admitted that was not at that time;
			// durations add the lag, so they hold in the caller's time.
			{10 * second, 10, false, 0, 0, 1 * second},
			{5 * second, 1, true, 0, 5*second + 100*msec, 6 * second}, // drained at 10s, asked at 5s
			{5 * second, 0, false, 0, 0, 6 * second},
			{10*second + 100*msec, 1, false, 0, 0, 1 * second},
			{20 * second, 4, false, 6, 0, 400 * msec},
			{19 * second, 6, false, 0, 0, 2 * second}, // admitted as at 20s; the state stays at 20s
			{19*second + 500*msec, 1, true, 0, 600 * msec, 1500 * msec},
			{20 * second, 10, true, 0, 1 * second, 1 * second}, // no refill between 19s and 20s
			{20*second + 100*msec, 1, false, 0, 0, 1 * second},
		}},
	}
}

// accumulateSteps takes 1000 tokens of 2000 at t=0 (PerSec(3), burst 2000),
// then one token at each of t=1…1000µs: each step refills 3 units of
// 1_000_000 and all of them must be kept, 3000 in the end, which shows in
// RetryAfter (⌈(1_000_000−3000)/3⌉, not ⌈1_000_000/3⌉) and in when the
// next token is there.
func accumulateSteps() []step {
	const unit, rate, capacity = 1_000_000, 3, 2000 * 1_000_000
	steps := []step{{0, 1000, false, 1000, 0, 333_333_334}}
	level := int64(capacity - 1000*unit)
	for i := int64(1); i <= 1000; i++ {
		level += rate - unit
		steps = append(steps, step{i, 1, false, level / unit, 0, ceilDiv(capacity-level, rate)})
	}
	// level is 3000 units now.
	return append(steps,
		step{1000, 1, true, 0, 332_334, 666_665_667},
		step{1000 + 332_333, 0, false, 0, 0, 666_333_334}, // 999_999 units
		step{1000 + 332_334, 1, false, 0, 0, 666_666_666}, // 1_000_002 units, 2 left
	)
}

func fixedWindowTimelines() []timeline {
	return []timeline{
		{"throttled-py/default_60_per_min", PerMin(60), []step{
			// at    cost  limited remaining retry reset
			{0, 1, false, 59, 0, 60 * second},
			{0, 0, false, 59, 0, 60 * second},
			{0, 60, true, 59, 60 * second, 60 * second}, // throttled-py's retry_after=60
			{0, 61, true, 59, never, 60 * second},
			{30 * second, 59, false, 0, 0, 30 * second},
			{30 * second, 1, true, 0, 30 * second, 30 * second},
			{60*second - 1, 1, true, 0, 1, 1},
			{60 * second, 0, false, 60, 0, 0},
			{60 * second, 60, false, 0, 0, 60 * second},
		}},
		{"throttled-py/per_min(1)", PerMin(1), []step{
			{0, 1, false, 0, 0, 60 * second},
			{0, 1, true, 0, 60 * second, 60 * second},
			{60*second - 1, 1, true, 0, 1, 1},
			{60 * second, 1, false, 0, 0, 60 * second},
		}},
		// Seed: assert throttle.limit("key", 2).limited is True.
		{"throttled-py/per_min(1)_cost_2", PerMin(1), []step{
			{0, 2, true, 1, never, 0},
			{0, 1, false, 0, 0, 60 * second},
			{0, 2, true, 0, never, 60 * second},
		}},
		{"window_boundaries", PerSec(2), []step{
			{999_999, 2, false, 0, 0, 1}, // last µs of window 0
			{999_999, 1, true, 0, 1, 1},
			{999_999, 0, false, 0, 0, 1},
			{1_000_000, 0, false, 2, 0, 0}, // first µs of window 1
			{1_000_000, 2, false, 0, 0, 1 * second},
			{1_999_999, 1, true, 0, 1, 1},
			{2_000_000, 1, false, 1, 0, 1 * second},
		}},
		{"window_boundaries/realistic_epoch", PerMin(3), []step{
			{t2025 - 1, 3, false, 0, 0, 1},
			{t2025 - 1, 1, true, 0, 1, 1},
			{t2025, 3, false, 0, 0, 60 * second},
			{t2025 + 59*second, 1, true, 0, 1 * second, 1 * second},
		}},
		{"cost=capacity_on_fresh_key", PerSec(5), []step{
			{0, 5, false, 0, 0, 1 * second},
			{500 * msec, 1, true, 0, 500 * msec, 500 * msec},
		}},
		{"burst_ignored", PerSec(5).WithBurst(100), []step{
			{0, 6, true, 5, never, 0},
			{0, 5, false, 0, 0, 1 * second},
			{0, 1, true, 0, 1 * second, 1 * second},
		}},
		{"period_1ms", PerDuration(time.Millisecond, 1), []step{
			{0, 1, false, 0, 0, 1000},
			{999, 1, true, 0, 1, 1},
			{1000, 1, false, 0, 0, 1000},
		}},
		{"huge_period/100y_limit_3", PerDuration(time.Duration(century)*time.Microsecond, 3), []step{
			{1, 3, false, 0, 0, century - 1},
			{century - 1, 1, true, 0, 1, 1},
			{century, 3, false, 0, 0, century},
		}},
		{"clock_back", PerSec(10), []step{
			{10*second + 500*msec, 10, false, 0, 0, 500 * msec},
			{5 * second, 1, true, 0, 6 * second, 6 * second}, // taken as 10.5s, 5.5s of lag
			{9*second + 999_999, 0, false, 0, 0, 1_000_001},  // not as window [9s, 10s)
			{11 * second, 10, false, 0, 0, 1 * second},
			{20*second + 500*msec, 4, false, 6, 0, 500 * msec},
			{19 * second, 6, false, 0, 0, 2 * second}, // admitted as at 20.5s
			{19*second + 500*msec, 10, true, 0, 1500 * msec, 1500 * msec},
			{20*second + 999_999, 1, true, 0, 1, 1},
		}},
	}
}

func slidingWindowTimelines() []timeline {
	return []timeline{
		{"throttled-py/default_60_per_min", PerMin(60), []step{
			// at    cost  limited remaining retry reset
			// One request weighs ⌊1·(P−e)/P⌋ in the next window: 1 at e=0, 0 from e=1µs.
			{0, 1, false, 59, 0, 60*second + 1},
			{0, 0, false, 59, 0, 60*second + 1},
			{0, 60, true, 59, 60*second + 1, 60*second + 1},
			{0, 61, true, 59, never, 60*second + 1},
			{60 * second, 60, true, 59, 1, 1},
			{60*second + 1, 60, false, 0, 0, 119 * second},
		}},
		{"throttled-py/per_min(1)", PerMin(1), []step{
			{0, 1, false, 0, 0, 60*second + 1},
			{0, 1, true, 0, 60*second + 1, 60*second + 1},
			{60 * second, 1, true, 0, 1, 1},
			{60*second + 1, 1, false, 0, 0, 60 * second},
		}},
		{"throttled-py/per_min(1)_cost_2", PerMin(1), []step{
			{0, 2, true, 1, never, 0},
			{0, 1, false, 0, 0, 60*second + 1},
			{0, 2, true, 0, never, 60*second + 1},
		}},
		{"weighting", PerSec(10), []step{
			{0, 10, false, 0, 0, 1_900_001}, // window 0 full
			// the current window alone is over: wait into the next one, where ⌊10·(P−1)/P⌋ = 9
			{999_999, 1, true, 0, 2, 900_002},
			{1_000_000, 0, false, 0, 0, 900_001}, // estimate ⌊10·1⌋ = 10
			{1_000_001, 0, false, 1, 0, 900_000}, // ⌊10·999_999/1e6⌋ = 9
			{1_500_000, 0, false, 5, 0, 400_001}, // half way: ⌊10·½⌋ = 5
			{1_500_000, 5, false, 0, 0, 1_300_001},
			{1_500_000, 6, true, 0, 500_001, 1_300_001}, // 5 + 6 > 10: into window 2, where ⌊5·(P−1)/P⌋ = 4
			{1_500_000, 1, true, 0, 1, 1_300_001},       // ⌊10·499_999/1e6⌋ = 4
			{1_600_000, 1, false, 0, 0, 1_233_334},
			{2_000_000, 0, false, 4, 0, 833_334},
			{2_833_333, 0, false, 9, 0, 1},
			{2_833_334, 0, false, 10, 0, 0},
		}},
		{"current_window_over/wait_deep_into_next", PerSec(10), []step{
			{250 * msec, 10, false, 0, 0, 1_650_001},
			{250 * msec, 5, true, 0, 1_150_001, 1_650_001}, // ⌊10·(P−x)/P⌋ ≤ 5 from x = 400_001
			{1_400_000, 5, true, 4, 1, 500_001},            // ⌊10·600_000/1e6⌋ = 6
			{1_400_001, 5, false, 0, 0, 1_400_000},
		}},
		{"window_boundaries", PerSec(2), []step{
			{999_999, 2, false, 0, 0, 500_002}, // last µs of window 0
			{999_999, 1, true, 0, 2, 500_002},
			{1_000_000, 0, false, 0, 0, 500_001}, // first µs of window 1: ⌊2·1⌋ = 2
			{1_000_001, 0, false, 1, 0, 500_000},
			{1_500_000, 0, false, 1, 0, 1},
			{1_500_001, 0, false, 2, 0, 0},
		}},
		{"cost=capacity_on_fresh_key", PerSec(5), []step{
			{0, 5, false, 0, 0, 1_800_001},
			{0, 6, true, 0, never, 1_800_001},
		}},
		{"burst_ignored", PerSec(5).WithBurst(100), []step{
			{0, 6, true, 5, never, 0},
			{0, 5, false, 0, 0, 1_800_001},
		}},
		{"period_1ms", PerDuration(time.Millisecond, 1), []step{
			{0, 1, false, 0, 0, 1001},
			{999, 1, true, 0, 2, 2},
			{1000, 1, true, 0, 1, 1},
			{1001, 1, false, 0, 0, 1000},
		}},
		{"period_1ms/limit_5000", PerDuration(time.Millisecond, 5000), []step{
			{0, 3000, false, 2000, 0, 2000},
			{1000, 3000, true, 2000, 334, 1000}, // ⌊3000·(1000−x)/1000⌋ ≤ 2000 from x = 334
			{1334, 3000, false, 2, 0, 1666},
		}},
		{"period_1ms/limit_5000/retry_at_next_window", PerDuration(time.Millisecond, 5000), []step{
			{0, 5000, false, 0, 0, 2000},
			{1999, 4995, false, 0, 0, 1001}, // ⌊5000·1/1000⌋ = 5 left from window 0
			{1999, 5, true, 0, 1, 1001},
			{2000, 5, false, 0, 0, 1801}, // window 2 weighs ⌊4995·1⌋ at x=0: 4995+5 ≤ 5000
		}},
		{"huge_period/100y_limit_1", PerDuration(time.Duration(century)*time.Microsecond, 1), []step{
			{0, 1, false, 0, 0, century + 1},
			{century - 1, 1, true, 0, 2, 2},
			{century, 1, true, 0, 1, 1},
		}},
		{"clock_back", PerSec(10), []step{
			{10*second + 500*msec, 10, false, 0, 0, 1_400_001},
			{5 * second, 1, true, 0, 6_000_001, 6_900_001}, // taken as 10.5s, 5.5s of lag
			{9*second + 999_999, 0, false, 0, 0, 1_900_002},
			{11*second + 900_001, 10, false, 0, 0, 1 * second},
			{30*second + 500*msec, 4, false, 6, 0, 1_250_001},
			{29 * second, 6, false, 0, 0, 2_900_001}, // admitted as at 30.5s
			{29*second + 500*msec, 10, true, 0, 2_400_001, 2_400_001},
			{30*second + 500*msec, 1, true, 0, 500_001, 1_400_001},
		}},
	}
}

func timelinesFor(a Algorithm) []timeline {
	switch a {
	case FixedWindow:
		return fixedWindowTimelines()
	case SlidingWindow:
		return slidingWindowTimelines()
	default:
		return bucketTimelines()
	}
}

func TestTimeline(t *testing.T) {
	for _, a := range Algorithms {
		for _, tl := range timelinesFor(a) {
			t.Run(fmt.Sprintf("algo=%s/%s", a, tl.name), func(t *testing.T) {
				runTimeline(t, a, tl.quota, tl.steps)
			})
		}
	}
}

// Rows every algorithm agrees on: a fresh key, cost 0, cost above the capacity.
func TestTimelineFreshKey(t *testing.T) {
	for _, a := range Algorithms {
		t.Run(fmt.Sprintf("algo=%s", a), func(t *testing.T) {
			runTimeline(t, a, PerSec(5), []step{
				{t2025, 0, false, 5, 0, 0}, // peek on a fresh key: full, nothing to reset
				{t2025, 6, true, 5, never, 0},
				{t2025, 0, false, 5, 0, 0}, // the denial stored nothing
				{t2025 + 7*week, 0, false, 5, 0, 0},
			})
		})
	}
}
