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
// the microsecond, and a cost above the capacity gets RetryAfter Never. A
// key changes only when a request with cost > 0 is allowed, and a time
// before the last admission is taken as that admission's time.
//
// # State machines
//
// rapid drives the stores with random traces: clock steps of any size
// (zero, a microsecond, around the emission interval and the period, far
// ahead, backwards) and onto exact RetryAfter/ResetAfter deadlines; costs
// from 0 to the capacity and far above it; Peek, typed.Limiter.LimitBatch,
// Reset and invalid input; quotas up to the representability bounds of
// algo.Compile (2^52). On every step every store must give exactly the
// model's Limited, Remaining, RetryAfter and ResetAfter, and these invariants
// must hold:
//
//   - never more admitted than the quota allows: for the buckets and GCRA,
//     at most B + ⌊d·L/P⌋ over any interval of length d; for the windows,
//     at most L per aligned window;
//   - Remaining in [0, Limit]; RetryAfter = 0 iff allowed, Never iff the
//     cost exceeds the capacity; ResetAfter = 0 iff Remaining = Limit;
//   - the same request passes exactly RetryAfter later (and not a
//     microsecond before); the key is back at its initial state exactly
//     ResetAfter later and then decides like a key never used (both checked
//     on a replayed copy of the key);
//   - a denied request and a Peek change nothing;
//   - the token bucket, the leaky bucket and GCRA decide identically.
//
// TestMemoryMatchesModel runs the memory store; TestMemoryRedisStandalone
// and TestMemoryRedisCluster run the memory store and the Redis store (a real
// redis-server started by internal/redistest, time injected from the same
// fake clock) side by side.
//
// # Concurrency and fuzzing
//
// TestConcurrentFakeClock and TestConcurrentRealClock hammer one key from
// many goroutines on each store and count the admitted cost against the
// exact bound. FuzzKeys feeds arbitrary bytes as keys to every store (seed
// corpus in testdata/fuzz/FuzzKeys). FuzzParseQuota lives in package algo.
//
// # Running
//
// go test ./proptest/ runs -rapid.checks checks (default 100) per state
// machine and quota family; make proptest-long runs many more. A failing
// rapid check prints a -rapid.seed (and writes a fail file under
// testdata/rapid) to replay it; minimized cases are kept as tests in
// regression_test.go.
package proptest
