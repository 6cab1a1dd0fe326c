package clock

// Clock is a source of the current time.
//
// Every implementation in this package is safe for concurrent use by multiple
// goroutines, and implementations provided elsewhere must be too.
type Clock interface {
	// Now returns the current time as microseconds since the Unix epoch
	// (1970-01-01T00:00:00Z).
	Now() int64
}

// Compile-time checks that the implementations satisfy Clock.
var (
	_ Clock = (*Real)(nil)
	_ Clock = (*Fake)(nil)
	_ Clock = (*Coarse)(nil)
)

// Func adapts a function to a Clock, for example
// clock.Func(func() int64 { return time.Now().UnixMicro() }) to follow
// time.Now inside a testing/synctest bubble.
type Func func() int64

// Now calls f.
func (f Func) Now() int64 { return f() }
