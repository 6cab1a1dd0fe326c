// Package store defines the contract between limiters and the stores that
// keep rate-limit state: the memory store (store/memstore) and the Redis
// store (store/redisstore) implement it with one semantics, because both run
// the step functions of package algo (the Redis store as generated Lua).
package store

import (
	"context"
	"errors"

	"github.com/throttled-go/throttled/algo"
)

// Store keeps rate-limit state for string keys and decides requests
// against it. Implementations are safe for concurrent use.
type Store interface {
	// Decide runs p's algorithm for key at the store's current time and
	// saves the new state when the request was allowed with cost > 0.
	// Cost 0 is a peek: it reports the state and writes nothing. A denial
	// is a Decision with Limited set, never an error.
	Decide(ctx context.Context, key string, p *algo.Params, cost int64) (algo.Decision, error)
	// Reset forgets key's state for algorithm alg, so the next request
	// sees a fresh key.
	Reset(ctx context.Context, key string, alg algo.Algorithm) error
}

// Keyed is a store bound to keys of type K; the memory store offers one per
// key type, so typed keys are never turned into strings.
type Keyed[K comparable] interface {
	// Decide is Store.Decide for a key of type K.
	Decide(ctx context.Context, key K, p *algo.Params, cost int64) (algo.Decision, error)
	// Reset is Store.Reset for a key of type K.
	Reset(ctx context.Context, key K, alg algo.Algorithm) error
}

// Errors a store returns, matchable with errors.Is. A store failure is never
// a denial (that is a Decision) and never invalid input (algo.ErrInvalid).
var (
	// ErrUnavailable wraps failures to reach the store: connection errors,
	// timeouts, a cancelled context, a cluster that is down. Retrying later
	// may succeed.
	ErrUnavailable = errors.New("throttled: store unavailable")
	// ErrScript wraps errors the store reported while running a decision:
	// a script error, a malformed reply, corrupt state under a key. These
	// point at a bug or at someone else writing the key; retrying will not help.
	ErrScript = errors.New("throttled: store script error")
)

// CheckKey returns a *algo.DataError for an empty key.
func CheckKey(key string) error {
	if key == "" {
		return &algo.DataError{Name: "key", Value: key, Reason: "must be a non-empty string"}
	}
	return nil
}

// FailAll sets every element of errs to err: a batch whose shared inputs
// (params, time) are bad fails as a whole.
func FailAll(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}

// CheckCost returns a *algo.DataError for a negative cost.
func CheckCost(cost int64) error {
	if cost < 0 {
		return &algo.DataError{Name: "cost", Value: cost, Reason: "must be at least 0"}
	}
	return nil
}

// CheckParams returns a *algo.DataError when p was not built by algo.Compile.
func CheckParams(p *algo.Params) error {
	if p == nil || !p.Algorithm.Valid() || p.Period <= 0 || p.Rate <= 0 || p.Unit <= 0 {
		return &algo.DataError{Name: "params", Value: p, Reason: "must come from algo.Compile"}
	}
	return nil
}

// CheckTime returns a *algo.DataError for a time outside [0, algo.MaxTime].
func CheckTime(now int64) error {
	if now < 0 || now > algo.MaxTime {
		return &algo.DataError{Name: "time", Value: now, Reason: "must be in [0, 2^52] µs since the epoch (clock out of range)"}
	}
	return nil
}

// Request is one request of a batch: a key and a cost.
type Request[K comparable] struct {
	Key  K
	Cost int64
}

// Batcher is implemented by stores that decide many requests at once: the
// Redis store in one pipelined round trip, the memory store taking each
// shard lock once. Requests are decided independently: errs[i] is request
// i's error (invalid input, store failure) and out[i] its decision, both in
// input order; requests for the same key are decided in input order. If ctx
// is done before a request is sent it fails with store.ErrUnavailable
// wrapping ctx's error; a request already sent may have been decided even
// though its error reports the cancellation.
type Batcher[K comparable] interface {
	DecideBatch(ctx context.Context, p *algo.Params, reqs []Request[K], out []algo.Decision, errs []error)
}

// Subset runs a batch on the requests that check accepts (check(i) judges
// reqs[i], in order): a refused request gets check's error, and the others get run's decisions and
// errors, all at their positions in reqs.
func Subset[K comparable](reqs []Request[K], out []algo.Decision, errs []error, check func(i int) error,
	run func(reqs []Request[K], out []algo.Decision, errs []error)) {
	var valid []Request[K] // nil while every request so far passed
	var index []int
	for i, r := range reqs {
		errs[i] = check(i)
		switch {
		case errs[i] != nil && valid == nil:
			valid = append(make([]Request[K], 0, len(reqs)), reqs[:i]...)
			index = make([]int, i, len(reqs))
			for j := range index {
				index[j] = j
			}
		case errs[i] == nil && valid != nil:
			valid = append(valid, r)
			index = append(index, i)
		}
	}
	if valid == nil { // the common case: no copies
		run(reqs, out, errs)
		return
	}
	vout := make([]algo.Decision, len(valid))
	verrs := make([]error, len(valid))
	run(valid, vout, verrs)
	for j, i := range index {
		out[i], errs[i] = vout[j], verrs[j]
	}
}
