package redisstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
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
			if gr.gathering || len(gr.queue) != 0 {
				s.co.mu.Unlock()
				t.Fatalf("after Decide %d returned: gathering %v, %d queued; want the group idle", i, gr.gathering, len(gr.queue))
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

// TestCoalescingYields checks that a Decide starting a gathering yields
// its processor, so that the goroutines ready to run join it: on one
// processor, eight goroutines made ready at once go out as one call (with
// no yield, each would run to its round trip first and go alone).
func TestCoalescingYields(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, newClient(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	decide(t, s, "warm", ps[0], 1)
	var mu sync.Mutex
	var sizes []int
	s.co.hooks = &coalesceHooks{send: func(keys []string) {
		mu.Lock()
		sizes = append(sizes, len(keys))
		mu.Unlock()
	}}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
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
	if !slices.Equal(sizes, []int{8}) {
		t.Errorf("eight goroutines ready at once went out as calls of %v keys, want one of 8", sizes)
	}
}
