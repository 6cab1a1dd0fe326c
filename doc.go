// Package throttled is a rate-limiting toolkit: five algorithms (fixed
// window, sliding window, token bucket, leaky bucket, GCRA) with one exact
// semantics in memory and in Redis.
//
//	t, err := throttled.New(
//		throttled.WithAlgorithm(throttled.TokenBucket),
//		throttled.WithQuota(throttled.PerSec(1000).WithBurst(1000)),
//	)
//	res, err := t.Limit(ctx, "/ping", 1) // never blocks: res.Limited, res.State
//	st, err := t.Peek(ctx, "/ping")      // state without consuming
//	res, err = t.Wait(ctx, "/ping", 1)   // wait and retry until allowed
//	err = t.Do(ctx, "/ping", fn)         // run fn only when allowed
//	ping := throttled.Wrap(t, "/ping", fn)
//
// This package is the facade for string keys with the seed's defaults
// (token bucket, 60 per minute, burst = limit, cost 1, one shared in-process
// store). Package typed offers the same limiter for keys of any comparable
// type; store/memstore and store/redisstore are the stores.
//
// A denial is a Result, not an error. Errors are invalid input (ErrInvalid,
// *DataError), a denial reported by Do, Wrap or Wait (*LimitedError,
// ErrLimited), or a store failure (ErrUnavailable, ErrScript); all are
// matchable with errors.Is and errors.As.
package throttled
