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
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/internal/storeutil"
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
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	ctx := context.Background()
	good := pol(t, algo.TokenBucket, algo.PerMin(10))
	nine := make([]*store.Policy, store.MaxPolicies+1)
	for i := range nine {
		nine[i] = pol(t, algo.FixedWindow, algo.PerMin(int64(i+1)))
	}

	before := commandStats(t, srv)
	for _, tc := range []struct {
		name string
		key  string
		ps   []*store.Policy
		cost int64
		in   string // what the message names
	}{
		{"empty key", "", []*store.Policy{good}, 1, "key"},
		{"negative cost", "k", []*store.Policy{good}, -1, "cost -1"},
		{"most negative cost", "k", []*store.Policy{good}, -1 << 63, "cost"},
		{"nil policies", "k", nil, 1, "number of policies 0"},
		{"no policy", "k", []*store.Policy{}, 1, "number of policies 0"},
		{"too many policies", "k", nine, 1, "number of policies 9"},
		{"nil policy", "k", []*store.Policy{good, nil}, 1, "policy"},
	} {
		_, err := s.Decide(ctx, tc.key, tc.ps, tc.cost, nil)
		wantInvalid(t, tc.name, err)
		if !strings.Contains(err.Error(), tc.in) {
			t.Errorf("%s: %q does not name %q", tc.name, err, tc.in)
		}
	}
	for _, tc := range []struct {
		name string
		key  string
		ps   []*store.Policy
	}{
		{"Reset with an empty key", "", []*store.Policy{good}},
		{"Reset with no policy", "k", nil},
		{"Reset with too many policies", "k", nine},
		{"Reset with a nil policy", "k", []*store.Policy{nil}},
	} {
		wantInvalid(t, tc.name, s.Reset(ctx, tc.key, tc.ps))
	}
	// A batch whose shared input is bad fails as a whole.
	errs := make([]error, 2)
	reqs := []store.Request[string]{{Key: "a", Cost: 1}, {Key: "b", Cost: 1}}
	for _, ps := range [][]*store.Policy{nil, nine, {nil}} {
		s.DecideBatch(ctx, ps, reqs, make([]algo.Decision, 2), nil, errs)
		for i, err := range errs {
			wantInvalid(t, fmt.Sprintf("DecideBatch request %d with %d policies", i, len(ps)), err)
		}
	}
	// A batch of nothing but bad requests sends nothing.
	s.DecideBatch(ctx, []*store.Policy{good}, []store.Request[string]{{Key: "", Cost: 1}, {Key: "k", Cost: -3}}, make([]algo.Decision, 2), nil, errs)
	wantInvalid(t, "DecideBatch of an empty key", errs[0])
	wantInvalid(t, "DecideBatch of a negative cost", errs[1])
	for cmd, n := range statsDelta(before, commandStats(t, srv)) {
		if cmd != "info" {
			t.Errorf("invalid requests sent %d %s", n, cmd)
		}
	}
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("invalid requests left %s keys", got)
	}

	// A bad request of a batch fails alone.
	out := make([]algo.Decision, 3)
	errs = make([]error, 3)
	s.DecideBatch(ctx, []*store.Policy{good}, []store.Request[string]{{Key: "x", Cost: 1}, {Key: "", Cost: 1}, {Key: "y", Cost: -1}}, out, nil, errs)
	if errs[0] != nil || out[0] != freshDecision(good, t0, 1) {
		t.Errorf("the good request of a batch with bad ones: %+v, %v", out[0], errs[0])
	}
	wantInvalid(t, "an empty key in a batch", errs[1])
	wantInvalid(t, "a negative cost in a batch", errs[2])
	if got := srv.Do(t, "DBSIZE"); got != "1" {
		t.Errorf("a batch with one good request left %s keys, want 1", got)
	}

	// A fake clock outside the range the script handles is invalid input too.
	for _, now := range []int64{-1, algo.MaxTime + 1, math.MinInt64} {
		bad := mustNew(t, c, WithClock(fakeAt(now)))
		_, err := bad.Decide(ctx, "k", []*store.Policy{good}, 1, nil)
		wantInvalid(t, "time "+strconv.FormatInt(now, 10), err)
		bad.DecideBatch(ctx, []*store.Policy{good}, reqs, make([]algo.Decision, 2), nil, errs[:2])
		wantInvalid(t, "DecideBatch at time "+strconv.FormatInt(now, 10), errs[0])
	}
	edge := mustNew(t, c, WithClock(fakeAt(algo.MaxTime)))
	if d := decide(t, edge, "edge", good, 1); d.Limited || d.Remaining != 9 {
		t.Errorf("at MaxTime: %+v, want the first decision of a fresh key", d)
	}
}

// freshDecision returns the decision of a request of cost at now on a
// fresh key under p, per the step functions.
func freshDecision(p *store.Policy, now, cost int64) algo.Decision {
	var st steps.Slots
	d, _, _ := steps.Step(&st, true, p.Params(), now, cost)
	return d
}

// fakeAt is a clock stopped at a time.
type fakeAt int64

// Now returns the stopped time.
func (f fakeAt) Now() int64 { return int64(f) }

// TestNewInvalid checks that bad options are refused with a *DataError
// naming them, and the valid slacks' rounding.
func TestNewInvalid(t *testing.T) {
	_, err := New(nil)
	wantInvalid(t, "New(nil)", err)

	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	for _, d := range []time.Duration{-time.Nanosecond, -999 * time.Microsecond, -time.Millisecond, -time.Hour, math.MinInt64,
		time.Hour + time.Nanosecond, 2 * time.Hour, math.MaxInt64} {
		_, err = New(c, WithTTLSlack(d))
		wantInvalid(t, fmt.Sprintf("WithTTLSlack(%v)", d), err)
		if !strings.Contains(err.Error(), d.String()) {
			t.Errorf("WithTTLSlack(%v): %q does not name the value", d, err)
		}
	}
	for _, p := range []string{"", "{", "}", "a{b", "x}", "{tag}:", "app:{"} {
		_, err = New(c, WithPrefix(p))
		wantInvalid(t, fmt.Sprintf("WithPrefix(%q)", p), err)
		if !strings.Contains(err.Error(), "prefix "+strconv.Quote(p)) {
			t.Errorf("WithPrefix(%q): %q does not name the value", p, err)
		}
	}
	for _, tc := range []struct {
		name string
		c    store.Clock
	}{{"nil", nil}, {"nil *clock.Fake", (*clock.Fake)(nil)}, {"nil *store.FakeClock", (*store.FakeClock)(nil)}} {
		_, err = New(c, WithClock(tc.c))
		wantInvalid(t, "WithClock("+tc.name+")", err)
		if !strings.Contains(err.Error(), "clock") {
			t.Errorf("WithClock(%s): %q does not name the clock", tc.name, err)
		}
	}
	_, err = New(c, WithPrefix("ok:"), nil)
	wantInvalid(t, "a nil option", err)
	// The last bad option is reported even after good ones.
	_, err = New(c, WithPrefix("ok:"), WithTTLSlack(time.Second), WithPrefix("{"))
	wantInvalid(t, "WithPrefix({) after good options", err)

	for _, d := range []time.Duration{-time.Nanosecond, -time.Second, time.Minute + time.Nanosecond, math.MaxInt64} {
		_, err = New(c, WithTimeout(d))
		wantInvalid(t, fmt.Sprintf("WithTimeout(%v)", d), err)
		if !strings.Contains(err.Error(), "timeout "+strconv.Quote(d.String())) {
			t.Errorf("WithTimeout(%v): %q does not name the value", d, err)
		}
	}
	for _, d := range []time.Duration{0, time.Nanosecond, time.Minute} {
		if _, err := New(c, WithTimeout(d)); err != nil {
			t.Errorf("WithTimeout(%v): %v", d, err)
		}
	}

	// Valid slacks are rounded up to whole ms.
	p := pol(t, algo.FixedWindow, algo.PerMin(10))
	for _, tc := range []struct {
		d      time.Duration
		wantMS int64
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + time.Nanosecond, 2},
		{1500 * time.Microsecond, 2},
		{250 * time.Millisecond, 250},
		{time.Hour - time.Nanosecond, 3_600_000},
		{time.Hour, 3_600_000},
	} {
		// 15s into a minute: ResetAfter is 45s.
		s, err := New(c, WithTTLSlack(tc.d), WithClock(store.NewFakeClock(t0+15_000_000)))
		if err != nil {
			t.Fatalf("WithTTLSlack(%v): %v", tc.d, err)
		}
		// What the script is given; the PTTL below can only bound it
		// within the second the server's clock runs meanwhile.
		if s.slack != tc.wantMS {
			t.Errorf("WithTTLSlack(%v): slack %dms, want %dms", tc.d, s.slack, tc.wantMS)
		}
		if d := decide(t, s, "slack", p, 1); d.ResetAfter != 45_000_000 {
			t.Fatalf("ResetAfter %d, want 45s", d.ResetAfter)
		}
		want := 45_000 + tc.wantMS
		if got := pttl(t, srv, s.Key("slack", p)); got > want || got < want-1000 {
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
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	p := pol(t, algo.TokenBucket, algo.PerMin(10))
	srv.Do(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	_, err := s.Decide(context.Background(), "k", []*store.Policy{p}, 1, nil)
	wantUnavailable(t, "Decide on a server out of memory", err)
	if !strings.Contains(err.Error(), "OOM") {
		t.Errorf("%q does not carry the server's OOM error", err)
	}
	// Two policies: neither is charged.
	two := []*store.Policy{p, pol(t, algo.GCRA, algo.PerMin(10))}
	_, err = s.Decide(context.Background(), "k", two, 1, nil)
	wantUnavailable(t, "Decide of two policies on a server out of memory", err)
	if d := decide(t, s, "k", p, 0); d.Limited || d.Remaining != 10 {
		t.Errorf("a peek on a server out of memory: %+v", d)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "0")
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("decisions refused for lack of memory left %s keys", got)
	}
	if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 9 {
		t.Errorf("after memory is available again: %+v", d)
	}
}

// TestReadOnlyReplica checks that a charge on a read-only replica (a
// Sentinel's stale view, a failover in progress) is a store failure, not a
// script error, and that a peek, which writes nothing, still works there.
func TestReadOnlyReplica(t *testing.T) {
	master := redistest.Standalone(t)
	replica := redistest.Standalone(t)
	host, port, _ := net.SplitHostPort(master.Addr())
	replica.Do(t, "REPLICAOF", host, port)
	s := mustNew(t, redistest.Client(t, replica.Addr()), WithClock(clock.NewFake(t0)))
	p := pol(t, algo.SlidingWindow, algo.PerMin(4))
	_, err := s.Decide(context.Background(), "k", []*store.Policy{p}, 1, nil)
	wantUnavailable(t, "a charge on a read-only replica", err)
	if !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("%q does not carry the server's READONLY error", err)
	}
	if d := decide(t, s, "k", p, 0); d != allowed(4, 0) {
		t.Errorf("a peek on a read-only replica: %+v", d)
	}
}

// TestTimeout checks the per-call timeout on a server that stopped
// answering (SIGSTOP): DefaultTimeout by default, WithTimeout's otherwise,
// for Decide, DecideBatch and Reset, each failing with store.ErrUnavailable
// matching context.DeadlineExceeded once the time is up and not before; a
// sooner ctx deadline wins; WithTimeout(0) leaves the bound to the ctx.
func TestTimeout(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	def, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if def.Name() != "redis" {
		t.Errorf("Name() = %q", def.Name())
	}
	short := mustNew(t, c, WithTimeout(50*time.Millisecond))
	none := mustNew(t, c, WithTimeout(0))
	ps := []*store.Policy{pol(t, algo.TokenBucket, algo.PerSec(100))}
	decide(t, def, "warm", ps[0], 1) // the script is cached, the connection up

	srv.Pause(t)
	paused := true
	defer func() {
		if paused {
			srv.Resume(t)
		}
	}()
	ctx := context.Background()
	// within runs call and checks that it failed after between least and
	// least + 2s.
	within := func(what string, least time.Duration, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		took := time.Since(start)
		wantUnavailable(t, what, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v does not match context.DeadlineExceeded", what, err)
		}
		if took < least || took > least+2*time.Second {
			t.Errorf("%s failed after %v, want %v (and at most 2s more)", what, took, least)
		}
	}
	for _, tc := range []struct {
		name string
		s    *Store
		d    time.Duration
	}{{"default", def, DefaultTimeout}, {"50ms", short, 50 * time.Millisecond}} {
		within(tc.name+": Decide", tc.d, func() error { _, err := tc.s.Decide(ctx, "k", ps, 1, nil); return err })
		within(tc.name+": Reset", tc.d, func() error { return tc.s.Reset(ctx, "k", ps) })
		within(tc.name+": DecideBatch", tc.d, func() error {
			errs := make([]error, 2)
			tc.s.DecideBatch(ctx, ps, []store.Request[string]{{Key: "a", Cost: 1}, {Key: "b", Cost: 1}}, make([]algo.Decision, 2), nil, errs)
			if errs[0] == nil || errs[1] == nil || errs[0].Error() != errs[1].Error() {
				t.Errorf("DecideBatch on a hung server: %v", errs)
			}
			return errs[0]
		})
	}
	// A ctx deadline sooner than the timeout wins, and with WithTimeout(0)
	// the ctx's deadline is the only bound.
	for _, tc := range []struct {
		name string
		s    *Store
		d    time.Duration
	}{{"a 20ms ctx with the default", def, 20 * time.Millisecond}, {"a 400ms ctx without timeout", none, 400 * time.Millisecond}} {
		within(tc.name, tc.d, func() error {
			ctx, cancel := context.WithTimeout(ctx, tc.d)
			defer cancel()
			_, err := tc.s.Decide(ctx, "k", ps, 1, nil)
			return err
		})
	}
	srv.Resume(t)
	paused = false
	// The store answers again (the calls that timed out may have been
	// decided since: a timeout does not say nothing was charged).
	if d := decide(t, def, "after", ps[0], 1); d.Limited {
		t.Errorf("after the server resumed: %+v", d)
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

// TestFromURLInvalid checks that bad URLs and options are invalid input
// naming them, passwords redacted.
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

	// A password never shows in an error message: the URL is named with
	// everything between the scheme and the last '@' redacted.
	for _, c := range []struct{ url, redacted string }{
		{"redis://user:s3cret@127.0.0.1:abc/0", "redis://***@127.0.0.1:abc/0"},
		{"redis://:s3cret@[::1/0", "redis://***@[::1/0"},
		{"redis://user:s3cret@127.0.0.1:6379/notadb", "redis://***@127.0.0.1:6379/notadb"},
		{"unix://user:s3cret@/tmp/nowhere.sock?db=x", "unix://***@/tmp/nowhere.sock?db=x"},
		{"redis://user:s3@cret@127.0.0.1:abc/0", "redis://***@127.0.0.1:abc/0"}, // an '@' in the password
		{"://user:s3cret@127.0.0.1:6379/0", "://***@127.0.0.1:6379/0"},          // no scheme
	} {
		_, err := FromURL(c.url)
		wantInvalid(t, "FromURL with a password", err)
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "cret@") {
			t.Errorf("FromURL(%q): the message reveals the password: %q", c.url, err)
		}
		if !strings.Contains(err.Error(), strconv.Quote(c.redacted)) {
			t.Errorf("FromURL(%q): %q does not name the URL as %q", c.url, err, c.redacted)
		}
	}

	// A bad option is refused before connecting, a nil one (found by New)
	// after: either way no connection is left open.
	srv := redistest.Standalone(t)
	for _, o := range []Option{WithPrefix("{bad}"), WithTimeout(-1), nil} {
		s, err := FromURL(srv.URL(), WithPrefix("ok:"), o)
		if s != nil {
			t.Errorf("FromURL with a bad option returned a store")
		}
		wantInvalid(t, "FromURL with a bad option", err)
		waitNoClients(t, func(int) string { return srv.Do(t, "CLIENT", "LIST") }, 1)
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

// TestFromURLHungServer checks that FromURL gives up on a server that
// accepts connections but answers nothing (SIGSTOP) within about the call
// timeout, not rueidis's 5 s default, that a call timeout under 100 ms
// still gives the connection 100 ms, so that a tiny timeout does not fail
// every dial on a slow network, and that without a call timeout
// (WithTimeout(0)) rueidis's defaults apply. It runs in parallel: it spends
// its 5 s waiting.
func TestFromURLHungServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Standalone(t)
	srv.Pause(t)
	t.Cleanup(func() { srv.Resume(t) })
	for _, c := range []struct {
		opts     []Option
		min, max time.Duration
	}{
		{nil, DefaultTimeout, 3 * time.Second},
		{[]Option{WithTimeout(time.Microsecond)}, 100 * time.Millisecond, 3 * time.Second},
		// No call timeout: rueidis's own 5 s bound the handshake.
		{[]Option{WithTimeout(0)}, 4 * time.Second, 30 * time.Second},
	} {
		type result struct {
			s   *Store
			err error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			s, err := FromURL(srv.URL(), c.opts...)
			done <- result{s, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(c.max):
			t.Fatalf("FromURL with %d options on a hung server has not failed after %v", len(c.opts), c.max)
		}
		took := time.Since(start)
		if r.s != nil {
			r.s.Close()
			t.Fatalf("FromURL on a hung server returned a store")
		}
		wantUnavailable(t, "FromURL on a hung server", r.err)
		if took < c.min {
			t.Errorf("FromURL with %d options on a hung server failed after %v, want at least %v", len(c.opts), took, c.min)
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
	s, err := FromURL("redis://:right-pw@"+srv.Addr()+"/0", WithTimeout(testTimeout))
	if err != nil {
		t.Fatalf("FromURL with the right password: %v", err)
	}
	defer s.Close()
	decide(t, s, "k", pol(t, algo.GCRA, algo.PerSec(5)), 1)
}

// TestServerGoesAway checks that decisions on a server that was stopped
// fail with store.ErrUnavailable, promptly.
func TestServerGoesAway(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	p := pol(t, algo.TokenBucket, algo.PerSec(10))
	ps := []*store.Policy{p}
	decide(t, s, "k", p, 1)

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 { // the first call may see the broken connection, later ones a refused dial
		_, err := s.Decide(ctx, "k", ps, 1, nil)
		wantUnavailable(t, "Decide #"+strconv.Itoa(i)+" on a stopped server", err)
	}
	wantUnavailable(t, "Reset on a stopped server", s.Reset(ctx, "k", ps))
	errs := make([]error, 2)
	s.DecideBatch(ctx, ps, []store.Request[string]{{Key: "k", Cost: 1}, {Key: "l", Cost: 0}}, make([]algo.Decision, 2), nil, errs)
	for i, err := range errs {
		wantUnavailable(t, fmt.Sprintf("DecideBatch request %d on a stopped server", i), err)
	}
	if ctx.Err() != nil {
		t.Errorf("failing on a stopped server took more than 10s")
	}
}

// TestContextErrors checks that a done context is a store failure that
// also matches the context's error, charges nothing and costs no round
// trip.
func TestContextErrors(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	p := pol(t, algo.GCRA, algo.PerSec(10))
	ps := []*store.Policy{p, pol(t, algo.FixedWindow, algo.PerSec(3))}
	decideAll(t, s, "charged", ps, 1)
	state := srv.Do(t, "GET", s.Key("charged", p))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	before := commandStats(t, srv)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"a cancelled context", cancelled, context.Canceled}, {"an expired deadline", expired, context.DeadlineExceeded}} {
		for _, key := range []string{"k", "charged"} {
			_, err := s.Decide(tc.ctx, key, ps, 1, nil)
			wantUnavailable(t, "Decide with "+tc.name, err)
			if !errors.Is(err, tc.want) {
				t.Errorf("Decide with %s: %v does not match %v", tc.name, err, tc.want)
			}
		}
		err := s.Reset(tc.ctx, "charged", ps)
		wantUnavailable(t, "Reset with "+tc.name, err)
		if !errors.Is(err, tc.want) {
			t.Errorf("Reset with %s: %v does not match %v", tc.name, err, tc.want)
		}
		errs := make([]error, 3)
		s.DecideBatch(tc.ctx, ps, []store.Request[string]{{Key: "k", Cost: 1}, {Key: "charged", Cost: 1}, {Key: "", Cost: 1}}, make([]algo.Decision, 3), nil, errs)
		for i, err := range errs {
			wantUnavailable(t, fmt.Sprintf("DecideBatch request %d with %s", i, tc.name), err)
			if !errors.Is(err, tc.want) {
				t.Errorf("DecideBatch request %d with %s: %v does not match %v", i, tc.name, err, tc.want)
			}
		}
	}
	// No round trip: the server saw nothing but our INFO.
	for cmd, n := range statsDelta(before, commandStats(t, srv)) {
		if cmd != "info" {
			t.Errorf("calls with a done context sent %d %s", n, cmd)
		}
	}
	if got := srv.Do(t, "DBSIZE"); got != "2" {
		t.Errorf("calls with a done context left %s keys, want the 2 charged before", got)
	}
	if got := srv.Do(t, "GET", s.Key("charged", p)); got != state {
		t.Errorf("calls with a done context changed a state from %q to %q", state, got)
	}

	// A deadline that expires while the server does not answer: pause all
	// clients for 500ms (the harness's UNPAUSE may wait for the pause to end).
	srv.Do(t, "CLIENT", "PAUSE", "500", "ALL")
	tiny, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	start := time.Now()
	_, err := s.Decide(tiny, "k", ps[:1], 1, nil)
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
	if _, err := s.Decide(ok, "k2", ps[:1], 1, nil); err != nil {
		t.Errorf("Decide after the pause: %v", err)
	}
}

// le renders float64s as the script stores them.
func le(fs ...float64) string {
	b := make([]byte, 0, 8*len(fs))
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return string(b)
}

// corruptStates returns stored values that are not a state of an algorithm
// of n fields: text, wrong lengths, and fields that are negative,
// fractional, beyond 2^53, not a number or infinite.
func corruptStates(n int) []string {
	good := make([]float64, n+1) // n fields and the expiry
	for i := range good {
		good[i] = float64(i + 1)
	}
	with := func(i int, v float64) string {
		fs := slices.Clone(good)
		fs[i] = v
		return le(fs...)
	}
	out := []string{"garbage", "", "1", "1:2:3:4", le(good[:n]...), le(append(good, 1)...), le(good...) + "\x00", le(good...)[1:]}
	for i := range good {
		out = append(out, with(i, -1), with(i, 1.5), with(i, 1<<53+2), with(i, math.NaN()), with(i, math.Inf(1)), with(i, math.Inf(-1)))
	}
	return out
}

// TestCorruptState checks that state someone else wrote under a key is a
// script error, not a store failure, for a peek, a charge and a denial
// alike, and is left alone; and that the stored numbers may reach 2^53.
func TestCorruptState(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c, WithClock(clock.NewFake(t0)))
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		p := pol(t, a, algo.PerMin(10))
		ps := []*store.Policy{p}
		rk := s.Key("victim", p)
		for _, raw := range corruptStates(steps.Fields[a]) {
			srv.Do(t, "SET", rk, raw)
			for _, cost := range []int64{0, 1, 11} {
				_, err := s.Decide(ctx, "victim", ps, cost, nil)
				wantScript(t, fmt.Sprintf("%s cost %d on %q", a, cost, raw), err)
				if !strings.Contains(err.Error(), "corrupt state in "+rk) {
					t.Errorf("%s on %q: %q does not name the key %q", a, raw, err, rk)
				}
			}
			if got := srv.Do(t, "GET", rk); got != raw {
				t.Errorf("%s: corrupt state %q was overwritten with %q", a, raw, got)
			}
			if ttl := pttl(t, srv, rk); ttl != -1 {
				t.Errorf("%s: corrupt state %q was given a TTL of %dms", a, raw, ttl)
			}
		}
		// Keys of another type.
		for _, cmd := range [][]string{{"RPUSH", rk, "x"}, {"HSET", rk, "f", "v"}, {"SADD", rk, "m"}} {
			srv.Do(t, "DEL", rk)
			srv.Do(t, cmd...)
			for _, cost := range []int64{0, 1, 11} {
				_, err := s.Decide(ctx, "victim", ps, cost, nil)
				wantScript(t, fmt.Sprintf("%s cost %d on %s", a, cost, cmd[0]), err)
				if !strings.Contains(err.Error(), "WRONGTYPE "+rk) {
					t.Errorf("%s cost %d on %s: %q does not say WRONGTYPE and name the key", a, cost, cmd[0], err)
				}
			}
		}
		if got := srv.Do(t, "TYPE", rk); got != "set" {
			t.Errorf("%s: the set under the state's key is now a %s", a, got)
		}
		// Reset clears it.
		if err := s.Reset(ctx, "victim", ps); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		decide(t, s, "victim", p, 1)

		// The stored numbers are exact up to 2^53: an expiry of 2^53 is a
		// state, whose decision and write go on.
		var st steps.Slots
		if _, _, keep := steps.Step(&st, true, p.Params(), t0, 1); !keep {
			t.Fatalf("%s: a first request was not charged", a)
		}
		n := steps.Fields[a]
		srv.Do(t, "SET", rk, encodeState(append(st[:n:n], 1<<53)))
		if d := decide(t, s, "victim", p, 1); d.Limited || d.Remaining != 8 {
			t.Errorf("%s: a state charged once, with an expiry of 2^53: %+v, want allowed with Remaining 8", a, d)
		}
	}
}

// evalReply runs a script returning a fixed value on the server.
func evalReply(t testing.TB, c rueidis.Client, body string) rueidis.RedisResult {
	t.Helper()
	return c.Do(context.Background(), c.B().Eval().Script(body).Numkeys(0).Build())
}

// decoded is what decodeReply made of a reply of one request of one
// policy: the decision, the request's error and the call's.
type decoded struct {
	d           algo.Decision
	reqErr, err error
}

// decodeOne decodes a reply holding one request under the policy p.
func decodeOne(reply rueidis.RedisResult, key string, p *store.Policy) decoded {
	var d [1]algo.Decision
	var errs [1]error
	err := decodeReply(reply, []string{key}, []*store.Policy{p}, d[:], errs[:])
	return decoded{d[0], errs[0], err}
}

// TestDecodeReply feeds decodeReply real replies of every shape a script
// could return: the script replies with one string of little-endian
// float64s, per request its status and the policy at fault, then
// {Limited, Remaining, RetryAfter, ResetAfter} per policy.
//
// An allowed single decision may come as one integer instead,
// ResetAfter·(B+1) + Remaining with B the policy's Limit (windows) or
// Burst (buckets): 10 here, so the radix is 11.
func TestDecodeReply(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	p := pol(t, algo.FixedWindow, algo.PerSec(10))
	bucket := pol(t, algo.GCRA, algo.PerMin(600).WithBurst(10))

	for _, tc := range []struct {
		body string
		want algo.Decision
	}{
		{"return struct.pack('<dddddd', 0, 0, 0, 5, 0, 1000)", algo.Decision{Remaining: 5, ResetAfter: 1000}},
		{"return struct.pack('<dddddd', 0, 0, 1, 0, -1, 7)", algo.Decision{Limited: true, RetryAfter: never, ResetAfter: 7}},
		{"return struct.pack('<dddddd', 0, 0, 1, 3, 250, 4503599627370496)", algo.Decision{Limited: true, Remaining: 3, RetryAfter: 250, ResetAfter: 1 << 52}},
		{"return struct.pack('<dddddd', 0, 0, 0, 9007199254740992, 0, 9007199254740992)", algo.Decision{Remaining: 1 << 53, ResetAfter: 1 << 53}},
		{"return struct.pack('<dddddd', 0, 0, 0, 0, -9007199254740992, 0)", algo.Decision{RetryAfter: -1 << 53}}, // ±2^53 are the bounds
	} {
		got := decodeOne(evalReply(t, c, tc.body), "k", p)
		if got.err != nil || got.reqErr != nil || got.d != tc.want {
			t.Errorf("%s: decodeReply = %+v; want %+v", tc.body, got, tc.want)
		}
	}
	for _, tc := range []struct {
		body string
		p    *store.Policy
		want algo.Decision
	}{
		{"return 0", p, algo.Decision{}},
		{"return 10", p, algo.Decision{Remaining: 10}},
		{"return 11", p, algo.Decision{ResetAfter: 1}},
		{"return 1000 * 11 + 7", p, algo.Decision{Remaining: 7, ResetAfter: 1000}},
		{"return 1000 * 11 + 7", bucket, algo.Decision{Remaining: 7, ResetAfter: 1000}},
		{"return 9007199254740991", p, algo.Decision{Remaining: (1<<53 - 1) % 11, ResetAfter: (1<<53 - 1) / 11}},
	} {
		got := decodeOne(evalReply(t, c, tc.body), "k", tc.p)
		if got.err != nil || got.reqErr != nil || got.d != tc.want {
			t.Errorf("%s under %s: decodeReply = %+v; want %+v", tc.body, tc.p, got, tc.want)
		}
	}

	// A request that was not decided: its own error, naming the key at
	// fault.
	const rk = "throttled:v3:gcra:1/s:b1:{k}"
	for _, tc := range []struct {
		body string
		in   string
	}{
		{"return struct.pack('<dddddd', 1, 1, 0, 0, 0, 0)", "corrupt state in " + rk},
		{"return struct.pack('<dddddd', 2, 1, 0, 0, 0, 0)", "WRONGTYPE " + rk},
	} {
		got := decodeOne(evalReply(t, c, tc.body), rk, p)
		if got.err != nil {
			t.Errorf("%s: the call failed: %v", tc.body, got.err)
		}
		rerr := got.reqErr
		wantScript(t, tc.body, rerr)
		if !strings.Contains(rerr.Error(), tc.in) {
			t.Errorf("%s: %q does not say %q", tc.body, rerr, tc.in)
		}
	}

	for _, body := range []string{
		"return struct.pack('<dd', 0, 0)",                        // too short
		"return struct.pack('<ddddddd', 0, 0, 0, 1, 2, 3, 4)",    // too long
		"return struct.pack('<dddddd', 0, 0, 0, 1, 2, 3) .. 'x'", // a stray byte
		"return struct.pack('<dddd', 0, 1, 2, 3)",                // the old reply: no status
		"return ''", // empty
		"return struct.pack('<dddddd', 0, 0, 2, 0, 0, 0)",                 // limited is not a bool
		"return struct.pack('<dddddd', 0, 0, -1, 0, 0, 0)",                // limited is not a bool
		"return struct.pack('<dddddd', 0, 0, 0, 1.5, 0, 0)",               // not an integer
		"return struct.pack('<dddddd', 0, 0, 0, 0, 0, 0/0)",               // not a number
		"return struct.pack('<dddddd', 0, 0, 0, 1/0, 0, 0)",               // infinite
		"return struct.pack('<dddddd', 0, 0, 0, 9007199254740994, 0, 0)",  // beyond 2^53
		"return struct.pack('<dddddd', 0, 0, 0, -9007199254740994, 0, 0)", // beyond -2^53
		"return struct.pack('<dddddd', 3, 1, 0, 0, 0, 0)",                 // unknown status
		"return struct.pack('<dddddd', -1, 1, 0, 0, 0, 0)",                // unknown status
		"return struct.pack('<dddddd', 0.5, 0, 0, 0, 0, 0)",               // unknown status
		"return struct.pack('<dddddd', 0/0, 0, 0, 0, 0, 0)",               // unknown status
		"return struct.pack('<dddddd', 0, 1, 0, 0, 0, 0)",                 // decided, yet a fault
		"return struct.pack('<dddddd', 1, 0, 0, 0, 0, 0)",                 // corrupt, no policy at fault
		"return struct.pack('<dddddd', 2, 2, 0, 0, 0, 0)",                 // the fault of a policy that is not there
		"return struct.pack('<dddddd', 1, 1.5, 0, 0, 0, 0)",               // the fault is not an index
		"return struct.pack('<dddddd', 1, 1/0, 0, 0, 0, 0)",               // the fault is not an index
		"return {0, 0, 0, 1, 2, 3}",                                       // an array
		"return -1",                                                       // a negative integer
		"return 9007199254740992",                                         // an integer beyond 2^53
		"return 2 ^ 62",                                                   // far beyond
		"return redis.status_reply('OK')",                                 // a status
		"return nil",                                                      // nil
		"return false",                                                    // nil too
		"return redis.error_reply('broken')",                              // a script error
		"error('boom')",                                                   // a Lua runtime error
	} {
		got := decodeOne(evalReply(t, c, body), rk, p)
		wantScript(t, body, got.err)
		if !strings.Contains(got.err.Error(), rk) || strings.Contains(got.err.Error(), " more") {
			t.Errorf("%s: %q does not name the key, and only it", body, got.err)
		}
		if got.reqErr != nil {
			t.Errorf("%s: a request error %v besides the call's", body, got.reqErr)
		}
	}
}

// TestDecodeReplyMany checks a reply for several requests of several
// policies (one script call): each request's decisions land in order, a
// request's fault names its own key, and the length is checked.
func TestDecodeReplyMany(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	keys := []string{"r1p1", "r1p2", "r2p1", "r2p2", "r3p1", "r3p2"}
	p1 := pol(t, algo.FixedWindow, algo.PerSec(10))
	ps := []*store.Policy{p1, pol(t, algo.TokenBucket, algo.PerSec(10))}
	ds := make([]algo.Decision, 6)
	errs := make([]error, 3)
	err := decodeReply(evalReply(t, c, `return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 1, 0, 5, 6)
		.. struct.pack('<dddddddddd', 2, 2, 0, 0, 0, 0, 0, 0, 0, 0)
		.. struct.pack('<dddddddddd', 0, 0, 0, 7, 0, 9, 0, 8, 0, 10)`), keys, ps, ds, errs)
	if err != nil || errs[0] != nil || errs[2] != nil ||
		ds[0] != (algo.Decision{Remaining: 1, RetryAfter: 2, ResetAfter: 3}) ||
		ds[1] != (algo.Decision{Limited: true, RetryAfter: 5, ResetAfter: 6}) ||
		ds[4] != (algo.Decision{Remaining: 7, ResetAfter: 9}) ||
		ds[5] != (algo.Decision{Remaining: 8, ResetAfter: 10}) {
		t.Errorf("three requests of two policies: %+v, %v, %v", ds, errs, err)
	}
	wantScript(t, "the second request", errs[1])
	if !strings.Contains(errs[1].Error(), "r2p2") {
		t.Errorf("the second request's error %q does not name its second key", errs[1])
	}

	for _, body := range []string{
		"return struct.pack('<dddddd', 0, 0, 0, 1, 2, 3)",
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3)",
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3) .. struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3) .. struct.pack('<d', 0)",
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 3, 1, 2, 3) .. struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3)",
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3) .. struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2.5, 3)",
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3) .. struct.pack('<dddddddddd', 1, 3, 0, 0, 0, 0, 0, 0, 0, 0)",
	} {
		err := decodeReply(evalReply(t, c, body), keys[:4], ps, ds[:4], errs[:2])
		wantScript(t, body, err)
		if err != nil && !strings.Contains(err.Error(), "r1p1 and 3 more") {
			t.Errorf("%s: %q does not name the call's keys", body, err)
		}
	}

	// An integer answers one request under one policy only: not two
	// requests, nor one request under two policies.
	for _, tc := range []struct {
		ps   []*store.Policy
		keys []string
		n    int
	}{{ps[:1], keys[:2], 2}, {ps, keys[:2], 1}, {ps, keys[:4], 2}} {
		err := decodeReply(evalReply(t, c, "return 12"), tc.keys, tc.ps, ds[:len(tc.keys)], errs[:tc.n])
		wantScript(t, fmt.Sprintf("an integer for %d requests of %d policies", tc.n, len(tc.ps)), err)
		if err != nil && !strings.Contains(err.Error(), "answers only a single decision") {
			t.Errorf("an integer for %d requests of %d policies: %q does not say why", tc.n, len(tc.ps), err)
		}
	}

	// A reply of the wrong form says what the call wants: 2 requests of 2
	// policies, (2 + 4·2)·2 = 20 float64s.
	for body, want := range map[string]string{
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3)": "reply is not a string of 20 float64s",
		"return nil": "reply is nil, want a string of 20 float64s",
		// limited of the second request's second policy: float64 10 + 2 + 4.
		"return struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 0, 1, 2, 3) .. struct.pack('<dddddddddd', 0, 0, 0, 1, 2, 3, 2, 1, 2, 3)": "reply field 16 (limited) is 2, want 0 or 1",
	} {
		err := decodeReply(evalReply(t, c, body), keys[:4], ps, ds[:4], errs[:2])
		wantScript(t, body, err)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", body, err, want)
		}
	}
}

// TestDecodeState checks the tests' binary state codec, its bounds and
// malformed stored values.
func TestDecodeState(t *testing.T) {
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

// TestBatchKeepsPromise checks that a request whose key holds something
// else than its state (a list, or bytes that are not a state) fails alone:
// in a batch of {good1, good2, bad, good3}, bad gets store.ErrScript
// naming its key (shortened), charges nothing under any policy (a key the
// request created with NX for an earlier policy is deleted again), and the
// others are decided as if bad were not there, on a standalone server and
// on a three-node cluster, again on a retry.
func TestBatchKeepsPromise(t *testing.T) {
	srv := redistest.Standalone(t)
	cl := redistest.Cluster(t)
	for _, tc := range []struct {
		name   string
		client rueidis.Client
	}{
		{"standalone", redistest.Client(t, srv.Addr())},
		{"cluster", redistest.Client(t, cl.Addrs()...)},
	} {
		t.Run("store="+tc.name, func(t *testing.T) {
			batchPromise(t, tc.client)
		})
	}
}

// batchPromise is TestBatchKeepsPromise on one client.
func batchPromise(t *testing.T, c rueidis.Client) {
	ctx := context.Background()
	do := func(what string, cmd rueidis.Completed) {
		t.Helper()
		if err := c.Do(ctx, cmd).Error(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(k string) string {
		t.Helper()
		v, err := c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			return "(absent)"
		}
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return v
	}
	// The bad key is long, so its message must shorten it; good2 shares its
	// Cluster slot (the hash tag ends at the first '}'), so on a cluster
	// one script call decides both.
	bad := "bad:" + strings.Repeat("x", 200)
	for _, kind := range []string{"list", "corrupt"} {
		for n, tc := range []struct {
			name       string
			ps         []algo.Quota // with their algorithms
			fault      int          // the policy whose key holds the garbage
			preCharged bool         // the other policies' keys of bad hold a state
		}{
			{"one policy", []algo.Quota{algo.PerMin(10).WithAlgorithm(algo.GCRA)}, 0, false},
			{"second of two", []algo.Quota{algo.PerMin(10).WithAlgorithm(algo.FixedWindow), algo.PerMin(5).WithAlgorithm(algo.TokenBucket)}, 1, false},
			{"first of two", []algo.Quota{algo.PerMin(10).WithAlgorithm(algo.SlidingWindow), algo.PerMin(5).WithAlgorithm(algo.LeakingBucket)}, 0, false},
			{"second of three, first charged", []algo.Quota{algo.PerMin(10).WithAlgorithm(algo.GCRA), algo.PerMin(5).WithAlgorithm(algo.FixedWindow), algo.PerHour(9).WithAlgorithm(algo.SlidingWindow)}, 1, true},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				fake := clock.NewFake(t0 + 1_234_567)
				s := mustNew(t, c, WithClock(fake), WithTTLSlack(time.Hour), WithPrefix(fmt.Sprintf("%s%d:", kind, n)))
				ps := make([]*store.Policy, len(tc.ps))
				for j, q := range tc.ps {
					ps[j] = pol(t, q.Algorithm, q)
				}
				npol := len(ps)
				badKey := s.Key(bad, ps[tc.fault])
				if tc.preCharged {
					for j, p := range ps {
						if j != tc.fault {
							decide(t, s, bad, p, 1)
						}
					}
				}
				switch kind {
				case "list":
					do("LPUSH", c.B().Lpush().Key(badKey).Element("x").Build())
				case "corrupt":
					do("SET", c.B().Set().Key(badKey).Value("\x00\xffnot a state").Build())
				}
				badBefore := make([]string, npol)
				for j, p := range ps {
					badBefore[j] = get(s.Key(bad, p))
				}
				// bad twice in a row (a charge, then a peek): each fails alone.
				reqs := []store.Request[string]{{Key: "good1", Cost: 1}, {Key: bad + "}good2", Cost: 2}, {Key: bad, Cost: 1}, {Key: bad, Cost: 0}, {Key: "good3", Cost: 1}}
				for round := 1; round <= 2; round++ {
					out, each, errs := make([]algo.Decision, 5), make([]algo.Decision, 5*npol), make([]error, 5)
					s.DecideBatch(ctx, ps, reqs, out, each, errs)
					err := errs[2]
					if errs[3] == nil || errs[3].Error() != err.Error() {
						t.Errorf("round %d: bad's second request: %v, want the first's %v", round, errs[3], err)
					}
					wantScript(t, fmt.Sprintf("round %d: the bad request", round), err)
					short := storeutil.ShortKey(badKey)
					if !strings.Contains(err.Error(), short) || strings.Contains(err.Error(), bad) || len(err.Error()) > 200 {
						t.Errorf("round %d: %q does not name the bad key %q, shortened", round, err, short)
					}
					if want := map[string]string{"list": "WRONGTYPE", "corrupt": "corrupt state"}[kind]; !strings.Contains(err.Error(), want) {
						t.Errorf("round %d: %q does not say %s", round, err, want)
					}
					for _, i := range []int{0, 1, 4} {
						if errs[i] != nil {
							t.Fatalf("round %d: request %d (%s): %v", round, i, abbrev(reqs[i].Key), errs[i])
						}
						// The good keys are fresh in round 1: round r has charged r times.
						for j, p := range ps {
							want := freshDecision(p, fake.Now(), int64(round)*reqs[i].Cost)
							if got := each[i*npol+j]; got != want {
								t.Errorf("round %d: request %d (%s) policy %s: %+v, want %+v", round, i, abbrev(reqs[i].Key), p, got, want)
							}
						}
						if want := combine(each[i*npol : (i+1)*npol]); out[i] != want {
							t.Errorf("round %d: request %d: %+v, want %+v", round, i, out[i], want)
						}
					}
					// Nothing was charged for bad, under any policy.
					for j, p := range ps {
						if got := get(s.Key(bad, p)); got != badBefore[j] {
							t.Errorf("round %d: bad's key under %s changed from %q to %q", round, p, badBefore[j], got)
						}
					}
					if kind == "list" {
						if got, err := c.Do(ctx, c.B().Lrange().Key(badKey).Start(0).Stop(-1).Build()).AsStrSlice(); err != nil || !slices.Equal(got, []string{"x"}) {
							t.Errorf("round %d: the list under bad's key is now %q, %v", round, got, err)
						}
					}
					// Decide (one request) and a peek agree with the batch.
					for _, cost := range []int64{1, 0} {
						_, err := s.Decide(ctx, bad, ps, cost, nil)
						wantScript(t, fmt.Sprintf("round %d: Decide of bad, cost %d", round, cost), err)
						if err.Error() != errs[2].Error() {
							t.Errorf("round %d: Decide of bad, cost %d: %q, the batch said %q", round, cost, err, errs[2])
						}
					}
				}
			})
		}
	}
}

// TestPeekLimitAgreeOnWrongType checks that a peek (cost 0), a charge and
// a denial all fail with store.ErrScript on a key of another type, as they
// do on corrupt bytes: a peek writes nothing, yet does not report a fresh
// key where a charge would fail.
func TestPeekLimitAgreeOnWrongType(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c, WithClock(clock.NewFake(t0)))
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		p := pol(t, a, algo.PerMin(10))
		other := pol(t, otherAlgorithm(a), algo.PerMin(3))
		for _, tc := range []struct {
			name string
			ps   []*store.Policy
		}{{"one policy", []*store.Policy{p}}, {"second of two", []*store.Policy{other, p}}} {
			for _, setup := range [][]string{{"LPUSH", s.Key("wt", p), "x"}, {"SET", s.Key("wt", p), "garbage"}} {
				srv.Do(t, "FLUSHALL")
				srv.Do(t, setup...)
				var msgs []string
				for _, cost := range []int64{0, 1, 1 << 40} {
					_, err := s.Decide(ctx, "wt", tc.ps, cost, nil)
					wantScript(t, fmt.Sprintf("%s %s on %s, cost %d", a, tc.name, setup[0], cost), err)
					msgs = append(msgs, err.Error())
					errs := make([]error, 1)
					s.DecideBatch(ctx, tc.ps, []store.Request[string]{{Key: "wt", Cost: cost}}, make([]algo.Decision, 1), nil, errs)
					wantScript(t, fmt.Sprintf("%s %s on %s, cost %d, in a batch", a, tc.name, setup[0], cost), errs[0])
					msgs = append(msgs, errs[0].Error())
				}
				for _, m := range msgs[1:] {
					if m != msgs[0] {
						t.Errorf("%s %s on %s: peek, charge and denial disagree: %q", a, tc.name, setup[0], msgs)
						break
					}
				}
				if got := srv.Do(t, "DBSIZE"); got != "1" {
					t.Errorf("%s %s on %s: %s keys after the failed calls, want only the bad one", a, tc.name, setup[0], got)
				}
			}
		}
	}
}

// TestLongKeyMessages checks that a 10 MiB key decides like any other and
// that error messages quote a readable prefix of it, never the whole key.
func TestLongKeyMessages(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c, WithClock(clock.NewFake(t0)))
	ctx := context.Background()
	p := pol(t, algo.GCRA, algo.PerMin(10))
	ps := []*store.Policy{p}
	const size = 10 << 20
	for _, key := range []string{"user:" + strings.Repeat("x", size-5), strings.Repeat("ключ", size/8)} {
		rk := s.Key(key, p)
		short := storeutil.ShortKey(rk)
		check := func(what string, err error) {
			t.Helper()
			msg := err.Error()
			if len(msg) > 512 || !utf8.ValidString(msg) || !strings.Contains(msg, short) || !strings.Contains(msg, strconv.Itoa(len(rk))+" bytes") {
				t.Errorf("%s: the message (%d bytes) does not quote a readable prefix of the %d-byte key and its length: %.300q", what, len(msg), len(rk), msg)
			}
		}
		if d := decide(t, s, key, p, 1); d != freshDecision(p, t0, 1) {
			t.Errorf("a 10 MiB key: %+v", d)
		}
		if got := srv.Do(t, "STRLEN", rk); got != strconv.Itoa(8*(steps.Fields[algo.GCRA]+1)) {
			t.Errorf("the state of a 10 MiB key holds %s bytes", got)
		}

		srv.Do(t, "SET", rk, "garbage")
		_, err := s.Decide(ctx, key, ps, 1, nil)
		wantScript(t, "corrupt state under a 10 MiB key", err)
		check("corrupt state", err)
		srv.Do(t, "DEL", rk)
		srv.Do(t, "LPUSH", rk, "x")
		_, err = s.Decide(ctx, key, ps, 0, nil)
		wantScript(t, "a list under a 10 MiB key", err)
		check("a list", err)
		errs := make([]error, 2)
		s.DecideBatch(ctx, ps, []store.Request[string]{{Key: key, Cost: 1}, {Key: key[:100], Cost: 1}}, make([]algo.Decision, 2), nil, errs)
		wantScript(t, "a list under a 10 MiB key in a batch", errs[0])
		check("a list in a batch", errs[0])
		if errs[1] != nil {
			t.Errorf("the other request of the batch: %v", errs[1])
		}
		if err := s.Reset(ctx, key, ps); err != nil {
			t.Fatalf("Reset of a 10 MiB key: %v", err)
		}

		// A call that fails as a whole names its first key, shortened.
		srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
		_, err = s.Decide(ctx, key, ps, 1, nil)
		wantUnavailable(t, "a 10 MiB key on a server out of memory", err)
		check("out of memory", err)
		srv.Do(t, "CONFIG", "SET", "maxmemory", "0")
	}

	key := "user:" + strings.Repeat("x", size-5)
	srv.Stop()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := s.Decide(ctx, key, ps, 1, nil)
	wantUnavailable(t, "a 10 MiB key on a stopped server", err)
	if len(err.Error()) > 512 || strings.Contains(err.Error(), strings.Repeat("x", 100)) {
		t.Errorf("Decide on a stopped server: the message quotes too much of the key: %.300q", err)
	}
	err = s.Reset(ctx, key, ps)
	wantUnavailable(t, "Reset of a 10 MiB key on a stopped server", err)
	if len(err.Error()) > 512 || !strings.Contains(err.Error(), storeutil.ShortKey(s.Key(key, p))) {
		t.Errorf("Reset on a stopped server: the message does not quote the key shortened: %.300q", err)
	}
}

// TestSyntaxErrorNamesRedisVersion: a server older than Redis 6.0 replies
// to the script's SET KEEPTTL with a syntax error; the store's error says
// which version it needs. Redis 7 gives the same reply to a SET with an
// option it does not know, run here through a script as the store's is.
// Other script errors do not mention it.
func TestSyntaxErrorNamesRedisVersion(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	ctx := context.Background()
	for body, wantHint := range map[string]bool{
		"return redis.call('SET', KEYS[1], 'v', 'KEEPTTLX')": true,
		"return redis.call('INCR', KEYS[1], 'extra')":        false, // wrong number of arguments
		"return redis.error_reply('broken')":                 false,
	} {
		err := classify(c.Do(ctx, c.B().Eval().Script(body).Numkeys(1).Key("k").Build()).Error(), "EVALSHA", "k")
		wantScript(t, body, err)
		if got := strings.Contains(err.Error(), "Redis 6.0 or later"); got != wantHint {
			t.Errorf("%s: %q names the Redis version: %v, want %v", body, err, got, wantHint)
		}
	}
}
