package typed

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// Limiter rate-limits keys of type K. Build it with New; it is safe for
// concurrent use and holds no goroutines of its own.
type Limiter[K comparable] struct {
	params     algo.Params
	quota      algo.Quota
	backend    backend[K]
	cost       int64
	timeout    time.Duration
	defaultKey K
	hasDefault bool
	stringKind bool // K is a string kind, whose empty value is refused
}

var (
	defaultStoreOnce sync.Once
	defaultStore     *memstore.Store
)

// DefaultStore returns the in-process store that limiters without
// WithStore share. It lives as long as the process.
func DefaultStore() *memstore.Store {
	defaultStoreOnce.Do(func() { defaultStore = memstore.New() })
	return defaultStore
}

// New returns a Limiter. Defaults, as the seed's: token bucket, 60 per
// minute with burst 60, cost 1, no timeout, the shared in-process store.
// A bad option gives a *algo.DataError (errors.Is(err, algo.ErrInvalid))
// naming the bad value.
func New[K comparable](opts ...Option) (*Limiter[K], error) {
	c := config{alg: algo.TokenBucket, quota: algo.PerMin(60), cost: 1}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		o(&c)
	}
	p, err := algo.Compile(c.alg, c.quota)
	if err != nil {
		return nil, err
	}
	if err := store.CheckCost(c.cost); err != nil {
		return nil, err
	}
	if c.timeout < 0 {
		return nil, &algo.DataError{Name: "timeout", Value: c.timeout, Reason: "must not be negative"}
	}
	l := &Limiter[K]{params: p, quota: c.quota, cost: c.cost, timeout: c.timeout, stringKind: reflect.TypeFor[K]().Kind() == reflect.String}
	if c.defaultKey != nil {
		k, ok := c.defaultKey.(K)
		if !ok {
			return nil, &algo.DataError{Name: "default key", Value: fmt.Sprintf("%v (%T)", c.defaultKey, c.defaultKey), Reason: fmt.Sprintf("want a %s", reflect.TypeFor[K]())}
		}
		if isEmptyString(k) {
			return nil, &algo.DataError{Name: "default key", Value: "", Reason: "must be a non-empty string"}
		}
		l.defaultKey, l.hasDefault = k, true
	}
	var s any = c.store
	if !c.storeSet {
		s = DefaultStore()
	}
	switch s := s.(type) {
	case *memstore.Store:
		if s == nil {
			return nil, &algo.DataError{Name: "store", Value: "nil", Reason: "WithStore needs a store"}
		}
		// The memory store keys by K and never calls the key func, but a
		// key func of the wrong type is a mistake whatever the store.
		if c.keyFunc != nil {
			if _, err := encoderFor[K](c.keyFunc); err != nil {
				return nil, err
			}
		}
		l.backend = memstore.Namespace[K](s, c.prefix)
	case store.Store:
		if reflect.ValueOf(s).Kind() == reflect.Pointer && reflect.ValueOf(s).IsNil() {
			return nil, &algo.DataError{Name: "store", Value: "nil", Reason: "WithStore needs a store"}
		}
		enc, err := encoderFor[K](c.keyFunc)
		if err != nil {
			return nil, err
		}
		l.backend = encoded[K]{s: s, enc: enc, prefix: c.prefix}
	default:
		return nil, &algo.DataError{Name: "store", Value: "nil", Reason: "WithStore needs a store"}
	}
	return l, nil
}

// Algorithm returns the limiter's algorithm.
func (l *Limiter[K]) Algorithm() algo.Algorithm { return l.params.Algorithm }

// Quota returns the limiter's quota.
func (l *Limiter[K]) Quota() algo.Quota { return l.quota }

// DefaultKey returns the key set by DefaultKey, and whether one was set.
func (l *Limiter[K]) DefaultKey() (K, bool) { return l.defaultKey, l.hasDefault }

// Cost returns the cost set by WithCost (default 1).
func (l *Limiter[K]) Cost() int64 { return l.cost }

// Limit decides one request of cost for key now, without blocking. A denial
// is a Result with Limited set, not an error; errors are invalid input
// (algo.ErrInvalid) or store failures (store.ErrUnavailable, store.ErrScript).
func (l *Limiter[K]) Limit(ctx context.Context, key K, cost int64) (Result, error) {
	if err := l.checkKey(key); err != nil {
		return Result{}, err
	}
	// Refuse a negative cost before touching the store: a store.Store
	// written elsewhere may not check it.
	if cost < 0 {
		return Result{}, store.CheckCost(cost)
	}
	d, err := l.backend.Decide(ctx, key, &l.params, cost)
	if err != nil {
		return Result{}, err
	}
	return resultOf(&l.params, d), nil
}

// Peek returns key's state without consuming anything: the state a
// request of cost 0 would report.
func (l *Limiter[K]) Peek(ctx context.Context, key K) (State, error) {
	r, err := l.Limit(ctx, key, 0)
	return r.State, err
}

// Reset forgets key's state, so its next request sees a fresh key.
func (l *Limiter[K]) Reset(ctx context.Context, key K) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	return l.backend.Reset(ctx, key, l.params.Algorithm)
}

// Wait decides a request of cost for key, waiting and retrying while it is
// limited. It keeps one deadline, the earlier of ctx's and now+WithTimeout
// (when set). While limited, if RetryAfter goes past the deadline it
// returns at once with the last Result and a *LimitedError; otherwise it
// sleeps exactly RetryAfter and tries again. A cost that can never pass
// (RetryAfter Never) returns at once. If ctx is done while sleeping it
// returns the last Result and ctx's error. With neither a timeout nor a ctx
// deadline it waits until allowed.
func (l *Limiter[K]) Wait(ctx context.Context, key K, cost int64) (Result, error) {
	return l.wait(ctx, key, cost, l.timeout)
}

func (l *Limiter[K]) wait(ctx context.Context, key K, cost int64, timeout time.Duration) (Result, error) {
	deadline, hasDeadline := ctx.Deadline()
	if timeout > 0 {
		if d := time.Now().Add(timeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline = d, true
		}
	}
	var timer *time.Timer
	for {
		res, err := l.Limit(ctx, key, cost)
		if err != nil || !res.Limited {
			return res, err
		}
		retry := res.State.RetryAfter
		if retry == Never || (hasDeadline && time.Until(deadline) < retry) {
			return res, &LimitedError{Result: res}
		}
		if timer == nil {
			timer = time.NewTimer(retry)
			defer timer.Stop()
		} else {
			timer.Reset(retry)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-timer.C:
		}
	}
}

// Do runs fn when a request of the limiter's cost (WithCost, default 1) for
// key is allowed, the scoped-call analogue of the seed's context manager.
// With WithTimeout it waits and retries as Wait does, else it decides at
// once. When limited it returns a *LimitedError and does not run fn; other
// errors are the limiter's or fn's.
func (l *Limiter[K]) Do(ctx context.Context, key K, fn func(context.Context) error) error {
	if fn == nil {
		return &algo.DataError{Name: "function", Value: "nil", Reason: "Do needs a function to run"}
	}
	if err := l.acquire(ctx, key); err != nil {
		return err
	}
	return fn(ctx)
}

// acquire decides one request of the limiter's cost as Do does.
func (l *Limiter[K]) acquire(ctx context.Context, key K) error {
	if l.timeout > 0 {
		_, err := l.wait(ctx, key, l.cost, l.timeout)
		return err
	}
	res, err := l.Limit(ctx, key, l.cost)
	if err != nil {
		return err
	}
	if res.Limited {
		return &LimitedError{Result: res}
	}
	return nil
}

// Wrap returns fn guarded by l on key, the decorator analogue: each call
// first acquires as Do does and returns a *LimitedError without calling fn
// when limited.
func Wrap[K comparable](l *Limiter[K], key K, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return l.Do(ctx, key, fn) }
}

// WrapFunc returns fn guarded by l, keyed by its argument through keyOf:
// each call first acquires for keyOf(arg) as Do does and returns the zero R
// and a *LimitedError without calling fn when limited.
func WrapFunc[K comparable, A, R any](l *Limiter[K], keyOf func(A) K, fn func(context.Context, A) (R, error)) func(context.Context, A) (R, error) {
	return func(ctx context.Context, arg A) (R, error) {
		var zero R
		// As Do: a nil function is invalid input, refused before a token
		// is taken.
		if keyOf == nil {
			return zero, &algo.DataError{Name: "key function", Value: "nil", Reason: "WrapFunc needs a function from argument to key"}
		}
		if fn == nil {
			return zero, &algo.DataError{Name: "function", Value: "nil", Reason: "WrapFunc needs a function to run"}
		}
		if err := l.acquire(ctx, keyOf(arg)); err != nil {
			return zero, err
		}
		return fn(ctx, arg)
	}
}

// backend is what a limiter decides with: a memory store table, or a
// string store behind encoded.
type backend[K comparable] interface {
	store.Keyed[K]
	store.Batcher[K]
}

// checkKey refuses the empty key of a string kind K; other stores check
// their encoded keys themselves.
func (l *Limiter[K]) checkKey(key K) error {
	if l.stringKind && *(*string)(unsafe.Pointer(&key)) == "" { // K's kind is string
		return store.CheckKey("")
	}
	return nil
}

// encoded adapts a string store to keys of type K.
type encoded[K comparable] struct {
	s      store.Store
	enc    func(K) (string, error)
	prefix string
}

func (e encoded[K]) key(k K) (string, error) {
	s, err := e.enc(k)
	if err != nil {
		return "", &algo.DataError{Name: "key", Value: fmt.Sprint(k), Reason: "cannot be encoded: " + err.Error()}
	}
	if s == "" {
		return "", &algo.DataError{Name: "key", Value: fmt.Sprint(k), Reason: "encodes to an empty string"}
	}
	return e.prefix + s, nil
}

func (e encoded[K]) Decide(ctx context.Context, k K, p *algo.Params, cost int64) (algo.Decision, error) {
	s, err := e.key(k)
	if err != nil {
		return algo.Decision{}, err
	}
	return e.s.Decide(ctx, s, p, cost)
}

func (e encoded[K]) Reset(ctx context.Context, k K, alg algo.Algorithm) error {
	s, err := e.key(k)
	if err != nil {
		return err
	}
	return e.s.Reset(ctx, s, alg)
}
