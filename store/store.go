// Package store defines the contract between limiters and the stores that
// keep rate-limit state, and the vocabulary they share: compiled quotas
// (Policy), clocks, requests and errors. The memory store (store/memstore)
// and the Redis store (store/redisstore) implement it with one semantics,
// because both run the step functions of package algo (the Redis store as
// Lua generated from them).
package store

import (
	"context"
	"errors"

	"github.com/throttled-go/throttled/algo"
)

// Store keeps rate-limit state for keys of type K and decides requests
// against it. A key's state belongs to (policy, key): see Policy.
// Implementations are safe for concurrent use.
type Store[K comparable] interface {
	// Decide decides one request of cost for key under every policy of ps
	// at once, atomically, at the store's current time. The request passes
	// iff every policy admits it, and then every policy is charged cost; if
	// any denies it, none is charged. The combined decision is Limited if
	// any policy denies, with the least Remaining, the greatest ResetAfter,
	// and the greatest RetryAfter (-1, never, if any policy can never pass
	// it): the time at which every policy admits it.
	//
	// When each is not nil (len(each) == len(ps)), policy i's own decision
	// is written to each[i]; a policy that would admit a denied request
	// reports what a peek shows. Cost 0 is a peek: it reports and writes
	// nothing. A denial is a decision, never an error; errors are invalid
	// input (algo.ErrInvalid: an empty string key, a negative cost, no
	// policy or more than MaxPolicies), a done ctx, or a store failure
	// (ErrUnavailable, ErrScript), and then nothing was charged.
	Decide(ctx context.Context, key K, ps []*Policy, cost int64, each []algo.Decision) (algo.Decision, error)
	// Reset forgets key's state under every policy of ps, so the next
	// request sees a fresh key.
	Reset(ctx context.Context, key K, ps []*Policy) error
}

// Batcher is implemented by stores that decide many requests at once: the
// Redis store in one pipelined round trip, the memory store taking each
// shard lock once. Every request is decided under every policy of ps, as
// Store.Decide does, at one time. Requests are independent: errs[i] is
// request i's error and out[i] its combined decision, in input order; when
// each is not nil, each[i*len(ps)+j] is request i's decision under policy
// j. Requests for the same key are decided in input order. A request that
// fails charges nothing. If ctx is done before a request is sent it fails
// with ErrUnavailable wrapping ctx's error; a request already sent may have
// been decided even though its error reports the cancellation.
type Batcher[K comparable] interface {
	DecideBatch(ctx context.Context, ps []*Policy, reqs []Request[K], out, each []algo.Decision, errs []error)
}

// SingleDecider is implemented by stores that decide a request under one
// policy without the slices of Decide: the memory store, where that saves
// a tenth of a decision. DecideOne(ctx, key, p, cost) decides as
// Decide(ctx, key, []*Policy{p}, cost, nil) does, errors included; a
// limiter with one quota calls it when the store has it.
type SingleDecider[K comparable] interface {
	DecideOne(ctx context.Context, key K, p *Policy, cost int64) (algo.Decision, error)
}

// Request is one request of a batch: a key and a cost.
type Request[K comparable] struct {
	Key  K
	Cost int64
}

// Errors a store returns, matchable with errors.Is. A store failure is never
// a denial (that is a decision) and never invalid input (algo.ErrInvalid).
var (
	// ErrUnavailable wraps failures to reach the store: connection errors,
	// timeouts, a cancelled context, a cluster that is down. Retrying later
	// may succeed.
	ErrUnavailable = errors.New("throttled: store unavailable")
	// ErrScript wraps errors the store reported while running a decision:
	// a script error, a malformed reply, a key holding something that is
	// not rate-limit state. These point at a bug or at someone else writing
	// the key; retrying will not help.
	ErrScript = errors.New("throttled: store script error")
)
