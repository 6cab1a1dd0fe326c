// Package algo holds the five rate-limiting algorithms as pure step functions
// over integer microseconds, and the Quota vocabulary they are configured with.
//
// Each algorithm is a pair of functions marked for the generator:
//
//	//throttled:init  func XInit(q Params, now int64) XState
//	//throttled:step  func X(s XState, q Params, now, cost int64) (XState, Decision)
//
// They do no I/O, read no clock and allocate nothing. The generator in gen/
// translates their bodies line for line into Redis Lua scripts and emits the
// Go bindings the stores use, so the in-memory and the Redis paths run the
// same arithmetic. Step functions may only use the subset of Go the generator
// accepts (int64 and bool locals, if/else, + - *, comparisons, the helpers
// floorDiv and ceilDiv, the builtins min and max, and struct literals).
//
// # Numbers
//
// Redis runs Lua 5.1, where every number is a float64 that is exact only for
// integers up to 2^53. Compile refuses any quota for which some intermediate
// of the chosen algorithm could leave that range: every stored value and every
// product stays at or below MaxSafe (2^52), so the sum of any two stays exactly
// representable. Times are microseconds since the Unix epoch in [0, MaxTime].
//
// # Semantics
//
// The behaviour is the exact rational one of the design document, rounded
// only at the edges: Remaining is floored, RetryAfter and ResetAfter are
// rounded up to the microsecond. A denied request and a request of cost 0
// change nothing. A time earlier than the state's last time is treated as
// that last time, so a clock that steps back never makes a key over-admit.
package algo
