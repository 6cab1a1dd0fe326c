package store

import (
	"context"
	"time"

	"github.com/throttled-go/throttled/internal/clock"
)

// Clock is a source of time for a store: Now returns microseconds since the
// Unix epoch. Implementations must be safe for concurrent use. A clock may
// run backwards (a stepped wall clock): no store over-admits because of it,
// and the durations it reports hold in the clock's time.
type Clock interface {
	Now() int64
}

// Sleeper is implemented by clocks whose time is not the wall clock's, such
// as FakeClock: a limiter's Wait sleeps on the store's clock through it, so
// waiting and deciding use one time. Clocks without it are taken to follow
// the wall clock, and Wait sleeps on a timer.
type Sleeper interface {
	// Sleep returns when the clock has moved on by d, or with ctx's error
	// when ctx is done first.
	Sleep(ctx context.Context, d time.Duration) error
}

// Clocked is implemented by stores that decide on a clock of the process
// (the memory store, and the Redis store with WithClock), so a limiter's
// Wait can sleep on it. A store deciding on the Redis server's time does
// not implement it; Wait then sleeps on the wall clock.
type Clocked interface {
	Clock() Clock
}

// SystemClock returns the process's default clock: wall time read once,
// then followed on the monotonic clock, so it never runs backwards within
// the process (about 20 ns a reading).
func SystemClock() Clock { return clock.System }

// CoarseClock is a clock whose reading is refreshed by a goroutine every
// resolution, so Now is one atomic load (about 1 ns instead of 20 ns). Its
// reading lags real time by up to one resolution plus scheduling delay, so
// a limiter on it decides up to that much late: conservative, never
// over-admitting. Build it with NewCoarseClock and Close it when done (it
// keeps working after Close, reading the system clock each time). It is
// safe for concurrent use; the zero value is not usable.
type CoarseClock struct{ c *clock.Coarse }

// NewCoarseClock returns a CoarseClock refreshed every resolution (at least
// 100µs; 1ms is a good choice) and starts its goroutine.
func NewCoarseClock(resolution time.Duration) *CoarseClock {
	return &CoarseClock{clock.NewCoarse(resolution)}
}

// Now returns the latest cached reading, µs since the Unix epoch.
func (c *CoarseClock) Now() int64 { return c.c.Now() }

// Resolution returns the refresh interval.
func (c *CoarseClock) Resolution() time.Duration { return c.c.Resolution() }

// Close stops the refresh goroutine. It is idempotent.
func (c *CoarseClock) Close() error {
	c.c.Close()
	return nil
}

// FakeClock is a clock for tests that moves only when told to (and may move
// backwards). Sleep waits for the clock to be moved, so a limiter's Wait on
// a store with a FakeClock returns when the test advances the clock. It is
// safe for concurrent use; build it with NewFakeClock.
type FakeClock struct{ f *clock.Fake }

// NewFakeClock returns a FakeClock reading startMicros (µs since the Unix
// epoch).
func NewFakeClock(startMicros int64) *FakeClock { return &FakeClock{clock.NewFake(startMicros)} }

// Now returns the clock's reading.
func (c *FakeClock) Now() int64 { return c.f.Now() }

// Set sets the reading to micros, possibly earlier than it is.
func (c *FakeClock) Set(micros int64) { c.f.Set(micros) }

// Advance moves the clock by d (truncated to whole µs; negative moves it back).
func (c *FakeClock) Advance(d time.Duration) { c.f.Advance(d) }

// Sleep returns once the clock has been moved d past its reading at the
// call, or with ctx's error when ctx is done first.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error { return c.f.Sleep(ctx, d) }

// Sleepers returns how many Sleep calls are waiting: a test moves the clock
// once its limiter is asleep.
func (c *FakeClock) Sleepers() int { return c.f.Sleepers() }
