package clock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// The Sleep tests run in synctest bubbles: synctest.Wait returns once every
// sleeper is blocked, a sleeper that never wakes is reported by asleep (and
// by the bubble as a deadlock, at once), and ctx deadlines pass on the
// bubble's clock, so no test waits on the wall clock.

// sleeper is one Sleep call running in its own goroutine.
type sleeper struct{ done chan error }

func startSleep(ctx context.Context, f *Fake, d time.Duration) *sleeper {
	s := &sleeper{done: make(chan error, 1)}
	go func() { s.done <- f.Sleep(ctx, d) }()
	return s
}

// result returns the sleeper's error and true once it has returned; call it
// after synctest.Wait.
func (s *sleeper) result() (error, bool) {
	select {
	case err := <-s.done:
		return err, true
	default:
		return nil, false
	}
}

func wantAwake(t *testing.T, name string, s *sleeper, want error) {
	t.Helper()
	err, ok := s.result()
	switch {
	case !ok:
		t.Fatalf("%s: still asleep", name)
	case !errors.Is(err, want) || (want == nil && err != nil):
		t.Fatalf("%s: Sleep = %v, want %v", name, err, want)
	}
}

func wantAsleep(t *testing.T, name string, s *sleeper) {
	t.Helper()
	if err, ok := s.result(); ok {
		t.Fatalf("%s: Sleep returned %v, want it still asleep", name, err)
	}
}

func wantSleepers(t *testing.T, f *Fake, n int) {
	t.Helper()
	if got := f.Sleepers(); got != n {
		t.Fatalf("Sleepers() = %d, want %d", got, n)
	}
}

func TestFakeSleepNonPositive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(500)
		// 999ns truncates to 0µs: nothing to wait for.
		for _, d := range []time.Duration{0, -time.Second, -time.Nanosecond, 999 * time.Nanosecond} {
			s := startSleep(context.Background(), f, d)
			synctest.Wait()
			wantAwake(t, "Sleep("+d.String()+")", s, nil)
		}
		wantSleepers(t, f, 0)
		// Nor does an already done ctx matter then.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := f.Sleep(ctx, 0); err != nil {
			t.Fatalf("Sleep(done ctx, 0) = %v, want nil", err)
		}
	})
}

// TestFakeSleepWakesOnTime moves the clock in steps and checks that each
// sleeper wakes exactly when the clock reaches its time (its reading at the
// call plus d, truncated to µs), whichever way the clock got there.
func TestFakeSleepWakesOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(1_000)
		a := startSleep(context.Background(), f, 10*time.Microsecond)     // until 1_010
		b := startSleep(context.Background(), f, 20*time.Microsecond+999) // until 1_020
		c := startSleep(context.Background(), f, 30*time.Microsecond)     // until 1_030
		d := startSleep(context.Background(), f, time.Hour)               // until far away
		e := startSleep(context.Background(), f, 1500*time.Nanosecond)    // until 1_001
		synctest.Wait()
		wantSleepers(t, f, 5)

		f.Advance(999 * time.Nanosecond) // truncated to 0: no move
		synctest.Wait()
		wantAsleep(t, "e, clock unmoved", e)
		f.AdvanceMicros(1) // 1_001
		synctest.Wait()
		wantAwake(t, "e at its time", e, nil)
		wantSleepers(t, f, 4)

		f.AdvanceMicros(8) // 1_009
		synctest.Wait()
		wantAsleep(t, "a 1µs early", a)
		f.Advance(time.Microsecond) // 1_010
		synctest.Wait()
		wantAwake(t, "a at its time", a, nil)
		wantAsleep(t, "b", b)
		wantSleepers(t, f, 3)

		f.Set(1_019)
		synctest.Wait()
		wantAsleep(t, "b 1µs early", b)
		f.Set(1_000) // back: nobody wakes
		synctest.Wait()
		wantAsleep(t, "b after the clock stepped back", b)
		wantSleepers(t, f, 3)
		f.Set(1_020)
		synctest.Wait()
		wantAwake(t, "b at its time", b, nil)

		f.AdvanceMicros(100) // past c's time: c wakes, d does not
		synctest.Wait()
		wantAwake(t, "c past its time", c, nil)
		wantAsleep(t, "d", d)
		wantSleepers(t, f, 1)

		f.Advance(time.Hour)
		synctest.Wait()
		wantAwake(t, "d", d, nil)
		wantSleepers(t, f, 0)
	})
}

// TestFakeSleepCtxDone ends sleepers through their ctx, first, middle and
// last in the list of waiters: each returns ctx's error and leaves the
// list, and the others still wake at their times.
func TestFakeSleepCtxDone(t *testing.T) {
	for _, which := range []int{0, 1, 2} {
		t.Run([]string{"first", "middle", "last"}[which], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := NewFake(0)
				var ss []*sleeper
				var cancels []context.CancelFunc
				for i := range 3 {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					cancels = append(cancels, cancel)
					ss = append(ss, startSleep(ctx, f, time.Duration(i+1)*time.Millisecond))
					synctest.Wait() // in order in the list
				}
				wantSleepers(t, f, 3)
				cancels[which]()
				synctest.Wait()
				wantAwake(t, "cancelled sleeper", ss[which], context.Canceled)
				wantSleepers(t, f, 2)
				for i, s := range ss {
					if i == which {
						continue
					}
					wantAsleep(t, "other sleeper", s)
					f.Set(int64(i+1) * 1_000)
					synctest.Wait()
					wantAwake(t, "other sleeper at its time", s, nil)
				}
				wantSleepers(t, f, 0)
			})
		})
	}
}

func TestFakeSleepDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s := startSleep(ctx, f, time.Minute)
		synctest.Wait()
		wantAsleep(t, "before the deadline", s)
		time.Sleep(time.Second) // the bubble's clock; the fake one stays put
		synctest.Wait()
		wantAwake(t, "at the deadline", s, context.DeadlineExceeded)
		wantSleepers(t, f, 0)
		if f.Now() != 0 {
			t.Fatalf("the fake clock moved to %d", f.Now())
		}
	})
}

// TestFakeSleepWokenAsCtxEnds moves the clock to a sleeper's time and then
// ends its ctx: the clock woke it first, so Sleep returns nil.
func TestFakeSleepWokenAsCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(0)
		for i := range 20 {
			ctx, cancel := context.WithCancel(context.Background())
			s := startSleep(ctx, f, time.Millisecond)
			synctest.Wait()
			f.Advance(time.Millisecond)
			cancel()
			synctest.Wait()
			wantAwake(t, fmt.Sprintf("round %d", i), s, nil)
			wantSleepers(t, f, 0)
		}
	})
}

// TestFakeSleepCtxEndsAsWoken ends a sleeper's ctx and then, before it has
// given up, moves the clock to its time: either may win, so Sleep returns
// nil or ctx's error, and the sleeper is gone either way. On one P the
// sleeper runs only after both, so it takes the path that finds, while
// giving up, that the time did come (nil).
func TestFakeSleepCtxEndsAsWoken(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(0)
		woken := 0
		for i := range 20 {
			ctx, cancel := context.WithCancel(context.Background())
			s := startSleep(ctx, f, time.Millisecond)
			synctest.Wait()
			cancel()
			f.Advance(time.Millisecond)
			synctest.Wait()
			err, ok := s.result()
			if !ok || (err != nil && !errors.Is(err, context.Canceled)) {
				t.Fatalf("round %d: Sleep = %v (returned %v), want nil or Canceled", i, err, ok)
			}
			if err == nil {
				woken++
			}
			wantSleepers(t, f, 0)
		}
		t.Logf("%d of 20 sleepers saw the clock reach their time while giving up", woken)
	})
}

func TestFunc(t *testing.T) {
	var calls int64
	var c Clock = Func(func() int64 { calls++; return 40 + calls })
	if got := c.Now(); got != 41 {
		t.Fatalf("Func.Now() = %d, want 41", got)
	}
	if got := c.Now(); got != 42 || calls != 2 {
		t.Fatalf("Func.Now() = %d after %d calls, want 42 after 2: it calls the function each time", got, calls)
	}
}
