package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

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
	if pn.rtt != 3*time.Millisecond || pn.proxy.Delay() != 1500*time.Microsecond {
		t.Errorf("proxy network: rtt %v, delay %v; want 3ms and 1.5ms each way", pn.rtt, pn.proxy.Delay())
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

// TestSerialPass checks the serial Redis cells: every row measured in the
// same rounds (as many calls each), on the serial store; with -duration,
// sized by the probe so that a row's calls take about that long; no server
// statistics (the paired rounds measure the serial server time).
func TestSerialPass(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, tc := range []struct {
		args []string
		ops  func(n int64) bool
	}{
		{[]string{"-redis-n", "30"}, func(n int64) bool { return n == 30 }},
		// 20 ms of calls of tens of µs: hundreds of calls, not the 10,000
		// of -redis-n.
		{[]string{"-duration", "20ms"}, func(n int64) bool { return n > 20 && n < 10_000 }},
	} {
		rs := openBench(t, srv.URL(), tc.args...)
		b := &bench{c: *rs.c, progress: io.Discard, runs: map[cellKey][]measurement{}, shape: map[cellKey][2]int{}, server: map[string]*serverStat{}}
		if err := b.serialPass(rs.serial); err != nil {
			t.Fatal(err)
		}
		if len(b.order) != len(redisRows()) {
			t.Fatalf("%v: cells %v, want one per Redis row", tc.args, b.order)
		}
		n := b.runs[b.order[0]][0].ops
		for i, k := range b.order {
			m := b.runs[k]
			if k != (cellKey{tableOneKey, redisRows()[i], colRedSerial}) || len(m) != 1 || m[0].ops != n || m[0].elapsed <= 0 || b.shape[k] != [2]int{1, 1} {
				t.Errorf("%v: cell %v: %+v, shape %v; want row %s's serial cell of %d calls", tc.args, k, m, b.shape[k], redisRows()[i], n)
			}
		}
		if !tc.ops(n) {
			t.Errorf("%v: %d calls a row", tc.args, n)
		}
		if len(b.server) != 0 {
			t.Errorf("%v: server statistics %v from the serial pass", tc.args, b.server)
		}
	}

	// A quota of one request an hour: the algorithms deny every timed call
	// (the warm-up took the one allowed; one more if a fixed window's hour
	// turns during the test), INCRBY and the floor none.
	rs := openBench(t, srv.URL(), "-redis-n", "20", "-quota", "1/h")
	b := &bench{c: *rs.c, progress: io.Discard, runs: map[cellKey][]measurement{}, shape: map[cellKey][2]int{}, server: map[string]*serverStat{}}
	if err := b.serialPass(rs.serial); err != nil {
		t.Fatal(err)
	}
	for _, k := range b.order {
		lo, hi := int64(19), int64(20)
		if k.row == rowBaseline || k.row == rowFloor {
			lo, hi = 0, 0
		}
		if m := b.runs[k][0]; m.denied < lo || m.denied > hi {
			t.Errorf("cell %v: %d of %d calls denied, want %d to %d", k, m.denied, m.ops, lo, hi)
		}
	}
}

// TestPairedCalls: a tenth of -redis-n serial calls a round, at least 100.
func TestPairedCalls(t *testing.T) {
	for _, tc := range [][2]int64{{1, 100}, {1000, 100}, {1009, 100}, {5000, 500}, {10_000, 1000}} {
		if got := pairedCalls(tc[0]); int64(got) != tc[1] {
			t.Errorf("pairedCalls(%d) = %d, want %d", tc[0], got, tc[1])
		}
	}
}

// TestStats reads a row's server statistics: INCRBY's for the baseline,
// EVALSHA's and the EVAL fallbacks for a script's row.
func TestStats(t *testing.T) {
	srv := redistest.Standalone(t)
	rs := openBench(t, srv.URL())
	if err := rs.resetStats(); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "EVAL", "return 1", "0")
	srv.Do(t, "INCRBY", incrKey, "1")
	srv.Do(t, "INCRBY", incrKey, "1")
	for _, tc := range []struct {
		row, cmd    string
		calls, eval int64
	}{{rowBaseline, "incrby", 2, 0}, {"gcra", "evalsha", 0, 1}, {rowFloor, "evalsha", 0, 1}} {
		st, err := rs.stats(tc.row)
		if err != nil {
			t.Fatal(err)
		}
		if st.Row != tc.row || st.Command != tc.cmd || st.Calls != tc.calls || st.EvalCalls != tc.eval {
			t.Errorf("stats(%s) = %+v, want %s with %d calls and %d EVAL", tc.row, st, tc.cmd, tc.calls, tc.eval)
		}
	}
}

// TestCloseBoth: close closes the serial store's client with the other.
func TestCloseBoth(t *testing.T) {
	srv := redistest.Standalone(t)
	c, err := parseFlags([]string{"-redis", srv.URL()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	if rs.serial == nil || rs.serial.client == rs.client || rs.serial.serial != nil {
		t.Fatalf("openRedis: serial store %+v, want one of its own", rs.serial)
	}
	rs.close()
	for name, cl := range map[string]rueidis.Client{"main": rs.client, "serial": rs.serial.client} {
		if err := cl.Do(context.Background(), cl.B().Ping().Build()).Error(); !errors.Is(err, rueidis.ErrClosing) {
			t.Errorf("PING on the %s client after close: %v, want %v", name, err, rueidis.ErrClosing)
		}
	}
}
