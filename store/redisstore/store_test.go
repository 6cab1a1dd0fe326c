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
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/store"
)

// t0 is a fake-clock time aligned to a day (and so to a minute and an
// hour) since the epoch: 2023-11-15T00:00:00Z in µs.
const t0 = int64(1_700_006_400_000_000)

// never is the RetryAfter of a request that can never pass.
const never = int64(-1)

func TestT0IsAligned(t *testing.T) {
	if t0%(24*3600*1_000_000) != 0 {
		t.Fatalf("t0 = %d is not aligned to a day", t0)
	}
}

// pol compiles q for algorithm a into a policy or fails the test.
func pol(t testing.TB, a algo.Algorithm, q algo.Quota) *store.Policy {
	t.Helper()
	p, err := store.NewPolicy(q.WithAlgorithm(a))
	if err != nil {
		t.Fatalf("NewPolicy(%v %s): %v", q, a, err)
	}
	return p
}

// testTimeout bounds each call of the stores mustNew builds, unless the
// test gives its own WithTimeout: DefaultTimeout (200 ms) would fail calls
// on a machine loaded by the race detector and other packages' tests. The
// default is tested by TestTimeout.
const testTimeout = 10 * time.Second

// mustNew is New for a test, with WithTimeout(testTimeout) before opts.
func mustNew(t testing.TB, c rueidis.Client, opts ...Option) *Store {
	t.Helper()
	s, err := New(c, append([]Option{WithTimeout(testTimeout)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// decide is Store.Decide under the one policy p, for a test that expects
// no error.
func decide(t testing.TB, s *Store, key string, p *store.Policy, cost int64) algo.Decision {
	t.Helper()
	d, err := s.Decide(context.Background(), key, []*store.Policy{p}, cost, nil)
	if err != nil {
		t.Fatalf("Decide(%q, %s, cost %d): %v", abbrev(key), p, cost, err)
	}
	return d
}

// decideAll is Store.Decide under every policy of ps, for a test that
// expects no error: the combined decision and each policy's own.
func decideAll(t testing.TB, s *Store, key string, ps []*store.Policy, cost int64) (algo.Decision, []algo.Decision) {
	t.Helper()
	each := make([]algo.Decision, len(ps))
	d, err := s.Decide(context.Background(), key, ps, cost, each)
	if err != nil {
		t.Fatalf("Decide(%q, %v, cost %d): %v", abbrev(key), ps, cost, err)
	}
	return d, each
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
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)

	for _, a := range []algo.Algorithm{algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		t.Run("algo="+a.String(), func(t *testing.T) {
			p := pol(t, a, algo.PerMin(60).WithBurst(10))
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
			if d := decide(t, s, key, p, 11); !d.Limited || d.RetryAfter != never {
				t.Fatalf("cost 11 > burst 10: %+v, want Limited with RetryAfter -1 (never)", d)
			}
			if d := decide(t, s, key, p, 0); d.Limited || d.RetryAfter != 0 || d.Remaining != 0 {
				t.Fatalf("cost 0: %+v, want allowed with Remaining 0", d)
			}
		})
	}

	t.Run("algo=fixed_window", func(t *testing.T) {
		p := pol(t, algo.FixedWindow, algo.PerMin(1))
		inOneWindow(t, c, p.Params().Period, func(key string) error {
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
		p := pol(t, algo.SlidingWindow, algo.PerMin(5))
		inOneWindow(t, c, p.Params().Period, func(key string) error {
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

// allowed is the decision of an allowed request.
func allowed(remaining, reset int64) algo.Decision {
	return algo.Decision{Remaining: remaining, ResetAfter: reset}
}

// limited is the decision of a denied request.
func limited(remaining, retry, reset int64) algo.Decision {
	return algo.Decision{Limited: true, Remaining: remaining, RetryAfter: retry, ResetAfter: reset}
}

// bucketTimeline is PerMin(60).WithBurst(10) (one token per second) for the
// token bucket, and so for the leaking bucket and GCRA, which decide alike.
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
		tstep{0, 0, allowed(0, 10_000_000)},         // a peek
		tstep{0, 11, limited(0, never, 10_000_000)}, // more than the burst
		tstep{2_500_000, 3, limited(2, 500_000, 7_500_000)},
		tstep{500_000, 3, allowed(0, 10_000_000)},
		// The clock steps back 2s: decided as at the state's time, the
		// durations get the 2s lag.
		tstep{-2_000_000, 1, limited(0, 3_000_000, 12_000_000)},
		tstep{0, 0, allowed(0, 12_000_000)},
		tstep{2_000_000, 0, allowed(0, 10_000_000)},
		tstep{10_000_000, 0, allowed(10, 0)}, // full again
		tstep{0, 10, allowed(0, 10_000_000)},
	)
}

var timelines = map[algo.Algorithm]struct {
	q     algo.Quota
	start int64 // µs after t0
	steps []tstep
}{
	algo.TokenBucket:   {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.LeakingBucket: {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.GCRA:          {algo.PerMin(60).WithBurst(10), 123, bucketTimeline()},
	algo.FixedWindow: {algo.PerMin(1), 15_000_000, []tstep{
		{0, 1, allowed(0, 45_000_000)},
		{0, 1, limited(0, 45_000_000, 45_000_000)},
		{44_999_999, 1, limited(0, 1, 1)},
		{1, 0, allowed(1, 0)}, // a new window: a peek sees it empty
		{0, 1, allowed(0, 60_000_000)},
		{0, 2, limited(0, never, 60_000_000)},
		// The clock steps back 5s, behind the state's time: decided in the
		// state's window, the durations get the lag.
		{-5_000_000, 1, limited(0, 65_000_000, 65_000_000)},
		{0, 2, limited(0, never, 65_000_000)},
		{0, 0, allowed(0, 65_000_000)},
		{5_000_000, 0, allowed(0, 60_000_000)},
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
		// The clock steps back 1s: at the state's e = 1µs, prev weighs ≤ 3
		// from e = 12s + 1µs on, 12s later; the durations get the lag.
		{-1_000_000, 1, limited(0, 13_000_000, 61_000_000)},
		{1_000_000, 6, limited(0, never, 60_000_000)},
	}},
}

// TestDecideFakeClock runs a timeline with exact expected decisions for
// every algorithm, with the time passed in by WithClock.
func TestDecideFakeClock(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			tl := timelines[a]
			fake := clock.NewFake(t0 + tl.start)
			s := mustNew(t, c, WithClock(fake))
			if s.Clock() != store.Clock(fake) {
				t.Fatalf("Clock() = %v, want the clock given to WithClock", s.Clock())
			}
			p := pol(t, a, tl.q)
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
	if s := mustNew(t, c); s.Clock() != nil {
		t.Errorf("Clock() without WithClock = %v, want nil (the server's time)", s.Clock())
	}
}

// mstep is one request of a timeline under several policies: the combined
// decision and each policy's own.
type mstep struct {
	adv  int64
	cost int64
	want algo.Decision
	each []algo.Decision
}

// TestMultiPolicyTimeline decides a timeline under two policies of
// different algorithms at once, with decisions worked out by hand: a
// fixed window of 2/s (A) and a token bucket of 3/min (B, a token every
// 20s). A request passes iff both admit it, and then both are charged; a
// policy that would admit a denied request reports a peek and keeps its
// state.
func TestMultiPolicyTimeline(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := clock.NewFake(t0 + 250_000)
	s := mustNew(t, c, WithClock(fake), WithTTLSlack(time.Hour))
	ps := []*store.Policy{pol(t, algo.FixedWindow, algo.PerSec(2)), pol(t, algo.TokenBucket, algo.PerMin(3))}
	for i, st := range []mstep{
		{0, 1, allowed(1, 20_000_000), []algo.Decision{allowed(1, 750_000), allowed(2, 20_000_000)}},
		{0, 1, allowed(0, 40_000_000), []algo.Decision{allowed(0, 750_000), allowed(1, 40_000_000)}},
		// A denies; B would admit and reports a peek: its token stays.
		{0, 1, limited(0, 750_000, 40_000_000), []algo.Decision{limited(0, 750_000, 750_000), allowed(1, 40_000_000)}},
		// A new window for A; B has refilled 0.75s/20s of a token.
		{750_000, 1, allowed(0, 59_250_000), []algo.Decision{allowed(1, 1_000_000), allowed(0, 59_250_000)}},
		// B denies; A would admit and reports a peek: its count stays 1.
		{0, 1, limited(0, 19_250_000, 59_250_000), []algo.Decision{allowed(1, 1_000_000), limited(0, 19_250_000, 59_250_000)}},
		// Above both capacities: never.
		{0, 4, limited(0, never, 59_250_000), []algo.Decision{limited(1, never, 1_000_000), limited(0, never, 59_250_000)}},
		// Never under one policy only is never too.
		{0, 3, limited(0, never, 59_250_000), []algo.Decision{limited(1, never, 1_000_000), limited(0, 59_250_000, 59_250_000)}},
		{0, 0, allowed(0, 59_250_000), []algo.Decision{allowed(1, 1_000_000), allowed(0, 59_250_000)}},
		// B's token is back exactly when RetryAfter said.
		{19_250_000, 1, allowed(0, 60_000_000), []algo.Decision{allowed(1, 750_000), allowed(0, 60_000_000)}},
	} {
		fake.AdvanceMicros(st.adv)
		got, each := decideAll(t, s, "multi", ps, st.cost)
		if got != st.want {
			t.Errorf("step %d (at t0+%dµs, cost %d): combined %+v, want %+v", i, fake.Now()-t0, st.cost, got, st.want)
		}
		for j := range ps {
			if each[j] != st.each[j] {
				t.Errorf("step %d (at t0+%dµs, cost %d): policy %s: %+v, want %+v", i, fake.Now()-t0, st.cost, ps[j], each[j], st.each[j])
			}
		}
		// nil each: the same combined decision (a peek, to change nothing).
		d, err := s.Decide(context.Background(), "multi", ps, 0, nil)
		if err != nil || d.Limited {
			t.Errorf("step %d: a peek with each nil: %+v, %v", i, d, err)
		}
	}
}

// TestConcurrentDecisionsAreAtomic checks that concurrent decisions on one
// key never over-admit: each script call is atomic on the server, for one
// policy and for two charged together.
func TestConcurrentDecisionsAreAtomic(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	// run decides 320 requests from 16 goroutines and returns how many passed.
	run := func(key string, ps []*store.Policy) (int, error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		ok, errs := 0, []error(nil)
		for range 16 {
			wg.Go(func() {
				for range 20 {
					d, err := s.Decide(context.Background(), key, ps, 1, nil)
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
		return ok, errors.Join(errs...)
	}
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			// A day's period: nothing refills and no window ends during the
			// test, unless it runs at midnight UTC.
			p := pol(t, a, algo.PerDay(100))
			inOneWindow(t, c, p.Params().Period, func(key string) error {
				ok, err := run(key, []*store.Policy{p})
				if err != nil {
					return err
				}
				if ok != 100 {
					return fmt.Errorf("%d of 320 concurrent requests allowed, want exactly 100", ok)
				}
				return nil
			})
		})
		t.Run("algo="+a.String()+"/policies=2", func(t *testing.T) {
			ps := []*store.Policy{pol(t, a, algo.PerDay(100)), pol(t, otherAlgorithm(a), algo.PerDay(60))}
			inOneWindow(t, c, ps[0].Params().Period, func(key string) error {
				ok, err := run(key, ps)
				if err != nil {
					return err
				}
				if ok != 60 {
					return fmt.Errorf("%d of 320 concurrent requests allowed, want exactly 60", ok)
				}
				// Both policies were charged for exactly the 60 that passed.
				_, each := decideAll(t, s, key, ps, 0)
				if each[0].Remaining != 40 || each[1].Remaining != 0 {
					return fmt.Errorf("after 60 passed: %+v, want Remaining 40 and 0", each)
				}
				return nil
			})
		})
	}
}

// TestKeyNames checks the documented key layout:
// prefix + policy.Key() + ":{" + key + "}".
func TestKeyNames(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	policyKeys := map[algo.Algorithm]string{
		algo.FixedWindow:   "fixed_window:10/m",
		algo.SlidingWindow: "sliding_window:10/m",
		algo.TokenBucket:   "token_bucket:10/m:b10",
		algo.LeakingBucket: "leaking_bucket:10/m:b10",
		algo.GCRA:          "gcra:10/m:b10",
	}
	for _, tc := range []struct {
		opts   []Option
		prefix string
	}{
		{nil, "throttled:v3:"},
		{[]Option{WithPrefix("app:")}, "app:"},
	} {
		s := mustNew(t, c, tc.opts...)
		for _, a := range algo.Algorithms {
			srv.Do(t, "FLUSHALL")
			p := pol(t, a, algo.PerMin(10))
			want := tc.prefix + policyKeys[a] + ":{user:42}"
			if got := s.Key("user:42", p); got != want {
				t.Errorf("Key(user:42, %s) with prefix %q = %q, want %q", p, tc.prefix, got, want)
			}
			if got := string(s.appendKey([]byte("x"), "user:42", p)); got != "x"+want {
				t.Errorf("appendKey(x, user:42, %s) with prefix %q = %q, want %q", p, tc.prefix, got, "x"+want)
			}
			decide(t, s, "user:42", p, 1)
			if got := srv.Do(t, "KEYS", "*"); got != want {
				t.Errorf("%s with prefix %q: the server holds %q, want exactly %q", a, tc.prefix, got, want)
			}
		}
		// Two policies: one key each, nothing else.
		srv.Do(t, "FLUSHALL")
		ps := []*store.Policy{pol(t, algo.GCRA, algo.PerMin(10)), pol(t, algo.FixedWindow, algo.PerMin(10))}
		decideAll(t, s, "user:42", ps, 1)
		got := strings.Split(srv.Do(t, "KEYS", "*"), "\n")
		want := []string{tc.prefix + "fixed_window:10/m:{user:42}", tc.prefix + "gcra:10/m:b10:{user:42}"}
		if len(got) != 2 || !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
			t.Errorf("two policies with prefix %q: the server holds %q, want %q", tc.prefix, got, want)
		}
	}
	if DefaultPrefix != "throttled:v3:" {
		t.Errorf("DefaultPrefix = %q", DefaultPrefix)
	}
	// A key starting with '}' gets the hash tag "=": an empty tag would
	// spread a key's policies over several Cluster slots.
	s := mustNew(t, c)
	p := pol(t, algo.GCRA, algo.PerMin(10))
	for k, want := range map[string]string{"}x": "throttled:v3:gcra:10/m:b10:!{=}x}", "x}": "throttled:v3:gcra:10/m:b10:{x}}", "=}x": "throttled:v3:gcra:10/m:b10:{=}x}"} {
		if got := s.Key(k, p); got != want {
			t.Errorf("Key(%q) = %q, want %q", k, got, want)
		}
		if got := string(s.appendKey(nil, k, p)); got != want {
			t.Errorf("appendKey(%q) = %q, want %q", k, got, want)
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
// deletes the policies' keys and only those.
func TestStorageContract(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
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
				p := pol(t, a, algo.PerMin(10).WithBurst(5))
				capacity := p.Max()
				fields := steps.Fields[a]
				key := "contract"
				rk := s.Key(key, p)

				// A peek on a fresh key writes nothing.
				if d := decide(t, s, key, p, 0); d.Limited || d.Remaining != capacity || d.ResetAfter != 0 {
					t.Fatalf("peek on a fresh key: %+v, want allowed with Remaining %d and ResetAfter 0", d, capacity)
				}
				if got := srv.Do(t, "EXISTS", rk); got != "0" {
					t.Fatalf("a peek on a fresh key created %q", rk)
				}
				// A denial of a fresh key (cost above the capacity) writes nothing.
				if d := decide(t, s, key, p, capacity+1); !d.Limited || d.RetryAfter != never {
					t.Fatalf("cost %d on a fresh key: %+v, want Limited, never", capacity+1, d)
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
					if len(v) != 8*(fields+1) || float64At(v, fields) != 0 || int64(float64At(v, 0)) != fake.Now() {
						t.Fatalf("request %d: stored %q, want %d fields (the first the time) and an expiry of 0", i, v, fields)
					}
				}

				// Exhaust the quota, then a denial and a peek change nothing.
				for range capacity {
					decide(t, s, key, p, 1)
				}
				before, ttlBefore := srv.Do(t, "GET", rk), pttl(t, srv, rk)
				fake.AdvanceMicros(1)
				if d := decide(t, s, key, p, 1); !d.Limited {
					t.Fatalf("after %d requests: %+v, want Limited", capacity+3, d)
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

				// Reset deletes the policy's key and only that key: not the
				// key of another algorithm, nor of another quota.
				others := []string{s.Key(key, pol(t, otherAlgorithm(a), algo.PerMin(10).WithBurst(5))), s.Key(key, pol(t, a, algo.PerMin(11)))}
				for _, o := range others {
					srv.Do(t, "SET", o, "untouched")
				}
				if err := s.Reset(context.Background(), key, []*store.Policy{p}); err != nil {
					t.Fatalf("Reset: %v", err)
				}
				if got := srv.Do(t, "EXISTS", rk); got != "0" {
					t.Fatalf("Reset left %q", rk)
				}
				for _, o := range others {
					if got := srv.Do(t, "GET", o); got != "untouched" {
						t.Fatalf("Reset of %s touched %q: %q", p, o, got)
					}
				}
				if err := s.Reset(context.Background(), key, []*store.Policy{p}); err != nil {
					t.Fatalf("Reset of an absent key: %v", err)
				}
				if d := decide(t, s, key, p, 1); d.Limited || d.Remaining != capacity-1 {
					t.Fatalf("after Reset: %+v, want a fresh key's first decision", d)
				}
				// Reset of several policies deletes each one's key.
				p2 := pol(t, otherAlgorithm(a), algo.PerMin(7))
				decide(t, s, key, p2, 1)
				if err := s.Reset(context.Background(), key, []*store.Policy{p2, p}); err != nil {
					t.Fatalf("Reset of two policies: %v", err)
				}
				if got := srv.Do(t, "EXISTS", rk, s.Key(key, p2)); got != "0" {
					t.Fatalf("Reset of two policies left %s of their keys", got)
				}
			})
		}
	}
}

// otherAlgorithm returns an algorithm other than a.
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

// TestTTLServerTime checks the TTL on the server's clock, without a TTL
// slack and with one. After every allowed request the key expires no
// earlier than ⌈ResetAfter⌉ ms plus the slack after the decision and at
// most ttlHeadroom later; the expiry the key stores is the one the script
// set, less 1 ms (never later than the real one, PEXPIRETIME, whichever
// instant Redis dates a TTL from); a write that finds that expiry late
// enough keeps it, and one that does not lengthens it. Both kinds of write
// must occur.
func TestTTLServerTime(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	headroom := ttlHeadroom.Milliseconds()
	kept, lengthened := 0, 0
	for _, slack := range []int64{0, 3000} {
		k, l := ttlServerTime(t, srv, mustNew(t, c, WithTTLSlack(time.Duration(slack)*time.Millisecond)), slack, headroom)
		kept, lengthened = kept+k, lengthened+l
	}
	t.Logf("%d writes kept the TTL, %d lengthened it", kept, lengthened)
	if kept == 0 || lengthened == 0 {
		t.Errorf("%d writes kept the TTL and %d lengthened it: want both", kept, lengthened)
	}
}

// ttlServerTime runs TestTTLServerTime's requests on s, whose TTL slack is
// slack ms, and returns how many writes kept the TTL and how many
// lengthened it.
func ttlServerTime(t *testing.T, srv *redistest.Server, s *Store, slack, headroom int64) (kept, lengthened int) {
	t.Helper()
	for _, a := range algo.Algorithms {
		fields := steps.Fields[a]
		for _, q := range []algo.Quota{algo.PerSec(3), algo.PerMin(100).WithBurst(7), algo.PerHour(1), algo.PerWeek(1000), algo.PerSec(1_000_000)} {
			key := fmt.Sprintf("ttl-%s-slack%d", q, slack)
			p := pol(t, a, q)
			rk := s.Key(key, p)
			stored := int64(0) // the expiry stored before the request
			for i := range 4 {
				before := serverMillis(t, srv)
				d := decide(t, s, key, p, 1)
				after := serverMillis(t, srv)
				if d.Limited {
					continue
				}
				desc := fmt.Sprintf("%s %v request %d (ResetAfter %dµs, slack %dms)", a, q, i, d.ResetAfter, slack)
				need := (d.ResetAfter+999)/1000 + slack
				expireAt, err := strconv.ParseInt(srv.Do(t, "PEXPIRETIME", rk), 10, 64)
				if err != nil || expireAt <= 0 {
					t.Fatalf("%s: PEXPIRETIME = %d, %v", desc, expireAt, err)
				}
				// A kept TTL was set for an earlier ResetAfter, rounded up to the
				// ms then: it may end a ms past this one's rounding plus the headroom.
				if expireAt < before+need || expireAt > after+need+headroom+1 {
					t.Errorf("%s: the key expires at %d, want in [%d, %d]: ResetAfter and the slack after the decision, plus at most the headroom",
						desc, expireAt, before+need, after+need+headroom+1)
				}
				raw := srv.Do(t, "GET", rk)
				if len(raw) != 8*(fields+1) {
					t.Fatalf("%s: stored %q, want %d fields and the expiry", desc, raw, fields)
				}
				got := int64(float64At(raw, fields))
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
	return kept, lengthened
}

// TestBatchServerTime checks a batch on the server's clock, without a TTL
// slack and with one, that names a key several times: each occurrence sees
// the one before (the first write sets the TTL, the next ones keep it),
// and every key ends with a TTL of at least its last ResetAfter plus the
// slack, under one policy and under two. Then a key
// named twice in a row, fresh, under a quota whose second request needs a
// TTL the first write's headroom covers: the key keeps the first write's.
func TestBatchServerTime(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	for _, slack := range []int64{0, 3000} {
		batchServerTime(t, srv, mustNew(t, c, WithTTLSlack(time.Duration(slack)*time.Millisecond)), slack)
	}
}

// batchServerTime runs TestBatchServerTime on s, whose TTL slack is slack
// ms: every TTL the test expects is that much longer.
func batchServerTime(t *testing.T, srv *redistest.Server, s *Store, slack int64) {
	t.Helper()
	grew := 0 // algorithms whose second request in a row needed a longer TTL
	for _, a := range algo.Algorithms {
		for _, ps := range [][]*store.Policy{
			{pol(t, a, algo.PerMin(10))},
			{pol(t, a, algo.PerMin(20))}, // a bucket's ResetAfter grows 3 s a request: within a slack of 3 s
			{pol(t, a, algo.PerHour(8)), pol(t, otherAlgorithm(a), algo.PerMin(20))},
		} {
			srv.Do(t, "FLUSHALL")
			npol := len(ps)
			keys := []string{"a", "b", "a", "a", "c", "b"}
			reqs := make([]store.Request[string], len(keys))
			for i, k := range keys {
				reqs[i] = store.Request[string]{Key: k, Cost: 1}
			}
			out, each, errs := make([]algo.Decision, len(reqs)), make([]algo.Decision, len(reqs)*npol), make([]error, len(reqs))
			before := serverMillis(t, srv)
			s.DecideBatch(context.Background(), ps, reqs, out, each, errs)
			seen := map[string]int64{}
			last := map[string][]algo.Decision{}
			for i, k := range keys {
				if errs[i] != nil {
					t.Fatalf("%s request %d (%s): %v", ps, i, k, errs[i])
				}
				seen[k]++
				mine := each[i*npol : (i+1)*npol]
				for j, p := range ps {
					if mine[j].Limited || mine[j].Remaining != p.Max()-seen[k] {
						t.Errorf("%s request %d (%s): policy %s: %+v, want allowed with Remaining %d", ps, i, k, p, mine[j], p.Max()-seen[k])
					}
				}
				if want := combine(mine); out[i] != want {
					t.Errorf("%s request %d (%s): %+v, want the combination %+v", ps, i, k, out[i], want)
				}
				last[k] = mine
			}
			for k, ds := range last {
				for j, p := range ps {
					rk := s.Key(k, p)
					expireAt, err := strconv.ParseInt(srv.Do(t, "PEXPIRETIME", rk), 10, 64)
					if need := (ds[j].ResetAfter+999)/1000 + slack; err != nil || expireAt < before+need {
						t.Errorf("%s key %s (slack %dms): expires at %d (%v), want at least %d", p, k, slack, expireAt, err, before+need)
					}
				}
			}
		}
		p := pol(t, a, algo.PerSec(3))
		reqs := []store.Request[string]{{Key: "twice", Cost: 1}, {Key: "twice", Cost: 1}}
		out, errs := make([]algo.Decision, 2), make([]error, 2)
		before := serverMillis(t, srv)
		s.DecideBatch(context.Background(), []*store.Policy{p}, reqs, out, nil, errs)
		after := serverMillis(t, srv)
		if errs[0] != nil || errs[1] != nil || out[0].Limited || out[1].Limited {
			t.Fatalf("%s twice: %+v, %v", p, out, errs)
		}
		first, second := (out[0].ResetAfter+999)/1000+slack, (out[1].ResetAfter+999)/1000+slack
		if headroom := ttlHeadroom.Milliseconds(); second < first || second > first+headroom-1 {
			t.Fatalf("%s twice: TTLs %d and %d ms do not test a kept TTL", p, first, second)
		}
		if second > first {
			grew++
		}
		expireAt, err := strconv.ParseInt(srv.Do(t, "PEXPIRETIME", s.Key("twice", p)), 10, 64)
		if lo, hi := before+first+ttlHeadroom.Milliseconds(), after+first+ttlHeadroom.Milliseconds()+1; err != nil || expireAt < lo || expireAt > hi {
			t.Errorf("%s twice: expires at %d (%v), want the first write's TTL, in [%d, %d]", p, expireAt, err, lo, hi)
		}
		// The expiry stored is the real one less 1 ms, on the server's TIME
		// as the call read it (as in TestTTLServerTime).
		raw := srv.Do(t, "GET", s.Key("twice", p))
		if got := int64(float64At(raw, len(raw)/8-1)); got > expireAt || got < expireAt-(after-before)-2 {
			t.Errorf("%s twice: stored expiry %d, want the real one %d at most %dms earlier", p, got, expireAt, after-before+2)
		}
	}
	if grew == 0 {
		t.Error("no second request needed a longer TTL than the first: the kept TTL is not tested")
	}
}

// TestBatchCallsOf256Keys checks that a big batch on a standalone server
// goes out as few script calls as it can, each of at most 256 keys (256,
// 128 and 85 requests a call under one, two and three policies), and that
// every request is decided, in order, whatever call carries it.
func TestBatchCallsOf256Keys(t *testing.T) {
	srv := redistest.Standalone(t)
	s := mustNew(t, redistest.Client(t, srv.Addr()), WithClock(clock.NewFake(t0)))
	all := []*store.Policy{
		pol(t, algo.FixedWindow, algo.PerHour(1000)),
		pol(t, algo.SlidingWindow, algo.PerDay(2000)),
		pol(t, algo.TokenBucket, algo.PerMin(3000)),
	}
	// Loads throttled.lua (a single decision runs its algorithm's own
	// script): no EVAL below.
	s.DecideBatch(context.Background(), all[:1], []store.Request[string]{{Key: "warm"}}, make([]algo.Decision, 1), nil, make([]error, 1))
	for _, c := range []struct {
		npol, nreq int
		calls      int64
	}{
		{1, 256, 1}, {1, 257, 2}, {1, 600, 3},
		{2, 128, 1}, {2, 129, 2}, {2, 300, 3},
		{3, 85, 1}, {3, 86, 2}, {3, 200, 3},
	} {
		srv.Do(t, "FLUSHALL")
		ps := all[:c.npol]
		reqs := make([]store.Request[string], c.nreq)
		for i := range reqs {
			reqs[i] = store.Request[string]{Key: "k" + strconv.Itoa(i%37), Cost: 1}
		}
		out, each, errs := make([]algo.Decision, c.nreq), make([]algo.Decision, c.nreq*c.npol), make([]error, c.nreq)
		before := commandStats(t, srv)
		s.DecideBatch(context.Background(), ps, reqs, out, each, errs)
		if delta := statsDelta(before, commandStats(t, srv)); delta["evalsha"] != c.calls || delta["eval"] != 0 {
			t.Errorf("%d requests under %d policies: %d EVALSHA (and %d EVAL), want %d", c.nreq, c.npol, delta["evalsha"], delta["eval"], c.calls)
		}
		seen := map[string]int64{}
		for i, r := range reqs {
			if errs[i] != nil {
				t.Fatalf("%d requests under %d policies: request %d: %v", c.nreq, c.npol, i, errs[i])
			}
			seen[r.Key]++
			mine := each[i*c.npol : (i+1)*c.npol]
			for j, p := range ps {
				if mine[j].Limited || mine[j].Remaining != p.Max()-seen[r.Key] {
					t.Fatalf("%d requests under %d policies: request %d (%s) under %s: %+v, want allowed with Remaining %d", c.nreq, c.npol, i, r.Key, p, mine[j], p.Max()-seen[r.Key])
				}
			}
			if want := combine(mine); out[i] != want {
				t.Fatalf("%d requests under %d policies: request %d: %+v, want the combination %+v", c.nreq, c.npol, i, out[i], want)
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

// statsDelta returns the commands whose calls changed from before to after.
func statsDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// TestOneScriptCallPerDecision checks that a decision is one EVALSHA (of
// its algorithm's single-decision script under one policy, of
// throttled.lua under several), that a SCRIPT FLUSH is survived through
// the EVAL fallback (for Decide and for DecideBatch), and that the client
// sends nothing else (the GET or MGET, SET and TIME run in the script).
func TestOneScriptCallPerDecision(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c)
	ctx := context.Background()
	policies := map[algo.Algorithm]*store.Policy{}
	for _, a := range algo.Algorithms {
		policies[a] = pol(t, a, algo.PerMin(1000))
		decide(t, s, "warm", policies[a], 1)
	}
	if sum := sha1.Sum([]byte(scriptSource)); scriptSHA != hex.EncodeToString(sum[:]) {
		t.Fatalf("scriptSHA %s is not the SHA-1 of the script", scriptSHA)
	}

	singleSHA := func(a algo.Algorithm) string {
		sum := sha1.Sum([]byte(singleScripts[a].source))
		return hex.EncodeToString(sum[:])
	}

	// Server-side script cache gone: every algorithm still decides, and
	// the one EVAL of its script caches it for the next calls.
	srv.Do(t, "SCRIPT", "FLUSH")
	if got := srv.Do(t, "SCRIPT", "EXISTS", singleSHA(algo.GCRA)); got != "0" {
		t.Fatalf("SCRIPT EXISTS after SCRIPT FLUSH = %q", got)
	}
	before := commandStats(t, srv)
	for range 2 {
		for _, a := range algo.Algorithms {
			if d := decide(t, s, "after-flush:"+a.String(), policies[a], 0); d.Limited || d.Remaining != 1000 {
				t.Fatalf("%s after SCRIPT FLUSH: %+v, want allowed with Remaining 1000", a, d)
			}
		}
	}
	delta := statsDelta(before, commandStats(t, srv))
	t.Logf("commands for 10 decisions after SCRIPT FLUSH: %v", delta)
	if na := int64(len(algo.Algorithms)); delta["eval"] != na || delta["evalsha"] != 2*na {
		t.Errorf("after SCRIPT FLUSH: %d EVAL and %d EVALSHA, want %d (a NOSCRIPT fallback for each algorithm's script) and %d", delta["eval"], delta["evalsha"], na, 2*na)
	}
	for _, a := range algo.Algorithms {
		if got := srv.Do(t, "SCRIPT", "EXISTS", singleSHA(a)); got != "1" {
			t.Errorf("%s: SCRIPT EXISTS after the fallback = %q, want 1 (EVAL caches the script)", a, got)
		}
	}

	// A batch after SCRIPT FLUSH: its EVALSHA fails, and it is sent again
	// as EVAL.
	srv.Do(t, "SCRIPT", "FLUSH")
	before = commandStats(t, srv)
	reqs := []store.Request[string]{{Key: "b1", Cost: 1}, {Key: "b2", Cost: 2}, {Key: "b1", Cost: 0}}
	out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
	s.DecideBatch(ctx, []*store.Policy{policies[algo.GCRA]}, reqs, out, nil, errs)
	for i, want := range []int64{999, 998, 999} {
		if errs[i] != nil || out[i].Limited || out[i].Remaining != want {
			t.Errorf("batch request %d after SCRIPT FLUSH: %+v, %v; want allowed with Remaining %d", i, out[i], errs[i], want)
		}
	}
	if delta := statsDelta(before, commandStats(t, srv)); delta["eval"] != 1 || delta["evalsha"] != 1 {
		t.Errorf("a batch after SCRIPT FLUSH made %v, want one EVALSHA and one EVAL", delta)
	}

	// 100 decisions: 100 EVALSHA and nothing else from the client (after
	// one decision of each algorithm, as the batch's SCRIPT FLUSH took
	// their scripts).
	for _, a := range algo.Algorithms {
		decide(t, s, "warm", policies[a], 0)
	}
	const n = 100
	before = commandStats(t, srv)
	for i := range n {
		a := algo.Algorithms[i%len(algo.Algorithms)]
		decide(t, s, "k"+strconv.Itoa(i%7), policies[a], int64(i%2))
	}
	after := commandStats(t, srv)
	delta = statsDelta(before, after)
	t.Logf("commands for %d decisions: %v", n, delta)
	if delta["evalsha"] != n {
		t.Errorf("%d decisions made %d EVALSHA calls, want %d", n, delta["evalsha"], n)
	}
	// Each script reads its key once (GET: a single decision's path) and
	// the server's clock once; SET exactly when it consumed something
	// (cost 1, half of the decisions, all allowed); nothing else (a GET
	// tells an absent key from one of another type, so no EXISTS).
	if delta["get"] != n || delta["time"] != n || delta["set"] != n/2 {
		t.Errorf("per %d decisions: %d GET, %d TIME, %d SET; want %d, %d, %d",
			n, delta["get"], delta["time"], delta["set"], n, n, n/2)
	}
	for cmd, calls := range delta {
		switch cmd {
		case "evalsha", "get", "set", "time", "info", "ping": // ping: a client keepalive, if any
		default:
			t.Errorf("unexpected %d %s calls during %d decisions", calls, cmd, n)
		}
	}

	// Two policies: still one EVALSHA, one MGET and one TIME per decision,
	// and a SET per policy charged.
	two := []*store.Policy{policies[algo.TokenBucket], policies[algo.SlidingWindow]}
	before = commandStats(t, srv)
	for i := range 10 {
		decideAll(t, s, "two"+strconv.Itoa(i%3), two, 1)
	}
	if delta := statsDelta(before, commandStats(t, srv)); delta["evalsha"] != 10 || delta["mget"] != 10 || delta["time"] != 10 || delta["set"] != 20 {
		t.Errorf("10 decisions under two policies made %v, want 10 EVALSHA, MGET and TIME, and 20 SET", delta)
	}

	// With an injected clock the script does not call TIME.
	fs := mustNew(t, c, WithClock(clock.NewFake(t0)))
	before = commandStats(t, srv)
	for i := range 10 {
		if _, err := fs.Decide(ctx, "fake"+strconv.Itoa(i), []*store.Policy{policies[algo.TokenBucket]}, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if delta := statsDelta(before, commandStats(t, srv)); delta["time"] != 0 || delta["evalsha"] != 10 {
		t.Errorf("with WithClock, 10 decisions made %v, want 10 EVALSHA and no TIME", delta)
	}
}

// TestPoliciesIndependent checks that a key's state belongs to (policy,
// key): two quotas of one algorithm on one user key keep separate states
// (the bug: PerHour(7) saw the state PerSec(10) had charged), while two
// identical quotas with different names share one.
func TestPoliciesIndependent(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := clock.NewFake(t0 + 123_456)
	s := mustNew(t, c, WithClock(fake), WithTTLSlack(time.Hour))
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			key := "user:" + a.String()
			perSec := pol(t, a, algo.PerSec(10))
			for i := range int64(5) {
				if d := decide(t, s, key, perSec, 1); d.Limited || d.Remaining != 9-i {
					t.Fatalf("PerSec(10) request %d: %+v, want allowed with Remaining %d", i+1, d, 9-i)
				}
			}
			perHour := pol(t, a, algo.PerHour(7))
			if s.Key(key, perHour) == s.Key(key, perSec) {
				t.Fatalf("PerSec(10) and PerHour(7) share the key %q", s.Key(key, perHour))
			}
			if d := decide(t, s, key, perHour, 0); d != allowed(7, 0) {
				t.Fatalf("PerHour(7) peek after PerSec(10) was charged 5 times: %+v, want a fresh key (Remaining 7, ResetAfter 0)", d)
			}
			if d := decide(t, s, key, perHour, 1); d.Limited || d.Remaining != 6 {
				t.Fatalf("PerHour(7) first request: %+v, want allowed with Remaining 6", d)
			}
			if d := decide(t, s, key, perSec, 0); d.Remaining != 5 {
				t.Fatalf("PerSec(10) after PerHour(7) was charged: %+v, want Remaining 5", d)
			}
			// Equal rates, different bursts: separate for the buckets, which
			// use the burst, shared for the windows, which ignore it.
			burst := pol(t, a, algo.PerSec(10).WithBurst(20))
			d := decide(t, s, key, burst, 0)
			if want := int64(20); a.IsBucket() && d.Remaining != want {
				t.Errorf("PerSec(10) burst 20 after PerSec(10) was charged 5 times: %+v, want a fresh bucket (Remaining %d)", d, want)
			}
			if !a.IsBucket() && d.Remaining != 5 {
				t.Errorf("%s PerSec(10) burst 20: %+v, want the state of PerSec(10) (Remaining 5): windows ignore the burst", a, d)
			}

			// Identical quotas, different names: one state.
			named := pol(t, a, algo.PerSec(10).WithName("api"))
			other := pol(t, a, algo.PerSec(10).WithName("other"))
			if !named.Same(perSec) || s.Key(key, named) != s.Key(key, perSec) || s.Key(key, other) != s.Key(key, perSec) {
				t.Fatalf("named quotas do not share the key of PerSec(10): %q %q %q", s.Key(key, named), s.Key(key, other), s.Key(key, perSec))
			}
			if d := decide(t, s, key, named, 1); d.Remaining != 4 {
				t.Fatalf("PerSec(10) named api: %+v, want Remaining 4 (the state PerSec(10) charged 5 times)", d)
			}
			if d := decide(t, s, key, other, 1); d.Remaining != 3 {
				t.Fatalf("PerSec(10) named other: %+v, want Remaining 3", d)
			}
		})
	}
}

// TestDecideEachLength checks that each receives one decision per policy
// and that a wrong length is refused before anything is charged.
func TestDecideEachLength(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	s := mustNew(t, c, WithClock(clock.NewFake(t0)))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerMin(5)), pol(t, algo.FixedWindow, algo.PerMin(3))}
	for _, n := range []int{1, 3} {
		_, err := s.Decide(context.Background(), "k", ps, 1, make([]algo.Decision, n))
		wantInvalid(t, fmt.Sprintf("Decide with %d each for 2 policies", n), err)
		errs := make([]error, 2)
		s.DecideBatch(context.Background(), ps, []store.Request[string]{{Key: "k", Cost: 1}, {Key: "l", Cost: 1}}, make([]algo.Decision, 2), make([]algo.Decision, n), errs)
		for i, err := range errs {
			wantInvalid(t, fmt.Sprintf("DecideBatch request %d with %d each for 2 requests of 2 policies", i, n), err)
		}
	}
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Fatalf("refused calls wrote %s keys", got)
	}
	d, each := decideAll(t, s, "k", ps, 1)
	if d != allowed(2, 60_000_000) || each[0] != allowed(4, 12_000_000) || each[1] != allowed(2, 60_000_000) {
		t.Fatalf("Decide: %+v, each %+v", d, each)
	}
}

// TestFromURL connects through every supported URL form of a standalone
// server and checks that Close closes what FromURL opened.
func TestFromURL(t *testing.T) {
	tcp := redistest.Standalone(t)
	unix := redistest.StandaloneUnix(t)
	p := pol(t, algo.TokenBucket, algo.PerMin(2))
	ps := []*store.Policy{p}
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
			s, err := FromURL(tc.url, WithPrefix(tc.name+":"), WithTimeout(testTimeout))
			if err != nil {
				t.Fatalf("FromURL(%q): %v", tc.url, err)
			}
			if s.Client() == nil {
				t.Fatal("Client() = nil")
			}
			if d := decide(t, s, "u", p, 1); d.Limited || d.Remaining != 1 {
				t.Fatalf("Decide: %+v, want allowed with Remaining 1", d)
			}
			rk := tc.name + ":token_bucket:2/m:b2:{u}"
			if tc.srv != nil {
				if got := tc.srv.Do(t, "EXISTS", rk); got != "1" {
					t.Fatalf("the state is not in database 0 of the server")
				}
			} else if got := tcp.Do(t, "EXISTS", rk); got != "0" {
				t.Fatalf("/3 wrote to database 0")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, err = s.Decide(context.Background(), "u", ps, 1, nil)
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, rueidis.ErrClosing) || errors.Is(err, store.ErrScript) {
				t.Fatalf("Decide after Close: %v, want store.ErrUnavailable", err)
			}
			err = s.Reset(context.Background(), "u", ps)
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
				t.Fatalf("Reset after Close: %v, want store.ErrUnavailable", err)
			}
			errs := make([]error, 2)
			s.DecideBatch(context.Background(), ps, []store.Request[string]{{Key: "u", Cost: 1}, {Key: "v", Cost: 0}}, make([]algo.Decision, 2), nil, errs)
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
	c := redistest.Client(t, srv.Addr())
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
	decide(t, s, "still-works", pol(t, algo.GCRA, algo.PerSec(1)), 1)
}
