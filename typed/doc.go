// Package typed is the rate limiter: Limiter[K] for keys of any comparable
// type, with Limit (never blocks), Peek, Wait (wait and retry), Do (scoped
// call), Wrap and WrapFunc (decorators), Reset, LimitAll (a batch in one
// round trip) and LimitAsync/PeekAsync (futures). The root package
// throttled is this limiter for string keys (throttled.Limiter is
// Limiter[string]); it adds nothing but shorter names.
//
// # Quotas
//
// A limiter holds one to eight quotas (WithQuota, WithQuotas), each with its
// algorithm (algo.Quota.WithAlgorithm, else WithAlgorithm's) and an optional
// name, or gets each key's quotas from a function (WithQuotaFunc). A
// request passes iff every quota admits it; then every quota is charged, and
// if any denies it, none is. A key's state belongs to (quota, key):
// limiters with different quotas on one key never affect each other, and
// limiters with the same quota share it (throttled-py's behaviour), on every
// store. Changing a quota therefore starts its keys afresh.
//
// # Keys and stores
//
// The memory store keeps a Limiter[K]'s keys as they are
// (memstore.For[K]): no string is built and a decision allocates nothing.
// A store of string keys such as Redis gets K encoded by WithKeyFunc when
// given, else by its kind: strings as they are, integers in decimal, then
// fmt.Stringer and encoding.TextMarshaler. Without WithStore every limiter
// uses DefaultStore.
//
// # Failures
//
// A denial is a Result, not an error. Errors are invalid input
// (algo.ErrInvalid), a done ctx or a store failure (store.ErrUnavailable,
// store.ErrScript), and then nothing was charged. WithOutagePolicy chooses
// what happens while the store is unavailable: fail closed (the default),
// fail open, or fall back to a local store; Result.Source says what
// decided. WithHooks observes or wraps every decision.
//
// # Concurrency
//
// A Limiter is safe for concurrent use; it holds no goroutine of its own
// (an open circuit's probe runs in one for at most a second).
package typed
