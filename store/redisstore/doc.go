// Package redisstore is the Redis rate-limit store, on
// github.com/redis/rueidis. It works with a standalone server, Sentinel and
// Redis Cluster, Redis 6.0 or later (the script keeps a key's TTL with SET
// KEEPTTL, new in 6.0; its writes replicate as effects, the default since
// Redis 5).
//
// Each decision is one script call (EVALSHA, falling back to EVAL when the
// server does not have the script) and one round trip, whatever the number
// of policies; a batch is one pipelined round trip. The scripts are
// generated from the step functions of package algo, the same ones the
// memory store runs, so both stores decide alike: lua/throttled.lua
// decides any requests under any policies, and each algorithm has a
// script of its own for the common call, one request under one policy
// (lua/gcra.lua, …), which costs Redis less.
//
// # Coalescing
//
// Concurrent Decide calls are coalesced unless WithCoalescing(0) says
// otherwise: a Decide under policies (and, on a Cluster, in a hash slot)
// that nobody is gathering for yields its processor once when others of
// those policies were recently under way (a caller alone never yields),
// so that the callers ready at that moment can join it, and sends them
// with it as one script call (one round trip, one read of TIME, and one
// read and write of a key for all its requests); alone, it is sent as is.
// Calls in flight delay no one. Each request is decided as if sent alone,
// in arrival order, and fails alone when its key holds something else; a
// caller whose ctx ends before it is sent leaves, charged nothing. From 16
// goroutines on one key it takes a quarter to a third less wall time and
// less than half the server time a decision; on a CPU-bound process
// (where a yield is slow) it steps aside, and each Decide is sent alone
// until a yield is quick again (see WithCoalescing).
//
// # Keys
//
// A user key k's state under a policy p is stored under
// prefix + p.Key() + ":{" + k + "}" (default prefix "throttled:v3:"), such as
// "throttled:v3:gcra:10/s:b20:{user:42}": one string value holding the
// state's fields and then a lower bound of the key's expiry, all as
// little-endian float64s (exact for the integers below 2^53). The braces
// make the user key the Redis Cluster hash tag, so every policy of one user
// key lands in one slot and a request under several policies is one script
// call; a key starting with '}' is written ":!{=" + k + "}" instead, as an
// empty tag would not count. The prefix's version changes with the layout:
// keys of older layouts are never read and expire on their own.
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
// # Time
//
// By default the script reads the server's TIME, one clock for every host.
// WithClock passes a clock's time instead (tests, or Redis-compatible
// servers without TIME in scripts); the key TTLs still run on the server's
// clock, so give injected clocks that run slower than real time a
// WithTTLSlack.
//
// # Failures
//
// Every call is bounded by WithTimeout (default 200 ms) and by its ctx; a
// done ctx is refused before anything is sent. Network failures, timeouts,
// a cluster that is down, a server out of memory and calls after Close
// wrap store.ErrUnavailable and the client's error. Script errors and
// malformed replies wrap store.ErrScript and the client's error; a key that
// holds bytes that are not a state, or a value of another type, fails its
// own request with store.ErrScript (the script finds it, so there is no
// client error to wrap) and charges nothing, while the other requests of a
// batch are decided. Error messages quote at most the first 64 bytes of a
// key. What a limiter does while the store is down is its outage policy
// (typed.WithOutagePolicy).
package redisstore
