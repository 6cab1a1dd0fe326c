package algo

import (
	"fmt"
	"testing"
	"time"
)

// TestCompileLowestTerms checks Unit/Rate = Period/Limit in lowest terms,
// coprime pairs included, each Compile watched: one that loops fails here
// in seconds (this file's tests run first).
func TestCompileLowestTerms(t *testing.T) {
	for _, tc := range []struct {
		period     time.Duration
		limit      int64
		unit, rate int64
	}{
		{1001 * time.Microsecond, 7, 143, 1}, // 1001 = 7·11·13
		{1001 * time.Microsecond, 3, 1001, 3},
		{7 * time.Millisecond, 3, 7000, 3},
		{time.Second, 4, 250_000, 1},
		{time.Second, 3_000_000, 1, 3},
		{9 * time.Millisecond, 6, 1500, 1},
		{9 * time.Millisecond, 12, 750, 1},
		{9 * time.Millisecond, 27, 1000, 3},
	} {
		var p Params
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			p, err = Compile(TokenBucket, PerDuration(tc.period, tc.limit))
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Compile(%v per %v) still running after 5s", tc.limit, tc.period)
		}
		if err != nil || p.Unit != tc.unit || p.Rate != tc.rate {
			t.Errorf("Compile(%d per %v): Unit %d, Rate %d, %v; want %d/%d", tc.limit, tc.period, p.Unit, p.Rate, err, tc.unit, tc.rate)
		}
	}
}

// TestCompileSlidingWindowLongestWait checks the sliding window's last
// exactness bound at its edge: its longest wait, 2·P − ⌈P/L⌉ + 1 µs, may be
// 2^52 µs but not one more (limit×period is within 2^52 in both cases, so
// only this bound decides).
func TestCompileSlidingWindowLongestWait(t *testing.T) {
	// L = 1, P = 2^52 − 1: 2P − P + 1 = 2^52, accepted.
	edge := PerDuration(time.Duration(MaxSafe-1)*usPeriod, 1)
	p, err := Compile(SlidingWindow, edge)
	if err != nil {
		t.Fatalf("Compile(sliding_window, %v): %v, want it accepted (longest wait exactly 2^52µs)", edge, err)
	}
	if want := (Params{SlidingWindow, MaxSafe - 1, 1, 1, MaxSafe - 1, 1, 0, 1}); p != want {
		t.Errorf("Compile(sliding_window, %v) = %+v, want %+v", edge, p, want)
	}
	// L = 1, P = 2^52: 2^52 + 1, refused. Limit×period is 2^52 exactly,
	// which the first bound accepts, and the fixed window takes it.
	over := PerDuration(time.Duration(MaxSafe)*usPeriod, 1)
	_, err = Compile(SlidingWindow, over)
	checkDataError(t, err, "quota", `throttled: invalid quota "1/1250999h53m47.370496s": not exact with sliding_window: its longest wait, 2×period − period/limit, exceeds 2^52µs; shorten the period`)
	if _, err := Compile(FixedWindow, over); err != nil {
		t.Errorf("Compile(fixed_window, %v): %v", over, err)
	}
	// L = 2 needs P ≤ 2^51 for the first bound, and then waits at most
	// 2^52 − 2^50 + 1: the second bound is never what refuses it.
	if _, err := Compile(SlidingWindow, PerDuration(time.Duration(MaxSafe/2)*usPeriod, 2)); err != nil {
		t.Errorf("Compile(sliding_window, 2 per 2^51µs): %v", err)
	}
}

// TestFreshStateSteppedBack reads a fresh key's state (what XInit returns,
// as a Peek sees it) with a clock behind the state's time: the key is in its
// initial state, so ResetAfter is 0, not the lag (DESIGN §3: "0 when already
// there"), and a peek changes nothing.
func TestFreshStateSteppedBack(t *testing.T) {
	const at, lag = 10 * second, 7 * msec
	for _, a := range Algorithms {
		p := mustCompile(t, a, PerSec(4).WithBurst(6))
		t.Run(a.String(), func(t *testing.T) {
			for _, tc := range []struct {
				cost int64
				want Decision
			}{
				{0, Decision{Remaining: p.Max}},
				{p.Max + 1, Decision{Limited: true, Remaining: p.Max, RetryAfter: never}},
			} {
				if d := stepFresh(a, p, at, at-lag, tc.cost); d != tc.want {
					t.Errorf("fresh state of t=%d read at t=%d, cost %d: %+v, want %+v", at, at-lag, tc.cost, d, tc.want)
				}
			}
			// Taking from it: the durations hold in the caller's time.
			d := stepFresh(a, p, at, at-lag, 1)
			if d.Limited || d.Remaining != p.Max-1 || d.ResetAfter <= lag {
				t.Errorf("cost 1 on the fresh state of t=%d read at t=%d: %+v, want allowed, Remaining %d, ResetAfter past the lag %d",
					at, at-lag, d, p.Max-1, lag)
			}
		})
	}
}

// stepFresh runs a's step on a's initial state of time init, at time now.
func stepFresh(a Algorithm, p Params, init, now, cost int64) Decision {
	var d Decision
	switch a {
	case FixedWindow:
		s := FixedWindowInit(p, init)
		var ns FixedWindowState
		ns, d = FixedWindowStep(s, p, now, cost)
		if cost == 0 && ns != s {
			d.Remaining = -100 // a peek changed the state
		}
	case SlidingWindow:
		s := SlidingWindowInit(p, init)
		var ns SlidingWindowState
		ns, d = SlidingWindowStep(s, p, now, cost)
		if cost == 0 && ns != s {
			d.Remaining = -100
		}
	case TokenBucket:
		s := TokenBucketInit(p, init)
		var ns TokenBucketState
		ns, d = TokenBucketStep(s, p, now, cost)
		if cost == 0 && ns != s {
			d.Remaining = -100
		}
	case LeakingBucket:
		s := LeakingBucketInit(p, init)
		var ns LeakingBucketState
		ns, d = LeakingBucketStep(s, p, now, cost)
		if cost == 0 && ns != s {
			d.Remaining = -100
		}
	case GCRA:
		s := GCRAInit(p, init)
		var ns GCRAState
		ns, d = GCRAStep(s, p, now, cost)
		if cost == 0 && ns != s {
			d.Remaining = -100
		}
	default:
		panic(fmt.Sprintf("stepFresh: %v", a))
	}
	return d
}

// TestLater checks the lag helper's contract: a positive duration gets the
// lag; 0 (nothing to wait for) and -1 (never) stay as they are.
func TestLater(t *testing.T) {
	for _, tc := range []struct{ d, lag, want int64 }{
		{5, 0, 5},
		{5, 3, 8},
		{1, 3, 4},
		{0, 3, 0},
		{0, 0, 0},
		{never, 3, never},
	} {
		if got := later(tc.d, tc.lag); got != tc.want {
			t.Errorf("later(%d, %d) = %d, want %d", tc.d, tc.lag, got, tc.want)
		}
	}
}

// TestInvalidReasonVerbatim: a reason given without arguments is used as
// it is, never as a format (a "%" in it stays a "%").
func TestInvalidReasonVerbatim(t *testing.T) {
	e := invalid("key", "k", "100% taken")
	if e.Reason != "100% taken" {
		t.Errorf("invalid without arguments: Reason = %q, want %q", e.Reason, "100% taken")
	}
	e = invalid("limit", 0, "must be at least %d, not %q", 1, "0")
	if want := `must be at least 1, not "0"`; e.Reason != want {
		t.Errorf("invalid with arguments: Reason = %q, want %q", e.Reason, want)
	}
	if want := `throttled: invalid limit 0: must be at least 1, not "0"`; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}
