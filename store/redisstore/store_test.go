package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// t0 is a fake-clock time aligned to a day (and so to a minute and an
// hour) since the epoch: 2023-11-15T00:00:00Z in µs.
const t0 = int64(1_700_006_400_000_000)

func TestT0IsAligned(t *testing.T) {
	if t0%(24*3600*1_000_000) != 0 {
		t.Fatalf("t0 = %d is not aligned to a day", t0)
	}
}

// compile compiles q for a or fails the test.
func compile(t testing.TB, a algo.Algorithm, q algo.Quota) *algo.Params {
	t.Helper()
	p, err := algo.Compile(a, q)
	if err != nil {
		t.Fatalf("Compile(%s, %v): %v", a, q, err)
	}
	return &p
}

// mustNew is New for a test.
func mustNew(t testing.TB, c rueidis.Client, opts ...Option) *Store {
	t.Helper()
	s, err := New(c, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// decide is Store.Decide for a test that expects no error.
func decide(t testing.TB, s *Store, key string, p *algo.Params, cost int64) algo.Decision {
	t.Helper()
	d, err := s.Decide(context.Background(), key, p, cost)
	if err != nil {
		t.Fatalf("Decide(%q, %s, cost %d): %v", key, p.Algorithm, cost, err)
	}
	return d
}

// serverMicros reads the server's TIME in µs since the epoch.
func serverMicros(t testing.TB, c rueidis.Client) int64 {
	t.Helper()
	parts, err := c.Do(context.Background(), c.B().Time().Build()).AsStrSlice()
	if err != nil || len(parts) != 2 {
		t.Fatalf("TIME: %v %v", parts, err)
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	us, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("TIME: %v", parts)
	}
	return sec*1_000_000 + us
}

// inOneWindow runs attempt with fresh keys until a run fits inside one
// window of period µs of the server's clock (windows are aligned to the
// epoch, so a run that straddles a boundary sees a different but correct
// history). attempt reports its failures through the returned error only
// when the run stayed in one window.
func inOneWindow(t *testing.T, c rueidis.Client, period int64, attempt func(key string) error) {
	t.Helper()
	for i := range 3 {
		before := serverMicros(t, c)
		err := attempt(fmt.Sprintf("%s/attempt%d", t.Name(), i))
		after := serverMicros(t, c)
		if before/period != after/period {
			t.Logf("attempt %d crossed a window boundary; retrying", i)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("three attempts crossed a window boundary")
}

// TestDecideServerTime drives every algorithm through Store.Decide on a
// standalone server with the server's TIME (the default clock).
func TestDecideServerTime(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)

	for _, a := range []algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		t.Run("algo="+a.String(), func(t *testing.T) {
			p := compile(t, a, algo.PerMin(60).WithBurst(10))
			key := "tb-user"
			for i := range int64(10) {
				d := decide(t, s, key, p, 1)
				if d.Limited || d.Remaining != 9-i || d.RetryAfter != 0 {
					t.Fatalf("request %d: %+v, want allowed with Remaining %d", i+1, d, 9-i)
				}
				// i+1 tokens are missing, less what has refilled since.
				if d.ResetAfter > (i+1)*1_000_000 || d.ResetAfter <= i*1_000_000 {
					t.Fatalf("request %d: ResetAfter %dµs, want in (%ds, %ds]", i+1, d.ResetAfter, i, i+1)
				}
			}
			d := decide(t, s, key, p, 1)
			if !d.Limited || d.Remaining != 0 {
				t.Fatalf("request 11: %+v, want Limited with Remaining 0", d)
			}
			if d.RetryAfter <= 0 || d.RetryAfter > 1_000_000 {
				t.Fatalf("request 11: RetryAfter %dµs, want in (0, 1s]", d.RetryAfter)
			}
			if d.ResetAfter <= 9_000_000 || d.ResetAfter > 10_000_000 {
				t.Fatalf("request 11: ResetAfter %dµs, want in (9s, 10s]", d.ResetAfter)
			}
			if d := decide(t, s, key, p, 11); !d.Limited || d.RetryAfter != algo.Never {
				t.Fatalf("cost 11 > burst 10: %+v, want Limited with RetryAfter Never", d)
			}
			if d := decide(t, s, key, p, 0); d.Limited || d.RetryAfter != 0 || d.Remaining != 0 {
				t.Fatalf("cost 0: %+v, want allowed with Remaining 0", d)
			}
		})
	}

	t.Run("algo=fixed_window", func(t *testing.T) {
		p := compile(t, algo.FixedWindow, algo.PerMin(1))
		inOneWindow(t, c, p.Period, func(key string) error {
			d1 := decide(t, s, key, p, 1)
			if d1.Limited || d1.Remaining != 0 || d1.RetryAfter != 0 || d1.ResetAfter <= 0 || d1.ResetAfter > 60_000_000 {
				return fmt.Errorf("first request: %+v, want allowed, Remaining 0, ResetAfter in (0, 60s]", d1)
			}
			d2 := decide(t, s, key, p, 1)
			if !d2.Limited || d2.Remaining != 0 {
				return fmt.Errorf("second request: %+v, want Limited", d2)
			}
			// Retry at the end of the window, which is also when it resets.
			if d2.RetryAfter <= 0 || d2.RetryAfter > d1.ResetAfter || d2.RetryAfter != d2.ResetAfter {
				return fmt.Errorf("second request: %+v, want RetryAfter = ResetAfter in (0, %d]", d2, d1.ResetAfter)
			}
			return nil
		})
	})

	t.Run("algo=sliding_window", func(t *testing.T) {
		p := compile(t, algo.SlidingWindow, algo.PerMin(5))
		inOneWindow(t, c, p.Period, func(key string) error {
			for i := range int64(5) {
				d := decide(t, s, key, p, 1)
				if d.Limited || d.Remaining != 4-i || d.RetryAfter != 0 || d.ResetAfter <= 0 || d.ResetAfter > 2*60_000_000 {
					return fmt.Errorf("request %d: %+v, want allowed with Remaining %d", i+1, d, 4-i)
				}
			}
			d := decide(t, s, key, p, 1)
			if !d.Limited || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 60_000_001 {
				return fmt.Errorf("request 6: %+v, want Limited with RetryAfter in (0, 60s]", d)
			}
			return nil
		})
	})
}

// tstep is one request of a timeline: advance the fake clock by adv µs,
// then decide cost.
type tstep struct {
	adv  int64
	cost int64
	want algo.Decision
}

func allowed(remaining, reset int64) algo.Decision {
	return algo.Decision{Remaining: remaining, ResetAfter: reset}
}

func limited(remaining, retry, reset int64) algo.Decision {
	return algo.Decision{Limited: true, Remaining: remaining, RetryAfter: retry, ResetAfter: reset}
}

// bucketTimeline is PerMin(60).WithBurst(10) (one token per second) for the
// token bucket, and so for the leaky bucket and GCRA, which decide alike.
func bucketTimeline() []tstep {
	var tl []tstep
	for i := range int64(10) {
		tl = append(tl, tstep{0, 1, allowed(9-i, (i+1)*1_000_000)})
	}
	return append(tl,
		tstep{0, 1, limited(0, 1_000_000, 10_000_000)},
		tstep{500_000, 1, limited(0, 500_000, 9_500_000)},
		tstep{499_999, 1, limited(0, 1, 9_000_001)},
		tstep{1, 1, allowed(0, 10_000_000)},
		tstep{0, 0, allowed(0, 10_000_000)},      // a peek
		tstep{0, 11, limited(0, -1, 10_000_000)}, // more than the burst: Never
		tstep{2_500_000, 3, limited(2, 500_000, 7_500_000)},
		tstep{500_000, 3, allowed(0, 10_000_000)},
		tstep{10_000_000, 0, allowed(10, 0)}, // full again
		tstep{0, 10, allowed(0, 10_000_000)},
	)
}

var timelines = map[algo.Algorithm]struct {
	q     algo.Quota
	start int64 // µs after t0
	steps []tstep
}{
	algo.TokenBucket: {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.LeakingBucket: {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.GCRA:        {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.FixedWindow: {algo.PerMin(1), 15_000_000, []tstep{
		{0, 1, allowed(0, 45_000_000)},
		{0, 1, limited(0, 45_000_000, 45_000_000)},
		{44_999_999, 1, limited(0, 1, 1)},
		{1, 0, allowed(1, 0)}, // a new window: a peek sees it empty
		{0, 1, allowed(0, 60_000_000)},
		{0, 2, limited(0, -1, 60_000_000)},
	}},
	algo.SlidingWindow: {algo.PerMin(5), 15_000_000, []tstep{
		{0, 1, allowed(4, 45_000_001)},
		{0, 1, allowed(3, 75_000_001)},
		{0, 1, allowed(2, 85_000_001)},
		{0, 1, allowed(1, 90_000_001)},
		{0, 1, allowed(0, 93_000_001)},
		{0, 1, limited(0, 45_000_001, 93_000_001)},
		{45_000_000, 1, limited(0, 1, 48_000_001)}, // next window, e = 0: prev weighs 5
		{1, 1, allowed(0, 60_000_000)},             // e = 1µs: prev weighs ⌊5·(P−1)/P⌋ = 4
		{0, 6, limited(0, -1, 60_000_000)},
	}},
}

// TestDecideFakeClock runs a timeline with exact expected decisions for
// every algorithm, with the time passed in by WithClock.
func TestDecideFakeClock(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			tl := timelines[a]
			fake := clock.NewFake(t0 + tl.start)
			s := mustNew(t, c, WithClock(fake))
			p := compile(t, a, tl.q)
			for i, st := range tl.steps {
				fake.AdvanceMicros(st.adv)
				got := decide(t, s, "fake-user", p, st.cost)
				if got != st.want {
					t.Fatalf("step %d (at t0+%dµs, cost %d): got %+v, want %+v",
						i, fake.Now()-t0, st.cost, got, st.want)
				}
			}
		})
	}
}

// TestConcurrentDecisionsAreAtomic checks that concurrent decisions on one
// key never over-admit: each script call is atomic on the server.
func TestConcurrentDecisionsAreAtomic(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			// A day's period: nothing refills and no window ends during the
			// test, unless it runs at midnight UTC.
			p := compile(t, a, algo.PerDay(100))
			inOneWindow(t, c, p.Period, func(key string) error {
				var mu sync.Mutex
				var wg sync.WaitGroup
				ok, errs := 0, []error(nil)
				for range 16 {
					wg.Go(func() {
						for range 20 {
							d, err := s.Decide(context.Background(), key, p, 1)
							mu.Lock()
							if err != nil {
								errs = append(errs, err)
							} else if !d.Limited {
								ok++
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if len(errs) > 0 {
					return errors.Join(errs...)
				}
				if ok != 100 {
					return fmt.Errorf("%d of 320 concurrent requests allowed, want exactly 100", ok)
				}
				return nil
			})
		})
	}
}

// TestKeyNames checks the documented key layout:
// prefix + algorithm + ":{" + key + "}".
func TestKeyNames(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	for _, tc := range []struct {
		opts   []Option
		prefix string
	}{
		{nil, "throttled:v2:"},
		{[]Option{WithPrefix("app:")}, "app:"},
		{[]Option{WithPrefix("")}, ""},
	} {
		s := mustNew(t, c, tc.opts...)
		for _, a := range algo.Algorithms {
			srv.Do(t, "FLUSHALL")
			want := tc.prefix + a.String() + ":{user:42}"
			if got := s.Key("user:42", a); got != want {
				t.Errorf("Key(user:42, %s) with prefix %q = %q, want %q", a, tc.prefix, got, want)
			}
			if got := string(s.appendKey([]byte("x"), "user:42", a)); got != "x"+want {
				t.Errorf("appendKey(x, user:42, %s) with prefix %q = %q, want %q", a, tc.prefix, got, "x"+want)
			}
			decide(t, s, "user:42", compile(t, a, algo.PerMin(10)), 1)
			if got := srv.Do(t, "KEYS", "*"); got != want {
				t.Errorf("%s with prefix %q: the server holds %q, want exactly %q", a, tc.prefix, got, want)
			}
		}
	}
}

// pttl returns the key's PTTL in ms (-2: absent, -1: no TTL).
func pttl(t testing.TB, srv *redistest.Server, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(srv.Do(t, "PTTL", key), 10, 64)
	if err != nil {
		t.Fatalf("PTTL %q: %v", key, err)
	}
	return v
}

// TestStorageContract checks what a decision leaves on the server: an
// allowed request stores the state, and an expiry of 0, with a TTL of
// ResetAfter rounded up to the ms (plus the slack) exactly, as the time
// comes from the caller; a denial and a peek write nothing, and Reset
// deletes the key.
func TestStorageContract(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	const slackMS = 250
	for _, a := range algo.Algorithms {
		for _, withSlack := range []bool{false, true} {
			t.Run(fmt.Sprintf("algo=%s/slack=%v", a, withSlack), func(t *testing.T) {
				fake := clock.NewFake(t0 + 15_000_000)
				opts := []Option{WithClock(fake), WithPrefix(t.Name() + ":")}
				slack := int64(0)
				if withSlack {
					opts = append(opts, WithTTLSlack(slackMS*time.Millisecond-time.Microsecond)) // rounded up
					slack = slackMS
				}
				s := mustNew(t, c, opts...)
				p := compile(t, a, algo.PerMin(10).WithBurst(5))
				key := "contract"
				rk := s.Key(key, a)

				// A peek on a fresh key writes nothing.
				if d := decide(t, s, key, p, 0); d.Limited || d.Remaining != p.Max || d.ResetAfter != 0 {
					t.Fatalf("peek on a fresh key: %+v, want allowed with Remaining %d and ResetAfter 0", d, p.Max)
				}
				if got := srv.Do(t, "EXISTS", rk); got != "0" {
					t.Fatalf("a peek on a fresh key created %q", rk)
				}
				// A denial of a fresh key (cost above the capacity) writes nothing.
				if d := decide(t, s, key, p, p.Max+1); !d.Limited || d.RetryAfter != algo.Never {
					t.Fatalf("cost %d on a fresh key: %+v, want Limited, Never", p.Max+1, d)
				}
				if got := srv.Do(t, "EXISTS", rk); got != "0" {
					t.Fatalf("a denied request on a fresh key created %q", rk)
				}

				// Allowed requests store the state with TTL = ⌈ResetAfter/1ms⌉ + slack.
				for i := range int64(3) {
					fake.AdvanceMicros(1234)
					d := decide(t, s, key, p, 1)
					if d.Limited {
						t.Fatalf("request %d: %+v, want allowed", i, d)
					}
					want := (d.ResetAfter+999)/1000 + slack
					got := pttl(t, srv, rk)
					if got <= 0 || got > want || got < want-1000 {
						t.Fatalf("request %d: PTTL %dms, want %dms (ResetAfter %dµs, slack %dms), never 0 or -1",
							i, got, want, d.ResetAfter, slack)
					}
					v := srv.Do(t, "GET", rk)
					if len(v) != 8*(scripts[a].fields+1) || float64At(v, scripts[a].fields) != 0 {
						t.Fatalf("request %d: stored %q, want %d fields and an expiry of 0", i, v, scripts[a].fields)
					}
				}

				// Exhaust the quota, then a denial and a peek change nothing.
				for range p.Max {
					decide(t, s, key, p, 1)
				}
				before, ttlBefore := srv.Do(t, "GET", rk), pttl(t, srv, rk)
				fake.AdvanceMicros(1)
				if d := decide(t, s, key, p, 1); !d.Limited {
					t.Fatalf("after %d requests: %+v, want Limited", p.Max+3, d)
				}
				if d := decide(t, s, key, p, 0); d.Limited || d.Remaining != 0 {
					t.Fatalf("peek on an exhausted key: %+v, want allowed with Remaining 0", d)
				}
				if after := srv.Do(t, "GET", rk); after != before {
					t.Fatalf("a denial or a peek changed the state from %q to %q", before, after)
				}
				if ttl := pttl(t, srv, rk); ttl > ttlBefore || ttl <= 0 {
					t.Fatalf("a denial or a peek changed the TTL from %dms to %dms", ttlBefore, ttl)
				}

				// Reset deletes the key and only that key.
				other := s.Key(key, otherAlgorithm(a))
				srv.Do(t, "SET", other, "untouched")
				if err := s.Reset(context.Background(), key, a); err != nil {
					t.Fatalf("Reset: %v", err)
				}
				if got := srv.Do(t, "EXISTS", rk); got != "0" {
					t.Fatalf("Reset left %q", rk)
				}
				if got := srv.Do(t, "GET", other); got != "untouched" {
					t.Fatalf("Reset of %s touched %q: %q", a, other, got)
				}
				if err := s.Reset(context.Background(), key, a); err != nil {
					t.Fatalf("Reset of an absent key: %v", err)
				}
				if d := decide(t, s, key, p, 1); d.Limited || d.Remaining != p.Max-1 {
					t.Fatalf("after Reset: %+v, want a fresh key's first decision", d)
				}
			})
		}
	}
}

func otherAlgorithm(a algo.Algorithm) algo.Algorithm {
	if a == algo.GCRA {
		return algo.FixedWindow
	}
	return a + 1
}

// serverMillis returns the server's TIME in ms.
func serverMillis(t testing.TB, srv *redistest.Server) int64 {
	t.Helper()
	parts := strings.Split(srv.Do(t, "TIME"), "\n")
	if len(parts) != 2 {
		t.Fatalf("TIME = %q", parts)
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	usec, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("TIME = %q", parts)
	}
	return sec*1000 + usec/1000
}

// TestTTLServerTime checks the TTL on the server's clock. After every
// allowed request the key expires no earlier than ⌈ResetAfter⌉ ms after the
// decision and at most ttlHeadroom later; the expiry the key stores is the
// one the script set, less 1 ms (never later than the real one,
// PEXPIRETIME, whichever instant Redis dates a TTL from); a write
// that finds that expiry late enough keeps it, and one that does not
// lengthens it. Both kinds of write must occur.
func TestTTLServerTime(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	headroom := ttlHeadroom.Milliseconds()
	kept, lengthened := 0, 0
	for _, a := range algo.Algorithms {
		for _, q := range []algo.Quota{algo.PerSec(3), algo.PerMin(100).WithBurst(7), algo.PerHour(1), algo.PerWeek(1000), algo.PerSec(1_000_000)} {
			key := "ttl-" + q.String()
			rk := s.Key(key, a)
			p := compile(t, a, q)
			stored := int64(0) // the expiry stored before the request
			for i := range 4 {
				before := serverMillis(t, srv)
				d := decide(t, s, key, p, 1)
				after := serverMillis(t, srv)
				if d.Limited {
					continue
				}
				desc := fmt.Sprintf("%s %v request %d (ResetAfter %dµs)", a, q, i, d.ResetAfter)
				need := (d.ResetAfter + 999) / 1000
				expireAt, err := strconv.ParseInt(srv.Do(t, "PEXPIRETIME", rk), 10, 64)
				if err != nil || expireAt <= 0 {
					t.Fatalf("%s: PEXPIRETIME = %d, %v", desc, expireAt, err)
				}
				// A kept TTL was set for an earlier ResetAfter, rounded up to the
				// ms then: it may end a ms past this one's rounding plus the headroom.
				if expireAt < before+need || expireAt > after+need+headroom+1 {
					t.Errorf("%s: the key expires at %d, want in [%d, %d]: ResetAfter after the decision, plus at most the headroom",
						desc, expireAt, before+need, after+need+headroom+1)
				}
				raw := srv.Do(t, "GET", rk)
				if len(raw) != 8*(scripts[a].fields+1) {
					t.Fatalf("%s: stored %q, want %d fields and the expiry", desc, raw, scripts[a].fields)
				}
				got := int64(float64At(raw, scripts[a].fields))
				if got > expireAt || got < expireAt-(after-before)-2 {
					t.Errorf("%s: stored expiry %d, want the real one %d at most %dms earlier", desc, got, expireAt, after-before+2)
				}
				switch {
				case stored >= after+need: // late enough: kept
					kept++
					if got != stored {
						t.Errorf("%s: expiry %d was late enough for ResetAfter, yet changed to %d", desc, stored, got)
					}
				case stored < before+need: // too early: lengthened
					lengthened++
					if got < before+need+headroom-1 {
						t.Errorf("%s: expiry %d was too early; lengthened to %d, want at least %d", desc, stored, got, before+need+headroom-1)
					}
				}
				stored = got
			}
		}
	}
	t.Logf("%d writes kept the TTL, %d lengthened it", kept, lengthened)
	if kept == 0 || lengthened == 0 {
		t.Errorf("%d writes kept the TTL and %d lengthened it: want both", kept, lengthened)
	}
}

// TestBatchServerTime checks a batch on the server's clock that names a
// key several times: each occurrence sees the one before (the first write
// sets the TTL, the next ones keep it), and every key ends with a TTL of at
// least its last ResetAfter.
func TestBatchServerTime(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	for _, a := range algo.Algorithms {
		p := compile(t, a, algo.PerMin(10))
		keys := []string{"a", "b", "a", "a", "c", "b"}
		reqs := make([]store.Request[string], len(keys))
		for i, k := range keys {
			reqs[i] = store.Request[string]{Key: k, Cost: 1}
		}
		out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
		before := serverMillis(t, srv)
		s.DecideBatch(context.Background(), p, reqs, out, errs)
		seen := map[string]int64{}
		last := map[string]algo.Decision{}
		for i, k := range keys {
			if errs[i] != nil {
				t.Fatalf("%s request %d (%s): %v", a, i, k, errs[i])
			}
			seen[k]++
			if out[i].Limited || out[i].Remaining != p.Max-seen[k] {
				t.Errorf("%s request %d (%s): %+v, want allowed with Remaining %d", a, i, k, out[i], p.Max-seen[k])
			}
			last[k] = out[i]
		}
		for k, d := range last {
			rk := s.Key(k, a)
			expireAt, err := strconv.ParseInt(srv.Do(t, "PEXPIRETIME", rk), 10, 64)
			if need := (d.ResetAfter + 999) / 1000; err != nil || expireAt < before+need {
				t.Errorf("%s key %s: expires at %d (%v), want at least %d", a, k, expireAt, err, before+need)
			}
		}
	}
}

// commandStats returns the calls of every command in INFO commandstats.
func commandStats(t testing.TB, srv *redistest.Server) map[string]int64 {
	t.Helper()
	stats := map[string]int64{}
	for _, line := range strings.Split(srv.Do(t, "INFO", "commandstats"), "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("INFO commandstats: %q", line)
				}
				stats[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return stats
}

func statsDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// TestOneScriptCallPerDecision checks that a decision is one EVALSHA,
// that a SCRIPT FLUSH is survived through rueidis's EVAL fallback, and that
// the client sends nothing else (the GET, SET and TIME run in the script).
func TestOneScriptCallPerDecision(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	ctx := context.Background()
	params := map[algo.Algorithm]*algo.Params{}
	for _, a := range algo.Algorithms {
		params[a] = compile(t, a, algo.PerMin(1000))
		decide(t, s, "warm", params[a], 1)
	}

	// Server-side script cache gone: every algorithm still decides.
	srv.Do(t, "SCRIPT", "FLUSH")
	before := commandStats(t, srv)
	for _, a := range algo.Algorithms {
		if d := decide(t, s, "after-flush", params[a], 1); d.Limited || d.Remaining != 999 {
			t.Fatalf("%s after SCRIPT FLUSH: %+v, want allowed with Remaining 999", a, d)
		}
	}
	delta := statsDelta(before, commandStats(t, srv))
	t.Logf("commands for 5 decisions after SCRIPT FLUSH: %v", delta)
	if delta["eval"] != 5 {
		t.Errorf("after SCRIPT FLUSH: %d EVAL, want 5 (one NOSCRIPT fallback per script)", delta["eval"])
	}
	if got := srv.Do(t, "SCRIPT", "EXISTS", scriptSHA(scripts[algo.GCRA].source)); got != "1" {
		t.Errorf("SCRIPT EXISTS after the fallback = %q, want 1 (EVAL caches the script)", got)
	}

	// 100 decisions: 100 EVALSHA and nothing else from the client.
	const n = 100
	before = commandStats(t, srv)
	for i := range n {
		a := algo.Algorithms[i%len(algo.Algorithms)]
		decide(t, s, "k"+strconv.Itoa(i%7), params[a], int64(i%2))
	}
	after := commandStats(t, srv)
	delta = statsDelta(before, after)
	t.Logf("commands for %d decisions: %v", n, delta)
	if delta["evalsha"] != n {
		t.Errorf("%d decisions made %d EVALSHA calls, want %d", n, delta["evalsha"], n)
	}
	// Each script reads its keys once (MGET) and the server's clock once;
	// SET only when it consumed something (cost 1, half of the decisions).
	if delta["mget"] != n || delta["time"] != n || delta["set"] <= 0 || delta["set"] > n/2 {
		t.Errorf("per %d decisions: %d MGET, %d TIME, %d SET; want %d, %d and at most %d",
			n, delta["mget"], delta["time"], delta["set"], n, n, n/2)
	}
	for cmd, calls := range delta {
		switch cmd {
		case "evalsha", "mget", "set", "time", "info", "ping": // ping: a client keepalive, if any
		default:
			t.Errorf("unexpected %d %s calls during %d decisions", calls, cmd, n)
		}
	}

	// With an injected clock the scripts do not call TIME.
	fs := mustNew(t, c, WithClock(clock.NewFake(t0)))
	before = commandStats(t, srv)
	for i := range 10 {
		if _, err := fs.Decide(ctx, "fake"+strconv.Itoa(i), params[algo.TokenBucket], 1); err != nil {
			t.Fatal(err)
		}
	}
	if delta := statsDelta(before, commandStats(t, srv)); delta["time"] != 0 || delta["evalsha"] != 10 {
		t.Errorf("with WithClock, 10 decisions made %v, want 10 EVALSHA and no TIME", delta)
	}
}

func scriptSHA(src string) string {
	sum := sha1.Sum([]byte(src))
	return hex.EncodeToString(sum[:])
}

// TestFromURL connects through every supported URL form of a standalone
// server and checks that Close closes what FromURL opened.
func TestFromURL(t *testing.T) {
	tcp := redistest.Standalone(t)
	unix := redistest.StandaloneUnix(t)
	p := compile(t, algo.TokenBucket, algo.PerMin(2))
	for _, tc := range []struct {
		name string
		url  string
		srv  *redistest.Server
	}{
		{"redis", tcp.URL(), tcp},
		{"redis-db", "redis://" + tcp.Addr() + "/3", nil},
		{"unix", unix.URL(), unix},
		{"unix-no-db", "unix://" + unix.Socket(), unix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromURL(tc.url, WithPrefix(tc.name+":"))
			if err != nil {
				t.Fatalf("FromURL(%q): %v", tc.url, err)
			}
			if s.Client() == nil {
				t.Fatal("Client() = nil")
			}
			if d := decide(t, s, "u", p, 1); d.Limited || d.Remaining != 1 {
				t.Fatalf("Decide: %+v, want allowed with Remaining 1", d)
			}
			if tc.srv != nil {
				if got := tc.srv.Do(t, "EXISTS", tc.name+":token_bucket:{u}"); got != "1" {
					t.Fatalf("the state is not in database 0 of the server")
				}
			} else if got := tcp.Do(t, "EXISTS", tc.name+":token_bucket:{u}"); got != "0" {
				t.Fatalf("/3 wrote to database 0")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, err = s.Decide(context.Background(), "u", p, 1)
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, rueidis.ErrClosing) || errors.Is(err, store.ErrScript) {
				t.Fatalf("Decide after Close: %v, want store.ErrUnavailable", err)
			}
			err = s.Reset(context.Background(), "u", algo.TokenBucket)
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
				t.Fatalf("Reset after Close: %v, want store.ErrUnavailable", err)
			}
			errs := make([]error, 2)
			s.DecideBatch(context.Background(), p, []store.Request[string]{{Key: "u", Cost: 1}, {Key: "v", Cost: 0}}, make([]algo.Decision, 2), errs)
			for i, err := range errs {
				if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
					t.Fatalf("DecideBatch request %d after Close: %v, want store.ErrUnavailable", i, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if tc.srv != nil { // the connection is gone
				waitNoClients(t, func(int) string { return tc.srv.Do(t, "CLIENT", "LIST") }, 1)
			}
		})
	}
}

// TestCloseLeavesCallersClient checks that a Store made by New does not
// close the caller's client.
func TestCloseLeavesCallersClient(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	s := mustNew(t, c)
	if s.Client() != c {
		t.Fatal("Client() is not the client given to New")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Do(context.Background(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("the caller's client was closed by Store.Close: %v", err)
	}
	decide(t, s, "still-works", compile(t, algo.GCRA, algo.PerSec(1)), 1)
}
