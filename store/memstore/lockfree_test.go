package memstore

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// TestLockFreeLookupStress: decisions on held keys take only their
// entry's lock, looking the key up while other goroutines grow the index,
// shift its slots back (resets of other keys in the same shard) and sweep
// it. On a frozen clock a token bucket admits exactly its burst: every
// hot key must admit exactly that many requests in all, none lost to an
// entry moved or removed under a lookup, none admitted twice.
func TestLockFreeLookupStress(t *testing.T) {
	const (
		burst      = 500
		hot        = 4
		workers    = 8
		perWorker  = 400 // at least; workers·perWorker > hot·burst: every hot key is exhausted
		churnKeys  = 3000
		churnLoops = 3
	)
	ctx := context.Background()
	clk := store.NewFakeClock(t2025)
	s, err := New(WithClock(clk), WithShards(1), WithMaxSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	q := algo.PerMin(burst)
	q.Algorithm = algo.TokenBucket
	p, err := store.NewPolicy(q)
	if err != nil {
		t.Fatal(err)
	}
	other := algo.PerMin(burst)
	other.Algorithm = algo.FixedWindow
	po, err := store.NewPolicy(other)
	if err != nil {
		t.Fatal(err)
	}
	var allowed [hot]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Churn: insert many keys (the index grows and is rebuilt), reset
	// them (backward shifts around the hot keys' slots), sweep, and give
	// a hot key a second policy's state now and then (its slow path).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for loop := range churnLoops {
			for i := range churnKeys {
				k := fmt.Sprintf("churn:%d:%d", loop, i)
				if _, err := s.DecideOne(ctx, k, p, 1); err != nil {
					t.Error(err)
					return
				}
			}
			for i := range churnKeys {
				if err := s.Reset(ctx, fmt.Sprintf("churn:%d:%d", loop, i), []*store.Policy{p}); err != nil {
					t.Error(err)
					return
				}
			}
			s.strings.sweepAll(clk.Now())
			if _, err := s.Decide(ctx, fmt.Sprintf("hot:%d", loop%hot), []*store.Policy{po}, 1, nil); err != nil {
				t.Error(err)
				return
			}
		}
		close(stop)
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if i >= perWorker {
					select {
					case <-stop: // the churn is over: stop
						return
					default:
					}
				}
				k := (w + i) % hot
				d, err := s.DecideOne(ctx, fmt.Sprintf("hot:%d", k), p, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Limited {
					allowed[k].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for k := range allowed {
		if n := allowed[k].Load(); n != burst {
			t.Errorf("hot:%d admitted %d requests on a frozen clock, want exactly its burst %d", k, n, burst)
		}
		if d := peek(t, s, fmt.Sprintf("hot:%d", k), p); d.Remaining != 0 {
			t.Errorf("hot:%d: %+v after its burst, want Remaining 0", k, d)
		}
	}
}

// TestRemovedEntriesAreDead: every way a key leaves its shard (a reset of
// its last state, a sweep of its expired states, an eviction) empties its
// entry, so that a decision that found the entry without the shard's lock
// sees that it is no longer the key's (its first state is zero) and looks
// again under the lock.
func TestRemovedEntriesAreDead(t *testing.T) {
	ctx := context.Background()
	zero := store.PolicyID{}
	p := policy(t, algo.GCRA, algo.PerSec(10))

	s, clk := newTestStore(t, t2025, WithShards(1))
	decide(t, s, "reset", p, 1)
	e := s.strings.held("reset")
	if err := s.Reset(ctx, "reset", []*store.Policy{p}); err != nil {
		t.Fatal(err)
	}
	if e.first.id != zero || s.strings.held("reset") != nil {
		t.Errorf("after Reset: the old entry holds %+v and the shard %p, want a zero state and no entry", e.first, s.strings.held("reset"))
	}

	decide(t, s, "swept", p, 1)
	e = s.strings.held("swept")
	clk.Advance(time.Second)
	s.strings.sweepAll(clk.Now())
	if e.first.id != zero || s.strings.held("swept") != nil {
		t.Errorf("after a sweep: the old entry holds %+v, want a zero state and no entry", e.first)
	}

	s, _ = newTestStore(t, t2025, WithShards(1), WithMaxSize(1))
	decide(t, s, "old", p, 1)
	e = s.strings.held("old")
	decide(t, s, "new", p, 1) // the shard is full: "old" is evicted
	if e.first.id != zero || s.strings.held("old") != nil {
		t.Errorf("after an eviction: the old entry holds %+v, want a zero state and no entry", e.first)
	}
}

// TestHashCollisions: keys whose 64-bit hashes are equal (forced here; a
// random key makes them rare) keep states of their own, on the lookup
// without the shard's lock (which then compares keys) as on the locked
// one, through charges, peeks, resets and new keys.
func TestHashCollisions(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, t2025, WithShards(1))
	tbl := For[string](s)
	tbl.hash = func(string) uint64 { return 5<<32 | 1 } // every key: one hash, one shard, one home slot
	p := policy(t, algo.TokenBucket, algo.PerMin(2))
	keys := []string{"a", "b", "c", "d", "e", "f", "g"}
	for round := range 3 {
		for _, k := range keys {
			for i := range 3 {
				d, err := tbl.DecideOne(ctx, k, p, 1)
				if err != nil {
					t.Fatal(err)
				}
				if want := i == 2; d.Limited != want {
					t.Fatalf("round %d, %s request %d: %+v, want Limited %v (each key its own burst of 2)", round, k, i, d, want)
				}
			}
		}
		for _, k := range keys[round:] { // resets shift the run of equal hashes
			if err := tbl.Reset(ctx, k, []*store.Policy{p}); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range keys[:round] { // the others are still exhausted
			if d, err := tbl.DecideOne(ctx, k, p, 1); err != nil || !d.Limited {
				t.Fatalf("round %d, %s after the others' resets: %+v, %v; want Limited", round, k, d, err)
			}
			if err := tbl.Reset(ctx, k, []*store.Policy{p}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestNextExpStaysALowerBound: decisions that charge under their entry's
// lock alone while sweeps run keep the shard's nextExp at or below every
// state's expiry (a sweep raises it first and lowers it to what it found,
// as the decisions lower it to theirs), so a full shard never skips a
// sweep that would drop an expired state. Between sweeps the clock moves
// past the short policy's expiries, so a sweep finds none and only the
// decisions made during it can lower nextExp below the long ones.
func TestNextExpStaysALowerBound(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, t2025, WithShards(1))
	short := policy(t, algo.GCRA, algo.PerSec(1000)) // a charge expires 1 ms later
	long := policy(t, algo.GCRA, algo.PerHour(1000))
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		decide(t, s, keys[i], long, 1) // held, with a long expiry, first
	}
	var (
		wg   sync.WaitGroup
		gate sync.RWMutex // the checks stop the decisions
	)
	done := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				pol := long
				if i%3 == 0 {
					pol = short
				}
				gate.RLock()
				_, err := s.DecideOne(ctx, keys[(w*17+i)%len(keys)], pol, 1)
				gate.RUnlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	sh := &s.strings.shards[0]
	check := func(round int) {
		gate.Lock()
		defer gate.Unlock()
		sh.mu.Lock()
		defer sh.mu.Unlock()
		soonest := int64(math.MaxInt64)
		sh.idx.each(func(_ uint64, e *entry[string]) {
			e.mu.Lock()
			for i := range sh.states(e) {
				soonest = min(soonest, sh.stateAt(e, i).expireAt)
			}
			e.mu.Unlock()
		})
		if next := sh.nextExp.Load(); next > soonest {
			t.Fatalf("round %d: nextExp = %d, after the soonest expiry held %d: a lower bound no longer", round, next, soonest)
		}
	}
	for round := range 300 {
		clk.Advance(2 * time.Millisecond)
		s.strings.sweepAll(clk.Now())
		check(round)
	}
	close(done)
	wg.Wait()
}
