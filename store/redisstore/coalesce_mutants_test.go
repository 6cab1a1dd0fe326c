package redisstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// groupCount returns how many groups s's coalescer holds, and its sweep
// limit.
func groupCount(s *Store) (n, limit int) {
	s.co.mu.Lock()
	defer s.co.mu.Unlock()
	return len(s.co.groups), s.co.limit
}

// TestCoalescerSweepsAtTheLimit checks when idle groups are forgotten: not
// while there are fewer than sweepAt, and all of them (none gathering,
// none queued) when the group after the sweepAt-th is added, after which
// the limit stays sweepAt.
func TestCoalescerSweepsAtTheLimit(t *testing.T) {
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	for i := range sweepAt {
		decide(t, s, "k", pol(t, algo.FixedWindow, algo.PerSec(int64(i+1))), 1)
	}
	if n, limit := groupCount(s); n != sweepAt || limit != sweepAt {
		t.Fatalf("%d groups, limit %d after %d policy sets; want every one kept, limit %d", n, limit, sweepAt, sweepAt)
	}
	decide(t, s, "k", pol(t, algo.FixedWindow, algo.PerSec(sweepAt+1)), 1)
	if n, limit := groupCount(s); n != 1 || limit != sweepAt {
		t.Errorf("%d groups, limit %d after one more; want the idle ones forgotten (1 left), limit %d", n, limit, sweepAt)
	}
}

// TestCoalescerBusyGroupsSurviveSweep checks that a sweep keeps a group
// that is gathering, and that the limit then stays sweepAt (twice
// the groups kept is less).
func TestCoalescerBusyGroupsSurviveSweep(t *testing.T) {
	ctx := deadline(t, 30*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	busy := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(5))}
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == 1 && keys[0] == s.Key("hold", busy[0]) { // the gathering
			return release
		}
		return nil
	})
	held := g.lead(t, s, "hold", busy, 1)
	for i := range sweepAt { // the busy group and sweepAt-1 idle ones, then one more
		decide(t, s, "k", pol(t, algo.FixedWindow, algo.PerSec(int64(i+1))), 1)
	}
	if n, limit := groupCount(s); n != 2 || limit != sweepAt {
		t.Errorf("%d groups, limit %d; want the busy one and the newest, limit %d", n, limit, sweepAt)
	}
	close(release)
	if o := recv(t, ctx, held, "the held call"); o.err != nil {
		t.Fatal(o.err)
	}
	s.co.mu.Lock()
	_, kept := s.co.groups[groupKey{ids: [store.MaxPolicies]store.PolicyID{busy[0].ID()}}]
	s.co.mu.Unlock()
	if !kept {
		t.Error("the gathering group was forgotten")
	}
}

// TestCoalescerIdleAfterReturn checks that a Decide returns with its
// group idle again (not gathering, nothing queued): one caller at a time
// never joins a gathering of its own previous call.
func TestCoalescerIdleAfterReturn(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	g := newGate(ctx, s, nil)
	p := pol(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 300 {
		decide(t, s, "k", p, 1)
		s.co.mu.Lock()
		for _, gr := range s.co.groups {
			if !gr.idle() {
				s.co.mu.Unlock()
				t.Fatalf("after Decide %d returned: gathering %v, %d queued, %d calls in flight; want the group idle", i, gr.gathering, len(gr.queue), gr.inflight)
			}
		}
		s.co.mu.Unlock()
	}
	if n := len(g.queued); n != 0 {
		t.Errorf("%d sequential Decides queued", n)
	}
	if n := len(g.sent()); n != 300 {
		t.Errorf("%d calls sent, want 300, one per Decide", n)
	}
}

// TestCoalescedCallKeyLimit checks that a coalesced call carries no more
// than 256 keys, the policies counted: under 8 policies 32 requests a
// call, even with a larger WithCoalescing (the gatherer and 40 more go
// out as calls of 32 and 9).
func TestCoalescedCallKeyLimit(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	var ps []*store.Policy
	for i := range store.MaxPolicies {
		ps = append(ps, pol(t, algo.FixedWindow, algo.PerSec(int64(100+i))))
	}
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == len(ps) && keys[0] == s.Key("hold", ps[0]) {
			return release
		}
		return nil
	})
	outs := []<-chan outcome{g.lead(t, s, "hold", ps, 1)}
	const queued = 40
	for i := range queued {
		outs = append(outs, g.enqueue(t, ctx, s, fmt.Sprint("k", i), ps, 1, i+1))
	}
	close(release)
	for i, ch := range outs {
		o := recv(t, ctx, ch, fmt.Sprint("request ", i))
		if o.err != nil || o.d.Limited || len(o.each) != len(ps) {
			t.Fatalf("request %d: %+v", i, o)
		}
		for j, d := range o.each {
			if d.Limited || d.Remaining != 100+int64(j)-1 {
				t.Errorf("request %d, policy %d: %+v, want allowed with %d left", i, j, d, 100+j-1)
			}
		}
	}
	var sizes []int
	for _, call := range g.sent() {
		sizes = append(sizes, len(call))
	}
	slices.Sort(sizes) // the calls go out at once, in any order
	if want := []int{(queued + 1 - 32) * 8, 32 * 8}; !slices.Equal(sizes, want) {
		t.Errorf("calls of %v keys, want %v", sizes, want)
	}
}

// TestCoalescedCallTimeout checks that a coalesced call is bounded by
// WithTimeout: on a server that does not answer, the call and every
// request in it fail with store.ErrUnavailable matching
// context.DeadlineExceeded once the timeout is up, though no caller's ctx
// has ended.
func TestCoalescedCallTimeout(t *testing.T) {
	ctx := deadline(t, 30*time.Second)
	srv := redistest.Standalone(t)
	const timeout = 300 * time.Millisecond
	s := mustNew(t, newClient(t, srv.Addr()), WithTimeout(timeout), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerSec(10))}
	decide(t, s, "warm", ps[0], 1)
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == 1 && keys[0] == s.Key("hold", ps[0]) { // the gathering
			return release
		}
		return nil
	})
	outs := []<-chan outcome{
		g.lead(t, s, "hold", ps, 1),
		g.enqueue(t, ctx, s, "a", ps, 1, 1),
		g.enqueue(t, ctx, s, "b", ps, 1, 2),
	}
	srv.Do(t, "CLIENT", "PAUSE", "25000", "WRITE")
	t.Cleanup(func() { srv.Do(t, "CLIENT", "UNPAUSE") })
	close(release)
	keys := recv(t, ctx, g.sending, "the coalesced call")
	if want := []string{s.Key("hold", ps[0]), s.Key("a", ps[0]), s.Key("b", ps[0])}; !slices.Equal(keys, want) {
		t.Fatalf("the coalesced call has keys %q, want %q", keys, want)
	}
	soon, cancel := context.WithTimeout(ctx, 20*timeout)
	defer cancel()
	if err := recv(t, soon, g.returned, "the coalesced call to time out"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the coalesced call returned %v, want context.DeadlineExceeded", err)
	}
	for i, ch := range outs {
		err := recv(t, soon, ch, "a request of the call that timed out").err
		wantUnavailable(t, "a request of the call that timed out", err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("request %d: %v does not match context.DeadlineExceeded", i, err)
		}
	}
}

// TestCoalescingYields checks that a Decide starting a gathering while its
// group has a call in flight yields its processor, so that the goroutines
// ready to run join it: on one processor, of eight goroutines made ready
// at once the first goes alone (nothing in flight: no yield) and the seven
// others as one call (with no yield, each would run to its round trip
// first and go alone: eight calls).
func TestCoalescingYields(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// Without -race the calls are always of 1, then 7. The race detector's
	// scheduler shuffles who runs next, which can let the first call
	// return before the others start, so that each goes alone: up to five
	// tries then (each a fresh store), one of which must coalesce.
	var tries [][]int
	for range 5 {
		s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
		decide(t, s, "warm", ps[0], 1)
		var mu sync.Mutex
		var sizes []int
		s.co.hooks = &coalesceHooks{send: func(keys []string) {
			mu.Lock()
			sizes = append(sizes, len(keys))
			mu.Unlock()
		}}
		begin := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				<-begin
				_, err := s.Decide(ctx, fmt.Sprint("k", i), ps, 1, nil)
				errs <- err
			})
		}
		close(begin)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sum := 0
		for _, k := range sizes {
			sum += k
		}
		if sum != 8 {
			t.Fatalf("eight goroutines' calls carried %v keys", sizes)
		}
		tries = append(tries, sizes)
		if len(sizes) <= 4 {
			return
		}
	}
	t.Errorf("eight goroutines ready at once went out as calls of %v keys (five tries), want some in at most 4 calls (1, then 7)", tries)
}

// TestCoalescerYieldsOnlyWhenBusy checks that a gathering would yield
// only while its group is busy: a caller alone (one Decide after the
// other) never does, one that arrives while another's call is out does,
// and the group is idle again once both returned.
func TestCoalescerYieldsOnlyWhenBusy(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	release := make(chan struct{})
	var asked atomic.Int32
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		// held's gathering goes on (nobody joins), its call is held.
		if keys[0] == s.Key("held", ps[0]) && asked.Add(1) == 2 {
			return release
		}
		return nil
	})
	for range 5 {
		decide(t, s, "alone", ps[0], 1)
		recv(t, ctx, g.gathering, "a gathering")
		recv(t, ctx, g.sending, "a call")
	}
	g.mu.Lock()
	alone := slices.Clone(g.busy)
	g.mu.Unlock()
	if !slices.Equal(alone, []bool{false, false, false, false, false}) {
		t.Fatalf("five Decides one after the other would have yielded: %v, want never", alone)
	}
	held := start(ctx, s, "held", ps, 1)
	recv(t, ctx, g.gathering, "the gathering of held")
	recv(t, ctx, g.sending, "the call of held") // held at send: it is in flight
	other := start(ctx, s, "other", ps, 1)
	recv(t, ctx, g.gathering, "the gathering of other")
	g.mu.Lock()
	busy := g.busy[len(g.busy)-1]
	g.mu.Unlock()
	if !busy {
		t.Error("a Decide arriving while its group's call is in flight would not have yielded")
	}
	if o := recv(t, ctx, other, "other"); o.err != nil {
		t.Fatal(o.err)
	}
	close(release)
	if o := recv(t, ctx, held, "held"); o.err != nil {
		t.Fatal(o.err)
	}
	s.co.mu.Lock()
	defer s.co.mu.Unlock()
	for _, gr := range s.co.groups {
		if !gr.idle() {
			t.Errorf("after both returned: gathering %v, %d queued, %d calls in flight; want the group idle", gr.gathering, len(gr.queue), gr.inflight)
		}
	}
}

// TestCoalescerYieldBacksOff checks the coalescer's guard against a
// CPU-bound process: on one processor shared with a goroutine that never
// blocks, a yield waits for the other's time slice, so the coalescer
// stops yielding for minPause (a yield then returns at once), doubles the
// pause when the next yield is slow too, and forgets it after a quick one.
func TestCoalescerYieldBacksOff(t *testing.T) {
	var c coalescer
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	defer stop.Store(true)
	spinning := make(chan struct{})
	go func() {
		close(spinning)
		for !stop.Load() {
		}
	}()
	<-spinning
	took := func() time.Duration {
		start := time.Now()
		c.yield(time.Since(epoch))
		return time.Since(start)
	}
	// slow tries yields until one is slow and returns how many were quick
	// first: the race detector's scheduler may pick this goroutine again
	// at a yield, which is then quick.
	slow := func(what string) (quick int) {
		for ; quick < 10; quick++ {
			if took() > slowYield {
				return quick
			}
		}
		t.Fatalf("%s: ten yields beside a spinning goroutine were quick", what)
		return quick
	}
	slow("the first yields")
	if p := time.Duration(c.pause.Load()); p != minPause {
		t.Fatalf("after a slow yield the pause is %v, want %v", p, minPause)
	}
	if d := took(); d > slowYield {
		t.Errorf("a yield during the pause took %v: it yielded", d)
	}
	time.Sleep(time.Duration(c.yieldAt.Load()) - time.Since(epoch)) // the pause ends
	// Doubled, unless a quick yield cleared it first.
	want := 2 * minPause
	if slow("the yields after the pause") > 0 {
		want = minPause
	}
	if p := time.Duration(c.pause.Load()); p != want {
		t.Errorf("after a second slow yield the pause is %v, want %v", p, want)
	}
	stop.Store(true)
	// With nothing else to run a yield is quick, but for the VM's hiccups:
	// the first quick one clears the pause.
	for range 10 {
		time.Sleep(time.Duration(c.yieldAt.Load()) - time.Since(epoch))
		if took() <= slowYield {
			if p := c.pause.Load(); p != 0 {
				t.Errorf("after a quick yield the pause is %v, want 0", time.Duration(p))
			}
			return
		}
	}
	t.Error("ten yields with nothing else to run were slow")
}
