// Package proptest holds the module's property-based tests (with
// pgregory.net/rapid) and its key fuzzer. It has no exported API: everything
// is in _test.go files, and this file only documents what they prove.
//
// # Exact models
//
// model_test.go restates DESIGN.md §3 for each algorithm in exact rational
// arithmetic (math/big), independently of package algo: a token bucket
// level, a leaky bucket's water, GCRA's theoretical arrival time, fixed
// window counts and the sliding window's two-window estimate. Only the edges
// round: Remaining is floored, RetryAfter and ResetAfter are rounded up to
// the microsecond, and a cost above the capacity gets RetryAfter never
// (-1). A key changes only when a request with cost > 0 is allowed. A time
// before the last admission is decided as at that admission's time, and
// the durations then get the lag added (when positive), so that they hold
// in the caller's time.
//
// State belongs to (quota identity, key): the identity is the algorithm,
// period, limit and, for the bucket algorithms, burst, restated in the
// tests rather than taken from store.Policy; a name is a label. A limiter
// with several quotas is the conjunction of their models: a request passes
// iff every model admits it, and then every model is charged, else none;
// the combined decision is Limited if any is, with the least Remaining, the
// greatest ResetAfter and the greatest RetryAfter (never winning), and a
// model that would have admitted a denied request reports a peek.
// TestModelByHand and TestConjunctionByHand pin the models to timelines
// worked out by hand, clock steps back included.
//
// # State machines
//
// rapid drives the stores with random traces: clock steps of any size
// (zero, a microsecond, around the emission interval and the period, far
// ahead, backwards) and onto exact RetryAfter/ResetAfter deadlines; costs
// from 0 to the capacity and far above it; Peek, typed.Limiter.LimitAll,
// Reset and invalid input (a negative cost, the empty key, a clock outside
// [0, 2^52], bad policy lists, a done context: refused, charging nothing);
// quotas up to the representability bounds of algo.Compile (2^52) and times
// up to 2^52; keys with '{', '}' (one starting with it) and NUL. On every
// step every store must give exactly the models' answer, and these
// invariants must hold:
//
//   - never more admitted than a quota allows: for the buckets and GCRA,
//     at most B + ⌊d·L/P⌋ over any interval of length d; for the windows,
//     at most L per aligned window;
//   - Remaining in [0, Limit]; RetryAfter = 0 iff allowed, never iff the
//     cost exceeds the capacity (the least capacity, for a limiter with
//     several quotas); ResetAfter = 0 iff Remaining = Limit;
//   - from the caller's now, even when the clock is behind the key's
//     state, the same request passes exactly RetryAfter later and not a
//     microsecond before (both durations count down exactly); every quota
//     of the key is back at its initial state exactly ResetAfter later, and
//     the key then decides like a key never used (checked on a replayed
//     copy of the key);
//   - a denied request and a Peek change nothing, under any quota;
//   - the token bucket, the leaky bucket and GCRA decide identically.
//
// TestMemoryMatchesModel runs one quota under every algorithm it compiles
// for, each under its own policy (named or not: the name keeps the same
// state), on the memory store; TestMemoryRedisStandalone and
// TestMemoryRedisCluster run it on the memory store and the Redis store (a
// real redis-server started by internal/redistest, time injected from the
// same fake clock) side by side.
//
// TestLimiterMatchesModels runs a typed.Limiter with 1–3 random quotas,
// each from a quota family and under an algorithm drawn for it, and checks
// every Result against the conjunction of the models: Limited, the
// combined State (Limit: that of a quota with the least Remaining) and each
// Result.Quotas[i]; Peek and Limit with cost 0; Reset forgetting every
// quota of the limiter; LimitAll deciding as one by one, a bad request
// failing alone. TestLimitersShareOnlySameQuotas interleaves two or three
// limiters on shared keys: fresh quotas, neighbours of the first limiter's
// (another algorithm, period, limit or burst: independent states; another
// name, or a window's burst: the same state) and the first limiter's
// quotas renamed and reordered (a pair that must share); each limiter is
// checked against its own models, shared only where the identity is, and
// store.Policy's Same, Key and ID must agree with that identity.
// TestLimitersMemoryRedis runs those machines on the memory store, a
// standalone Redis and a three-node Redis Cluster on one fake clock, every
// Result (each quota's state included) the same on the three.
//
// The memory machines count what the traces reached (stats_test.go; run
// with -proptest.stats to see it) and fail unless the generators reached,
// with the default 100 checks or more: a clock behind a key's state, cost
// 0, a cost above the capacity, a time within three periods of 2^52, and
// quotas on algo.Compile's bucket and sliding window bounds.
//
// # Concurrency and fuzzing
//
// TestConcurrentFakeClock and TestConcurrentRealClock hammer one key from
// many goroutines on each store, under each algorithm alone and under
// several quotas at once, and count the admitted cost against the exact
// bound (at a fixed time, exactly what the models admit, each quota's
// state then equal to its model's: a request one quota denied charged
// none). FuzzKeys feeds arbitrary bytes as keys to every store, under one
// quota or two (starting corpus in testdata/fuzz/FuzzKeys). FuzzParseQuota
// lives in package algo.
//
// Every test that could hang has a deadline of its own: the machines'
// store calls take a context that ends 30s into each check, a hammering
// phase fails after 20s with every goroutine's stack, and the Redis stores
// time out each call.
//
// # Running
//
// go test ./proptest/ runs -rapid.checks checks (default 100) per state
// machine and quota family; make proptest-long runs many more, on longer
// traces. A failing rapid check writes a fail file under testdata/rapid
// and prints the -rapid.failfile flag that replays it; minimized cases are
// kept as tests in regression_test.go.
package proptest
