package throttled

import (
	"context"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// Algorithm names a rate-limiting algorithm.
type Algorithm = algo.Algorithm

// The algorithms, with the seed's string names (Algorithm.String).
const (
	FixedWindow   = algo.FixedWindow   // "fixed_window"
	SlidingWindow = algo.SlidingWindow // "sliding_window"
	TokenBucket   = algo.TokenBucket   // "token_bucket"
	LeakingBucket = algo.LeakyBucket   // "leaking_bucket"
	GCRA          = algo.GCRA          // "gcra"
)

// ParseAlgorithm returns the algorithm with a seed name such as "gcra".
func ParseAlgorithm(name string) (Algorithm, error) { return algo.ParseAlgorithm(name) }

// Quota is a rate (Limit per Period) plus a burst; see algo.Quota.
type Quota = algo.Quota

// Rate is Limit requests per Period.
type Rate = algo.Rate

// PerSec returns a quota of limit per second, burst = limit.
func PerSec(limit int64) Quota { return algo.PerSec(limit) }

// PerMin returns a quota of limit per minute, burst = limit.
func PerMin(limit int64) Quota { return algo.PerMin(limit) }

// PerHour returns a quota of limit per hour, burst = limit.
func PerHour(limit int64) Quota { return algo.PerHour(limit) }

// PerDay returns a quota of limit per day, burst = limit.
func PerDay(limit int64) Quota { return algo.PerDay(limit) }

// PerWeek returns a quota of limit per week, burst = limit.
func PerWeek(limit int64) Quota { return algo.PerWeek(limit) }

// PerDuration returns a quota of limit per period, burst = limit.
func PerDuration(period time.Duration, limit int64) Quota { return algo.PerDuration(period, limit) }

// ParseQuota reads a quota such as "100/s", "60 per minute",
// "120/2m burst 150"; see algo.ParseQuota for the grammar.
func ParseQuota(s string) (Quota, error) { return algo.ParseQuota(s) }

// Result is the outcome of one request.
type Result = typed.Result

// State is a key's rate-limit state.
type State = typed.State

// Never is the RetryAfter of a request whose cost exceeds the capacity.
const Never = typed.Never

// LimitedError reports a denial from Do, Wrap or Wait.
type LimitedError = typed.LimitedError

// DataError reports an invalid input value; it matches ErrInvalid.
type DataError = algo.DataError

// Store is the contract of rate-limit stores (memory, Redis).
type Store = store.Store

// Clock reads the time in microseconds since the Unix epoch.
type Clock = clock.Clock

// FakeClock is a settable Clock for tests; see NewFakeClock.
type FakeClock = clock.Fake

// NewFakeClock returns a FakeClock reading startMicros.
func NewFakeClock(startMicros int64) *FakeClock { return clock.NewFake(startMicros) }

// Errors, matchable with errors.Is.
var (
	ErrInvalid     = algo.ErrInvalid      // invalid input; no state was touched
	ErrLimited     = typed.ErrLimited     // matches every *LimitedError
	ErrUnavailable = store.ErrUnavailable // the store could not be reached
	ErrScript      = store.ErrScript      // the store failed running a decision
)

// Option configures a Throttled.
type Option = typed.Option

// WithAlgorithm sets the algorithm (default TokenBucket).
func WithAlgorithm(a Algorithm) Option { return typed.WithAlgorithm(a) }

// WithQuota sets the quota (default PerMin(60)).
func WithQuota(q Quota) Option { return typed.WithQuota(q) }

// WithStore sets the store (default: one in-process store shared by every
// limiter without WithStore).
func WithStore(s Store) Option { return typed.WithStore(s) }

// WithCost sets the cost of Do and Wrap (default 1).
func WithCost(n int64) Option { return typed.WithCost(n) }

// WithTimeout makes Do and Wrap wait and retry up to d, and bounds Wait
// (default 0: Do and Wrap decide at once, Wait waits until allowed).
func WithTimeout(d time.Duration) Option { return typed.WithTimeout(d) }

// WithKeyPrefix namespaces the keys (default none).
func WithKeyPrefix(p string) Option { return typed.WithKeyPrefix(p) }

// WithKey sets the default key, used by every call given the empty key
// (the seed's key=). Without it, an empty key is invalid input.
func WithKey(key string) Option { return typed.DefaultKey(key) }

// Throttled is a rate limiter for string keys. It is safe for concurrent use.
type Throttled struct {
	l *typed.Limiter[string]
}

// New returns a Throttled; see the options for the defaults. A bad option
// gives a *DataError naming the bad value.
func New(opts ...Option) (*Throttled, error) {
	l, err := typed.New[string](opts...)
	if err != nil {
		return nil, err
	}
	return &Throttled{l: l}, nil
}

// MustNew is New for package-level limiters; it panics on a bad option.
func MustNew(opts ...Option) *Throttled {
	t, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return t
}

// Limiter returns the underlying typed limiter.
func (t *Throttled) Limiter() *typed.Limiter[string] { return t.l }

func (t *Throttled) key(k string) string {
	if k == "" {
		if d, ok := t.l.DefaultKey(); ok {
			return d
		}
	}
	return k
}

// Limit decides a request of cost for key now, without blocking.
func (t *Throttled) Limit(ctx context.Context, key string, cost int64) (Result, error) {
	return t.l.Limit(ctx, t.key(key), cost)
}

// Peek returns key's state without consuming anything.
func (t *Throttled) Peek(ctx context.Context, key string) (State, error) {
	return t.l.Peek(ctx, t.key(key))
}

// Wait decides a request of cost for key, waiting and retrying while
// limited; see typed.Limiter.Wait.
func (t *Throttled) Wait(ctx context.Context, key string, cost int64) (Result, error) {
	return t.l.Wait(ctx, t.key(key), cost)
}

// Do runs fn when a request for key is allowed, else returns a
// *LimitedError; see typed.Limiter.Do.
func (t *Throttled) Do(ctx context.Context, key string, fn func(context.Context) error) error {
	return t.l.Do(ctx, t.key(key), fn)
}

// Reset forgets key's state.
func (t *Throttled) Reset(ctx context.Context, key string) error {
	return t.l.Reset(ctx, t.key(key))
}

// Wrap returns fn guarded by t on key: each call runs fn only when allowed
// and returns a *LimitedError otherwise (the seed's decorator).
func Wrap(t *Throttled, key string, fn func(context.Context) error) func(context.Context) error {
	return typed.Wrap(t.l, t.key(key), fn)
}
