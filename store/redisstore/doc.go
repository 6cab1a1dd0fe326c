// Package redisstore is the Redis rate-limit store, on
// github.com/redis/rueidis. It works with a standalone server, Sentinel and
// Redis Cluster (Redis 5 or later, for effect replication of scripts).
//
// Each decision is one script call (EVALSHA, falling back to EVAL when the
// server does not have the script) and one round trip. The scripts in lua/
// are generated from the step functions of package algo, the same ones the
// memory store runs, so both stores decide alike.
//
// # Keys
//
// A user key k of algorithm a is stored under prefix + a + ":{" + k + "}"
// (default prefix "throttled:v2:"), one string value holding the state's
// fields and then a lower bound of the key's expiry as the script last set
// it, all as little-endian float64s (exact for the integers below 2^53).
// The braces make the user key the Redis Cluster hash tag, so every key of
// one user key lands on one slot.
//
// A key never expires before its state is back to the initial one: its TTL
// is at least the state's ResetAfter rounded up to the millisecond (plus
// WithTTLSlack), never 0, never missing. On the server's clock a write that
// needs a longer TTL sets it one second (the headroom) longer than needed,
// and writes that do not keep it (SET KEEPTTL, about a third cheaper for
// Redis than SET PX): a busy key's TTL is set about once a second, and a
// key outlives its state by at most a second (and a millisecond of
// rounding). With WithClock every write sets the TTL exactly.
//
// Script arguments and replies are little-endian float64s too, one string
// each: Lua decodes them with one struct.unpack where decimal text costs a
// strtod per number. The scripts therefore read poorly in MONITOR; the
// layout is documented at the top of each one in lua/.
//
// # Time
//
// By default the scripts read the server's TIME, one clock for every host.
// WithClock passes a clock's time instead (tests, or Redis-compatible
// servers without TIME in scripts); the key TTLs still run on the server's
// clock, so give injected clocks that run slower than real time a
// WithTTLSlack.
//
// # Errors
//
// Network failures, timeouts, a cluster that is down, a server out of memory
// and calls after Close wrap store.ErrUnavailable; script errors, malformed
// replies, corrupt state and a key of another type under a state's name wrap
// store.ErrScript. Both also wrap the underlying error.
package redisstore
