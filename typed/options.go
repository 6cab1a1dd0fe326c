package typed

import (
	"context"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// Option configures a Limiter. New checks the options and reports the
// first bad one; an Option is a plain function value, safe to share.
type Option func(*config)

type config struct {
	alg        algo.Algorithm
	quotas     []algo.Quota
	quotaFunc  any // func(context.Context, K) ([]algo.Quota, error)
	store      any // store.Store[K] or store.Store[string]
	storeSet   bool
	defaultKey any // K
	cost       int64
	timeout    time.Duration
	keyFunc    any // func(K) (string, error)
	outage     OutagePolicy
	hooks      any // []Hook[K]
	denyMax    time.Duration
	errs       []error
}

// WithAlgorithm sets the algorithm of the quotas that name none (default
// TokenBucket, as throttled-py's).
func WithAlgorithm(a algo.Algorithm) Option { return func(c *config) { c.alg = a } }

// WithQuota sets the limiter's one quota (default 60 per minute with burst
// 60, as throttled-py's). It replaces any quota set before.
func WithQuota(q algo.Quota) Option { return WithQuotas(q) }

// WithQuotas sets several quotas, each with its own algorithm if it names
// one (algo.Quota.WithAlgorithm) and an optional name: a request passes iff
// every quota admits it, and then every quota is charged; if any denies
// it, none is. At most store.MaxPolicies quotas, no two keeping the same
// state (same algorithm, rate and burst). It replaces any quota set before.
func WithQuotas(qs ...algo.Quota) Option {
	return func(c *config) { c.quotas = append([]algo.Quota(nil), qs...) }
}

// WithQuotaFunc makes each key's quotas come from f, for plans and tiers
// (free users 10 per minute, paying ones 1,000) and limits read from
// configuration at run time. f's quotas follow WithQuotas's rules; their
// compiled form is cached, so f should return few distinct quota sets.
// An error from f fails the call, wrapped; a bad quota is an
// algo.ErrInvalid naming it, and nothing is stored. It replaces WithQuota
// and WithQuotas.
func WithQuotaFunc[K comparable](f func(ctx context.Context, key K) ([]algo.Quota, error)) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "quota func", Value: "nil", Reason: "WithQuotaFunc needs a function"})
			return
		}
		c.quotaFunc = f
	}
}

// WithStore sets the store: a store.Store[K] keeps keys of type K as they
// are (memstore.For[K](s) for the memory store); a store.Store[string],
// such as a *redisstore.Store or a *memstore.Store, keeps a Limiter[K]'s
// keys encoded as strings (see WithKeyFunc). By default every limiter
// shares one in-process memory store (DefaultStore), so limiters with the
// same quota on the same key share its state, as in throttled-py.
func WithStore[K comparable](s store.Store[K]) Option {
	return func(c *config) { c.store, c.storeSet = s, true }
}

// WithCost sets the cost of Do, Wrap and WrapFunc calls (default 1; 0 is
// allowed and never limits).
func WithCost(n int64) Option { return func(c *config) { c.cost = n } }

// WithTimeout makes Do, Wrap and WrapFunc wait and retry for up to d while
// limited, and bounds Wait (default 0: Do, Wrap and WrapFunc do not wait;
// Wait waits until allowed or ctx is done). Negative values are refused.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithDefaultKey sets the key used by every call given K's zero value (the
// empty string for string keys; throttled-py's key=). Without it, the
// empty string is an invalid key.
func WithDefaultKey[K comparable](k K) Option {
	return func(c *config) { c.defaultKey = k }
}

// WithKeyFunc sets how keys of type K are encoded for a store of string
// keys such as Redis (default: by kind; see the package comment). f must
// return a non-empty string that identifies the key.
func WithKeyFunc[K comparable](f func(K) (string, error)) Option {
	return func(c *config) { c.keyFunc = f }
}

// WithDenyCache makes the limiter remember, per key, the store's denials
// for up to max each, and deny again from memory, without a store call, a
// request of the same key and quotas and of a cost at least as large until
// the denial's RetryAfter has passed (default: off, every request goes to
// the store). Hot abusive keys then cost a map lookup instead of a Redis
// round trip. max must be at least a microsecond.
//
// The decisions are those of the store: other clients of the store can
// only use quota up, never give it back, so a request denied at time t
// with RetryAfter r is denied until t+r whatever else happens. The local
// clock is read before the store call, so the cached denial never
// outlasts the store's, even on Redis's server time. Only a Reset or a
// quota change made by another process (or another limiter) gives quota
// back: max bounds how long this limiter can go on denying after one. A
// Reset on this limiter drops its key's denial, and so does a request the
// store allows.
//
// A Result from the cache has Source FromDenyCache and Limited set. Its
// RetryAfter and ResetAfter are the store's counted down (RetryAfter is
// at least a microsecond, or Never when the cost can never pass); its
// Remaining and Limit, and each quota's state in Quotas, are as of the
// store's denial, with Quotas' durations counted down too. With other
// clients the store's own answer could only be later. For a cost larger
// than the cached one, RetryAfter is the smaller cost's, a lower bound
// (Wait then retries earlier than it needs to). A cost of 0 (Peek) and
// a cost that can never pass when the cached one could always go to the
// store.
//
// Cached denials need no store, so during an outage they stay denials,
// whatever the outage policy. Hooks run for them as for any decision, and
// a LimitAll sends only the requests the cache does not answer. The cache
// holds at most 65,536 keys, dropping expired denials first; losing one
// costs a store call, never a wrong decision. With the option off, a
// decision pays one nil check.
func WithDenyCache(max time.Duration) Option {
	return func(c *config) {
		if max < time.Microsecond {
			c.errs = append(c.errs, &algo.DataError{Name: "deny cache max", Value: max, Reason: "must be at least 1µs"})
			return
		}
		c.denyMax = max
	}
}
