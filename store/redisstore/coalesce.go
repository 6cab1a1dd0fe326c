package redisstore

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// DefaultCoalescing is a store's bound on coalesced calls unless
// WithCoalescing sets another: 64 decisions a script call. With more
// concurrent callers than that under one policy set (and, on a Cluster, in
// one slot) a call carries no more, which keeps each call's hold on the
// server short.
const DefaultCoalescing = 64

// WithCoalescing sets the most decisions a coalesced script call carries
// (never more than 256 keys, the policies of each decision counted); 0 or
// 1 turns coalescing off, so that every Decide is a script call of its
// own. max must be 0 to 256; a store coalesces with DefaultCoalescing
// unless told otherwise. DecideBatch and Reset are never coalesced.
//
// Coalescing gathers the decisions that arrive together. Decisions under
// the same policies (in the same order) and, on a Cluster, in the same
// hash slot form a group. A Decide that finds its group not gathering
// starts a gathering; if the group is busy (a Decide of it found another
// under way in the last 10 ms), it yields its processor once
// (runtime.Gosched), so that the goroutines ready to run at that moment
// (typically the callers whose replies came back together) can join it.
// Then it sends what was gathered, itself first, in arrival order, as one
// script call per max decisions, which reads TIME once and decides the
// requests in order, each as if sent alone at the script's time. A Decide
// that gathered nobody is sent alone, as without coalescing: a caller
// alone never yields, and adds a lock and a clock reading. Calls in flight
// delay no one (a group's calls are pipelined as any concurrent calls
// are). A key holding something else fails its own
// request only, charging nothing, as in DecideBatch; a failure of the call
// as a whole (a timeout, an unreachable server) fails each of its requests
// with the error a call of its own would have given.
//
// A caller whose ctx ends while it waits to be sent leaves, charged
// nothing, with store.ErrUnavailable wrapping ctx's error, as a ctx
// already done gets. A caller whose ctx ends once its request was sent
// returns at once with the error a single Decide whose ctx ends during the
// round trip gets (store.ErrUnavailable wrapping ctx's error, naming its
// key); as there, its request may still be decided, and charged. A
// coalesced call is bounded by WithTimeout, not by any one caller's ctx,
// so one caller leaving never fails the others; with WithTimeout(0) it is
// cancelled once every caller in it has left.
//
// What it buys: the script decides a call's requests on one key with one
// read and one write of the key, and pays a call's overhead once, so a
// hot key costs the server a fraction of a call per decision; fewer,
// larger calls cost the client fewer system calls and allocations. What it
// costs: a yield per gathering of a busy group, and a goroutine (one more
// hand-off) per coalesced call. On a CPU-bound process a yield waits for
// the goroutines ahead of it to use up their time slices, and so does
// every hand-off; so after a yield that takes over 2 ms the coalescer
// steps aside: for 100 ms each Decide is sent alone from its caller's
// goroutine, as with WithCoalescing(0). Then a goroutine of its own
// yields once (no caller waits for it): if that is quick, coalescing
// resumes; if not, the pause doubles, up to 5 s. BenchmarkCoalescingCPUBound
// (4 goroutines that never block on 2 cores, three runs): 8 goroutines
// deciding at once took a median of 40.5–40.6 ms a decision and a 99th
// percentile of 101.0–101.1 ms coalescing, against 40.5–40.6 and
// 85.2–101.1 ms not (121–125 ms coalescing before it stepped aside); a
// caller alone, 13 µs either way.
// BenchmarkCoalescing (16
// goroutines, GCRA, redis-server 7.0 sharing 2 cores with the client, two
// runs): on one hot key 12.8–13.8 µs a decision coalesced against
// 19.1–20.0 alone on loopback and 33.2–34.0 against 46.2–47.8 through a
// proxy adding 200 µs of round trip, 2.5–3.5 server-µs a decision against
// 6.3–9.4, 0.11–0.12 script calls and 2 allocations a decision against 1
// and 9; on 10,000 keys 18.2–20.1 against 22.0–24.3 µs on loopback and
// 40.1–40.6 against 49.7–53.2 through the proxy. A caller alone: no
// difference above the noise.
func WithCoalescing(max int) Option {
	return func(s *Store) error {
		if max < 0 || max > maxKeysPerCall {
			return &algo.DataError{Name: "coalescing", Value: max, Reason: "must be 0 to 256 decisions per call"}
		}
		s.coalesce = max
		if max <= 1 {
			s.coalesce = 0 // off
		}
		return nil
	}
}

// sweepAt is the number of groups above which idle groups are forgotten.
const sweepAt = 1024

// slowYield is how long a gatherer's yield may take before the coalescer
// takes the process for CPU-bound: there a yield waits for the goroutines
// ahead of it to use up their time slices (10 ms each), and so does the
// extra hand-off of a coalesced call. The coalescer then steps aside for
// minPause: each Decide is sent alone, from its caller's goroutine. Then
// a goroutine of its own yields once, so that no caller waits for it: if
// that yield is quick too, coalescing resumes; if not, the pause is
// doubled, up to maxPause. Measured: with 4 CPU-bound goroutines on 2
// cores, a serial Decide took a median of 42 ms with a yield a call,
// against 19 µs without.
const (
	slowYield = 2 * time.Millisecond
	minPause  = 100 * time.Millisecond
	maxPause  = 5 * time.Second
)

// busyFor is how long a group whose decisions were seen to overlap counts
// as busy: its gatherings yield. It spans round trips far longer than a
// data centre's, so that callers that keep deciding keep the group busy
// from one burst of replies to the next.
const busyFor = 10 * time.Millisecond

// epoch is the origin of the coalescer's monotonic readings.
var epoch = time.Now()

// coalescer holds a store's groups (see WithCoalescing).
type coalescer struct {
	mu     sync.Mutex
	groups map[groupKey]*group
	limit  int // sweep the idle groups when len(groups) reaches it

	hooks *coalesceHooks // tests only

	// pause is how long the coalescer steps aside after a slow yield (0:
	// it coalesces), and yieldAt when (time.Since(epoch)) that pause ends
	// and a probe yields; probing is set while a probe runs.
	yieldAt, pause atomic.Int64
	probing        atomic.Bool
}

// stepAside reports whether a Decide at now (time.Since(epoch)) is to be
// sent alone, as the coalescer steps aside after a slow yield; once the
// pause is over, the first to ask starts a probe.
func (c *coalescer) stepAside(now time.Duration) bool {
	if c.pause.Load() == 0 {
		return false
	}
	if now >= time.Duration(c.yieldAt.Load()) && c.probing.CompareAndSwap(false, true) {
		go c.probe()
	}
	return true
}

// yield lets the goroutines ready to run join a gathering
// (runtime.Gosched); start is the time (time.Since(epoch)) the caller read
// last. A slow yield starts a pause (see slowYield).
func (c *coalescer) yield(start time.Duration) {
	runtime.Gosched()
	if took := time.Since(epoch) - start; took > slowYield && !c.hooks.keepsCoalescing() {
		c.yieldAt.Store(int64(start + took + minPause)) // before pause: stepAside reads pause first
		c.pause.Store(int64(minPause))
	}
}

// probe yields at the end of a pause, from a goroutine of its own: a quick
// yield ends the pause, a slow one doubles it (up to maxPause).
func (c *coalescer) probe() {
	defer c.probing.Store(false)
	start := time.Since(epoch)
	runtime.Gosched()
	took := time.Since(epoch) - start
	if took <= slowYield {
		c.pause.Store(0)
		return
	}
	pause := min(2*time.Duration(c.pause.Load()), maxPause)
	c.yieldAt.Store(int64(start + took + pause))
	c.pause.Store(int64(pause))
}

// coalesceHooks lets tests watch and hold the coalescer.
type coalesceHooks struct {
	// gather is called by a Decide that starts a gathering, with its
	// keys and whether it would yield (the group is busy: busyUntil), in
	// place of the yield; it may block.
	gather func(keys []string, busy bool)
	// queued is called when a request joins a gathering, with the
	// number of requests that joined it so far.
	queued func(n int)
	// send is called before every script call a coalescing store makes
	// for Decide, alone or coalesced, with the call's keys; it may block.
	send func(keys []string)
	// returned is called when a coalesced call has returned, with its
	// keys and the client's error.
	returned func(keys []string, err error)
	// keepCoalescing stops slow yields from starting a pause, for tests
	// of the yield itself on a machine too busy to yield quickly.
	keepCoalescing bool
}

// keepsCoalescing reports whether h stops slow yields from starting a
// pause (a nil h does not).
func (h *coalesceHooks) keepsCoalescing() bool { return h != nil && h.keepCoalescing }

// groupKey names a group: the policies' identities in order (zero after
// the last) and the hash slot on a Cluster (0 elsewhere).
type groupKey struct {
	ids  [store.MaxPolicies]store.PolicyID
	slot uint16
}

// group is the decisions of one groupKey.
type group struct {
	key       groupKey
	ps        [store.MaxPolicies]*store.Policy // the policies, for the call's head
	npol      int
	gathering bool // a Decide is gathering
	inflight  int  // the group's script calls in flight
	// busyUntil is when (time.Since(epoch)) the group stops counting as
	// busy: busyFor after a Decide last found another under way.
	busyUntil time.Duration
	queue     []*waiter // the requests that joined it, in arrival order
}

// idle reports whether g has no gathering, no request waiting and no call
// in flight, so that it can be forgotten; c.mu is held.
func (g *group) idle() bool { return !g.gathering && len(g.queue) == 0 && g.inflight == 0 }

// waiter is a request waiting to be sent or decided. The coalescer's
// mutex guards taken and b; once taken, state says who owns the waiter:
// while waiting the sender does, and whoever moves it out of waiting
// decides (left: the sender recycles it; delivered: the caller reads and
// recycles it).
type waiter struct {
	keys  [store.MaxPolicies]string
	cost  int64
	taken bool   // in a call
	b     *batch // that call

	state atomic.Int32
	ds    [store.MaxPolicies]algo.Decision
	err   error
	done  chan struct{} // receives once state is delivered
}

const (
	waiting = iota
	left
	delivered
)

var waiters = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}

// batch is one coalesced call, cancelled once every caller in it has left.
type batch struct {
	ctx    context.Context
	cancel context.CancelFunc
	live   atomic.Int32
}

func (b *batch) leave() {
	if b.live.Add(-1) == 0 {
		b.cancel()
	}
}

// decideCoalesced decides one request (keys: its Redis keys, one per
// policy of ps) into ds through its group.
func (s *Store) decideCoalesced(ctx context.Context, keys []string, ps []*store.Policy, cost int64, ds []algo.Decision) error {
	if err := s.errIfClosed(); err != nil {
		return err
	}
	var gk groupKey
	for j, p := range ps {
		gk.ids[j] = p.ID()
	}
	if s.client.Mode() == rueidis.ClientModeCluster {
		gk.slot = keySlot(keys[0]) // a request's keys share their hash tag
	}
	c := &s.co
	now := time.Since(epoch)
	if c.stepAside(now) {
		return s.sendAlone(ctx, keys, ps, cost, ds)
	}
	c.mu.Lock()
	g := c.groups[gk]
	if g == nil {
		g = c.newGroup(gk, ps)
	}
	if g.gathering || g.inflight > 0 { // others are deciding
		g.busyUntil = now + busyFor
	}
	if g.gathering { // join it
		w := newWaiter(keys, cost)
		g.queue = append(g.queue, w)
		n := len(g.queue)
		c.mu.Unlock()
		if h := c.hooks; h != nil && h.queued != nil {
			h.queued(n)
		}
		return s.await(ctx, g, w, keys, ds)
	}
	g.gathering = true
	busy := now < g.busyUntil // others have been deciding: some may be about to join
	c.mu.Unlock()
	if h := c.hooks; h != nil && h.gather != nil {
		h.gather(slices.Clone(keys), busy) // a copy, so that keys does not escape
	} else if busy {
		c.yield(now)
	}
	c.mu.Lock()
	g.gathering = false
	if len(g.queue) == 0 { // nobody joined: alone
		g.inflight++
		c.mu.Unlock()
		err := s.sendAlone(ctx, keys, ps, cost, ds)
		c.mu.Lock()
		g.inflight--
		c.mu.Unlock()
		return err
	}
	w := newWaiter(keys, cost)
	s.sendGathered(g, w)
	c.mu.Unlock()
	return s.await(ctx, g, w, keys, ds)
}

// sendAlone makes the script call of one request, from the caller's
// goroutine.
func (s *Store) sendAlone(ctx context.Context, keys []string, ps []*store.Policy, cost int64, ds []algo.Decision) error {
	if h := s.co.hooks; h != nil && h.send != nil {
		h.send(slices.Clone(keys))
	}
	return s.decideAlone(ctx, keys, ps, cost, ds)
}

// sendGathered takes the gatherer w and the requests that joined it (g's
// queue, emptied) and sends them, w first, as calls of at most the store's
// bound, each from a goroutine of its own; c.mu is held.
func (s *Store) sendGathered(g *group, w *waiter) {
	perCall := max(1, min(s.coalesce, maxKeysPerCall/g.npol))
	rest := g.queue
	for first := true; first || len(rest) > 0; first = false {
		f := flushers.Get().(*flusher)
		f.ws = f.ws[:0]
		n := perCall
		if first {
			f.ws = append(f.ws, w)
			n--
		}
		n = min(n, len(rest))
		f.ws, rest = append(f.ws, rest[:n]...), rest[n:]
		b := s.newBatch(len(f.ws))
		for _, w := range f.ws {
			w.taken, w.b = true, b
		}
		g.inflight++
		go f.flush(s, b, g)
	}
	clear(g.queue)
	g.queue = g.queue[:0]
}

// await waits for w's decision into ds, or for ctx to end.
func (s *Store) await(ctx context.Context, g *group, w *waiter, keys []string, ds []algo.Decision) error {
	c := &s.co
	select {
	case <-w.done:
	case <-ctx.Done():
		c.mu.Lock()
		if !w.taken { // still waiting to be sent: leave, charged nothing
			i := slices.Index(g.queue, w)
			g.queue = slices.Delete(g.queue, i, i+1)
			c.mu.Unlock()
			recycle(w)
			return storeutil.CheckContext(ctx)
		}
		b := w.b
		c.mu.Unlock()
		if w.state.CompareAndSwap(waiting, left) { // the sender recycles w
			b.leave()
			return classify(ctx.Err(), "EVALSHA", callName(keys))
		}
		<-w.done // delivered meanwhile
	}
	err := w.err
	copy(ds, w.ds[:len(ds)])
	recycle(w)
	return err
}

func newWaiter(keys []string, cost int64) *waiter {
	w := waiters.Get().(*waiter)
	w.cost = cost
	copy(w.keys[:], keys)
	return w
}

func recycle(w *waiter) {
	*w = waiter{done: w.done}
	waiters.Put(w)
}

// newBatch returns a call for n requests, bounded by s's timeout.
func (s *Store) newBatch(n int) *batch {
	b := &batch{}
	if s.timeout > 0 {
		b.ctx, b.cancel = context.WithTimeout(context.Background(), s.timeout)
	} else {
		b.ctx, b.cancel = context.WithCancel(context.Background())
	}
	b.live.Store(int32(n))
	return b
}

// newGroup adds a group; c.mu is held.
func (c *coalescer) newGroup(gk groupKey, ps []*store.Policy) *group {
	if c.groups == nil {
		c.groups, c.limit = map[groupKey]*group{}, sweepAt
	}
	if len(c.groups) >= c.limit {
		for k, g := range c.groups {
			if g.idle() {
				delete(c.groups, k)
			}
		}
		c.limit = max(sweepAt, 2*len(c.groups))
	}
	g := &group{key: gk, npol: len(ps)}
	copy(g.ps[:], ps)
	c.groups[gk] = g
	return g
}

var flushers = sync.Pool{New: func() any { return new(flusher) }}

// flusher is a coalesced call's scratch space, reused from call to call.
type flusher struct {
	ws, sent []*waiter
	keys     []string
	ds       []algo.Decision
	errs     []error
}

// flush makes the script call of f.ws (taken from g's gathering), hands
// each caller its result and puts f back.
func (f *flusher) flush(s *Store, b *batch, g *group) {
	f.send(s, b, g)
	s.co.mu.Lock()
	g.inflight--
	s.co.mu.Unlock()
	b.cancel()
	clear(f.ws)
	f.ws = f.ws[:0]
	flushers.Put(f)
}

// send makes the script call of f.ws and hands each caller its result.
func (f *flusher) send(s *Store, b *batch, g *group) {
	npol, ws := g.npol, f.ws
	if cap(f.ds) < len(ws)*npol {
		f.ds = make([]algo.Decision, len(ws)*npol)
	}
	if cap(f.errs) < len(ws) {
		f.errs = make([]error, len(ws))
	}
	ds, errs := f.ds[:len(ws)*npol], f.errs[:len(ws)]
	// Requests whose caller already left are not sent (they are charged
	// nothing, which their "may have been decided" error allows).
	f.sent, f.keys = f.sent[:0], f.keys[:0]
	head, err := s.argsHead(g.ps[:npol])
	if err == nil {
		for _, w := range ws {
			if w.state.Load() != left {
				f.sent = append(f.sent, w)
				f.keys = append(f.keys, w.keys[:npol]...)
			}
		}
	}
	sent, keys := f.sent, f.keys
	if err == nil && len(sent) > 0 {
		args := head
		for _, w := range sent {
			args = appendNumbers(args, w.cost)
		}
		if h := s.co.hooks; h != nil && h.send != nil {
			h.send(keys)
		}
		reply := s.script.Exec(b.ctx, s.client, keys, []string{string(args)})
		if h := s.co.hooks; h != nil && h.returned != nil {
			h.returned(keys, reply.Error())
		}
		if rerr := reply.Error(); rerr != nil && !rueidis.IsRedisNil(rerr) {
			// The error each request would have had alone.
			for _, w := range sent {
				w.err = classify(rerr, "EVALSHA", callName(w.keys[:npol]))
			}
		} else {
			cerrs := errs[:len(sent)]
			clear(cerrs)
			if err := decodeReply(reply, keys, g.ps[:npol], ds[:len(sent)*npol], cerrs); err != nil {
				for _, w := range sent {
					w.err = err
				}
			} else {
				for i, w := range sent {
					w.err = cerrs[i]
					copy(w.ds[:npol], ds[i*npol:(i+1)*npol])
				}
			}
		}
	}
	for _, w := range ws {
		if err != nil {
			w.err = err
		}
		if w.state.CompareAndSwap(waiting, delivered) {
			w.done <- struct{}{}
		} else {
			recycle(w)
		}
	}
}
