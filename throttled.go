package throttled

import (
	"context"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// Limiter is the rate limiter for string keys: typed.Limiter[string], the
// one limiter type of this module, under a shorter name. See typed.Limiter
// for its methods (Limit, Peek, Wait, Do, Reset, LimitAll, LimitAsync).
type Limiter = typed.Limiter[string]

// New returns a Limiter for string keys; see the options for the defaults
// (throttled-py's: token bucket, 60 per minute, burst = limit, cost 1, one
// shared in-process store). A bad option gives a *DataError naming the bad
// value.
func New(opts ...Option) (*Limiter, error) { return typed.New[string](opts...) }

// MustNew is New for package-level limiters; it panics on a bad option.
func MustNew(opts ...Option) *Limiter {
	l, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return l
}

// Wrap returns fn guarded by l on key, throttled-py's decorator: each call
// runs fn only when allowed and returns a *LimitedError otherwise.
func Wrap(l *Limiter, key string, fn func(context.Context) error) func(context.Context) error {
	return typed.Wrap(l, key, fn)
}

// Algorithm names a rate-limiting algorithm.
type Algorithm = algo.Algorithm

// The algorithms, with throttled-py's string names (Algorithm.String).
const (
	FixedWindow   = algo.FixedWindow   // "fixed_window"
	SlidingWindow = algo.SlidingWindow // "sliding_window"
	TokenBucket   = algo.TokenBucket   // "token_bucket"
	LeakingBucket = algo.LeakingBucket // "leaking_bucket"
	GCRA          = algo.GCRA          // "gcra"
)

// ParseAlgorithm returns the algorithm with a throttled-py name such as
// "gcra" or "leaking_bucket".
func ParseAlgorithm(name string) (Algorithm, error) { return algo.ParseAlgorithm(name) }

// Quota is a rate (Limit per Period) plus a burst, and optionally its own
// algorithm and a name; see algo.Quota.
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

// QuotaState is one quota's part in a decision of a limiter with several.
type QuotaState = typed.QuotaState

// Request is one request of a LimitAll batch.
type Request = typed.Request[string]

// Never is the RetryAfter of a request whose cost exceeds the capacity.
const Never = typed.Never

// LimitedError reports a denial from Do, Wrap or Wait.
type LimitedError = typed.LimitedError

// DataError reports an invalid input value; it matches ErrInvalid.
type DataError = algo.DataError

// Store is the contract of rate-limit stores for string keys (memory,
// Redis).
type Store = store.Store[string]

// Errors, matchable with errors.Is.
var (
	ErrInvalid     = algo.ErrInvalid      // invalid input; no state was touched
	ErrLimited     = typed.ErrLimited     // matches every *LimitedError
	ErrUnavailable = store.ErrUnavailable // the store could not be reached
	ErrScript      = store.ErrScript      // the store failed running a decision
)

// Option configures a Limiter.
type Option = typed.Option

// WithAlgorithm sets the algorithm of the quotas that name none (default
// TokenBucket).
func WithAlgorithm(a Algorithm) Option { return typed.WithAlgorithm(a) }

// WithQuota sets the limiter's one quota (default PerMin(60)).
func WithQuota(q Quota) Option { return typed.WithQuota(q) }

// WithQuotas sets several quotas: a request passes iff every quota admits
// it, and then each is charged; see typed.WithQuotas.
func WithQuotas(qs ...Quota) Option { return typed.WithQuotas(qs...) }

// WithQuotaFunc makes each key's quotas come from f (plans, tiers, limits
// from configuration); see typed.WithQuotaFunc.
func WithQuotaFunc(f func(ctx context.Context, key string) ([]Quota, error)) Option {
	return typed.WithQuotaFunc(f)
}

// WithStore sets the store (default: one in-process store shared by every
// limiter without WithStore).
func WithStore(s Store) Option { return typed.WithStore(s) }

// WithCost sets the cost of Do and Wrap (default 1).
func WithCost(n int64) Option { return typed.WithCost(n) }

// WithTimeout makes Do and Wrap wait and retry up to d, and bounds Wait
// (default 0: Do and Wrap decide at once, Wait waits until allowed).
func WithTimeout(d time.Duration) Option { return typed.WithTimeout(d) }

// WithDefaultKey sets the key used by every call given the empty key
// (throttled-py's key=). Without it, the empty key is invalid input.
func WithDefaultKey(key string) Option { return typed.WithDefaultKey(key) }

// Hook observes, and may wrap, every decision of a Limiter; see
// typed.Hook.
type Hook = typed.Hook[string]

// Call is one decision as a Hook sees it.
type Call = typed.Call[string]

// Next decides a Call; see typed.Next.
type Next = typed.Next

// WithHooks adds hooks, the first outermost; see typed.Hook.
func WithHooks(hooks ...Hook) Option { return typed.WithHooks(hooks...) }

// OutagePolicy is what a limiter does while its store is unavailable; see
// typed.WithOutagePolicy.
type OutagePolicy = typed.OutagePolicy

// The outage policies: fail every call the store cannot decide (the
// default), or allow it.
var (
	FailClosed = typed.FailClosed
	FailOpen   = typed.FailOpen
)

// FallBack decides the requests the store cannot decide on a local memory
// store, each quota divided by instances; see typed.FallBack.
func FallBack(instances int) OutagePolicy { return typed.FallBack(instances) }

// WithOutagePolicy sets what the limiter does while its store is
// unavailable (default FailClosed).
func WithOutagePolicy(p OutagePolicy) Option { return typed.WithOutagePolicy(p) }

// WithDenyCache denies a key again from memory, for up to max, while the
// store's last denial of it holds (default off); see typed.WithDenyCache.
func WithDenyCache(max time.Duration) Option { return typed.WithDenyCache(max) }

// Source says what decided a request: Result.Source.
type Source = typed.Source

// What decided a request.
const (
	FromStore    = typed.FromStore    // the store
	FromFallback = typed.FromFallback // FallBack's local store, the store being down
	FromFailOpen = typed.FromFailOpen // FailOpen, the store being down
)

// FromDenyCache: the deny cache decided, from an earlier denial of the
// store's (WithDenyCache).
const FromDenyCache = typed.FromDenyCache
