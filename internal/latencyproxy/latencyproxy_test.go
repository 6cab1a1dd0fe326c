package latencyproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer accepts connections on a loopback port and writes back
// whatever it reads, until the client half-closes; it is closed by a
// cleanup function.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string, delay time.Duration) *Proxy {
	t.Helper()
	p, err := Start("tcp", target, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProxyForwardsExactly sends a megabyte of random bytes in writes of
// random sizes through the proxy to an echo server, reading concurrently:
// every byte comes back, in order, and the end of the stream (a
// half-close) is passed on both ways.
func TestProxyForwardsExactly(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Microsecond} {
		p := newProxy(t, echoServer(t), delay)
		c := dial(t, p.Addr())
		rng := rand.New(rand.NewPCG(1, 2))
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var got []byte
		var readErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			got, readErr = io.ReadAll(c)
		}()
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(40_000))
			if _, err := c.Write(rest[:n]); err != nil {
				t.Fatalf("delay %v: write: %v", delay, err)
			}
			rest = rest[n:]
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() { <-done })
		if readErr != nil {
			t.Fatalf("delay %v: read: %v", delay, readErr)
		}
		if !bytes.Equal(got, data) {
			i := 0
			for i < len(got) && i < len(data) && got[i] == data[i] {
				i++
			}
			t.Errorf("delay %v: %d bytes came back of %d, the first difference at byte %d", delay, len(got), len(data), i)
		}
	}
}

// roundTrip writes msg on c and reads as many bytes back, returning how
// long it took.
func roundTrip(t *testing.T, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if !bytes.Equal(buf, msg) {
		t.Fatalf("sent %q, got %q back", msg, buf)
	}
	return d
}

// TestProxyDelays checks that every round trip through the proxy takes at
// least twice its delay, the sub-millisecond ones (which Go's timers alone
// would round up to a millisecond) as the longer ones. Only the lower
// bound is asserted: a loaded machine may make any round trip longer.
func TestProxyDelays(t *testing.T) {
	echo := echoServer(t)
	for _, delay := range []time.Duration{100 * time.Microsecond, 3 * time.Millisecond} {
		c := dial(t, newProxy(t, echo, delay).Addr())
		for i := range 20 {
			if d := roundTrip(t, c, []byte("PING\r\n")); d < 2*delay {
				t.Errorf("delay %v: round trip %d took %v, want at least %v", delay, i, d, 2*delay)
			}
		}
	}
}

// TestProxyOverlaps checks that chunks in flight overlap: 20 writes 5 ms
// apart through a proxy delaying each way by 150 ms all come back within
// about 100 ms + 300 ms. A proxy that forwarded each chunk a delay after
// the previous one would take at least 20 × 150 ms; the upper bound
// asserted is far from both (the lower bound is the round trip).
func TestProxyOverlaps(t *testing.T) {
	const delay = 150 * time.Millisecond
	c := dial(t, newProxy(t, echoServer(t), delay).Addr())
	start := time.Now()
	var readErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, readErr = io.ReadFull(c, make([]byte, 20))
	}()
	for range 20 {
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	within(t, 20*time.Second, func() { <-done })
	if readErr != nil {
		t.Fatal(readErr)
	}
	if d := time.Since(start); d < 2*delay || d > 2*time.Second {
		t.Errorf("20 chunks took %v through a proxy of %v each way, want about %v (at least %v, far less than %v)", d, delay, 2*delay+100*time.Millisecond, 2*delay, 20*delay)
	}
}

// TestWaitUntil: waitUntil never returns early, for waits that spin only
// and for waits that sleep first; a time passed returns at once.
func TestWaitUntil(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, 30 * time.Microsecond, spinFor / 2, spinFor + 3*time.Millisecond} {
		start := time.Now()
		waitUntil(start.Add(d))
		if got := time.Since(start); got < d {
			t.Errorf("waitUntil(now + %v) returned after %v", d, got)
		}
	}
}

// TestProxyClose: Close ends the connections it carries and stops
// accepting; a proxy whose target does not answer closes the client's
// connection.
func TestProxyClose(t *testing.T) {
	p, err := Start("tcp", echoServer(t), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("hello"))
	within(t, 10*time.Second, func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	wantClosed(t, "after Close", c)
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c2.Close()
		t.Error("the proxy accepts connections after Close")
	}

	// A target that refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c = dial(t, newProxy(t, dead, 0).Addr())
	wantClosed(t, "through a proxy to nothing", c)

	if p, err := Start("tcp", dead, -time.Nanosecond); err == nil || err.Error() != "latencyproxy: negative delay" {
		if p != nil {
			p.Close()
		}
		t.Errorf("Start with a negative delay = %v, want an error", err)
	}
}

// wantClosed checks that c is closed by the other end within 10s.
func wantClosed(t *testing.T, what string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("read %s = %d, %v; want the connection closed", what, n, err)
	}
}

func TestRedisTarget(t *testing.T) {
	for _, tc := range []struct {
		url, target, err string
	}{
		{"redis://127.0.0.1:6490/0", "127.0.0.1:6490", ""},
		{"redis://user:pw@localhost/3", "localhost:6379", ""},
		{"redis://[::1]:7000", "[::1]:7000", ""},
		{"rediss://127.0.0.1:6490/0", "", "not rediss://"},
		{"unix:///tmp/redis.sock?db=0", "", "not unix://"},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001", "", "not a Cluster or Sentinel"},
		{"redis://127.0.0.1:26379?master_set=m", "", "not a Cluster or Sentinel"},
		{"redis:///0", "", "names no host"},
		{"redis://%zz", "", "invalid URL escape"},
	} {
		network, target, err := RedisTarget(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("RedisTarget(%q) = %q, %v; want an error saying %q", tc.url, target, err, tc.err)
			}
			continue
		}
		if err != nil || network != "tcp" || target != tc.target {
			t.Errorf("RedisTarget(%q) = %s %q, %v; want tcp %q", tc.url, network, target, err, tc.target)
		}
	}
	for in, want := range map[string]string{
		"redis://127.0.0.1:6490/0":      "redis://127.0.0.1:5000/0",
		"redis://user:pw@localhost/3":   "redis://user:pw@127.0.0.1:5000/3",
		"redis://127.0.0.1:6490?x=1#no": "redis://127.0.0.1:5000?x=1#no",
	} {
		if got, err := ProxiedURL(in, "127.0.0.1:5000"); err != nil || got != want {
			t.Errorf("ProxiedURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ProxiedURL("redis://%zz", "x"); err == nil {
		t.Error("proxiedURL of a bad URL succeeded")
	}
}

// TestWaitUntilOnTime checks that waitUntil returns at its time, not a
// spinFor later: the least lateness of a few waits longer than spinFor is
// under spinFor (one of them may be late on a loaded machine, not all).
func TestWaitUntilOnTime(t *testing.T) {
	least := time.Hour
	for range 5 {
		at := time.Now().Add(spinFor + 5*time.Millisecond)
		waitUntil(at)
		least = min(least, time.Since(at))
	}
	if least < 0 || least >= spinFor {
		t.Errorf("waitUntil returned %v after its time at best, want less than %v", least, spinFor)
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWaitUntilSleeps checks that a long wait sleeps, spinning only its
// last spinFor: waiting 300ms costs far less than 300ms of CPU.
func TestWaitUntilSleeps(t *testing.T) {
	before := cpuTime(t)
	waitUntil(time.Now().Add(300 * time.Millisecond))
	if used := cpuTime(t) - before; used > 60*time.Millisecond {
		t.Errorf("a 300ms wait used %v of CPU, want it to sleep all but the last %v", used, spinFor)
	}
}

// TestProxyPassesEndAtOnce checks that the end of a stream with nothing
// left to forward is passed on at once, not a delay later: a client that
// half-closes an idle connection to an echo server through a proxy of a
// 1s delay each way reads the end of the echo well within that second.
func TestProxyPassesEndAtOnce(t *testing.T) {
	p := newProxy(t, echoServer(t), time.Second)
	c := dial(t, p.Addr())
	start := time.Now()
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("read after the half-close = %d, %v; want the end of the stream", n, err)
	}
	if took := time.Since(start); took >= time.Second {
		t.Errorf("the end came back after %v, want it passed on at once both ways", took)
	}
}

// TestDelay: Delay is the delay each way that Start was given, and a round
// trip through the proxy takes at least twice that.
func TestDelay(t *testing.T) {
	p := newProxy(t, echoServer(t), 1500*time.Microsecond)
	if d := p.Delay(); d != 1500*time.Microsecond {
		t.Errorf("Delay() = %v, want 1.5ms", d)
	}
	if d := roundTrip(t, dial(t, p.Addr()), []byte("PING\r\n")); d < 3*time.Millisecond {
		t.Errorf("round trip %v, want at least 3ms", d)
	}
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want a loopback port", p.Addr())
	}
}

// within fails the test if fn does not return within d: a mutant that
// loops for ever fails here, not at go test's timeout.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}
