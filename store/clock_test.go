package store

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// The store's clocks satisfy the interfaces limiters look for.
var (
	_ Clock   = SystemClock()
	_ Clock   = (*CoarseClock)(nil)
	_ Clock   = (*FakeClock)(nil)
	_ Sleeper = (*FakeClock)(nil)
)

func TestSystemClock(t *testing.T) {
	c := SystemClock()
	if c != SystemClock() {
		t.Error("SystemClock returns different clocks")
	}
	prev := c.Now()
	for range 1000 {
		v := c.Now()
		if v < prev {
			t.Fatalf("SystemClock went back from %d to %d", prev, v)
		}
		prev = v
	}
	// It follows the wall clock (not stepped during a test) closely.
	const slack = 50 * time.Millisecond
	if d := time.Duration(c.Now()-time.Now().UnixMicro()) * time.Microsecond; d > slack || d < -slack {
		t.Fatalf("SystemClock differs from time.Now by %v, want at most %v", d, slack)
	}
}

func TestCoarseClock(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 100 * time.Microsecond},
		{time.Microsecond, 100 * time.Microsecond},
		{time.Millisecond, time.Millisecond},
		{time.Hour, time.Hour}, // never refreshed during the test
	} {
		before := SystemClock().Now()
		c := NewCoarseClock(tc.in)
		got := c.Now()
		after := SystemClock().Now()
		// A reading of the system clock, taken at or after construction, and
		// never ahead of it.
		if got < before || got > after {
			t.Errorf("NewCoarseClock(%v).Now() = %d, want in [%d, %d]", tc.in, got, before, after)
		}
		if r := c.Resolution(); r != tc.want {
			t.Errorf("NewCoarseClock(%v).Resolution() = %v, want %v", tc.in, r, tc.want)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		// After Close it reads the system clock on each call.
		before = SystemClock().Now()
		got = c.Now()
		after = SystemClock().Now()
		if got < before || got > after {
			t.Errorf("after Close, Now() = %d, want in [%d, %d]", got, before, after)
		}
	}
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(1_000_000)
	for _, s := range []struct {
		name string
		do   func()
		want int64
	}{
		{"start", func() {}, 1_000_000},
		{"Advance(1s)", func() { c.Advance(time.Second) }, 2_000_000},
		{"Advance(2500ns) truncates", func() { c.Advance(2500 * time.Nanosecond) }, 2_000_002},
		{"Advance(-3µs)", func() { c.Advance(-3 * time.Microsecond) }, 1_999_999},
		{"Set earlier", func() { c.Set(5) }, 5},
		{"Set later", func() { c.Set(9_000_000) }, 9_000_000},
	} {
		s.do()
		if got := c.Now(); got != s.want {
			t.Fatalf("after %s: Now() = %d, want %d", s.name, got, s.want)
		}
	}
	if n := c.Sleepers(); n != 0 {
		t.Fatalf("Sleepers() = %d with nobody asleep", n)
	}
}

// TestFakeClockSleep runs in a synctest bubble: a Sleep that never returns
// is a deadlock the bubble reports at once, and ctx deadlines pass on the
// bubble's clock, not the wall clock.
func TestFakeClockSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewFakeClock(0)
		if err := c.Sleep(context.Background(), 0); err != nil {
			t.Fatalf("Sleep(0) = %v", err)
		}
		if err := c.Sleep(context.Background(), -time.Second); err != nil {
			t.Fatalf("Sleep(-1s) = %v", err)
		}

		done := make(chan error, 2)
		go func() { done <- c.Sleep(context.Background(), 10*time.Millisecond) }()
		go func() { done <- c.Sleep(context.Background(), 20*time.Millisecond) }()
		synctest.Wait()
		if n := c.Sleepers(); n != 2 {
			t.Fatalf("Sleepers() = %d, want 2", n)
		}
		c.Advance(10*time.Millisecond - time.Microsecond)
		synctest.Wait()
		if n := c.Sleepers(); n != 2 {
			t.Fatalf("1µs early: Sleepers() = %d, want 2", n)
		}
		c.Advance(time.Microsecond) // the first one's time has come
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatalf("Sleep(10ms) = %v", err)
		}
		if n := c.Sleepers(); n != 1 {
			t.Fatalf("Sleepers() = %d, want 1", n)
		}
		c.Set(20_000) // exactly 20ms past the start
		if err := <-done; err != nil {
			t.Fatalf("Sleep(20ms) = %v", err)
		}
		if n := c.Sleepers(); n != 0 {
			t.Fatalf("Sleepers() = %d, want 0", n)
		}

		// A done ctx ends the sleep with its error, and the sleeper is gone.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		go func() { done <- c.Sleep(ctx, time.Hour) }()
		synctest.Wait()
		if n := c.Sleepers(); n != 1 {
			t.Fatalf("Sleepers() = %d, want 1", n)
		}
		time.Sleep(time.Second) // the bubble's clock: passes at once
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sleep past its ctx's deadline = %v, want DeadlineExceeded", err)
		}
		if n := c.Sleepers(); n != 0 {
			t.Fatalf("after the ctx ended: Sleepers() = %d, want 0", n)
		}
	})
}
