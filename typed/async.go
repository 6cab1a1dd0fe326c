package typed

import (
	"context"
	"errors"
	"fmt"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/async"
	"github.com/throttled-go/throttled/store"
)

// Request is one request of a batch: a key and a cost.
type Request[K comparable] = store.Request[K]

// ItemError is the error of one request of a batch; LimitBatch joins them
// (errors.Join), so errors.Is and errors.As see each one and its cause.
type ItemError struct {
	Index int   // the request's position in the batch
	Err   error // why it failed
}

// Error names the failed request's position.
func (e *ItemError) Error() string { return fmt.Sprintf("request %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *ItemError) Unwrap() error { return e.Err }

// LimitAsync starts Limit in a new goroutine and returns its future. The
// goroutine ends when Limit returns; cancelling ctx cancels the request.
func (l *Limiter[K]) LimitAsync(ctx context.Context, key K, cost int64) *async.Future[Result] {
	return async.Go(ctx, func(ctx context.Context) (Result, error) { return l.Limit(ctx, key, cost) })
}

// PeekAsync starts Peek in a new goroutine and returns its future.
func (l *Limiter[K]) PeekAsync(ctx context.Context, key K) *async.Future[State] {
	return async.Go(ctx, func(ctx context.Context) (State, error) { return l.Peek(ctx, key) })
}

// LimitAll decides a request of cost for every key at once; see LimitBatch.
func (l *Limiter[K]) LimitAll(ctx context.Context, keys []K, cost int64) ([]Result, error) {
	reqs := make([]Request[K], len(keys))
	for i, k := range keys {
		reqs[i] = Request[K]{Key: k, Cost: cost}
	}
	return l.LimitBatch(ctx, reqs)
}

// LimitBatch decides many requests at once: on Redis in one pipelined round
// trip, on the memory store taking each shard lock once, on other stores
// one request after another. Results come in input order, and requests for
// the same key are decided in input order, as if made one by one.
//
// Requests are independent: a request that fails (invalid key or cost, a
// store error) leaves a zero Result at its index and the others are still
// decided; the error joins an *ItemError per failed request. If ctx is done
// before a request is sent, that request fails with store.ErrUnavailable
// wrapping ctx's error; one already sent may have been decided even though
// it reports the cancellation.
func (l *Limiter[K]) LimitBatch(ctx context.Context, reqs []Request[K]) ([]Result, error) {
	out := make([]algo.Decision, len(reqs))
	errs := make([]error, len(reqs))
	store.Subset(reqs, out, errs, func(i int) error { return l.checkKey(reqs[i].Key) },
		func(reqs []Request[K], out []algo.Decision, errs []error) {
			l.backend.DecideBatch(ctx, &l.params, reqs, out, errs)
		})
	results := make([]Result, len(reqs))
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, &ItemError{Index: i, Err: err})
			continue
		}
		results[i] = resultOf(&l.params, out[i])
	}
	return results, errors.Join(failed...)
}

// DecideBatch decides a batch on a string store: in one call when the store
// is a store.Batcher, else one request after another.
func (e encoded[K]) DecideBatch(ctx context.Context, p *algo.Params, reqs []store.Request[K], out []algo.Decision, errs []error) {
	sreqs := make([]store.Request[string], len(reqs))
	for i, r := range reqs {
		sreqs[i].Key, errs[i] = e.key(r.Key)
		sreqs[i].Cost = r.Cost
	}
	// Requests whose key could not be encoded keep that error.
	store.Subset(sreqs, out, errs, func(i int) error { return errs[i] },
		func(sreqs []store.Request[string], out []algo.Decision, errs []error) {
			if b, ok := e.s.(store.Batcher[string]); ok {
				b.DecideBatch(ctx, p, sreqs, out, errs)
				return
			}
			for j, r := range sreqs {
				out[j], errs[j] = e.s.Decide(ctx, r.Key, p, r.Cost)
			}
		})
}
