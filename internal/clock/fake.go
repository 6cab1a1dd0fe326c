package clock

import (
	"sync/atomic"
	"time"
)

// Fake is a manually controlled clock for tests.
//
// Its reading changes only through Set, Advance and AdvanceMicros. Unlike the
// other clocks in this package, a Fake may be moved backwards, so tests can
// exercise a limiter's handling of time that appears to go back.
//
// Fake is safe for concurrent use. The zero value is ready to use and reads 0
// (the Unix epoch).
type Fake struct {
	now atomic.Int64
}

// NewFake returns a Fake clock that reads startMicros, in microseconds since
// the Unix epoch.
func NewFake(startMicros int64) *Fake {
	f := &Fake{}
	f.now.Store(startMicros)
	return f
}

// Now returns the fake clock's current reading in microseconds since the
// Unix epoch.
func (f *Fake) Now() int64 {
	return f.now.Load()
}

// Set sets the clock's reading to micros, which may be earlier than the
// current reading.
func (f *Fake) Set(micros int64) {
	f.now.Store(micros)
}

// Advance moves the clock by d, truncated toward zero to whole microseconds
// (so 1500ns advances by 1µs, and -1500ns steps back by 1µs). A negative d
// moves the clock backwards. Concurrent calls are applied atomically: no
// advance is lost.
func (f *Fake) Advance(d time.Duration) {
	f.now.Add(int64(d / time.Microsecond))
}

// AdvanceMicros moves the clock by n microseconds. A negative n moves the
// clock backwards. Concurrent calls are applied atomically: no advance is
// lost.
func (f *Fake) AdvanceMicros(n int64) {
	f.now.Add(n)
}
