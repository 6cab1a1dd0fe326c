//go:build linux

package latencyproxy

import (
	"testing"
	"time"
)

func newTimerfd(t *testing.T) *timerfd {
	t.Helper()
	w, ok := newWaiter().(*timerfd)
	if !ok {
		t.Fatal("newWaiter did not return a timerfd on Linux")
	}
	t.Cleanup(w.close)
	return w
}

// TestTimerfdNeverEarly: a timerfd wait never returns before its time, for
// times passed, sub-millisecond waits and longer ones, one after the other
// on the same timer.
func TestTimerfdNeverEarly(t *testing.T) {
	w := newTimerfd(t)
	for _, d := range []time.Duration{-time.Second, 0, time.Microsecond, 30 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 100 * time.Microsecond} {
		start := time.Now()
		w.wait(start.Add(d))
		if got := time.Since(start); got < d {
			t.Errorf("wait(now + %v) returned after %v", d, got)
		}
	}
}

// TestTimerfdOnTimeWithoutSpinning: 200 waits of 1 ms take about 200 ms
// and far less CPU than that (a spinning wait burns its whole length; this
// one spins at most its timerLead); the least lateness of a wait is a few
// µs (Go's own timers may fire a millisecond late).
// Bounds are loose: a loaded machine may make any one wait late, not all
// of them.
func TestTimerfdOnTimeWithoutSpinning(t *testing.T) {
	w := newTimerfd(t)
	const n, d = 200, time.Millisecond
	least := time.Hour
	before, start := cpuTime(t), time.Now()
	for range n {
		at := time.Now().Add(d)
		w.wait(at)
		least = min(least, time.Since(at))
	}
	wall, used := time.Since(start), cpuTime(t)-before
	// The timer fires timerLead early and the rest is spun: a wait that
	// the wake-up leaves any of the lead ends within µs of its time (one
	// timed for the end itself would be at least the wake-up's 10–70 µs late).
	if least < 0 || least > 40*time.Microsecond {
		t.Errorf("the least late of %d waits of %v was %v late, want under 40µs", n, d, least)
	}
	if used > wall/4 {
		t.Errorf("%d waits of %v took %v and used %v of CPU, want under a quarter (no spinning)", n, d, wall, used)
	}
	t.Logf("%d waits of %v: %v wall, %v CPU, least lateness %v", n, d, wall, used, least)
}
