package memstore

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// DefaultMaxSize is the default bound on the number of keys of each table.
const DefaultMaxSize = 1 << 20

// DefaultShards is the default number of shards of each table.
const DefaultShards = 64

// MaxShards bounds WithShards.
const MaxShards = 1 << 16

// evictionSample is how many keys a full shard looks at to pick the live
// key to evict.
const evictionSample = 8

// Store is an in-process store. Build it with New; the zero Store is not
// usable. A Store is safe for concurrent use and holds no goroutine, so it
// needs no closing: expired state is dropped as keys are written.
//
// A Store keeps string keys itself (it implements store.Store[string]) and
// keys of any other comparable type K in a table of its own, For[K].
type Store struct {
	clock   store.Clock
	real    *clock.Real // clock, when it is the system clock: read without an interface call
	maxSize int
	nShards int

	strings *Table[string]
	tables  sync.Map // reflect.Type → *Table of that key type

	mu  sync.Mutex
	all []counter // every table, for Stats

	liveEvictions atomic.Int64
}

// Stats reports a Store's counters.
type Stats struct {
	Keys          int   // keys held now, across tables; expired ones not yet dropped included
	LiveEvictions int64 // keys with live state evicted because their shard was full
}

// Option configures a Store.
type Option func(*Store) error

// WithMaxSize bounds the number of keys of each table (default
// DefaultMaxSize), split evenly across its shards; n must be at least 1.
// Values below the number of shards are raised to it.
func WithMaxSize(n int) Option {
	return func(s *Store) error {
		if n < 1 {
			return &algo.DataError{Name: "max size", Value: n, Reason: "must be at least 1"}
		}
		s.maxSize = n
		return nil
	}
}

// WithClock sets the clock the store decides with (default
// store.SystemClock()). Tests pass a store.FakeClock; a store.CoarseClock
// makes decisions cheaper and up to one tick late.
func WithClock(c store.Clock) Option {
	return func(s *Store) error {
		if storeutil.IsNil(c) {
			return &algo.DataError{Name: "clock", Value: "nil", Reason: "WithClock needs a clock"}
		}
		s.clock = c
		return nil
	}
}

// WithShards sets the number of shards of each table (default
// DefaultShards; 1 to MaxShards, rounded up to a power of two). More shards
// mean less lock contention between goroutines.
func WithShards(n int) Option {
	return func(s *Store) error {
		if n < 1 || n > MaxShards {
			return &algo.DataError{Name: "shards", Value: n, Reason: fmt.Sprintf("must be 1 to %d", MaxShards)}
		}
		s.nShards = n
		return nil
	}
}

// New returns a Store. A bad option gives a *algo.DataError naming it.
func New(opts ...Option) (*Store, error) {
	s := &Store{clock: store.SystemClock(), maxSize: DefaultMaxSize, nShards: DefaultShards}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	n := 1
	for n < s.nShards {
		n <<= 1
	}
	s.nShards = n
	s.maxSize = max(s.maxSize, n)
	s.real, _ = s.clock.(*clock.Real)
	s.strings = For[string](s)
	return s, nil
}

// Clock returns the clock the store decides with (store.Clocked).
func (s *Store) Clock() store.Clock { return s.clock }

// now reads the store's clock, the system clock's without an interface
// call.
func (s *Store) now() int64 {
	if s.real != nil {
		return s.real.Now()
	}
	return s.clock.Now()
}

// Name returns "memory", the store's name in hooks and metrics.
func (s *Store) Name() string { return "memory" }

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	tables := append([]counter(nil), s.all...)
	s.mu.Unlock()
	st := Stats{LiveEvictions: s.liveEvictions.Load()}
	for _, t := range tables {
		st.Keys += t.len()
	}
	return st
}

// Decide implements store.Store for string keys; the empty key is invalid.
func (s *Store) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if err := check(ctx, ps, cost, each); err != nil {
		return algo.Decision{}, err
	}
	if err := storeutil.CheckKey(key); err != nil {
		return algo.Decision{}, err
	}
	return s.strings.decide(key, ps, cost, each)
}

// DecideOne implements store.SingleDecider for string keys: Decide with
// the one policy p.
func (s *Store) DecideOne(ctx context.Context, key string, p *store.Policy, cost int64) (algo.Decision, error) {
	if err := checkOne(ctx, p, cost); err != nil {
		return algo.Decision{}, err
	}
	if key == "" {
		return algo.Decision{}, storeutil.CheckKey(key)
	}
	return s.strings.decideOne(key, p, cost)
}

// Reset implements store.Store for string keys.
func (s *Store) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	if err := storeutil.CheckContext(ctx); err != nil {
		return err
	}
	if err := storeutil.CheckKey(key); err != nil {
		return err
	}
	return s.strings.Reset(ctx, key, ps)
}

var (
	_ store.Store[string]         = (*Store)(nil)
	_ store.SingleDecider[string] = (*Store)(nil)
	_ store.Clocked               = (*Store)(nil)
)

type counter interface{ len() int }

// Table is a Store's table for keys of type K, keyed by K itself (no string
// is built). Get it with For; it is safe for concurrent use and implements
// store.Store[K] and store.Batcher[K].
type Table[K comparable] struct {
	store  *Store
	hash   func(K) uint64 // picks the shard (storeutil.Hasher)
	mask   uint64
	shards []shard[K]
}

// For returns s's table for keys of type K, creating it on first use. All
// calls for the same K return the same table; For[string] is the table the
// Store itself uses (without its refusal of the empty key).
func For[K comparable](s *Store) *Table[K] {
	typ := reflect.TypeFor[K]()
	if t, ok := s.tables.Load(typ); ok {
		return t.(*Table[K])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tables.Load(typ); ok {
		return t.(*Table[K])
	}
	t := &Table[K]{store: s, hash: storeutil.Hasher[K](), mask: uint64(s.nShards - 1), shards: make([]shard[K], s.nShards)}
	per := max(1, s.maxSize/s.nShards)
	for i := range t.shards {
		t.shards[i].cap = per
	}
	s.tables.Store(typ, t)
	s.all = append(s.all, t)
	return t
}

var (
	_ store.Store[int]         = (*Table[int])(nil)
	_ store.Batcher[int]       = (*Table[int])(nil)
	_ store.SingleDecider[int] = (*Table[int])(nil)
	_ store.Clocked            = (*Table[int])(nil)
)

// Clock returns the store's clock (store.Clocked).
func (t *Table[K]) Clock() store.Clock { return t.store.clock }

// Name returns "memory", the store's name in hooks and metrics.
func (t *Table[K]) Name() string { return "memory" }

func (t *Table[K]) shardIndex(key K) uint64 { return t.hash(key) & t.mask }

// lookup returns key's hash and shard.
func (t *Table[K]) lookup(key K) (uint64, *shard[K]) {
	h := t.hash(key)
	return h, &t.shards[h&t.mask]
}

// Decide implements store.Store: it decides a request of cost for key under
// every policy of ps at the store's current time, under one lock.
func (t *Table[K]) Decide(ctx context.Context, key K, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if err := check(ctx, ps, cost, each); err != nil {
		return algo.Decision{}, err
	}
	return t.decide(key, ps, cost, each)
}

// decide is Decide on checked input.
func (t *Table[K]) decide(key K, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	now := t.store.now()
	if err := storeutil.CheckTime(now); err != nil {
		return algo.Decision{}, err
	}
	h, sh := t.lookup(key)
	sh.lock()
	d := sh.decide(t.store, key, h, ps, cost, now, each)
	sh.mu.Unlock()
	return d, nil
}

// DecideOne implements store.SingleDecider: Decide with the one policy p.
func (t *Table[K]) DecideOne(ctx context.Context, key K, p *store.Policy, cost int64) (algo.Decision, error) {
	if err := checkOne(ctx, p, cost); err != nil {
		return algo.Decision{}, err
	}
	return t.decideOne(key, p, cost)
}

// decideOne is DecideOne on checked input: decide without the slices.
func (t *Table[K]) decideOne(key K, p *store.Policy, cost int64) (algo.Decision, error) {
	h, sh := t.lookup(key)
	// A key the index holds is decided under its entry's lock alone when
	// its first state is the policy's; the lookup without the shard's lock
	// may miss a key being moved, or find one being removed (its first
	// state is then zero): the shard's lock settles both. The clock is
	// read between the index's lookup and the entry's first read: its
	// fence then waits for the index's cache miss but not the entry's,
	// which comes right before the entry's lock: under contention the
	// entry's cache line is then still on this core when the lock is taken.
	e := sh.idx.candidate(h)
	var now int64
	if r := t.store.real; r != nil { // t.store.now(), inlined (it is too large to be)
		now = r.Now()
	} else {
		now = t.store.clock.Now()
	}
	if err := storeutil.CheckTime(now); err != nil {
		return algo.Decision{}, err
	}
	if e != nil && e.key != key { // another key of the same hash
		e = sh.idx.get(h, key)
	}
	if e != nil {
		if !e.mu.TryLock() { // spinLock, inlined
			spinLockSlow(&e.mu)
		}
		if e.first.id == p.ID() { // so e is live; other policies' states need sh.mu
			d := sh.stepIn(&e.first, p, cost, now)
			e.mu.Unlock()
			return d, nil
		}
		e.mu.Unlock()
	}
	sh.lock()
	d := sh.decide(t.store, key, h, []*store.Policy{p}, cost, now, nil)
	sh.mu.Unlock()
	return d, nil
}

// checkOne is check for one policy: the errors Decide gives for []{p}.
func checkOne(ctx context.Context, p *store.Policy, cost int64) error {
	if err := storeutil.CheckContext(ctx); err != nil {
		return err
	}
	if p == nil || !p.Algorithm().Valid() {
		return storeutil.CheckPolicies([]*store.Policy{p})
	}
	return storeutil.CheckCost(cost)
}

// check validates a call's shared inputs, ctx first.
func check(ctx context.Context, ps []*store.Policy, cost int64, each []algo.Decision) error {
	if err := storeutil.CheckContext(ctx); err != nil {
		return err
	}
	if err := storeutil.CheckPolicies(ps); err != nil {
		return err
	}
	if err := storeutil.CheckEach(each, len(ps)); err != nil {
		return err
	}
	return storeutil.CheckCost(cost)
}

// Reset implements store.Store: it forgets key's state under every policy
// of ps.
func (t *Table[K]) Reset(ctx context.Context, key K, ps []*store.Policy) error {
	if err := storeutil.CheckContext(ctx); err != nil {
		return err
	}
	if err := storeutil.CheckPolicies(ps); err != nil {
		return err
	}
	h, sh := t.lookup(key)
	sh.lock()
	if e := sh.idx.get(h, key); e != nil {
		spinLock(&e.mu)
		for _, p := range ps {
			if sh.remove(e, p.ID()) { // the last state: e is dead
				sh.idx.remove(h, key)
				break
			}
		}
		e.mu.Unlock()
	}
	sh.mu.Unlock()
	return nil
}

func (t *Table[K]) len() int {
	n := 0
	for i := range t.shards {
		t.shards[i].mu.Lock()
		n += t.shards[i].idx.n
		t.shards[i].mu.Unlock()
	}
	return n
}

// String describes the table, for debugging.
func (t *Table[K]) String() string {
	return fmt.Sprintf("memstore.Table[%s]{shards: %d}", reflect.TypeFor[K](), len(t.shards))
}
