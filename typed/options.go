package typed

import (
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// Option configures a Limiter. Options are checked by New, which reports
// the first bad one.
type Option func(*config)

type config struct {
	alg        algo.Algorithm
	quota      algo.Quota
	store      any // store.Store or *memstore.Store; nil means the shared default
	storeSet   bool
	defaultKey any
	cost       int64
	timeout    time.Duration
	prefix     string
	keyFunc    any // func(K) (string, error)
}

// WithAlgorithm sets the algorithm (default TokenBucket, as the seed's).
func WithAlgorithm(a algo.Algorithm) Option { return func(c *config) { c.alg = a } }

// WithQuota sets the quota (default 60 per minute with burst 60, as the seed's).
func WithQuota(q algo.Quota) Option { return func(c *config) { c.quota = q } }

// WithStore sets the store: a *memstore.Store (keyed by K natively) or any
// store.Store (keyed by the encoded K), such as a *redisstore.Store. By
// default every limiter shares one in-process memory store, so limiters of
// the same algorithm on the same key share its state, as in the seed.
func WithStore(s store.Store) Option {
	return func(c *config) { c.store, c.storeSet = s, true }
}

// WithCost sets the cost of Do and Wrap calls and of the Limit/Wait calls
// of the facade that take no cost (default 1; 0 is allowed and never limits).
func WithCost(n int64) Option { return func(c *config) { c.cost = n } }

// WithTimeout makes Do and Wrap wait and retry for up to d while limited,
// and bounds Wait (default 0: Do and Wrap do not wait; Wait waits until
// allowed or ctx is done). Negative values are refused.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithKeyPrefix namespaces the limiter's keys (default none): with a string
// store the prefix is prepended to each encoded key; with the memory store
// limiters of different prefixes use separate tables.
func WithKeyPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// DefaultKey sets the key that the key-less calls of the facade use
// (the seed's key=).
func DefaultKey[K comparable](k K) Option {
	return func(c *config) { c.defaultKey = k }
}

// KeyFunc sets how keys of type K are encoded for string stores such as
// Redis (default: by kind; see the package comment). It must return a
// non-empty string that identifies the key.
func KeyFunc[K comparable](f func(K) (string, error)) Option {
	return func(c *config) { c.keyFunc = f }
}
