package clock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slack is the tolerance for comparisons against real time. It is generous so
// that the tests pass on a loaded 2-core CI machine (and under -race).
const slack = 50 * time.Millisecond

func absMicros(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestRealCloseToTimeNow(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Clock
	}{
		{"NewReal", NewReal()},
		{"System", System},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				got := tc.c.Now()
				want := time.Now().UnixMicro()
				if d := absMicros(got - want); d > slack.Microseconds() {
					t.Fatalf("Now() = %d, time.Now().UnixMicro() = %d: differ by %dµs, want <= %v", got, want, d, slack)
				}
			}
		})
	}
}

func TestRealAdvances(t *testing.T) {
	r := NewReal()
	start := r.Now()
	time.Sleep(5 * time.Millisecond)
	if got := r.Now(); got-start < (5 * time.Millisecond).Microseconds() {
		t.Fatalf("after sleeping 5ms, Now advanced by only %dµs", got-start)
	}
}

// checkMonotonic calls c.Now from several goroutines and fails if any reading
// is smaller than one that happened before it, either on the same goroutine
// or (via the shared maximum) on another goroutine.
func checkMonotonic(t *testing.T, c Clock, goroutines, calls int) {
	t.Helper()
	var (
		maxSeen atomic.Int64
		bad     atomic.Int64
		wg      sync.WaitGroup
	)
	maxSeen.Store(c.Now())
	for range goroutines {
		wg.Go(func() {
			prev := int64(0)
			for range calls {
				// Everything stored in maxSeen was read before this load,
				// so the following reading must not be smaller.
				floor := maxSeen.Load()
				v := c.Now()
				if v < floor || v < prev {
					bad.Add(1)
					return
				}
				prev = v
				for {
					m := maxSeen.Load()
					if v <= m || maxSeen.CompareAndSwap(m, v) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d goroutines observed the clock going backwards", n)
	}
}

func TestRealMonotonic(t *testing.T) {
	checkMonotonic(t, NewReal(), 8, 20000)
}

func TestFake(t *testing.T) {
	f := NewFake(1_000_000)
	if got := f.Now(); got != 1_000_000 {
		t.Fatalf("NewFake(1000000).Now() = %d", got)
	}

	steps := []struct {
		name string
		do   func()
		want int64
	}{
		{"Advance(1s)", func() { f.Advance(time.Second) }, 2_000_000},
		{"Advance(1500ns) truncates", func() { f.Advance(1500 * time.Nanosecond) }, 2_000_001},
		{"Advance(999ns) is a no-op", func() { f.Advance(999 * time.Nanosecond) }, 2_000_001},
		{"AdvanceMicros(9)", func() { f.AdvanceMicros(9) }, 2_000_010},
		{"Advance(-10µs) steps back", func() { f.Advance(-10 * time.Microsecond) }, 2_000_000},
		{"Advance(-1500ns) truncates toward zero", func() { f.Advance(-1500 * time.Nanosecond) }, 1_999_999},
		{"AdvanceMicros(-999_999) steps back", func() { f.AdvanceMicros(-999_999) }, 1_000_000},
		{"Set earlier", func() { f.Set(42) }, 42},
		{"Set later", func() { f.Set(7_000_000) }, 7_000_000},
		{"Set negative", func() { f.Set(-5) }, -5},
	}
	for _, s := range steps {
		s.do()
		if got := f.Now(); got != s.want {
			t.Fatalf("after %s: Now() = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestFakeZeroValue(t *testing.T) {
	var f Fake
	if got := f.Now(); got != 0 {
		t.Fatalf("zero Fake: Now() = %d, want 0", got)
	}
	f.AdvanceMicros(3)
	if got := f.Now(); got != 3 {
		t.Fatalf("zero Fake after AdvanceMicros(3): Now() = %d, want 3", got)
	}
}

func TestFakeConcurrentAdvance(t *testing.T) {
	const (
		goroutines = 8
		perG       = 10000
		start      = 1_700_000_000_000_000
	)
	f := NewFake(start)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for j := range perG {
				if (i+j)%2 == 0 {
					f.Advance(1999 * time.Nanosecond) // truncated to 1µs
				} else {
					f.AdvanceMicros(1)
				}
				_ = f.Now()
			}
		})
	}
	wg.Wait()
	if got, want := f.Now(), int64(start+goroutines*perG); got != want {
		t.Fatalf("after %d concurrent 1µs advances: Now() = %d, want %d", goroutines*perG, got, want)
	}
}

func TestCoarseResolution(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{
		{-time.Second, MinResolution},
		{0, MinResolution},
		{time.Nanosecond, MinResolution},
		{99 * time.Microsecond, MinResolution},
		{MinResolution, MinResolution},
		{DefaultResolution, DefaultResolution},
		{5 * time.Millisecond, 5 * time.Millisecond},
	} {
		c := NewCoarse(tc.in)
		if got := c.Resolution(); got != tc.want {
			t.Errorf("NewCoarse(%v).Resolution() = %v, want %v", tc.in, got, tc.want)
		}
		c.Close()
	}
}

func TestCoarseTracksReal(t *testing.T) {
	for _, res := range []time.Duration{MinResolution, DefaultResolution, 10 * time.Millisecond} {
		t.Run(res.String(), func(t *testing.T) {
			c := NewCoarse(res)
			defer c.Close()
			bound := (res + slack).Microseconds()
			var maxLag int64
			for range 50 {
				got := c.Now()
				real := System.Now()
				if got > real {
					t.Fatalf("Coarse.Now() = %d is ahead of System.Now() = %d", got, real)
				}
				maxLag = max(maxLag, real-got)
				if d := absMicros(got - time.Now().UnixMicro()); d > bound {
					t.Fatalf("Coarse.Now() differs from time.Now() by %dµs, want <= %dµs", d, bound)
				}
				time.Sleep(res / 3)
			}
			if maxLag > bound {
				t.Fatalf("Coarse lagged System by %dµs, want <= %dµs", maxLag, bound)
			}
			t.Logf("max lag %dµs", maxLag)
		})
	}
}

func TestCoarseAdvances(t *testing.T) {
	c := NewCoarse(MinResolution)
	defer c.Close()
	start := c.Now()
	deadline := time.Now().Add(5 * time.Second)
	for c.Now() == start {
		if time.Now().After(deadline) {
			t.Fatal("Coarse.Now() did not change within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoarseMonotonic(t *testing.T) {
	c := NewCoarse(MinResolution)
	defer c.Close()
	checkMonotonic(t, c, 8, 20000)
}

// TestCoarseMonotonicAcrossClose checks that readings stay monotonic while
// Close switches Now from the cached value to direct reads.
func TestCoarseMonotonicAcrossClose(t *testing.T) {
	c := NewCoarse(MinResolution)
	go func() {
		time.Sleep(2 * time.Millisecond)
		c.Close()
	}()
	checkMonotonic(t, c, 4, 20000)
	c.Close()
	checkMonotonic(t, c, 4, 1000)
}

func TestCoarseAfterClose(t *testing.T) {
	c := NewCoarse(DefaultResolution)
	before := c.Now()
	c.Close()
	c.Close() // idempotent

	if got := c.Now(); got < before {
		t.Fatalf("Now() after Close = %d, smaller than %d before Close", got, before)
	}
	if d := absMicros(c.Now() - time.Now().UnixMicro()); d > slack.Microseconds() {
		t.Fatalf("Now() after Close differs from time.Now() by %dµs", d)
	}
	// Still refreshed on each call.
	a := c.Now()
	time.Sleep(5 * time.Millisecond)
	if b := c.Now(); b-a < (5 * time.Millisecond).Microseconds() {
		t.Fatalf("Now() after Close advanced by %dµs across a 5ms sleep", b-a)
	}
}

func TestCoarseConcurrentClose(t *testing.T) {
	c := NewCoarse(DefaultResolution)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(c.Close)
	}
	wg.Wait()
	c.Close()
}

// TestCoarseCloseStopsGoroutine must not run in parallel with other tests, as
// it counts goroutines.
func TestCoarseCloseStopsGoroutine(t *testing.T) {
	const n = 10
	before := runtime.NumGoroutine()
	clocks := make([]*Coarse, n)
	for i := range clocks {
		clocks[i] = NewCoarse(DefaultResolution)
	}
	running := runtime.NumGoroutine()
	if running < before+n {
		// Goroutines left over from earlier tests may still have been
		// exiting; this is only informative.
		t.Logf("goroutines: %d before, %d after starting %d clocks", before, running, n)
	}
	for _, c := range clocks {
		c.Close()
		c.Close()
	}
	// Close waits for the goroutine to finish, but it may take a moment for
	// the runtime to stop counting it. Goroutines from earlier tests can only
	// go away, so the count must drop by at least n.
	want := running - n
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines after Close: %d, want <= %d (%d while running)", got, want, running)
		}
		time.Sleep(time.Millisecond)
	}
}
