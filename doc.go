// Package throttled is a rate-limiting toolkit: five algorithms (fixed
// window, sliding window, token bucket, leaky bucket, GCRA) with one exact
// semantics in memory and in Redis, several quotas per key decided
// atomically, an outage policy, and hooks.
//
//	l, err := throttled.New(
//		throttled.WithAlgorithm(throttled.TokenBucket),
//		throttled.WithQuota(throttled.PerSec(1000).WithBurst(1000)),
//	)
//	res, err := l.Limit(ctx, "/ping", 1) // never blocks: res.Limited, res.State
//	st, err := l.Peek(ctx, "/ping")      // state without consuming
//	res, err = l.Wait(ctx, "/ping", 1)   // wait and retry until allowed
//	err = l.Do(ctx, "/ping", fn)         // run fn only when allowed
//	ping := throttled.Wrap(l, "/ping", fn)
//
// Limiter is typed.Limiter[string] with throttled-py's defaults (token
// bucket, 60 per minute, burst = limit, cost 1, one shared in-process
// store); package typed has the same limiter for keys of any comparable
// type and documents it in full. store/memstore and store/redisstore are
// the stores; httplimit puts a limiter in front of net/http handlers.
//
// A denial is a Result, not an error. Errors are invalid input (ErrInvalid,
// *DataError), a denial reported by Do, Wrap or Wait (*LimitedError,
// ErrLimited), or a store failure (ErrUnavailable, ErrScript); all are
// matchable with errors.Is and errors.As.
package throttled
