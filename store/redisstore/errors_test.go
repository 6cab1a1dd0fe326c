package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// checkMessage checks the "throttled:" prefix every error message carries.
func checkMessage(t testing.TB, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "throttled:") {
		t.Errorf("error message %q does not start with \"throttled:\"", err)
	}
}

// wantUnavailable checks that err is a store failure and not a script
// error or invalid input.
func wantUnavailable(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want store.ErrUnavailable", what)
	}
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) || errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("%s: %v, want store.ErrUnavailable only", what, err)
	}
	checkMessage(t, err)
}

// wantScript checks that err is a script error and not a store failure.
func wantScript(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want store.ErrScript", what)
	}
	if !errors.Is(err, store.ErrScript) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("%s: %v, want store.ErrScript only", what, err)
	}
	checkMessage(t, err)
}

// wantInvalid checks that err reports invalid input.
func wantInvalid(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want algo.ErrInvalid", what)
	}
	var de *algo.DataError
	if !errors.Is(err, algo.ErrInvalid) || !errors.As(err, &de) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
		t.Fatalf("%s: %v, want an *algo.DataError matching algo.ErrInvalid only", what, err)
	}
	checkMessage(t, err)
}

// TestInvalidInput checks that invalid input is refused before anything is
// sent: the server sees no script call and holds no key.
func TestInvalidInput(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	ctx := context.Background()
	good := compile(t, algo.TokenBucket, algo.PerMin(10))
	halfBuilt := &algo.Params{Algorithm: algo.TokenBucket, Period: 60_000_000, Limit: 10, Burst: 10}
	badAlgo := *good
	badAlgo.Algorithm = 0
	outOfRange := *good
	outOfRange.Algorithm = algo.GCRA + 1

	before := commandStats(t, srv)
	for _, tc := range []struct {
		name string
		key  string
		p    *algo.Params
		cost int64
		in   string // what the message names
	}{
		{"empty key", "", good, 1, "key"},
		{"negative cost", "k", good, -1, "cost -1"},
		{"most negative cost", "k", good, -1 << 63, "cost"},
		{"nil params", "k", nil, 1, "params"},
		{"zero params", "k", &algo.Params{}, 1, "params"},
		{"half-built params", "k", halfBuilt, 1, "params"},
		{"no algorithm", "k", &badAlgo, 1, "params"},
		{"unknown algorithm", "k", &outOfRange, 1, "params"},
	} {
		_, err := s.Decide(ctx, tc.key, tc.p, tc.cost)
		wantInvalid(t, tc.name, err)
		if !strings.Contains(err.Error(), tc.in) {
			t.Errorf("%s: %q does not name %q", tc.name, err, tc.in)
		}
	}
	for _, tc := range []struct {
		name string
		key  string
		alg  algo.Algorithm
	}{
		{"Reset with an empty key", "", algo.GCRA},
		{"Reset with no algorithm", "k", 0},
		{"Reset with an unknown algorithm", "k", algo.GCRA + 1},
	} {
		wantInvalid(t, tc.name, s.Reset(ctx, tc.key, tc.alg))
	}
	for cmd, n := range statsDelta(before, commandStats(t, srv)) {
		if cmd != "info" {
			t.Errorf("invalid requests sent %d %s", n, cmd)
		}
	}

	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("invalid requests left %s keys", got)
	}

	// A fake clock outside the range the scripts handle is invalid input too.
	for _, now := range []int64{-1, algo.MaxTime + 1} {
		bad := mustNew(t, c, WithClock(fakeAt(now)))
		_, err := bad.Decide(ctx, "k", good, 1)
		wantInvalid(t, "time "+strconv.FormatInt(now, 10), err)
	}
}

type fakeAt int64

func (f fakeAt) Now() int64 { return int64(f) }

func TestNewInvalid(t *testing.T) {
	_, err := New(nil)
	wantInvalid(t, "New(nil)", err)

	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	for _, d := range []time.Duration{-time.Nanosecond, -999 * time.Microsecond, -time.Millisecond, -time.Hour, math.MinInt64} {
		_, err = New(c, WithTTLSlack(d))
		wantInvalid(t, fmt.Sprintf("WithTTLSlack(%v)", d), err)
		if !strings.Contains(err.Error(), d.String()) {
			t.Errorf("WithTTLSlack(%v): %q does not name the value", d, err)
		}
	}

	// Valid slacks are rounded up to whole ms, without overflow.
	p := compile(t, algo.FixedWindow, algo.PerMin(10))
	for _, tc := range []struct {
		d      time.Duration
		wantMS int64
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + time.Nanosecond, 2},
		{time.Hour, 3_600_000},
		{math.MaxInt64, math.MaxInt64/int64(time.Millisecond) + 1},
	} {
		// 15s into a minute: ResetAfter is 45s.
		s, err := New(c, WithTTLSlack(tc.d), WithClock(clock.NewFake(t0+15_000_000)))
		if err != nil {
			t.Fatalf("WithTTLSlack(%v): %v", tc.d, err)
		}
		if d := decide(t, s, "slack", p, 1); d.ResetAfter != 45_000_000 {
			t.Fatalf("ResetAfter %d, want 45s", d.ResetAfter)
		}
		want := 45_000 + tc.wantMS
		if got := pttl(t, srv, s.Key("slack", algo.FixedWindow)); got > want || got < want-1000 {
			t.Errorf("WithTTLSlack(%v): PTTL %dms, want %dms", tc.d, got, want)
		}
		srv.Do(t, "FLUSHALL")
	}
}

// TestOutOfMemory checks that a server refusing writes for lack of memory
// is a store failure (retrying later may succeed), not a script error, and
// that decisions that write nothing still work.
func TestOutOfMemory(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	p := compile(t, algo.TokenBucket, algo.PerMin(10))
	srv.Do(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	_, err := s.Decide(context.Background(), "k", p, 1)
	wantUnavailable(t, "Decide on a server out of memory", err)
	if !strings.Contains(err.Error(), "OOM") {
		t.Errorf("%q does not carry the server's OOM error", err)
	}
	if d := decide(t, s, "k", p, 0); d.Limited || d.Remaining != 10 {
		t.Errorf("a peek on a server out of memory: %+v", d)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "0")
	if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 9 {
		t.Errorf("after memory is available again: %+v", d)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestFromURLInvalid(t *testing.T) {
	for _, url := range []string{
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/notadb",
		"redis://127.0.0.1:6379/0?dial_timeout=soon",
		"redis://127.0.0.1:port/0",
	} {
		s, err := FromURL(url)
		if s != nil {
			t.Errorf("FromURL(%q) returned a store", url)
		}
		wantInvalid(t, "FromURL("+url+")", err)
		if !strings.Contains(err.Error(), url) {
			t.Errorf("FromURL(%q): %q does not name the URL", url, err)
		}
	}

	// A password never shows in an error message.
	for _, url := range []string{
		"redis://user:s3cret@127.0.0.1:abc/0",
		"redis://:s3cret@[::1/0",
		"redis://user:s3cret@127.0.0.1:6379/notadb",
		"unix://user:s3cret@/tmp/nowhere.sock?db=x",
	} {
		_, err := FromURL(url)
		wantInvalid(t, "FromURL with a password", err)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("FromURL(%q): the message reveals the password: %q", url, err)
		}
		if !strings.Contains(err.Error(), "***@") {
			t.Errorf("FromURL(%q): %q does not name the (redacted) URL", url, err)
		}
	}
}

// TestUnreachable checks that a server that is not there is a store
// failure, and that a password does not leak into the message.
func TestUnreachable(t *testing.T) {
	addr := freeAddr(t)
	for _, url := range []string{
		"redis://" + addr + "/0",
		"redis://user:s3cret@" + addr + "/0",
		"unix://" + t.TempDir() + "/nothing.sock",
	} {
		start := time.Now()
		s, err := FromURL(url)
		if s != nil {
			t.Errorf("FromURL(%q) returned a store", url)
		}
		wantUnavailable(t, "FromURL("+url+")", err)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("FromURL(%q): the message reveals the password: %q", url, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("FromURL(%q) took %v to fail", url, d)
		}
	}
}

// TestFromURLAuth checks a server that wants a password: the right one
// connects, a wrong one is a store failure whose message reveals neither.
func TestFromURLAuth(t *testing.T) {
	srv := redistest.Standalone(t)
	srv.Do(t, "CONFIG", "SET", "requirepass", "right-pw")
	_, err := FromURL("redis://:wrong-pw@" + srv.Addr() + "/0")
	wantUnavailable(t, "FromURL with a wrong password", err)
	if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), "right-pw") {
		t.Errorf("the message reveals a password: %q", err)
	}
	s, err := FromURL("redis://:right-pw@" + srv.Addr() + "/0")
	if err != nil {
		t.Fatalf("FromURL with the right password: %v", err)
	}
	defer s.Close()
	decide(t, s, "k", compile(t, algo.GCRA, algo.PerSec(5)), 1)
}

// TestServerGoesAway checks that decisions on a server that was stopped
// fail with store.ErrUnavailable, promptly.
func TestServerGoesAway(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	p := compile(t, algo.TokenBucket, algo.PerSec(10))
	decide(t, s, "k", p, 1)

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 { // the first call may see the broken connection, later ones a refused dial
		_, err := s.Decide(ctx, "k", p, 1)
		wantUnavailable(t, "Decide #"+strconv.Itoa(i)+" on a stopped server", err)
	}
	wantUnavailable(t, "Reset on a stopped server", s.Reset(ctx, "k", algo.TokenBucket))
	if ctx.Err() != nil {
		t.Errorf("failing on a stopped server took more than 10s")
	}
}

// TestContextErrors checks that a done context is a store failure that
// also matches the context's error.
func TestContextErrors(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	p := compile(t, algo.GCRA, algo.PerSec(10))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Decide(cancelled, "k", p, 1)
	wantUnavailable(t, "Decide with a cancelled context", err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Decide with a cancelled context: %v does not match context.Canceled", err)
	}
	err = s.Reset(cancelled, "k", algo.GCRA)
	wantUnavailable(t, "Reset with a cancelled context", err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Reset with a cancelled context: %v does not match context.Canceled", err)
	}

	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	_, err = s.Decide(expired, "k", p, 1)
	wantUnavailable(t, "Decide with an expired deadline", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Decide with an expired deadline: %v does not match context.DeadlineExceeded", err)
	}
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("calls with a done context wrote %s keys", got)
	}

	// A deadline that expires while the server does not answer: pause all
	// clients for 500ms (the harness's UNPAUSE may wait for the pause to end).
	srv.Do(t, "CLIENT", "PAUSE", "500", "ALL")
	tiny, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	start := time.Now()
	_, err = s.Decide(tiny, "k", p, 1)
	elapsed := time.Since(start)
	srv.Do(t, "CLIENT", "UNPAUSE")
	wantUnavailable(t, "Decide past its deadline", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Decide past its deadline: %v does not match context.DeadlineExceeded", err)
	}
	if elapsed > time.Second {
		t.Errorf("Decide past its 50ms deadline returned after %v", elapsed)
	}
	// The client recovers once the server answers again.
	ok, cancel4 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel4()
	if _, err := s.Decide(ok, "k2", p, 1); err != nil {
		t.Errorf("Decide after the pause: %v", err)
	}
}

// TestCorruptState checks that state someone else wrote under a key is a
// script error, not a store failure, and is left alone.
func TestCorruptState(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		p := compile(t, a, algo.PerMin(10))
		rk := s.Key("victim", a)
		for _, raw := range []string{"garbage", "", "1", "1:2:3:4", "1:x", "1.5:2", ":1", "1:2:"} {
			srv.Do(t, "SET", rk, raw)
			for _, cost := range []int64{0, 1} {
				_, err := s.Decide(ctx, "victim", p, cost)
				wantScript(t, a.String()+" on "+strconv.Quote(raw), err)
				if !strings.Contains(err.Error(), rk) {
					t.Errorf("%s on %q: %q does not name the key %q", a, raw, err, rk)
				}
			}
			if got := srv.Do(t, "GET", rk); got != raw {
				t.Errorf("%s: corrupt state %q was overwritten with %q", a, raw, got)
			}
		}
		// A key of another type.
		srv.Do(t, "DEL", rk)
		srv.Do(t, "RPUSH", rk, "x")
		_, err := s.Decide(ctx, "victim", p, 1)
		wantScript(t, a.String()+" on a list", err)
		if !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Errorf("%s on a list: %q does not carry the server's WRONGTYPE", a, err)
		}
		var re *rueidis.RedisError
		if !errors.As(err, &re) {
			t.Errorf("%s on a list: %v does not wrap the *rueidis.RedisError", a, err)
		}
		// Reset clears it.
		if err := s.Reset(ctx, "victim", a); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		decide(t, s, "victim", p, 1)
	}
}

// evalReply runs a script returning a fixed value on the server.
func evalReply(t testing.TB, c rueidis.Client, body string) rueidis.RedisResult {
	t.Helper()
	return c.Do(context.Background(), c.B().Eval().Script(body).Numkeys(0).Build())
}

// decodeOne decodes a reply holding one decision.
func decodeOne(reply rueidis.RedisResult, key string) (algo.Decision, error) {
	var d [1]algo.Decision
	err := decodeReply(reply, []string{key}, d[:])
	return d[0], err
}

// TestDecodeReply feeds decodeReply real replies of every shape a script
// could return: the scripts reply with one string of little-endian
// float64s, {Limited, Remaining, RetryAfter, ResetAfter} per key.
func TestDecodeReply(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())

	for _, tc := range []struct {
		body string
		want algo.Decision
	}{
		{"return struct.pack('<dddd', 0, 5, 0, 1000)", algo.Decision{Remaining: 5, ResetAfter: 1000}},
		{"return struct.pack('<dddd', 1, 0, -1, 7)", algo.Decision{Limited: true, RetryAfter: algo.Never, ResetAfter: 7}},
		{"return struct.pack('<dddd', 1, 3, 250, 4503599627370496)", algo.Decision{Limited: true, Remaining: 3, RetryAfter: 250, ResetAfter: 1 << 52}},
		{"return struct.pack('<dddd', 0, 9007199254740992, 0, 9007199254740992)", algo.Decision{Remaining: 1 << 53, ResetAfter: 1 << 53}},
	} {
		got, err := decodeOne(evalReply(t, c, tc.body), "k")
		if err != nil || got != tc.want {
			t.Errorf("%s: decodeReply = %+v, %v; want %+v", tc.body, got, err, tc.want)
		}
	}

	for _, body := range []string{
		"return struct.pack('<dd', 0, 1)",                // too short
		"return struct.pack('<ddddd', 0, 1, 2, 3, 4)",    // too long
		"return struct.pack('<dddd', 0, 1, 2, 3) .. 'x'", // a stray byte
		"return ''", // empty
		"return struct.pack('<dddd', 2, 0, 0, 0)",                // limited is not a bool
		"return struct.pack('<dddd', -1, 0, 0, 0)",               // limited is not a bool
		"return struct.pack('<dddd', 0, 1.5, 0, 0)",              // not an integer
		"return struct.pack('<dddd', 0, 0, 0, 0/0)",              // not a number
		"return struct.pack('<dddd', 0, 1/0, 0, 0)",              // infinite
		"return struct.pack('<dddd', 0, 9007199254740994, 0, 0)", // beyond 2^53
		"return {0, 1, 2, 3}",                                    // the old reply: an array
		"return 1",                                               // an integer
		"return redis.status_reply('OK')",                        // a status
		"return nil",                                             // nil
		"return false",                                           // nil too
		"return redis.error_reply('broken')",                     // a script error
		"error('boom')",                                          // a Lua runtime error
	} {
		reply := evalReply(t, c, body)
		_, err := decodeOne(reply, "throttled:v2:gcra:{k}")
		wantScript(t, body, err)
		if !strings.Contains(err.Error(), "throttled:v2:gcra:{k}") {
			t.Errorf("%s: %q does not name the key", body, err)
		}
	}
}

// TestDecodeReplyMany checks the length check of a reply holding several
// decisions (one script call for several keys).
func TestDecodeReplyMany(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	out := make([]algo.Decision, 2)
	if err := decodeReply(evalReply(t, c, "return struct.pack('<dddddddd', 0, 1, 2, 3, 1, 0, 5, 6)"), []string{"k"}, out); err != nil ||
		out[0] != (algo.Decision{Remaining: 1, RetryAfter: 2, ResetAfter: 3}) ||
		out[1] != (algo.Decision{Limited: true, RetryAfter: 5, ResetAfter: 6}) {
		t.Errorf("two decisions: %+v, %v", out, err)
	}
	for _, body := range []string{
		"return struct.pack('<dddd', 0, 1, 2, 3)",
		"return struct.pack('<ddddddd', 0, 1, 2, 3, 0, 1, 2)",
		"return struct.pack('<ddddddddd', 0, 1, 2, 3, 0, 1, 2, 3, 0)",
		"return struct.pack('<dddddddd', 0, 1, 2, 3, 3, 1, 2, 3)",
		"return struct.pack('<dddddddd', 0, 1, 2, 3, 0, 1, 2.5, 3)",
	} {
		err := decodeReply(evalReply(t, c, body), []string{"k", "k2"}, out)
		wantScript(t, body, err)
		if err != nil && !strings.Contains(err.Error(), "k and 1 more") {
			t.Errorf("%s: %q does not name the call's keys", body, err)
		}
	}
}

// TestDecodeState checks the binary state codec, its bounds and malformed
// stored values.
func TestDecodeState(t *testing.T) {
	le := func(fs ...float64) string {
		b := make([]byte, 0, 8*len(fs))
		for _, f := range fs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		return string(b)
	}
	for _, fields := range [][]int64{{1, 2}, {0, 3, 1 << 52}, {1<<53 - 1, 1 << 53}} {
		raw := encodeState(fields)
		if len(raw) != 8*len(fields) {
			t.Errorf("encodeState(%v) has %d bytes", fields, len(raw))
		}
		got, err := decodeState(raw, len(fields))
		if err != nil || !slices.Equal(got, fields) {
			t.Errorf("decodeState(encodeState(%v)) = %v, %v", fields, got, err)
		}
	}
	for _, tc := range []struct {
		raw string
		n   int
	}{
		{"", 2}, {"garbage", 2}, {le(1), 2}, {le(1, 2, 3), 2}, {le(1, 2), 3},
		{le(1, 2) + "\x00", 2},
		{le(1, -3), 2},          // negative
		{le(1.5, 2), 2},         // not an integer
		{le(1, 1<<53+2), 2},     // beyond 2^53
		{le(1, math.NaN()), 2},  // not a number
		{le(math.Inf(1), 1), 2}, // infinite
	} {
		got, err := decodeState(tc.raw, tc.n)
		wantScript(t, "decodeState("+strconv.Quote(tc.raw)+")", err)
		if got != nil {
			t.Errorf("decodeState(%q, %d) = %v with an error", tc.raw, tc.n, got)
		}
	}
}
