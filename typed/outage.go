package typed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// Source says what decided a request.
type Source uint8

const (
	// FromStore: the limiter's store decided (the zero value).
	FromStore Source = iota
	// FromFallback: the store was unavailable, and the local fallback
	// store of FallBack decided.
	FromFallback
	// FromFailOpen: the store was unavailable, and FailOpen allowed the
	// request without deciding it; the State is unknown (zero but Limit).
	FromFailOpen
)

// String returns "store", "fallback", "fail_open" or "deny_cache".
func (s Source) String() string {
	switch s {
	case FromStore:
		return "store"
	case FromFallback:
		return "fallback"
	case FromFailOpen:
		return "fail_open"
	case FromDenyCache:
		return "deny_cache"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// OutagePolicy is what a limiter does while its store is unavailable
// (store.ErrUnavailable: unreachable, timed out, a cluster slot down; not
// the caller's own ctx being done, and not a script error). The zero value
// is FailClosed.
type OutagePolicy struct {
	mode      outageMode
	instances int64
}

type outageMode uint8

const (
	failClosed outageMode = iota
	failOpen
	fallBack
)

var (
	// FailClosed fails every call the store cannot decide with
	// store.ErrUnavailable (the default): nothing passes unchecked, and
	// every call tries the store, bounded by the store's timeout.
	FailClosed = OutagePolicy{}
	// FailOpen allows the requests the store cannot decide, with
	// Result.Source FromFailOpen: nothing is limited while the store is
	// down. Use it where availability matters more than the limit.
	FailOpen = OutagePolicy{mode: failOpen}
)

// FallBack decides the requests the store cannot decide on a local memory
// store, with the limiter's quotas each divided by instances (limit and
// burst rounded up, at least 1): with the expected number of processes
// sharing the store, the processes together admit about what the shared
// store would. Result.Source is FromFallback. The local state starts empty
// and is kept until it expires, across outages: a store going down and up
// again does not hand every client a fresh local allowance.
func FallBack(instances int) OutagePolicy {
	return OutagePolicy{mode: fallBack, instances: int64(instances)}
}

// WithOutagePolicy sets what the limiter does while its store is
// unavailable (default FailClosed).
//
// With FailOpen and FallBack, a store failure opens a circuit breaker: the
// limiter stops calling the store and decides by the policy at once, so no
// caller waits for a dead store. It probes the store in the background with
// a Peek (at once, then after 50 ms, doubling up to 5 s) and closes the
// circuit when a probe succeeds.
func WithOutagePolicy(p OutagePolicy) Option {
	return func(c *config) {
		if p.mode == fallBack && p.instances < 1 {
			c.errs = append(c.errs, &algo.DataError{Name: "fallback instances", Value: p.instances, Reason: "must be at least 1"})
			return
		}
		c.outage = p
	}
}

// Backoff of the probes of an open circuit.
const (
	firstProbeBackoff = 50 * time.Millisecond
	maxProbeBackoff   = 5 * time.Second
	probeTimeout      = time.Second // bounds a probe when the store has no timeout of its own
)

// breaker tracks whether the store is down and probes it.
type breaker struct {
	open    atomic.Bool
	mu      sync.Mutex
	probing bool      // a probe is in flight
	next    time.Time // no probe before this time
	backoff time.Duration
}

// isOutage reports whether err, from a call whose ctx is ctx, means the
// store is down rather than the caller gone or the input bad.
func isOutage(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && errors.Is(err, store.ErrUnavailable)
}

// trip opens the circuit after a failure.
func (b *breaker) trip() {
	b.mu.Lock()
	if !b.open.Load() {
		b.open.Store(true)
		b.backoff, b.next = 0, time.Time{} // probe at once: it may have been a blip
	}
	b.mu.Unlock()
}

// shouldProbe reports whether a probe is due, and marks it in flight.
func (b *breaker) shouldProbe() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probing || time.Now().Before(b.next) {
		return false
	}
	b.probing = true
	return true
}

// probed records a probe's outcome.
func (b *breaker) probed(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if ok {
		b.open.Store(false)
		return
	}
	b.backoff = min(max(2*b.backoff, firstProbeBackoff), maxProbeBackoff)
	b.next = time.Now().Add(b.backoff)
}

// outage is a limiter's outage handling beyond failing closed.
type outage[K comparable] struct {
	policy   OutagePolicy
	breaker  breaker
	fallback store.Store[K] // FallBack's local store
}

// newOutage returns the outage handling for p, nil for FailClosed.
func newOutage[K comparable](p OutagePolicy, primary store.Store[K]) (*outage[K], error) {
	if p.mode == failClosed {
		return nil, nil
	}
	o := &outage[K]{policy: p}
	if p.mode == fallBack {
		var opts []memstore.Option
		if c, ok := primary.(store.Clocked); ok && c.Clock() != nil {
			opts = append(opts, memstore.WithClock(c.Clock())) // one time for both stores
		}
		mem, err := memstore.New(opts...)
		if err != nil {
			return nil, err
		}
		o.fallback = memstore.For[K](mem)
	}
	return o, nil
}

// scaled returns the fallback's quota for q: limit and burst divided by
// instances, rounded up.
func (p OutagePolicy) scaled(q algo.Quota) algo.Quota {
	if p.mode != fallBack || p.instances <= 1 {
		return q
	}
	n := p.instances
	b := q.EffectiveBurst()
	q.Limit = (q.Limit + n - 1) / n
	q.Burst = (b + n - 1) / n
	return q
}

// decide decides on the store, or by the outage policy when the store is
// down.
func (l *Limiter[K]) decide(ctx context.Context, key K, set *policySet, cost int64, each []algo.Decision) (algo.Decision, Source, error) {
	o := l.outage
	if o == nil {
		d, err := l.st.Decide(ctx, key, set.ps, cost, each)
		return d, FromStore, err
	}
	if o.breaker.open.Load() {
		l.probe(key, set)
		return l.degraded(ctx, key, set, cost, each)
	}
	d, err := l.st.Decide(ctx, key, set.ps, cost, each)
	if isOutage(ctx, err) {
		o.breaker.trip()
		l.probe(key, set)
		return l.degraded(ctx, key, set, cost, each)
	}
	return d, FromStore, err
}

// degraded decides a request the store cannot: FailOpen allows it,
// FallBack decides it on the local store.
func (l *Limiter[K]) degraded(ctx context.Context, key K, set *policySet, cost int64, each []algo.Decision) (algo.Decision, Source, error) {
	if l.outage.policy.mode == failOpen {
		clear(each)
		return algo.Decision{}, FromFailOpen, nil
	}
	d, err := l.outage.fallback.Decide(ctx, key, set.local, cost, each)
	return d, FromFallback, err
}

// probe starts a background Peek of key on the store when one is due; its
// success closes the circuit. The goroutine ends within the store's
// timeout, or probeTimeout.
func (l *Limiter[K]) probe(key K, set *policySet) {
	b := &l.outage.breaker
	if !b.shouldProbe() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		_, err := l.st.Decide(ctx, key, set.ps, 0, nil)
		b.probed(err == nil || !errors.Is(err, store.ErrUnavailable))
	}()
}
