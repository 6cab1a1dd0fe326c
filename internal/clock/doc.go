// Package clock provides the time sources used by the rate limiters.
//
// All clocks report time as an int64 count of microseconds since the Unix
// epoch (see [Clock]). Integer microseconds are cheap to store in atomics,
// cheap to compare and subtract, and fine-grained enough for rate limiting;
// an int64 of microseconds covers roughly ±292,000 years.
//
// The package offers three implementations:
//
//   - [Real] (and the shared [System] clock) reads the process's monotonic
//     clock and translates it to epoch-aligned microseconds. It never runs
//     backwards and is cheaper per call than [time.Now].
//   - [Coarse] serves a cached [Real] reading that a background goroutine
//     refreshes at a fixed resolution, so that Now is a single atomic load.
//     Readings lag real time by up to one resolution.
//   - [Fake] is a manually driven clock for tests. Unlike the others it can be
//     set to any value, including earlier ones.
//
// Every implementation is safe for concurrent use by multiple goroutines.
package clock
