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
	"github.com/throttled-go/throttled/internal/latencyproxy"
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
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
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
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
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
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	g := newGate(ctx, s, nil)
	p := pol(t, algo.TokenBucket, algo.PerSec(10))
	for i := range 300 {
		decide(t, s, "k", p, 1)
		if busy := busyGroup(s); busy != "" {
			t.Fatalf("after Decide %d returned: %s; want the group idle", i, busy)
		}
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
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
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
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithTimeout(timeout), WithCoalescing(DefaultCoalescing))
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
//
// The first caller must wait for its reply, so that the others run
// meanwhile: the server is reached through a proxy adding 2 ms each way.
// Straight to a server on the same core, the write that sends the first
// call can wake the server ahead of the client, whose read then finds the
// reply there and never blocks: each call returns before the next caller
// runs, and all eight go alone (seen in CI, and here with the test and
// its server pinned to one core).
func TestCoalescingYields(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	proxy, err := latencyproxy.Start("tcp", srv.Addr(), 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// Without -race the calls are always of 1, then 7. The race detector's
	// scheduler shuffles who runs next, which could still let the first
	// call return before the others start, so that each goes alone: up to
	// twenty tries then (each a fresh store, about 10 ms), one of which
	// must coalesce. A yield that the machine makes slow (other processes
	// on its cores) must not make the store step aside here
	// (keepCoalescing): that is TestCoalescerStepsAsideWhenSlow's subject.
	var tries [][]int
	const attempts = 20
	for range attempts {
		s := mustNew(t, redistest.Client(t, proxy.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
		decide(t, s, "warm", ps[0], 1)
		var mu sync.Mutex
		var sizes []int
		s.co.hooks = &coalesceHooks{keepCoalescing: true, send: func(keys []string) {
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
	t.Errorf("eight goroutines ready at once went out as calls of %v keys (%d tries), want some in at most 4 calls (1, then 7)", tries, attempts)
}

// TestCoalescerYieldsOnlyWhenBusy checks that a gathering would yield
// only while its group is busy: a caller alone (one Decide after the
// other) never does, one that arrives while another's call is out does,
// and the group is idle again once both returned.
func TestCoalescerYieldsOnlyWhenBusy(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
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
	if busy := busyGroup(s); busy != "" {
		t.Errorf("after both returned: %s; want the group idle", busy)
	}
}

// TestCoalescerStepsAsideWhenSlow checks that while a slow yield's pause
// lasts (the process is CPU-bound) a Decide is sent alone from its own
// goroutine, with no gathering, even beside a call in flight of its group,
// and that it gathers again once the pause is over.
func TestCoalescerStepsAsideWhenSlow(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if keys[0] == s.Key("held", ps[0]) {
			return release
		}
		return nil
	})
	// sentAlone waits for key's Decide to send a call of its own keys,
	// failing if it starts a gathering instead.
	sentAlone := func(key string) {
		t.Helper()
		select {
		case keys := <-g.gathering:
			t.Fatalf("during the pause Decide(%q) started a gathering (keys %q), want it sent alone", key, keys)
		case keys := <-g.sending:
			if !slices.Equal(keys, []string{s.Key(key, ps[0])}) {
				t.Fatalf("during the pause a call of keys %q was sent, want %s's alone", keys, key)
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for the call of %s", key)
		}
	}
	s.co.yieldAt.Store(int64(time.Since(epoch) + time.Hour)) // as a slow yield leaves them
	s.co.pause.Store(int64(minPause))
	held := start(ctx, s, "held", ps, 1)
	sentAlone("held")
	other := start(ctx, s, "other", ps, 1) // its group has a call in flight
	sentAlone("other")
	if o := recv(t, ctx, other, "other"); o.err != nil || o.d.Limited {
		t.Fatalf("other: %+v, want allowed", o)
	}
	close(release)
	if o := recv(t, ctx, held, "held"); o.err != nil || o.d.Limited {
		t.Fatalf("held: %+v, want allowed", o)
	}
	// The pause is over: the next Decide still goes alone and starts a
	// probe, whose yield (nothing else runs) is quick and ends the pause.
	s.co.yieldAt.Store(int64(time.Since(epoch)))
	probed := start(ctx, s, "probed", ps, 1)
	sentAlone("probed")
	if o := recv(t, ctx, probed, "probed"); o.err != nil || o.d.Limited {
		t.Fatalf("probed: %+v, want allowed", o)
	}
	for s.co.pause.Load() != 0 || s.co.probing.Load() {
		if ctx.Err() != nil {
			t.Fatal("the probe did not end the pause")
		}
		time.Sleep(time.Millisecond)
		if !s.co.probing.Load() && s.co.pause.Load() != 0 { // a hiccup made the probe slow: probe again
			s.co.yieldAt.Store(int64(time.Since(epoch)))
			s.co.stepAside(time.Since(epoch))
		}
	}
	decide(t, s, "after", ps[0], 1)
	if keys := recv(t, ctx, g.gathering, "a gathering after the pause"); keys[0] != s.Key("after", ps[0]) {
		t.Fatalf("after the pause a gathering of keys %q, want after's", keys)
	}
}

// TestCoalescerYieldBacksOff checks the coalescer's guard against a
// CPU-bound process: on one processor shared with a goroutine that never
// blocks, a yield waits for the other's time slice, so the coalescer steps
// aside for minPause; a probe at the end of the pause doubles it when its
// yield is slow too, and ends it when its yield is quick.
func TestCoalescerYieldBacksOff(t *testing.T) {
	var c coalescer
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// With nothing else to run a yield is quick and starts no pause (but
	// for the VM's hiccups: one of ten).
	for i := range 10 {
		c.pause.Store(0)
		if c.yield(time.Since(epoch)); c.pause.Load() == 0 {
			break
		}
		if i == 9 {
			t.Fatal("ten yields with nothing else to run each started a pause")
		}
	}
	var stop atomic.Bool
	defer stop.Store(true)
	spinning := make(chan struct{})
	go func() {
		close(spinning)
		for !stop.Load() {
		}
	}()
	<-spinning
	// yieldUntilSlow yields until a yield is slow (the race detector's
	// scheduler may pick this goroutine again at a yield, which is then
	// quick) and returns the time that yield started.
	yieldUntilSlow := func() (start time.Duration) {
		for range 10 {
			start = time.Since(epoch)
			if c.yield(start); c.pause.Load() != 0 {
				return start
			}
		}
		t.Fatal("ten yields beside a spinning goroutine were quick")
		return start
	}
	start := yieldUntilSlow()
	if p := time.Duration(c.pause.Load()); p != minPause {
		t.Fatalf("after a slow yield the pause is %v, want %v", p, minPause)
	}
	// The pause runs from the yield's end: over slowYield after its start.
	if y := time.Duration(c.yieldAt.Load()); y <= start+slowYield+minPause {
		t.Errorf("a yield started at %v and slow ends its pause at %v, want after %v", start, y, start+slowYield+minPause)
	}
	if now := time.Since(epoch); !c.stepAside(now) || c.probing.Load() {
		t.Fatalf("during the pause: stepAside %v, probing %v; want true, and no probe before the pause ends", c.stepAside(now), c.probing.Load())
	}
	endPause := func() { time.Sleep(time.Duration(c.yieldAt.Load()) - time.Since(epoch)) }
	// probe runs a probe from this goroutine, as stepAside's would.
	probe := func() {
		if !c.probing.CompareAndSwap(false, true) {
			t.Fatal("a probe is already running")
		}
		c.probe()
	}
	// A slow probe doubles the pause; the race detector's scheduler may make
	// it quick, which ends the pause: then start one again.
	doubled := false
	for range 10 {
		endPause()
		start = time.Since(epoch)
		if probe(); c.pause.Load() == int64(2*minPause) {
			doubled = true
			break
		}
		if c.pause.Load() != 0 {
			t.Fatalf("after a probe the pause is %v, want %v or 0", time.Duration(c.pause.Load()), 2*minPause)
		}
		yieldUntilSlow()
	}
	if !doubled {
		t.Fatal("ten probes beside a spinning goroutine were quick")
	}
	if y := time.Duration(c.yieldAt.Load()); y <= start+slowYield+2*minPause {
		t.Errorf("a probe started after %v and slow ends its pause at %v, want after %v", start, y, start+slowYield+2*minPause)
	}
	stop.Store(true)
	// With nothing else to run a yield is quick, but for the VM's hiccups:
	// the first quick probe ends the pause.
	for range 10 {
		endPause()
		if probe(); c.pause.Load() == 0 {
			if c.stepAside(time.Since(epoch)) {
				t.Error("after a quick probe the coalescer still steps aside")
			}
			return
		}
	}
	t.Error("ten probes with nothing else to run were slow")
}
