package typed

import (
	"context"
	"errors"
	"fmt"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/async"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
	"golang.org/x/sync/errgroup"
)

// Request is one request of a batch: a key and a cost.
type Request[K comparable] = store.Request[K]

// ItemError is the error of one request of a batch; LimitAll joins them
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

// LimitAll decides many requests at once: on Redis in one pipelined round
// trip, on the memory store taking each shard lock once, on other stores
// one request after another. Results come in input order, and requests for
// the same key are decided in input order, as if made one by one.
//
// Requests are independent: a request that fails (invalid key or cost, a
// key holding something else than its state, a store error) leaves a zero
// Result at its index and the others are still decided; the error joins an
// *ItemError per failed request. If ctx is done before a request is sent,
// that request fails with store.ErrUnavailable wrapping ctx's error; one
// already sent may have been decided even though it reports the
// cancellation. With a quota function, a batch decides each group of
// requests with the same quotas in turn.
func (l *Limiter[K]) LimitAll(ctx context.Context, reqs []Request[K]) ([]Result, error) {
	results := make([]Result, len(reqs))
	errs := make([]error, len(reqs))
	if l.hasDefault { // the default key stands for the zero key: map it, on a copy
		mapped := make([]Request[K], len(reqs))
		for i, r := range reqs {
			mapped[i] = Request[K]{Key: l.keyOf(r.Key), Cost: r.Cost}
		}
		reqs = mapped
	}
	if l.quotaFunc == nil {
		l.decideAll(ctx, l.set, reqs, results, errs)
	} else {
		l.decideGroups(ctx, reqs, results, errs)
	}
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, &ItemError{Index: i, Err: err})
		}
	}
	return results, errors.Join(failed...)
}

// maxConcurrentGroups bounds how many batches of one LimitAll with a quota
// function are in flight at once.
const maxConcurrentGroups = 8

// decideGroups decides a batch whose keys may have different quotas: the
// requests of each set of policies in one batch, the batches concurrently.
// A key's requests share a set, so they are still decided in input order.
func (l *Limiter[K]) decideGroups(ctx context.Context, reqs []Request[K], results []Result, errs []error) {
	type group struct {
		set   *policySet
		index []int
	}
	var groups []*group
	for i, r := range reqs {
		if errs[i] = l.checkKey(r.Key); errs[i] != nil {
			continue
		}
		set, err := l.policiesFor(ctx, r.Key)
		if errs[i] = err; err != nil {
			continue
		}
		var g *group
		for _, o := range groups {
			if o.set == set { // the cache returns one set per quota set
				g = o
				break
			}
		}
		if g == nil {
			g = &group{set: set}
			groups = append(groups, g)
		}
		g.index = append(g.index, i)
	}
	// Each group is one batch (one round trip on Redis): they go out
	// concurrently, and each writes only its own requests' results.
	var eg errgroup.Group
	eg.SetLimit(maxConcurrentGroups)
	for _, g := range groups {
		eg.Go(func() error {
			sub := make([]Request[K], len(g.index))
			for j, i := range g.index {
				sub[j] = reqs[i]
			}
			res, serrs := make([]Result, len(sub)), make([]error, len(sub))
			l.decideAll(ctx, g.set, sub, res, serrs)
			for j, i := range g.index {
				results[i], errs[i] = res[j], serrs[j]
			}
			return nil
		})
	}
	_ = eg.Wait() // the errors are per request

}

// decideAll decides reqs, whose keys are mapped already, under set: in
// one batch on the store, then by the outage policy those the store could
// not decide for being down.
func (l *Limiter[K]) decideAll(ctx context.Context, set *policySet, reqs []Request[K], results []Result, errs []error) {
	n := len(set.ps)
	out := make([]algo.Decision, len(reqs))
	var each []algo.Decision
	if n > 1 {
		each = make([]algo.Decision, len(reqs)*n)
	}
	eachOf := func(i int) []algo.Decision {
		if each == nil {
			return nil
		}
		return each[i*n : (i+1)*n]
	}
	srcs := make([]Source, len(reqs))
	down := l.outage != nil && l.outage.breaker.open.Load()
	dp := l.denies.probe()
	storeutil.Subset(reqs, out, each, n, errs, func(i int) error {
		if err := l.checkKey(reqs[i].Key); err != nil {
			return err
		}
		if err := storeutil.CheckCost(reqs[i].Cost); err != nil {
			return err
		}
		if l.denies.denyCachedIn(reqs[i], set, dp, &results[i]) { // a cached denial stands in an outage too
			return errDenyCached
		}
		if down { // the circuit is open: the outage policy decides
			return errCircuitOpen
		}
		return nil
	}, func(reqs []Request[K], out, each []algo.Decision, errs []error) {
		if l.batch != nil {
			l.batch.DecideBatch(ctx, set.ps, reqs, out, each, errs)
			return
		}
		for i, r := range reqs {
			var e []algo.Decision
			if each != nil {
				e = each[i*n : (i+1)*n]
			}
			out[i], errs[i] = l.st.Decide(ctx, r.Key, set.ps, r.Cost, e)
		}
	})
	if l.outage != nil {
		for i, err := range errs {
			if err == errCircuitOpen || isOutage(ctx, err) {
				if err != errCircuitOpen {
					l.outage.breaker.trip()
				}
				l.probe(reqs[i].Key, set)
				out[i], srcs[i], errs[i] = l.degraded(ctx, reqs[i].Key, set, reqs[i].Cost, eachOf(i))
			}
		}
	}
	for i := range reqs {
		if errs[i] == nil {
			resultOf(set, out[i], eachOf(i), srcs[i], &results[i])
		}
	}
	l.denies.recordAll(set, reqs, results, errs, dp)
	if l.hooks != nil {
		for i, r := range reqs {
			c := Call[K]{Key: r.Key, Cost: r.Cost, Quotas: set.quotas, Store: l.storeName, Batch: true}
			results[i], errs[i] = l.hooked(ctx, c, set, &results[i], errs[i])
		}
	}
}

// errCircuitOpen marks, inside a batch, the requests left to the outage
// policy because the store is known to be down; no caller sees it.
var errCircuitOpen = errors.New("throttled: circuit open")
