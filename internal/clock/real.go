package clock

import "time"

// systemReal backs both System and every Coarse clock, so that their readings
// are directly comparable.
var systemReal = NewReal()

// System is the process-wide default clock. It is a [Real] created at package
// initialization.
var System Clock = systemReal

// Real is a clock that reports epoch-aligned microseconds derived from the
// process's monotonic clock.
//
// At construction Real records one [time.Now] reading, which carries both a
// wall-clock and a monotonic reading. Each call to Now then returns the wall
// time of that reading plus the monotonic time elapsed since it. Measuring
// elapsed time with [time.Since] reads only the monotonic clock, which is
// cheaper than the wall-plus-monotonic pair read by [time.Now].
//
// Consequences of following the monotonic clock from construction:
//
//   - Now never returns a smaller value than an earlier call did, on any
//     goroutine.
//   - Now does not jump when the wall clock is stepped (for example by NTP or
//     an administrator), which is what a rate limiter wants.
//   - Now may drift from wall time by however much the wall clock is stepped
//     or slewed after construction. Callers that need the current calendar
//     time should use [time.Now] instead.
//
// Real is safe for concurrent use. The zero value is not usable; create one
// with [NewReal], or use [System].
type Real struct {
	base       time.Time // has a monotonic reading
	baseMicros int64     // base.UnixMicro()
}

// NewReal returns a Real clock anchored at the current time.
func NewReal() *Real {
	base := time.Now()
	return &Real{base: base, baseMicros: base.UnixMicro()}
}

// Now returns the current time in microseconds since the Unix epoch,
// computed as the wall time at construction plus the monotonic time elapsed
// since then, truncated to whole microseconds.
func (r *Real) Now() int64 {
	return r.baseMicros + int64(time.Since(r.base)/time.Microsecond)
}
