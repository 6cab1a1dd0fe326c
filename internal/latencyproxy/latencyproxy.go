// Package latencyproxy is a TCP proxy that adds a round-trip time to every
// connection it carries, so that a benchmark against a server on loopback
// (a round trip of about 10 µs) can show what a real network's round trip
// (about 200 µs within a cloud zone) does to it. cmd/throttled-bench and
// bench/peers put it in front of Redis.
//
// Each chunk of bytes read from one side is written to the other a fixed
// delay (half the round trip) after it arrived, in order. Delays are not
// added up: a chunk that arrives while others wait is forwarded at its own
// arrival time plus the delay, so the proxy adds latency, not a throughput
// cap (a real network's pipe carries many packets in flight at once).
//
// Go's timers are too coarse for sub-millisecond delays (about 1 ms on an
// idle Linux VM). On Linux each direction waits on a timerfd, a kernel
// timer that wakes the waiting goroutine through the netpoller, so a wait
// costs next to no CPU (it spins only the last 50 µs, if the wake-up
// leaves any). Elsewhere (or should the kernel refuse a timerfd) a
// chunk's last stretch of waiting spins (see waitUntil): a waiting chunk
// keeps a core busy, and on a machine with few cores the spinning competes
// with the client and the server for CPU, the more so the more connections
// wait at once. Either way the round trip actually achieved is best
// measured (with PING, say) through the proxy rather than assumed.
package latencyproxy

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"
)

// Proxy forwards every connection made to its loopback address to a
// target, delaying each direction. Start one with Start; Close stops it.
// Its methods are safe for concurrent use.
type Proxy struct {
	ln      net.Listener
	network string // the target's network, "tcp" or "unix"
	target  string
	delay   time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on a free loopback TCP port and forwards every connection
// to target on network ("tcp" or "unix", as for net.Dial), delaying each
// direction by delay: a round trip through the proxy takes 2 × delay more
// than one made directly. A negative delay is an error.
func Start(network, target string, delay time.Duration) (*Proxy, error) {
	if delay < 0 {
		return nil, errors.New("latencyproxy: negative delay")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, network: network, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's address, host:port on 127.0.0.1, for clients to
// connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Delay returns the delay added to each direction: half the round trip.
func (p *Proxy) Delay() time.Duration { return p.delay }

// Close stops accepting, closes every connection and waits for the
// forwarding goroutines to end. It returns the error of closing the
// listener.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// track registers c to be closed by Close; false if the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(client)
		}()
	}
}

// serve forwards one connection both ways until either side ends.
func (p *Proxy) serve(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout(p.network, p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	setNoDelay(client)
	setNoDelay(server)
	// Each direction ends when its source does, passing the end on (a
	// half-close), so a reply still on its way is delivered; a failed
	// write ends its direction at once.
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(server, client) }()
	go func() { defer both.Done(); p.pipe(client, server) }()
	both.Wait()
}

func setNoDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
}

// chunk is what one read returned, with when it arrived.
type chunk struct {
	at time.Time
	b  []byte
}

// pipe copies src to dst, each chunk delay after it was read: a reader
// stamps and queues the chunks, a writer sends each when its time comes.
// The reader never waits for the writer (short of a full queue), so chunks
// in flight overlap as on a real link.
func (p *Proxy) pipe(dst, src net.Conn) {
	queue := make(chan chunk, 4096)
	w := newWaiter()
	defer w.close()
	go func() {
		defer close(queue)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{at: time.Now(), b: append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		w.wait(c.at.Add(p.delay))
		if _, err := dst.Write(c.b); err != nil {
			src.Close() // ends the reader; drain what it queued
			for range queue {
			}
			return
		}
	}
	if hc, ok := dst.(interface{ CloseWrite() error }); ok {
		hc.CloseWrite() // src ended: pass the end on
	} else {
		dst.Close()
	}
}

// waiter waits until an instant on the monotonic clock, never returning
// before it: a timerfd on Linux, a spinner elsewhere.
type waiter interface {
	wait(t time.Time)
	close()
}

// spinner waits with waitUntil.
type spinner struct{}

func (spinner) wait(t time.Time) { waitUntil(t) }
func (spinner) close()           {}

// spinFor is how much of a wait is spun rather than slept: Go's timers
// may fire a millisecond late, so only a wait longer than this sleeps, and
// only until this much is left.
const spinFor = 2 * time.Millisecond

// waitUntil returns at t (on the monotonic clock), a few µs late at most
// unless the machine is overloaded: it sleeps while more than spinFor is
// left, then spins, yielding the processor to other goroutines.
func waitUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		if d > spinFor {
			time.Sleep(d - spinFor)
			continue
		}
		runtime.Gosched()
	}
}
