package main

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
)

// TestBatchNoteUnixSocket runs the batch table on a server reached by a
// Unix socket, where the TCP proxy cannot stand in: the loopback row is
// measured, the proxy row is left out and the note says why.
func TestBatchNoteUnixSocket(t *testing.T) {
	srv := redistest.StandaloneUnix(t)
	r := runJSON(t, "-redis", srv.URL(), "-batch", "2")
	checkBatch(t, r, 2, netLoopback)
	if want := "no proxy row: the proxy stands in for redis:// URLs, not unix://"; r.BatchNote != want {
		t.Errorf("batch note %q, want %q", r.BatchNote, want)
	}
}

// TestBatchProxyDelay checks that the proxy of the batch table delays each
// direction by half of -rtt (so that a round trip adds -rtt), and that its
// network's row is named after -rtt, not after the delay.
func TestBatchProxyDelay(t *testing.T) {
	srv := redistest.Standalone(t)
	c, err := parseFlags([]string{"-redis", srv.URL(), "-rtt", "3ms", "-batch", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	note, err := rs.openBatch()
	if err != nil || note != "" {
		t.Fatalf("openBatch = %q, %v; want both rows", note, err)
	}
	if len(rs.nets) != 2 || rs.nets[1].name != netProxy || rs.nets[1].proxy == nil {
		t.Fatalf("networks %+v, want loopback and the proxy", rs.nets)
	}
	pn := rs.nets[1]
	if pn.rtt != 3*time.Millisecond || pn.proxy.delay != 1500*time.Microsecond {
		t.Errorf("proxy network: rtt %v, delay %v; want 3ms and 1.5ms each way", pn.rtt, pn.proxy.delay)
	}
	// A PING through it takes at least the round trip.
	ping, err := pingRTT(t.Context(), pn.store, 5)
	if err != nil {
		t.Fatal(err)
	}
	if ping < 3*time.Millisecond {
		t.Errorf("PING through the proxy took %v, want at least the 3ms round trip", ping)
	}
	if !strings.HasPrefix(pn.proxy.Addr(), "127.0.0.1:") {
		t.Errorf("proxy address %q, want a loopback port", pn.proxy.Addr())
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

// openBench opens a redisBench on url with flags args, closed by a
// cleanup.
func openBench(t *testing.T, url string, args ...string) *redisBench {
	t.Helper()
	c, err := parseFlags(append([]string{"-redis", url}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.close)
	return rs
}

// TestOpenBatchErrors checks that openBatch reports what stops it: a
// quota the limiter refuses, a negative delay for the proxy.
func TestOpenBatchErrors(t *testing.T) {
	srv := redistest.Standalone(t)
	rs := openBench(t, srv.URL())
	rs.c.quota = algo.Quota{} // no limit: throttled.New refuses it
	if _, err := rs.openBatch(); err == nil || len(rs.nets) != 0 {
		t.Errorf("openBatch with an empty quota = %v, networks %v; want an error and none", err, rs.nets)
	}

	rs = openBench(t, srv.URL())
	rs.c.rtt = -time.Millisecond // past parseFlags' check
	if _, err := rs.openBatch(); err == nil || !strings.Contains(err.Error(), "proxy: negative delay") {
		t.Errorf("openBatch with a negative round trip = %v, want the proxy's error", err)
	}
}

// TestBatchPassErrors checks that batchPass reports a failed warm-up (a
// server gone) and a failed PING (a user without it), naming the network.
func TestBatchPassErrors(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, tc := range []struct {
		name, url, want string
		kill            bool
	}{
		{"no PING", redisUser(t, srv, "noping", "-ping"), "batch loopback: PING: ", false},
		{"server gone", srv.URL(), "batch loopback: warm-up: ", true},
	} {
		rs := openBench(t, tc.url, "-batch", "3", "-rtt", "0")
		if _, err := rs.openBatch(); err != nil {
			t.Fatalf("%s: openBatch: %v", tc.name, err)
		}
		if tc.kill {
			srv.Stop()
		}
		b := &bench{c: *rs.c, progress: io.Discard, batch: map[string]*batchRuns{}}
		if err := b.batchPass(rs); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: batchPass = %v, want an error starting %q", tc.name, err, tc.want)
		}
	}
}
