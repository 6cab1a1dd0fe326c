package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// deadline returns a context that ends d from now: everything a
// coalescing test waits for waits on it too, so that a test fails in
// seconds rather than at go test's timeout.
func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recv receives from ch, failing the test if ctx ends first.
func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// gate watches a coalescing store through its hooks and holds the
// gatherings and the script calls the test asks it to.
type gate struct {
	ctx       context.Context
	gathering chan []string // a Decide with these keys started a gathering
	queued    chan int      // a request joined a gathering, the n-th to
	sending   chan []string // a script call is about to be sent, with these keys
	returned  chan error    // a coalesced call returned with this client error
	hold      func(keys []string) <-chan struct{}

	mu    sync.Mutex
	calls [][]string // the keys of every call, in the order they were sent
	busy  []bool     // whether each gathering would have yielded
}

// newGate installs a gate on s; hold (nil: hold nothing) names the
// channel a gathering (given the keys of the Decide that started it) or a
// call (given its keys) waits on before it goes on, or nil.
func newGate(ctx context.Context, s *Store, hold func(keys []string) <-chan struct{}) *gate {
	g := &gate{ctx: ctx, gathering: make(chan []string, 4096), queued: make(chan int, 4096), sending: make(chan []string, 4096), returned: make(chan error, 4096), hold: hold}
	wait := func(keys []string) {
		if g.hold != nil {
			if ch := g.hold(keys); ch != nil {
				select {
				case <-ch:
				case <-g.ctx.Done():
				}
			}
		}
	}
	s.co.hooks = &coalesceHooks{
		gather: func(keys []string, busy bool) {
			g.mu.Lock()
			g.busy = append(g.busy, busy)
			g.mu.Unlock()
			g.gathering <- keys
			wait(keys)
		},
		queued: func(n int) { g.queued <- n },
		send: func(keys []string) {
			keys = slices.Clone(keys)
			g.mu.Lock()
			g.calls = append(g.calls, keys)
			g.mu.Unlock()
			g.sending <- keys
			wait(keys)
		},
		returned: func(_ []string, err error) { g.returned <- err },
	}
	return g
}

// sent returns the keys of the calls sent so far.
func (g *gate) sent() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// outcome is what one Decide returned.
type outcome struct {
	d    algo.Decision
	each []algo.Decision
	err  error
}

// start runs Decide in a goroutine; its outcome arrives on the channel.
func start(ctx context.Context, s *Store, key string, ps []*store.Policy, cost int64) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		each := make([]algo.Decision, len(ps))
		d, err := s.Decide(ctx, key, ps, cost, each)
		ch <- outcome{d, each, err}
	}()
	return ch
}

// lead starts a Decide that the gate holds, and waits until it has
// started a gathering (skipping others): its group is then gathering. It
// fails the test if the request joins another's instead.
func (g *gate) lead(t *testing.T, s *Store, key string, ps []*store.Policy, cost int64) <-chan outcome {
	t.Helper()
	return g.leadCtx(t, g.ctx, s, key, ps, cost)
}

// leadCtx is lead with the Decide's ctx.
func (g *gate) leadCtx(t *testing.T, ctx context.Context, s *Store, key string, ps []*store.Policy, cost int64) <-chan outcome {
	t.Helper()
	ch := start(ctx, s, key, ps, cost)
	for {
		select {
		case keys := <-g.gathering:
			if keys[0] != s.Key(key, ps[0]) {
				continue
			}
			if len(keys) != len(ps) {
				t.Fatalf("the gathering of %s has keys %q, want its own", key, keys)
			}
			return ch
		case n := <-g.queued:
			t.Fatalf("Decide(%q) joined a gathering, the %d-th, instead of starting one", key, n)
		case <-g.ctx.Done():
			t.Fatalf("timed out waiting for the gathering of %s", key)
		}
	}
}

// enqueue starts a Decide and waits until it has joined its group's
// gathering, as the n-th request to.
func (g *gate) enqueue(t *testing.T, ctx context.Context, s *Store, key string, ps []*store.Policy, cost int64, n int) <-chan outcome {
	t.Helper()
	ch := start(ctx, s, key, ps, cost)
	select {
	case got := <-g.queued:
		if got != n {
			t.Fatalf("Decide(%q) joined a gathering as the %d-th, want the %d-th", key, got, n)
		}
	case o := <-ch:
		t.Fatalf("Decide(%q) returned %+v without queueing", key, o)
	case <-g.ctx.Done():
		t.Fatalf("timed out waiting for Decide(%q) to join a gathering", key)
	}
	return ch
}

// sameError reports whether a coalesced and a lone call's errors are
// alike: both nil, or of one class with one message once the stores'
// prefixes are swapped.
func sameError(got, want error, gotPrefix, wantPrefix string) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	for _, class := range []error{store.ErrUnavailable, store.ErrScript, algo.ErrInvalid} {
		if errors.Is(got, class) != errors.Is(want, class) {
			return false
		}
	}
	return strings.ReplaceAll(got.Error(), gotPrefix, wantPrefix) == want.Error()
}

type coReq struct {
	key  string
	cost int64
}

// TestCoalescedEqualsSerial forces groups (a held gathering and the
// requests that join it) under several policy sets and checks that the
// coalesced call decides each request as the same requests sent one at a
// time, in arrival order, on a fresh key space on the same fake clock:
// mixed costs over several keys, peeks, costs over the capacity, and a
// key holding a list, which fails its request alone and charges nothing.
func TestCoalescedEqualsSerial(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := store.NewFakeClock(t0)
	co := mustNew(t, c, WithClock(fake), WithPrefix("co:"), WithCoalescing(DefaultCoalescing))
	alone := mustNew(t, c, WithClock(fake), WithPrefix("alone:"), WithCoalescing(0))

	sets := [][]*store.Policy{
		{pol(t, algo.TokenBucket, algo.PerSec(10).WithBurst(5))},
		{pol(t, algo.GCRA, algo.PerMin(6).WithBurst(3)), pol(t, algo.FixedWindow, algo.PerMin(4))},
		{pol(t, algo.SlidingWindow, algo.PerHour(7)), pol(t, algo.LeakingBucket, algo.PerSec(2).WithBurst(4)), pol(t, algo.TokenBucket, algo.PerMin(100).WithBurst(9))},
	}
	reqs := []coReq{{"hold", 1}, {"a", 1}, {"b", 2}, {"a", 0}, {"a", 3}, {"wrong", 1}, {"b", 100}, {"a", 2}, {"c", 1}, {"a", 1}, {"b", 1}, {"a", 0}, {"c", 4}, {"a", 1}}
	var release [3]chan struct{}
	for i := range release {
		release[i] = make(chan struct{})
	}
	g := newGate(ctx, co, func(keys []string) <-chan struct{} {
		for i, ps := range sets {
			if keys[0] == co.Key("hold", ps[0]) {
				return release[i]
			}
		}
		return nil
	})
	for i, ps := range sets {
		for _, s := range []*Store{co, alone} { // under the last policy: the script reports which
			srv.Do(t, "LPUSH", s.Key("wrong", ps[len(ps)-1]), "not a state")
		}
		before := len(g.sent())
		outs := []<-chan outcome{g.lead(t, co, reqs[0].key, ps, reqs[0].cost)}
		for j, r := range reqs[1:] {
			outs = append(outs, g.enqueue(t, ctx, co, r.key, ps, r.cost, j+1))
		}
		close(release[i])
		var got []outcome
		for j, ch := range outs {
			got = append(got, recv(t, ctx, ch, fmt.Sprintf("set %d request %d", i, j)))
		}
		// One call, the gatherer first, then the others in order.
		calls := g.sent()[before:]
		var want []string
		for _, r := range reqs {
			for _, p := range ps {
				want = append(want, co.Key(r.key, p))
			}
		}
		if len(calls) != 1 || !slices.Equal(calls[0], want) {
			t.Fatalf("set %d: calls %q, want one of %q", i, calls, want)
		}
		limited, allowed := 0, 0
		for j, r := range reqs {
			each := make([]algo.Decision, len(ps))
			d, err := alone.Decide(ctx, r.key, ps, r.cost, each)
			o := got[j]
			if !sameError(o.err, err, "co:", "alone:") {
				t.Errorf("set %d request %d %+v: coalesced error %v, alone %v", i, j, r, o.err, err)
				continue
			}
			if err != nil {
				continue
			}
			if o.d != d || !slices.Equal(o.each, each) {
				t.Errorf("set %d request %d %+v: coalesced %+v %+v, alone %+v %+v", i, j, r, o.d, o.each, d, each)
			}
			if d.Limited {
				limited++
			} else {
				allowed++
			}
		}
		if limited < 2 || allowed < 2 {
			t.Errorf("set %d: %d limited and %d allowed decisions: the requests do not test the limit", i, limited, allowed)
		}
		wantScript(t, fmt.Sprintf("set %d: the request on a list", i), got[5].err)
		// The states are alike too, and the list was left alone.
		for _, key := range []string{"a", "b", "c", "hold"} {
			for _, p := range ps {
				if a, b := srv.Do(t, "GET", co.Key(key, p)), srv.Do(t, "GET", alone.Key(key, p)); a != b {
					t.Errorf("set %d: the state of %s under %s differs: %q coalesced, %q alone", i, key, p, a, b)
				}
			}
		}
		if n := srv.Do(t, "LLEN", co.Key("wrong", ps[len(ps)-1])); n != "1" {
			t.Errorf("set %d: the list holds %s items", i, n)
		}
	}
}

// TestCoalescedCallLimit checks WithCoalescing's bound: a held gathering
// and the seven requests that join it go out as calls of 3, 3 and 2, in
// order.
func TestCoalescedCallLimit(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(3))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == 1 && keys[0] == s.Key("hold", ps[0]) {
			return release
		}
		return nil
	})
	outs := []<-chan outcome{g.lead(t, s, "hold", ps, 1)}
	for i := range 7 {
		outs = append(outs, g.enqueue(t, ctx, s, fmt.Sprint("k", i), ps, 1, i+1))
	}
	close(release)
	for i, ch := range outs {
		if o := recv(t, ctx, ch, fmt.Sprint("request ", i)); o.err != nil || o.d.Limited {
			t.Errorf("request %d: %+v", i, o)
		}
	}
	want := []string{s.Key("hold", ps[0])}
	for i := range 7 {
		want = append(want, s.Key(fmt.Sprint("k", i), ps[0]))
	}
	// The calls go out at once, in any order: in the order of their keys.
	calls := g.sent()
	slices.SortFunc(calls, func(a, b []string) int { return slices.Index(want, a[0]) - slices.Index(want, b[0]) })
	var sizes []int
	var keys []string
	for _, call := range calls {
		sizes = append(sizes, len(call))
		keys = append(keys, call...)
	}
	if !slices.Equal(sizes, []int{3, 3, 2}) || !slices.Equal(keys, want) {
		t.Errorf("calls of %v requests with keys %q, want 3, 3, 2 of %q", sizes, keys, want)
	}
	waitIdle(t, ctx, s) // the three calls counted out as they were counted in
}

// waitIdle waits until every group of s is idle: no gathering, no request
// waiting, no call in flight (a coalesced call's count drops after its
// callers have their results).
func waitIdle(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	for {
		busy := busyGroup(s)
		if busy == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("a group stays busy after every call returned: %s", busy)
		case <-time.After(time.Millisecond):
		}
	}
}

// busyGroup describes a group of s that is not idle, "" if every group is.
func busyGroup(s *Store) string {
	s.co.mu.Lock()
	defer s.co.mu.Unlock()
	for _, g := range s.co.groups {
		if !g.idle() {
			return fmt.Sprintf("gathering %v, %d queued, %d calls in flight", g.gathering, len(g.queue), g.inflight)
		}
	}
	return ""
}

// TestCoalescingOff checks that WithCoalescing(0) and (1) send every
// Decide alone, never through the coalescer, even from 16 goroutines at
// once, and that the option refuses what is not 0 to 256.
func TestCoalescingOff(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	for _, max := range []int{0, 1} {
		s := mustNew(t, c, WithCoalescing(max), WithClock(store.NewFakeClock(t0)))
		g := newGate(ctx, s, nil)
		before := commandStats(t, srv)
		var wg sync.WaitGroup
		errs := make(chan error, 16*8)
		for i := range 16 {
			wg.Go(func() {
				for range 8 {
					_, err := s.Decide(ctx, fmt.Sprint("k", i%4), ps, 1, nil)
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if calls := g.sent(); len(calls) != 0 {
			t.Errorf("WithCoalescing(%d): %d calls went through the coalescer", max, len(calls))
		}
		if n := statsDelta(before, commandStats(t, srv))["evalsha"]; n != 16*8 {
			t.Errorf("WithCoalescing(%d): %d EVALSHA for 128 decisions", max, n)
		}
	}
	for _, max := range []int{-1, 257} {
		if _, err := New(c, WithCoalescing(max)); err == nil {
			t.Errorf("WithCoalescing(%d) was accepted", max)
		} else {
			wantInvalid(t, fmt.Sprintf("WithCoalescing(%d)", max), err)
		}
	}
	for _, max := range []int{2, 256} {
		if _, err := New(c, WithCoalescing(max)); err != nil {
			t.Errorf("WithCoalescing(%d): %v", max, err)
		}
	}
}

// TestCoalescedCancel checks a caller whose ctx ends: while it waits in a
// gathering it leaves, charged nothing, with the ctx's error, and its
// request is not sent; once sent, it returns at once as a single Decide
// would, and the call goes on for the others.
func TestCoalescedCancel(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerSec(10))}
	holdFirst, holdBatch := make(chan struct{}), make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		switch {
		case len(keys) == 1 && keys[0] == s.Key("hold", ps[0]): // the gathering
			return holdFirst
		case slices.Contains(keys, s.Key("gone2", ps[0])):
			return holdBatch
		}
		return nil
	})

	t.Run("queued", func(t *testing.T) {
		held := g.lead(t, s, "hold", ps, 1)
		early, cancel := context.WithCancel(ctx)
		gone := g.enqueue(t, early, s, "gone", ps, 1, 1)
		kept := g.enqueue(t, ctx, s, "kept", ps, 1, 2)
		cancel()
		o := recv(t, ctx, gone, "the cancelled request")
		wantUnavailable(t, "a request cancelled while waiting", o.err)
		if !errors.Is(o.err, context.Canceled) {
			t.Errorf("a request cancelled while waiting: %v does not match context.Canceled", o.err)
		}
		holdFirst <- struct{}{}
		if keys := recv(t, ctx, g.sending, "the coalesced call"); !slices.Equal(keys, []string{s.Key("hold", ps[0]), s.Key("kept", ps[0])}) {
			t.Fatalf("after the cancellation the call has keys %q, want hold's and kept's", keys)
		}
		for _, ch := range []<-chan outcome{held, kept} {
			if o := recv(t, ctx, ch, "a request"); o.err != nil {
				t.Fatal(o.err)
			}
		}
		recv(t, ctx, g.returned, "the coalesced call's return")
		if n := srv.Do(t, "EXISTS", s.Key("gone", ps[0])); n != "0" {
			t.Errorf("the cancelled request wrote its key")
		}
	})

	t.Run("sent", func(t *testing.T) {
		held := g.lead(t, s, "hold", ps, 1)
		early, cancel := context.WithCancel(ctx)
		gone := g.enqueue(t, early, s, "gone2", ps, 1, 1)
		kept := g.enqueue(t, ctx, s, "kept2", ps, 1, 2)
		holdFirst <- struct{}{}
		keys := recv(t, ctx, g.sending, "the coalesced call")
		if want := []string{s.Key("hold", ps[0]), s.Key("gone2", ps[0]), s.Key("kept2", ps[0])}; !slices.Equal(keys, want) {
			t.Fatalf("the coalesced call has keys %q, want %q", keys, want)
		}
		cancel() // while the call is held before it goes out
		o := recv(t, ctx, gone, "the request cancelled in flight")
		wantUnavailable(t, "a request cancelled in flight", o.err)
		if want := classify(context.Canceled, "EVALSHA", s.Key("gone2", ps[0])); o.err.Error() != want.Error() || !errors.Is(o.err, context.Canceled) {
			t.Errorf("a request cancelled in flight: %v, want %v as a single Decide gives", o.err, want)
		}
		close(holdBatch)
		if err := recv(t, ctx, g.returned, "the coalesced call's return"); err != nil {
			t.Errorf("one caller's cancellation failed the call: %v", err)
		}
		for _, ch := range []<-chan outcome{held, kept} {
			if o := recv(t, ctx, ch, "a request"); o.err != nil || o.d.Limited {
				t.Errorf("%+v", o)
			}
		}
	})
}

// TestCoalescedAllLeave checks that without a timeout (WithTimeout(0)) a
// coalesced call to a server that does not answer is cancelled once
// every caller in it has left, so the group is free again.
func TestCoalescedAllLeave(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithTimeout(0), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerSec(10))}
	decide(t, s, "warm", ps[0], 1)
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == 1 && keys[0] == s.Key("hold", ps[0]) { // the gathering
			return release
		}
		return nil
	})
	srv.Do(t, "CLIENT", "PAUSE", "20000", "WRITE")
	t.Cleanup(func() { srv.Do(t, "CLIENT", "UNPAUSE") })

	first, cancel0 := context.WithCancel(ctx)
	held := g.leadCtx(t, first, s, "hold", ps, 1)
	cancels := []context.CancelFunc{cancel0}
	outs := []<-chan outcome{held}
	for i := range 3 {
		wctx, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		outs = append(outs, g.enqueue(t, wctx, s, fmt.Sprint("w", i), ps, 1, i+1))
	}
	close(release)
	recv(t, ctx, g.sending, "the coalesced call")
	for i, cancel := range cancels {
		cancel()
		wantUnavailable(t, "a caller that left", recv(t, ctx, outs[i], "a caller that left").err)
	}
	if err := recv(t, ctx, g.returned, "the coalesced call's return"); !errors.Is(err, context.Canceled) {
		t.Errorf("the call everyone left returned %v, want context.Canceled", err)
	}
	srv.Do(t, "CLIENT", "UNPAUSE")
	if o := recv(t, ctx, start(ctx, s, "after", ps, 1), "a decision after"); o.err != nil {
		t.Errorf("after everyone left: %v", o.err)
	}
}

// TestCoalescedDeadServer checks that a server that went away fails every
// request of a coalesced call with
// store.ErrUnavailable, each naming its own key as a single call does,
// promptly; and likewise 16 goroutines deciding at once.
func TestCoalescedDeadServer(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerSec(100))}
	decide(t, s, "warm", ps[0], 1)
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if keys[0] == s.Key("hold", ps[0]) {
			return release
		}
		return nil
	})
	outs := []<-chan outcome{g.lead(t, s, "hold", ps, 1)}
	keys := []string{"hold"}
	for i := range 5 {
		keys = append(keys, fmt.Sprint("k", i))
		outs = append(outs, g.enqueue(t, ctx, s, keys[i+1], ps, 1, i+1))
	}
	srv.Stop()
	began := time.Now()
	close(release)
	for i, ch := range outs {
		err := recv(t, ctx, ch, "a request to a dead server").err
		wantUnavailable(t, "a request to a dead server", err)
		if !strings.Contains(err.Error(), "EVALSHA "+s.Key(keys[i], ps[0])+":") {
			t.Errorf("request %d: %v does not name its key as a single call would", i, err)
		}
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("failing on a dead server took %v", took)
	}
	if calls := g.sent(); len(calls) != 1 || len(calls[0]) != 6 {
		t.Errorf("calls %q, want one of 6", calls)
	}

	s.co.hooks = nil
	began = time.Now()
	errs := make(chan error, 16*4)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 4 {
				_, err := s.Decide(ctx, fmt.Sprint("g", i, "-", j), ps, 1, nil)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantUnavailable(t, "16 goroutines on a dead server", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("16 goroutines failing on a dead server took %v", took)
	}
}

// TestCoalescedClusterSlots checks on a 3-node Cluster that calls are
// coalesced per hash slot: requests in different slots never share a
// call, while those of one slot (different keys) do, and that the
// decisions are right.
func TestCoalescedClusterSlots(t *testing.T) {
	ctx := deadline(t, 40*time.Second) // the Cluster takes up to 20s to start
	cl := redistest.Cluster(t)
	s := mustNew(t, redistest.Client(t, cl.Addrs()...), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerMin(3))}
	// Three user keys in each of three slots.
	bySlot := map[uint16][]string{}
	var slots []uint16
	for i := 0; len(slots) < 3; i++ {
		key := fmt.Sprint("u", i)
		slot := keySlot(s.Key(key, ps[0]))
		bySlot[slot] = append(bySlot[slot], key)
		if len(bySlot[slot]) == 3 {
			slots = append(slots, slot)
		}
	}
	release := make(chan struct{})
	holders := map[string]bool{}
	for _, slot := range slots {
		holders[s.Key(bySlot[slot][0], ps[0])] = true
	}
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if len(keys) == 1 && holders[keys[0]] { // a gathering
			return release
		}
		return nil
	})
	var outs []<-chan outcome
	for _, slot := range slots {
		outs = append(outs, g.lead(t, s, bySlot[slot][0], ps, 1))
	}
	// Interleave the slots' queued requests, each key twice.
	n := 0
	for range 2 {
		for _, i := range []int{1, 2} {
			for _, slot := range slots {
				n++
				outs = append(outs, g.enqueue(t, ctx, s, bySlot[slot][i], ps, 1, (n+2)/3))
			}
		}
	}
	close(release)
	for i, ch := range outs {
		if o := recv(t, ctx, ch, "a request"); o.err != nil || o.d.Limited || o.d.Remaining != 2-int64(i/9) {
			t.Errorf("request %d: %+v, want allowed with Remaining %d", i, o, 2-i/9)
		}
	}
	calls := g.sent()
	if len(calls) != 3 {
		t.Fatalf("%d calls %q, want one per slot", len(calls), calls)
	}
	for _, call := range calls {
		if len(call) != 5 {
			t.Errorf("call %q: want the 5 requests of one slot", call)
		}
		for _, key := range call {
			if keySlot(key) != keySlot(call[0]) {
				t.Errorf("call %q mixes slots %d and %d", call, keySlot(call[0]), keySlot(key))
			}
		}
	}
}

// TestCoalescedPolicySets checks that requests under different policy
// sets (even a reordering of the same policies) never share a call.
func TestCoalescedPolicySets(t *testing.T) {
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	a, b := pol(t, algo.TokenBucket, algo.PerMin(30)), pol(t, algo.FixedWindow, algo.PerMin(30))
	sets := [][]*store.Policy{{a}, {b}, {a, b}, {b, a}}
	release := make(chan struct{})
	g := newGate(ctx, s, func(keys []string) <-chan struct{} {
		if strings.HasSuffix(keys[0], "{hold}") {
			return release
		}
		return nil
	})
	var outs []<-chan outcome
	for _, ps := range sets {
		outs = append(outs, g.lead(t, s, "hold", ps, 1))
	}
	for i := range 2 {
		for _, ps := range sets {
			outs = append(outs, g.enqueue(t, ctx, s, fmt.Sprint("k", i), ps, 1, i+1))
		}
	}
	close(release)
	for i, ch := range outs {
		if o := recv(t, ctx, ch, "a request"); o.err != nil {
			t.Errorf("request %d: %v", i, o.err)
		}
	}
	calls := g.sent()
	if len(calls) != len(sets) {
		t.Fatalf("coalesced calls %q, want one per policy set", calls)
	}
	for _, call := range calls {
		var want []string
		for _, ps := range sets {
			if call[0] != s.Key("hold", ps[0]) || len(call) != 3*len(ps) {
				continue
			}
			for _, key := range []string{"hold", "k0", "k1"} {
				for _, p := range ps {
					want = append(want, s.Key(key, p))
				}
			}
		}
		if !slices.Equal(call, want) {
			t.Errorf("call %q, want %q", call, want)
		}
	}
}

// TestCoalescedNeverOverAdmits drives random concurrent traces through a
// coalescing store on a fixed fake clock: each key's requests (of one
// cost per key, peeks included) get the multiset of decisions a store
// without coalescing gives the same requests one at a time, so the
// admitted cost per key is the serial one.
func TestCoalescedNeverOverAdmits(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := store.NewFakeClock(t0)
	sets := [][]*store.Policy{
		{pol(t, algo.TokenBucket, algo.PerSec(5).WithBurst(7))},
		{pol(t, algo.GCRA, algo.PerMin(10).WithBurst(4)), pol(t, algo.FixedWindow, algo.PerMin(9))},
		{pol(t, algo.SlidingWindow, algo.PerMin(6))},
		{pol(t, algo.LeakingBucket, algo.PerHour(12).WithBurst(6)), pol(t, algo.TokenBucket, algo.PerSec(1).WithBurst(5))},
	}
	var run, biggest atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		if ctx.Err() != nil {
			return // out of time: the deadline fails the test below
		}
		prefix := fmt.Sprintf("prop%d:", run.Add(1))
		co, err := New(c, WithTimeout(testTimeout), WithClock(fake), WithPrefix(prefix+"co:"), WithCoalescing(DefaultCoalescing))
		if err != nil {
			rt.Fatal(err)
		}
		co.co.hooks = &coalesceHooks{send: func(keys []string) {
			for {
				m := biggest.Load()
				if int64(len(keys)) <= m || biggest.CompareAndSwap(m, int64(len(keys))) {
					return
				}
			}
		}}
		alone, err := New(c, WithTimeout(testTimeout), WithClock(fake), WithPrefix(prefix+"alone:"), WithCoalescing(0))
		if err != nil {
			rt.Fatal(err)
		}
		nkeys := rapid.IntRange(1, 4).Draw(rt, "keys")
		type keySpec struct {
			ps   []*store.Policy
			cost int64
			n    int
		}
		specs := make([]keySpec, nkeys)
		var order []int // key index of each request, in the order they are handed out
		for k := range specs {
			specs[k] = keySpec{
				ps:   rapid.SampledFrom(sets).Draw(rt, fmt.Sprint("policies", k)),
				cost: rapid.Int64Range(0, 3).Draw(rt, fmt.Sprint("cost", k)),
				n:    rapid.IntRange(1, 14).Draw(rt, fmt.Sprint("requests", k)),
			}
			for range specs[k].n {
				order = append(order, k)
			}
		}
		order = rapid.Permutation(order).Draw(rt, "order")
		workers := rapid.IntRange(2, 16).Draw(rt, "goroutines")

		got := make([][]outcome, nkeys)
		var mu sync.Mutex
		var next atomic.Int64
		begin := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				<-begin
				for {
					i := int(next.Add(1)) - 1
					if i >= len(order) {
						return
					}
					k := order[i]
					each := make([]algo.Decision, len(specs[k].ps))
					d, err := co.Decide(ctx, fmt.Sprint("key", k), specs[k].ps, specs[k].cost, each)
					mu.Lock()
					got[k] = append(got[k], outcome{d, each, err})
					mu.Unlock()
				}
			})
		}
		close(begin)
		wg.Wait()
		for k, spec := range specs {
			var want []outcome
			for range spec.n {
				each := make([]algo.Decision, len(spec.ps))
				d, err := alone.Decide(ctx, fmt.Sprint("key", k), spec.ps, spec.cost, each)
				want = append(want, outcome{d, each, err})
			}
			admitted := func(os []outcome) (sum int64) {
				for _, o := range os {
					if o.err != nil {
						rt.Fatalf("key %d: %v", k, o.err)
					}
					if !o.d.Limited {
						sum += spec.cost
					}
				}
				return sum
			}
			if g, w := admitted(got[k]), admitted(want); g != w {
				rt.Fatalf("key %d (cost %d under %v): coalesced admitted %d, serially %d", k, spec.cost, spec.ps, g, w)
			}
			byFields := func(a, b outcome) int {
				return cmp.Compare(fmt.Sprint(a.d, a.each), fmt.Sprint(b.d, b.each))
			}
			slices.SortFunc(got[k], byFields)
			slices.SortFunc(want, byFields)
			for i := range want {
				if byFields(got[k][i], want[i]) != 0 {
					rt.Fatalf("key %d (cost %d under %v): coalesced decisions %v, serially %v", k, spec.cost, spec.ps, got[k], want)
				}
			}
		}
	})
	if ctx.Err() != nil {
		t.Fatal("the property test ran out of time")
	}
	// Largest call seen, in keys: the traces did coalesce.
	if biggest.Load() < 4 {
		t.Errorf("the largest call had %d keys: the traces hardly coalesced", biggest.Load())
	}
}

// TestCoalescerForgetsIdleGroups checks that the groups of policy sets no
// longer in use are forgotten, so that the coalescer's memory is bounded.
func TestCoalescerForgetsIdleGroups(t *testing.T) {
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(store.NewFakeClock(t0)), WithCoalescing(DefaultCoalescing))
	for i := range sweepAt + 200 {
		decide(t, s, "k", pol(t, algo.FixedWindow, algo.PerSec(int64(i+1))), 1)
	}
	s.co.mu.Lock()
	n := len(s.co.groups)
	s.co.mu.Unlock()
	if n > sweepAt || n == 0 {
		t.Errorf("%d groups after %d policy sets, want 1 to %d", n, sweepAt+200, sweepAt)
	}
}
