package typed

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// Limiter rate-limits keys of type K under one or more quotas. Build it
// with New; the zero Limiter is not usable. A Limiter is safe for
// concurrent use and holds no goroutines of its own.
type Limiter[K comparable] struct {
	set        *policySet // the quotas, compiled; nil with a quota func
	quotaFunc  func(context.Context, K) ([]algo.Quota, error)
	outage     *outage[K] // nil: fail closed
	hooks      []Hook[K]
	hookRuns   sync.Pool // of *hookRun[K]
	storeName  string    // for hooks
	cache      *policyCache
	alg        algo.Algorithm
	st         store.Store[K]
	batch      store.Batcher[K] // nil when st decides one request at a time
	clock      store.Clock      // the store's clock, when Wait sleeps on it
	sleeper    store.Sleeper    // the same clock's Sleep; nil: Wait sleeps on timers
	cost       int64
	timeout    time.Duration
	denies     *denyCache[K]
	one        store.SingleDecider[K] // the store, when Limit can take the fast lane (see fastLane)
	defaultKey K
	hasDefault bool
	stringKind bool // K is a string kind, whose empty value is refused
}

var (
	defaultStoreOnce sync.Once
	defaultStore     *memstore.Store
)

// DefaultStore returns the in-process store that limiters without
// WithStore share. It lives as long as the process and holds no goroutine.
func DefaultStore() *memstore.Store {
	defaultStoreOnce.Do(func() {
		s, err := memstore.New()
		if err != nil {
			panic("throttled: the default store: " + err.Error()) // no options: cannot happen
		}
		defaultStore = s
	})
	return defaultStore
}

// New returns a Limiter. Defaults, as throttled-py's: token bucket, 60 per
// minute with burst 60, cost 1, no timeout, the shared in-process store. A
// bad option gives a *algo.DataError (errors.Is(err, algo.ErrInvalid))
// naming the bad value.
func New[K comparable](opts ...Option) (*Limiter[K], error) {
	c := config{alg: algo.TokenBucket, quotas: []algo.Quota{algo.PerMin(60)}, cost: 1}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		o(&c)
	}
	if len(c.errs) > 0 {
		return nil, c.errs[0]
	}
	if !c.alg.Valid() {
		return nil, &algo.DataError{Name: "algorithm", Value: c.alg, Reason: "not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra"}
	}
	if err := storeutil.CheckCost(c.cost); err != nil {
		return nil, err
	}
	if c.timeout < 0 {
		return nil, &algo.DataError{Name: "timeout", Value: c.timeout, Reason: "must not be negative"}
	}
	l := &Limiter[K]{alg: c.alg, cost: c.cost, timeout: c.timeout, stringKind: reflect.TypeFor[K]().Kind() == reflect.String}
	if c.quotaFunc != nil {
		f, ok := c.quotaFunc.(func(context.Context, K) ([]algo.Quota, error))
		if !ok {
			return nil, &algo.DataError{Name: "quota func", Value: fmt.Sprintf("%T", c.quotaFunc), Reason: fmt.Sprintf("want func(context.Context, %s) ([]algo.Quota, error)", reflect.TypeFor[K]())}
		}
		l.quotaFunc, l.cache = f, &policyCache{alg: c.alg, outage: c.outage}
	} else {
		set, err := compile(c.alg, c.quotas, c.outage)
		if err != nil {
			return nil, err
		}
		l.set = set
	}
	if c.defaultKey != nil {
		k, ok := c.defaultKey.(K)
		if !ok {
			return nil, &algo.DataError{Name: "default key", Value: fmt.Sprintf("%v (%T)", c.defaultKey, c.defaultKey), Reason: fmt.Sprintf("want a %s", reflect.TypeFor[K]())}
		}
		var zero K
		if k == zero {
			return nil, &algo.DataError{Name: "default key", Value: fmt.Sprint(k), Reason: "must not be the zero value, which it stands for"}
		}
		l.defaultKey, l.hasDefault = k, true
	}
	st, err := storeFor[K](c)
	if err != nil {
		return nil, err
	}
	l.st = st
	l.batch, _ = st.(store.Batcher[K])
	if c.denyMax > 0 {
		l.denies = newDenyCache(st, c.denyMax)
	}
	if l.outage, err = newOutage(c.outage, st); err != nil {
		return nil, err
	}
	if c.hooks != nil {
		hs, ok := c.hooks.([]Hook[K])
		if !ok {
			return nil, &algo.DataError{Name: "hooks", Value: fmt.Sprintf("%T", c.hooks), Reason: fmt.Sprintf("want hooks of %s keys", reflect.TypeFor[K]())}
		}
		l.hooks, l.storeName = hs, storeName(st)
		l.hookRuns.New = func() any { return l.newHookRun() }
	}
	if cs, ok := st.(store.Clocked); ok {
		if sl, ok := cs.Clock().(store.Sleeper); ok {
			l.clock, l.sleeper = cs.Clock(), sl
		}
	}
	l.one = l.fastLane()
	return l, nil
}

// fastLane returns the store when a Limit is nothing but one store call:
// one fixed quota, no hooks, no deny cache, no outage policy, and a store
// that decides one policy without slices (store.SingleDecider: the memory
// store); nil otherwise. Limit then skips the general path's bookkeeping,
// which was a fifth of a memory decision; its results and errors are the
// general path's.
func (l *Limiter[K]) fastLane() store.SingleDecider[K] {
	if l.set == nil || len(l.set.ps) != 1 || l.hooks != nil || l.denies != nil || l.outage != nil {
		return nil
	}
	one, _ := l.st.(store.SingleDecider[K])
	return one
}

// storeFor returns the store a limiter of K decides on: the configured one,
// a string store behind K's encoding, or the default store's table for K.
func storeFor[K comparable](c config) (store.Store[K], error) {
	if !c.storeSet {
		if c.keyFunc != nil {
			if _, err := encoderFor[K](c.keyFunc); err != nil {
				return nil, err
			}
		}
		return memstore.For[K](DefaultStore()), nil
	}
	if storeutil.IsNil(c.store) {
		return nil, &algo.DataError{Name: "store", Value: "nil", Reason: "WithStore needs a store"}
	}
	if s, ok := c.store.(store.Store[K]); ok {
		if c.keyFunc != nil { // unused here, but a key func of the wrong type is a mistake
			if _, err := encoderFor[K](c.keyFunc); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	if s, ok := c.store.(store.Store[string]); ok {
		enc, err := encoderFor[K](c.keyFunc)
		if err != nil {
			return nil, err
		}
		return encoded[K]{s: s, enc: enc}, nil
	}
	return nil, &algo.DataError{Name: "store", Value: fmt.Sprintf("%T", c.store), Reason: fmt.Sprintf("keeps neither %s nor string keys", reflect.TypeFor[K]())}
}

// Quotas returns the limiter's quotas, each with its algorithm; nil when
// they come from a quota function.
func (l *Limiter[K]) Quotas() []algo.Quota {
	if l.set == nil {
		return nil
	}
	qs := make([]algo.Quota, len(l.set.ps))
	for i, p := range l.set.ps {
		qs[i] = p.Quota()
	}
	return qs
}

// Cost returns the cost of Do, Wrap and WrapFunc (WithCost, default 1).
func (l *Limiter[K]) Cost() int64 { return l.cost }

// Limit decides one request of cost for key now, without blocking. A denial
// is a Result with Limited set, not an error; errors are invalid input
// (algo.ErrInvalid), a done ctx or a store failure (store.ErrUnavailable,
// store.ErrScript), and then nothing was charged. Cost 0 is a peek.
func (l *Limiter[K]) Limit(ctx context.Context, key K, cost int64) (Result, error) {
	// Small enough to be inlined (TestLimitInlines): the caller's variable
	// is then the one limitInto fills, where a Result returned from a call
	// of its own is copied once more, 80 bytes read back right after they
	// were written (cmd/throttled-bench's one-key memory cells: 15-20 ns a
	// decision).
	var r Result
	err := l.limitInto(ctx, key, cost, &r)
	return r, err
}

// limitInto is Limit into r, which is zero on entry.
func (l *Limiter[K]) limitInto(ctx context.Context, key K, cost int64, r *Result) error {
	if l.one == nil {
		return l.limitAny(ctx, key, cost, r)
	}
	// The fast lane (see fastLane): the general path's checks, in its
	// order, then the store.
	key = l.keyOf(key)
	if err := l.checkKey(key); err != nil {
		return err
	}
	if err := storeutil.CheckCost(cost); err != nil {
		return err
	}
	p := l.set.ps[0]
	d, err := l.one.DecideOne(ctx, key, p, cost)
	if err != nil {
		return err
	}
	r.Limited, r.State, r.Quota = d.Limited, stateOf(p, d), &l.set.quotas[0]
	return nil
}

// limitAny is limitInto off the fast lane.
func (l *Limiter[K]) limitAny(ctx context.Context, key K, cost int64, r *Result) error {
	key = l.keyOf(key)
	if err := l.checkKey(key); err != nil {
		return err
	}
	// Refuse a negative cost before touching the store: a store.Store
	// written elsewhere may not check it.
	if err := storeutil.CheckCost(cost); err != nil {
		return err
	}
	set, err := l.policiesFor(ctx, key)
	if err != nil {
		return err
	}
	if l.hooks != nil {
		*r, err = l.hooked(ctx, Call[K]{Key: key, Cost: cost, Quotas: set.quotas, Store: l.storeName}, set, nil, nil)
		return err
	}
	return l.limit(ctx, key, set, cost, r)
}

// limit decides a checked request under set into r (left zero on an
// error): from the deny cache when it holds a denial for it, else as
// limitStore does. The Result is built in place: it is large, and copying
// it up each call level was a tenth of a memory decision's time.
func (l *Limiter[K]) limit(ctx context.Context, key K, set *policySet, cost int64, r *Result) error {
	if l.denies != nil && cost > 0 {
		return l.limitDenyCache(ctx, key, set, cost, r)
	}
	return l.limitStore(ctx, key, set, cost, r)
}

// limitStore decides a checked request under set on the store (or by the
// outage policy) into r.
func (l *Limiter[K]) limitStore(ctx context.Context, key K, set *policySet, cost int64, r *Result) error {
	if len(set.ps) == 1 {
		d, src, err := l.decide(ctx, key, set, cost, nil)
		if err != nil {
			return err
		}
		resultOf(set, d, nil, src, r)
		return nil
	}
	buf := eachPool.Get().(*[store.MaxPolicies]algo.Decision)
	defer eachPool.Put(buf)
	each := buf[:len(set.ps)]
	d, src, err := l.decide(ctx, key, set, cost, each)
	if err != nil {
		return err
	}
	resultOf(set, d, each, src, r)
	return nil
}

// eachPool holds the buffers the decisions of several quotas are written
// to: resultOf copies them out, so a Limit allocates only its Result's
// Quotas.
var eachPool = sync.Pool{New: func() any { return new([store.MaxPolicies]algo.Decision) }}

// Peek returns key's state without consuming anything: the state a
// request of cost 0 would report (Limit with cost 0 returns each quota's).
func (l *Limiter[K]) Peek(ctx context.Context, key K) (State, error) {
	r, err := l.Limit(ctx, key, 0)
	return r.State, err
}

// Reset forgets key's state under every quota of the limiter, so its next
// request sees a fresh key. Other limiters' quotas on the key are kept.
func (l *Limiter[K]) Reset(ctx context.Context, key K) error {
	key = l.keyOf(key)
	if err := l.checkKey(key); err != nil {
		return err
	}
	set, err := l.policiesFor(ctx, key)
	if err != nil {
		return err
	}
	if l.outage != nil && l.outage.fallback != nil {
		if err := l.outage.fallback.Reset(ctx, key, set.local); err != nil {
			return err
		}
	}
	if l.denies != nil {
		defer l.denies.forget(key, true) // after the store's Reset: see record
	}
	return l.st.Reset(ctx, key, set.ps)
}

// keyOf maps K's zero value to the default key, when one is set.
func (l *Limiter[K]) keyOf(key K) K {
	var zero K
	if l.hasDefault && key == zero {
		return l.defaultKey
	}
	return key
}

// checkKey refuses the empty key of a string kind K; other stores check
// their encoded keys themselves.
func (l *Limiter[K]) checkKey(key K) error {
	if l.stringKind && *(*string)(unsafe.Pointer(&key)) == "" { // K's kind is string
		return storeutil.CheckKey("")
	}
	return nil
}
