package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
)

// DefaultMaxSize is the default bound on the number of entries of a Store.
const DefaultMaxSize = 1 << 20

// DefaultSweepInterval is the default period of the janitor that drops
// expired entries.
const DefaultSweepInterval = time.Minute

// evictionSample is how many entries a full shard looks at to pick the live
// entry to evict.
const evictionSample = 8

// Store is an in-process store. Its zero value is not usable; call New.
// A Store is safe for concurrent use. Keys of different types live in
// separate tables (see For and Namespace), each bounded by WithMaxSize.
type Store struct {
	clock    clock.Clock
	maxSize  int
	nShards  int
	interval time.Duration

	strings *Table[string]
	tables  sync.Map // tableID → *Table of that key type

	mu     sync.Mutex
	all    []sweeper // every table, for the janitor
	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool

	liveEvictions atomic.Int64
}

// Stats reports a Store's counters.
type Stats struct {
	Entries       int   // entries held now, expired ones not yet dropped included
	LiveEvictions int64 // live entries evicted because a shard was full
}

// Option configures a Store.
type Option func(*Store)

// WithMaxSize bounds the number of entries of each table (default
// DefaultMaxSize). Values below the number of shards are raised to it.
func WithMaxSize(n int) Option { return func(s *Store) { s.maxSize = n } }

// WithClock sets the clock the store decides with (default the real
// clock). Tests pass a *clock.Fake.
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// WithShards sets the number of shards per key type (default 64; rounded
// up to a power of two).
func WithShards(n int) Option { return func(s *Store) { s.nShards = n } }

// WithSweepInterval sets how often the janitor drops expired entries
// (default DefaultSweepInterval); 0 or less disables the janitor, leaving
// expired entries to be dropped when their shard fills or their key is used.
func WithSweepInterval(d time.Duration) Option { return func(s *Store) { s.interval = d } }

// New returns a Store. Call Close when done with it to stop its janitor.
func New(opts ...Option) *Store {
	s := &Store{clock: clock.System, maxSize: DefaultMaxSize, nShards: 64, interval: DefaultSweepInterval}
	for _, o := range opts {
		o(s)
	}
	n := 1
	for n < s.nShards {
		n <<= 1
	}
	s.nShards = n
	s.maxSize = max(s.maxSize, n)
	s.strings = For[string](s)
	if s.interval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.janitor()
	}
	return s
}

// Close stops the janitor. The store stays usable. Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) || s.stop == nil {
		return nil
	}
	close(s.stop)
	<-s.done
	return nil
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	tables := append([]sweeper(nil), s.all...)
	s.mu.Unlock()
	st := Stats{LiveEvictions: s.liveEvictions.Load()}
	for _, t := range tables {
		st.Entries += t.len()
	}
	return st
}

// Decide implements store.Store for string keys; the empty key is invalid,
// as in every store.Store.
func (s *Store) Decide(ctx context.Context, key string, p *algo.Params, cost int64) (algo.Decision, error) {
	if err := store.CheckKey(key); err != nil {
		return algo.Decision{}, err
	}
	return s.strings.Decide(ctx, key, p, cost)
}

// Reset implements store.Store for string keys.
func (s *Store) Reset(ctx context.Context, key string, alg algo.Algorithm) error {
	if err := store.CheckKey(key); err != nil {
		return err
	}
	return s.strings.Reset(ctx, key, alg)
}

var _ store.Store = (*Store)(nil)

func (s *Store) janitor() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			tables := append([]sweeper(nil), s.all...)
			s.mu.Unlock()
			now := s.clock.Now()
			for _, tb := range tables {
				tb.sweepAll(now)
			}
		}
	}
}

type sweeper interface {
	sweepAll(now int64)
	len() int
}

// Table is a Store's table for keys of type K. Get it with For; it is safe
// for concurrent use and implements store.Keyed[K].
type Table[K comparable] struct {
	store  *Store
	hash   func(K) uint64 // picks the shard; see hasher
	mask   uint64
	shards []shard[K]
}

type entry struct {
	st       slots
	expireAt int64 // µs; the entry is absent from this time on
}

// algSlots bounds the algorithm values a shard keeps a map for.
const algSlots = 8

// shard holds one map per algorithm, keyed by K itself: a string K then
// takes the runtime's fast string-key path, which a struct key would not.
type shard[K comparable] struct {
	mu      sync.Mutex
	m       [algSlots]map[K]*entry // by algo.Algorithm; nil until used
	n       int                    // entries in all maps
	cap     int
	nextExp int64 // no entry expires before this time (a lower bound)
	_       [40]byte
}

func init() {
	for _, a := range algo.Algorithms {
		if int(a) >= algSlots {
			panic("memstore: algSlots is too small for " + a.String())
		}
	}
}

// For returns s's table for keys of type K, creating it on first use. All
// calls for the same K return the same table.
func For[K comparable](s *Store) *Table[K] { return Namespace[K](s, "") }

type tableID struct {
	typ       reflect.Type
	namespace string
}

// Namespace returns s's table for keys of type K in namespace ns, creating
// it on first use: tables of different namespaces never share a key.
func Namespace[K comparable](s *Store, ns string) *Table[K] {
	typ := tableID{reflect.TypeFor[K](), ns}
	if t, ok := s.tables.Load(typ); ok {
		return t.(*Table[K])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tables.Load(typ); ok {
		return t.(*Table[K])
	}
	t := &Table[K]{store: s, hash: hasher[K](maphash.MakeSeed()), mask: uint64(s.nShards - 1), shards: make([]shard[K], s.nShards)}
	per := max(1, s.maxSize/s.nShards)
	for i := range t.shards {
		t.shards[i].cap = per
	}
	s.tables.Store(typ, t)
	s.all = append(s.all, t)
	return t
}

// hasher returns the shard hash for K: maphash.String for string kinds (a
// direct call), maphash.Comparable otherwise.
func hasher[K comparable](seed maphash.Seed) func(K) uint64 {
	if reflect.TypeFor[K]().Kind() == reflect.String {
		return func(k K) uint64 { return maphash.String(seed, *(*string)(unsafe.Pointer(&k))) }
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
}

var _ store.Keyed[string] = (*Table[string])(nil)

func (t *Table[K]) shard(key K) *shard[K] { return &t.shards[t.shardIndex(key)] }

func (t *Table[K]) shardIndex(key K) uint64 { return t.hash(key) & t.mask }

// Decide implements store.Keyed: it runs p's algorithm for key at the
// store's current time. Cost 0 is a peek and writes nothing.
func (t *Table[K]) Decide(_ context.Context, key K, p *algo.Params, cost int64) (algo.Decision, error) {
	if err := store.CheckParams(p); err != nil {
		return algo.Decision{}, err
	}
	if err := store.CheckCost(cost); err != nil {
		return algo.Decision{}, err
	}
	now := t.store.clock.Now()
	if err := store.CheckTime(now); err != nil {
		return algo.Decision{}, err
	}
	sh := t.shard(key)
	sh.mu.Lock()
	d := t.decideLocked(sh, key, p, cost, now)
	sh.mu.Unlock()
	return d, nil
}

// decideLocked decides one request on sh, whose lock the caller holds.
func (t *Table[K]) decideLocked(sh *shard[K], key K, p *algo.Params, cost, now int64) algo.Decision {
	m := sh.m[p.Algorithm]
	e, ok := m[key]
	if !ok || e.expireAt <= now {
		var fresh slots
		d, exp, keep := step(&fresh, true, p, now, cost)
		if keep {
			if ok {
				e.st, e.expireAt = fresh, exp
			} else {
				sh.insert(t.store, p.Algorithm, key, &entry{st: fresh, expireAt: exp}, now)
			}
			sh.nextExp = min(sh.nextExp, exp)
		}
		// An expired entry that nothing replaced stays until a sweep drops
		// it: a read has no side effect, so with a clock that steps back a
		// Peek cannot make the key fresh early.
		return d
	}
	d, exp, keep := step(&e.st, false, p, now, cost)
	if keep {
		e.expireAt = exp
		sh.nextExp = min(sh.nextExp, exp)
	}
	return d
}

// Reset implements store.Keyed: it forgets key's state for alg.
func (t *Table[K]) Reset(_ context.Context, key K, alg algo.Algorithm) error {
	if !alg.Valid() {
		return &algo.DataError{Name: "algorithm", Value: alg, Reason: "not one of the five algorithms"}
	}
	sh := t.shard(key)
	sh.mu.Lock()
	sh.remove(alg, key)
	sh.mu.Unlock()
	return nil
}

// remove deletes an entry if present. Called with sh.mu held.
func (sh *shard[K]) remove(alg algo.Algorithm, key K) {
	if m := sh.m[alg]; m != nil {
		if _, ok := m[key]; ok {
			delete(m, key)
			sh.n--
		}
	}
}

// insert adds a new entry, making room first when the shard is full.
// Called with sh.mu held.
func (sh *shard[K]) insert(s *Store, alg algo.Algorithm, key K, e *entry, now int64) {
	if sh.n >= sh.cap {
		if now >= sh.nextExp {
			sh.sweep(now)
		}
		if sh.n >= sh.cap {
			sh.evictLive()
			s.liveEvictions.Add(1)
		}
	}
	if sh.m[alg] == nil {
		sh.m[alg] = make(map[K]*entry)
	}
	sh.m[alg][key] = e
	sh.n++
}

// sweep drops expired entries and makes nextExp exact. Called with sh.mu held.
func (sh *shard[K]) sweep(now int64) {
	next := int64(1<<63 - 1)
	for _, m := range sh.m {
		for k, e := range m {
			if e.expireAt <= now {
				delete(m, k)
				sh.n--
			} else {
				next = min(next, e.expireAt)
			}
		}
	}
	sh.nextExp = next
}

// evictLive drops, of a few entries, the one that expires soonest.
// Called with sh.mu held on a shard without expired entries.
func (sh *shard[K]) evictLive() {
	var victim K
	var victimMap map[K]*entry
	soonest, n := int64(1<<63-1), 0
	for _, m := range sh.m {
		for k, e := range m { // map iteration starts at a random place
			if e.expireAt < soonest {
				victim, victimMap, soonest = k, m, e.expireAt
			}
			if n++; n == evictionSample {
				break
			}
		}
		if n == evictionSample {
			break
		}
	}
	if victimMap != nil {
		delete(victimMap, victim)
		sh.n--
	}
}

func (t *Table[K]) sweepAll(now int64) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if now >= sh.nextExp {
			sh.sweep(now)
		}
		sh.mu.Unlock()
	}
}

func (t *Table[K]) len() int {
	n := 0
	for i := range t.shards {
		t.shards[i].mu.Lock()
		n += t.shards[i].n
		t.shards[i].mu.Unlock()
	}
	return n
}

// String describes the table, for debugging.
func (t *Table[K]) String() string {
	return fmt.Sprintf("memstore.Table[%s]{shards: %d}", reflect.TypeFor[K](), len(t.shards))
}
