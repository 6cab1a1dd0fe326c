package redisstore

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// DefaultCoalescing is a good bound for WithCoalescing: 64 decisions a
// script call. With more concurrent callers than that under one policy
// set (and, on a Cluster, in one slot) a call carries no more, which keeps
// each call's hold on the server short.
const DefaultCoalescing = 64

// WithCoalescing turns on coalescing of concurrent Decide calls, with at
// most max decisions a script call (and never more than 256 keys, the
// policies of each decision counted); DefaultCoalescing is a good max. 0
// or 1 (the default) leaves it off: every Decide is a script call of its
// own. max must be 0 to 256. DecideBatch and Reset are never coalesced.
//
// Coalescing is a group commit. Decisions under the same policies (in the
// same order) and, on a Cluster, in the same hash slot form a group. A
// Decide whose group has no call in flight is sent at once, alone, as
// without coalescing: an idle store adds no latency. One that arrives while
// its group's call is in flight queues; when that call returns, everything
// queued (up to max) goes out as one script call, which reads TIME once and
// decides the requests in queue order, each as if sent alone at the
// script's time. A key holding something else fails its own request only,
// charging nothing, as in DecideBatch; a failure of the call as a whole (a
// timeout, an unreachable server) fails each of its requests with the
// error a call of its own would have given.
//
// A caller whose ctx ends while its request is queued leaves the queue,
// charged nothing, with store.ErrUnavailable wrapping ctx's error, as a ctx
// already done gets. A caller whose ctx ends once its request was sent
// returns at once with the error a single Decide whose ctx ends during the
// round trip gets (store.ErrUnavailable wrapping ctx's error, naming its
// key); as there, its request may still be decided, and charged. The call
// itself is bounded by WithTimeout, not by any one caller's ctx, so one
// caller leaving never fails the others; with WithTimeout(0) it is
// cancelled once every caller in it has left.
//
// What it buys is server time, at the price of client work and of a wait
// for the call in flight. Measured with BenchmarkCoalescing (16
// goroutines, GCRA, loopback redis-server 7.0 sharing 2 cores with the
// client): one hot key 4.0 server-µs a decision coalesced against 5.2
// alone, 0.12 script calls a decision, 2 allocations instead of 9; but
// 14.5–15.2 µs a decision of wall time against 11.2–11.4 alone, because
// rueidis already pipelines concurrent calls and each key of a batch still
// costs the server its reads and writes. So it is off by default; turn it
// on where the Redis server's CPU is what runs out (many clients on one
// server), and measure.
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

// defaultInflight is how many script calls of one group may be in flight
// at once. With one, the queue grows while the call is out, so calls are
// few and large. Two (BenchmarkCoalescing's inflight=2) gave no better
// throughput within the noise of a shared 2-core machine (median ns/op
// ratio two/one 1.06 on one key, 0.92 on 10,000 keys, over 8 paired runs
// of 16 goroutines) but cost more: 0.20 calls per decision instead of
// 0.12, about 1 server-µs more per decision, and one more allocation.
const defaultInflight = 1

// sweepAt is the number of groups above which idle groups are forgotten.
const sweepAt = 1024

// coalescer holds a store's groups (see WithCoalescing).
type coalescer struct {
	mu     sync.Mutex
	groups map[groupKey]*group
	limit  int // sweep the idle groups when len(groups) reaches it

	inflight int            // calls in flight per group; 0: defaultInflight
	hooks    *coalesceHooks // tests only
}

// coalesceHooks lets tests watch and hold the coalescer.
type coalesceHooks struct {
	// queued is called when a request joins a group's queue, with the
	// queue's new length.
	queued func(n int)
	// send is called before every script call a coalescing store makes
	// for Decide, alone or coalesced, with the call's keys; it may block.
	send func(keys []string)
	// returned is called when a coalesced call has returned, with its
	// keys and the client's error.
	returned func(keys []string, err error)
}

// groupKey names a group: the policies' identities in order (zero after
// the last) and the hash slot on a Cluster (0 elsewhere).
type groupKey struct {
	ids  [store.MaxPolicies]store.PolicyID
	slot uint16
}

// group is the decisions of one groupKey.
type group struct {
	key      groupKey
	ps       [store.MaxPolicies]*store.Policy // the policies, for the call's head
	npol     int
	inflight int       // its script calls in flight
	queue    []*waiter // the requests waiting for a call, in arrival order
}

// waiter is a queued request. The coalescer's mutex guards taken and b;
// once taken, state says who owns the waiter: while waiting the sender
// does, and whoever moves it out of waiting decides (left: the sender
// recycles it; delivered: the caller reads and recycles it).
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
	c.mu.Lock()
	g := c.groups[gk]
	if g == nil {
		g = c.newGroup(gk, ps)
	}
	if g.inflight < c.maxInflight() {
		g.inflight++
		c.mu.Unlock()
		if h := c.hooks; h != nil && h.send != nil {
			h.send(slices.Clone(keys)) // a copy, so that keys does not escape
		}
		err := s.decideAlone(ctx, keys, ps, cost, ds)
		s.next(g)
		return err
	}
	w := waiters.Get().(*waiter)
	w.cost = cost
	copy(w.keys[:], keys)
	g.queue = append(g.queue, w)
	n := len(g.queue)
	c.mu.Unlock()
	if h := c.hooks; h != nil && h.queued != nil {
		h.queued(n)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		c.mu.Lock()
		if !w.taken { // still queued: leave, charged nothing
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

func recycle(w *waiter) {
	*w = waiter{done: w.done}
	waiters.Put(w)
}

func (c *coalescer) maxInflight() int {
	if c.inflight > 0 {
		return c.inflight
	}
	return defaultInflight
}

// newGroup adds a group; c.mu is held.
func (c *coalescer) newGroup(gk groupKey, ps []*store.Policy) *group {
	if c.groups == nil {
		c.groups, c.limit = map[groupKey]*group{}, sweepAt
	}
	if len(c.groups) >= c.limit {
		for k, g := range c.groups {
			if g.inflight == 0 && len(g.queue) == 0 {
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

// next is called when one of g's calls has returned: it sends what is
// queued, or gives up the call's place.
func (s *Store) next(g *group) {
	c := &s.co
	c.mu.Lock()
	if len(g.queue) > 0 {
		c.mu.Unlock()
		go s.flush(g) // the returning caller does not wait for the next call
		return
	}
	g.inflight--
	c.mu.Unlock()
}

// flush sends g's queue, up to s's bound per call, one call after the
// other, until the queue is empty.
func (s *Store) flush(g *group) {
	c := &s.co
	npol := g.npol
	perCall := max(1, min(s.coalesce, maxKeysPerCall/npol))
	f := flusher{ds: make([]algo.Decision, perCall*npol), errs: make([]error, perCall)}
	for {
		b := &batch{}
		if s.timeout > 0 {
			b.ctx, b.cancel = context.WithTimeout(context.Background(), s.timeout)
		} else {
			b.ctx, b.cancel = context.WithCancel(context.Background())
		}
		c.mu.Lock()
		n := min(len(g.queue), perCall)
		if n == 0 {
			g.inflight--
			c.mu.Unlock()
			b.cancel()
			return
		}
		f.ws = append(f.ws[:0], g.queue[:n]...)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		clear(g.queue[len(g.queue):cap(g.queue)])
		for _, w := range f.ws {
			w.taken, w.b = true, b
		}
		b.live.Store(int32(n))
		c.mu.Unlock()
		f.send(s, b, g)
		b.cancel()
	}
}

// flusher is a flush's scratch space, reused from call to call.
type flusher struct {
	ws, sent []*waiter
	keys     []string
	ds       []algo.Decision
	errs     []error
}

// send makes the script call of f.ws (taken from g's queue) and hands each
// caller its result.
func (f *flusher) send(s *Store, b *batch, g *group) {
	npol, ws, ds, errs := g.npol, f.ws, f.ds, f.errs
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
			if err := decodeReply(reply, keys, npol, ds[:len(sent)*npol], cerrs); err != nil {
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
