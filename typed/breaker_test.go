package typed_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// The outage policy on a store that fails on demand (flakyStore), in a
// testing/synctest bubble: the circuit breaker schedules its probes on
// time.Now, which the bubble makes virtual, so the backoff is checked to
// the nanosecond and nothing really sleeps, and synctest.Wait lets a
// probe's goroutine finish before the test looks. The chaos tests
// (outage_test.go) check the same on a real Redis that dies.

// errDown is what a flakyStore fails with while down.
var errDown = fmt.Errorf("%w: the flaky store is down", store.ErrUnavailable)

// flakyCall is a call a flakyStore got.
type flakyCall struct {
	at       time.Duration // bubble time since the store was made
	op       string        // "decide", "batch" or "reset"
	key      string        // for a batch, its keys joined by ","
	cost     int64         // for a batch, the first request's
	deadline time.Duration // what ctx left, 0 without a deadline
}

// flakyStore is a memory store of string keys that records every call and
// fails each with its fail error while one is set (errDown: the store is
// down). It batches and tells its clock, as the real stores do.
type flakyStore struct {
	mem   *memstore.Store
	start time.Time
	mu    sync.Mutex
	fail  error
	calls []flakyCall
}

func newFlakyStore(t *testing.T, c store.Clock) *flakyStore {
	t.Helper()
	return &flakyStore{mem: must(memstore.New(memstore.WithClock(c))).of(t), start: time.Now()}
}

// setFail makes every call fail with err from now on (nil: work again).
func (f *flakyStore) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// record notes a call and returns the error it fails with, if any.
func (f *flakyStore) record(ctx context.Context, op, key string, cost int64) error {
	c := flakyCall{at: time.Since(f.start), op: op, key: key, cost: cost}
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.fail
}

// takeCalls returns the calls since the last takeCalls.
func (f *flakyStore) takeCalls() []flakyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *flakyStore) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if err := f.record(ctx, "decide", key, cost); err != nil {
		return algo.Decision{}, err
	}
	return f.mem.Decide(ctx, key, ps, cost, each)
}

func (f *flakyStore) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[string], out, each []algo.Decision, errs []error) {
	if len(reqs) == 0 {
		return // asks nothing of the store: not recorded
	}
	var keys []string
	for _, r := range reqs {
		keys = append(keys, r.Key)
	}
	var cost int64
	if len(reqs) > 0 {
		cost = reqs[0].Cost
	}
	if err := f.record(ctx, "batch", strings.Join(keys, ","), cost); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	f.mem.DecideBatch(ctx, ps, reqs, out, each, errs)
}

func (f *flakyStore) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	if err := f.record(ctx, "reset", key, 0); err != nil {
		return err
	}
	return f.mem.Reset(ctx, key, ps)
}

func (f *flakyStore) Clock() store.Clock { return f.mem.Clock() }

var (
	_ store.Store[string]   = (*flakyStore)(nil)
	_ store.Batcher[string] = (*flakyStore)(nil)
	_ store.Clocked         = (*flakyStore)(nil)
)

// bubbleClock reads the bubble's virtual time.
type bubbleClock struct{}

func (bubbleClock) Now() int64 { return time.Now().UnixMicro() }

// probe is the call a probe of key makes: a Peek bounded by the limiter's
// probe timeout of a second (the flaky store has none of its own).
func probe(at time.Duration, key string) flakyCall {
	return flakyCall{at: at, op: "decide", key: key, cost: 0, deadline: time.Second}
}

// TestBreakerBackoff: the first failure opens the circuit and probes the
// store at once; while the probes fail, they come after 50ms, then twice
// as long each time up to 5s, each started by a call (the limiter has no
// goroutine of its own), and no caller's request reaches the store. The
// first probe that succeeds closes the circuit: the next call is the
// store's again.
func TestBreakerBackoff(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		fs := newFlakyStore(t, bubbleClock{})
		l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(algo.PerMin(5)), typed.WithOutagePolicy(typed.FailOpen))).of(t)
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromStore || r.State.Remaining != 4 {
			t.Fatalf("store up: %+v, want Remaining 4 from the store", r)
		}
		fs.takeCalls()
		fs.setFail(errDown)
		const step = 10 * time.Millisecond
		start := time.Since(fs.start)
		var got []flakyCall
		for time.Since(fs.start)-start < 20*time.Second {
			r, err := l.Limit(ctx, "k", 1)
			if err != nil || r.Limited || r.Source != typed.FromFailOpen || r.State != st(5, 0, 0, 0) {
				t.Fatalf("store down at %v: %+v, %v; want allowed by fail-open", time.Since(fs.start)-start, r, err)
			}
			synctest.Wait() // the probe, if one started, is done
			for _, c := range fs.takeCalls() {
				c.at -= start
				got = append(got, c)
			}
			time.Sleep(step)
		}
		// The caller's request that failed, then the probes: at once, then
		// 50ms, 100ms, 200ms, ..., 3.2s and 5s, 5s, ... after the one before.
		want := []flakyCall{{at: 0, op: "decide", key: "k", cost: 1}}
		for _, ms := range []time.Duration{0, 50, 150, 350, 750, 1550, 3150, 6350, 11350, 16350} {
			want = append(want, probe(ms*time.Millisecond, "k"))
		}
		const at = 21350 * time.Millisecond // the next one
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the store got\n%v\nwant\n%v", got, want)
		}
		// Back up: the next probe succeeds and closes the circuit;
		// the call that started it was still decided by the policy.
		fs.setFail(nil)
		time.Sleep(at - (time.Since(fs.start) - start))
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromFailOpen {
			t.Fatalf("the call that probes: %+v, want fail-open", r)
		}
		synctest.Wait()
		if got := fs.takeCalls(); len(got) != 1 || got[0].cost != 0 {
			t.Fatalf("the store got %v, want one probe", got)
		}
		// The store decides again, on the state it kept: the one request it
		// charged at 0, refilled (one token every 12s) long since.
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromStore || r.State != st(5, 4, 12*time.Second, 0) {
			t.Fatalf("after a probe succeeded: %+v, want Remaining 4 from the store", r)
		}
		if got := fs.takeCalls(); len(got) != 1 || got[0].op != "decide" || got[0].cost != 1 {
			t.Fatalf("the store got %v, want the request", got)
		}
	})
}

// TestBreakerProbeTimeout: a probe of a store that does not answer ends
// after the probe timeout (a second) and counts as a failure; while it is
// in flight no other probe starts.
func TestBreakerProbeTimeout(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		hs := &hungStore{flakyStore: newFlakyStore(t, bubbleClock{})}
		l := must(typed.New[string](typed.WithStore(hs), typed.WithOutagePolicy(typed.FailOpen))).of(t)
		hs.setFail(errDown)
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromFailOpen {
			t.Fatalf("store down: %+v, want fail-open", r)
		}
		synctest.Wait() // the first probe failed: the next is due in 50ms
		hs.setFail(nil)
		hs.hang.Store(true)
		time.Sleep(50 * time.Millisecond)
		must(l.Limit(ctx, "k", 1)).of(t) // starts a probe, which hangs
		synctest.Wait()
		if got := hs.takeCalls(); len(got) != 3 || got[2] != probe(50*time.Millisecond, "k") {
			t.Fatalf("the store got %v, want the request, a probe, and a probe at 50ms", got)
		}
		time.Sleep(999 * time.Millisecond)
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromFailOpen {
			t.Fatalf("while the probe hangs: %+v, want fail-open", r)
		}
		synctest.Wait()
		if got, ended := hs.takeCalls(), hs.ended.Load(); len(got) != 0 || ended != 0 {
			t.Fatalf("999ms into the hung probe: the store got %v, and %d probes ended; want no call, and the probe in flight", got, ended)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if ended := hs.ended.Load(); ended != 1 {
			t.Fatalf("1s into the hung probe: %d probes ended, want it timed out", ended)
		}
		// The second failure in a row: the next probe is due 100ms after
		// it ended.
		hs.hang.Store(false)
		time.Sleep(99 * time.Millisecond)
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromFailOpen {
			t.Fatalf("99ms after the probe timed out: %+v, want fail-open", r)
		}
		synctest.Wait()
		if got := hs.takeCalls(); len(got) != 0 {
			t.Fatalf("99ms after the probe timed out, the store got %v; want nothing", got)
		}
		time.Sleep(time.Millisecond)
		must(l.Limit(ctx, "k", 1)).of(t) // probes, and succeeds
		synctest.Wait()
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromStore {
			t.Fatalf("after a probe succeeded: %+v, want the store", r)
		}
	})
}

// hungStore is a flakyStore whose Decide, while hang is set, blocks until
// ctx is done, and counts the calls that ended so.
type hungStore struct {
	*flakyStore
	hang  atomic.Bool
	ended atomic.Int64
}

func (h *hungStore) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if !h.hang.Load() {
		return h.flakyStore.Decide(ctx, key, ps, cost, each)
	}
	if err := h.record(ctx, "decide", key, cost); err != nil {
		return algo.Decision{}, err
	}
	<-ctx.Done()
	h.ended.Add(1)
	return algo.Decision{}, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
}

// TestOutageNotTheStoresFault: errors that do not say the store is down (a
// done ctx, a script error) reach the caller and leave the circuit closed;
// so does a failure the outage policy must not hide: the caller's ctx.
func TestOutageNotTheStoresFault(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		fs := newFlakyStore(t, bubbleClock{})
		l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(algo.PerMin(5)), typed.WithOutagePolicy(typed.FailOpen))).of(t)
		done, cancel := context.WithCancel(ctx)
		cancel()
		if r, err := l.Limit(done, "k", 1); !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrUnavailable) || !reflect.DeepEqual(r, typed.Result{}) {
			t.Fatalf("a done ctx: %+v, %v; want its error, not fail-open", r, err)
		}
		if _, err := l.LimitAll(done, []typed.Request[string]{{Key: "k", Cost: 1}}); !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("a batch with a done ctx: %v, want its error", err)
		}
		fs.setFail(fmt.Errorf("%w: bad reply", store.ErrScript))
		if _, err := l.Limit(ctx, "k", 1); !errors.Is(err, store.ErrScript) {
			t.Fatalf("a script error: %v, want it, not fail-open", err)
		}
		if _, err := l.LimitAll(ctx, []typed.Request[string]{{Key: "k", Cost: 1}}); !errors.Is(err, store.ErrScript) {
			t.Fatalf("a batch with a script error: %v, want it, not fail-open", err)
		}
		synctest.Wait()
		fs.setFail(nil)
		fs.takeCalls()
		// The circuit is closed: each call goes to the store, and no probe.
		if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromStore || r.State.Remaining != 4 {
			t.Fatalf("after errors that are not outages: %+v, want Remaining 4 from the store", r)
		}
		synctest.Wait()
		if got := fs.takeCalls(); len(got) != 1 || got[0].cost != 1 {
			t.Fatalf("the store got %v, want the one request", got)
		}
	})
}

// TestFallBackScaled: FallBack(n) decides on a local store, with the
// quotas' limit and burst divided by n rounded up, on the store's clock;
// Result.Quota is the scaled quota. Reset forgets the key on the local
// store too, even with the store down.
func TestFallBackScaled(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		fc := store.NewFakeClock(t0)
		fs := newFlakyStore(t, fc)
		q := algo.PerMin(9).WithBurst(6).WithName("q")
		l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(q), typed.WithOutagePolicy(typed.FallBack(3)))).of(t)
		fs.setFail(errDown)
		// 3 per minute (⌈9/3⌉), burst 2 (⌈6/3⌉): a token every 20s.
		local := algo.Quota{Rate: algo.Rate{Period: time.Minute, Limit: 3}, Burst: 2, Algorithm: algo.TokenBucket, Name: "q"}
		check := func(what string, want typed.Result) {
			t.Helper()
			r, err := l.Limit(ctx, "k", 1)
			want.Source = typed.FromFallback
			wantResult(t, what, r, err, want)
			if r.Quota == nil || *r.Quota != local {
				t.Fatalf("%s: Quota %+v, want %+v", what, r.Quota, local)
			}
		}
		check("fallback call 1", allowed(st(2, 1, 20*time.Second, 0)))
		check("fallback call 2", allowed(st(2, 0, 40*time.Second, 0)))
		check("fallback call 3", denied(st(2, 0, 40*time.Second, 20*time.Second)))
		// The local store runs on the store's clock.
		fc.Advance(20 * time.Second)
		check("20s later on the store's clock", allowed(st(2, 0, 40*time.Second, 0)))
		// Reset reaches the local store though the store is down.
		if err := l.Reset(ctx, "k"); !errors.Is(err, errDown) {
			t.Fatalf("Reset with the store down: %v, want its error", err)
		}
		check("after Reset", allowed(st(2, 1, 20*time.Second, 0)))
		synctest.Wait()
	})
	// Divided by 1 a quota is itself; a burst of 0 is the limit's.
	for _, tc := range []struct {
		n         int
		q         algo.Quota
		wantLimit int64
		wantBurst int64
	}{
		{1, algo.PerMin(10), 10, 0},
		{1, algo.PerMin(10).WithBurst(4), 10, 4},
		{2, algo.PerMin(10), 5, 5},
		{4, algo.PerMin(10).WithBurst(9), 3, 3},
		{4, algo.PerMin(8).WithBurst(8), 2, 2},
		{20, algo.PerMin(10), 1, 1},
	} {
		t.Run(fmt.Sprintf("FallBack(%d)/%v", tc.n, tc.q), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				fs := newFlakyStore(t, store.NewFakeClock(t0))
				l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(tc.q), typed.WithOutagePolicy(typed.FallBack(tc.n)))).of(t)
				fs.setFail(errDown)
				r := must(l.Limit(ctx, "k", 0)).of(t)
				want := tc.q
				want.Algorithm, want.Limit, want.Burst = algo.TokenBucket, tc.wantLimit, tc.wantBurst
				if r.Source != typed.FromFallback || r.Quota == nil || *r.Quota != want {
					t.Fatalf("fallback Quota %+v from %v, want %+v", r.Quota, r.Source, want)
				}
				synctest.Wait()
			})
		})
	}
}

// TestFallBackInvalid: FallBack needs at least one instance.
func TestFallBackInvalid(t *testing.T) {
	for _, n := range []int{0, -1} {
		_, err := typed.New[string](typed.WithOutagePolicy(typed.FallBack(n)))
		if !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("invalid fallback instances %d", n)) {
			t.Errorf("FallBack(%d): %v, want ErrInvalid naming the fallback instances", n, err)
		}
	}
	if _, err := typed.New[string](typed.WithOutagePolicy(typed.FallBack(1))); err != nil {
		t.Errorf("FallBack(1): %v", err)
	}
}

// TestSourceString: the names of the sources, as hooks and metrics use them.
func TestSourceString(t *testing.T) {
	for s, want := range map[typed.Source]string{
		typed.FromStore:    "store",
		typed.FromFallback: "fallback",
		typed.FromFailOpen: "fail_open",
		typed.Source(7):    "Source(7)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Source(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

// TestLimitAllOutage: a batch the store cannot decide is decided by the
// outage policy, request by request, bad requests failing alone; once the
// circuit is open, batches do not reach the store (only its probes do),
// until a probe succeeds.
func TestLimitAllOutage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy typed.OutagePolicy
		want   typed.Source
	}{
		{"fail_open", typed.FailOpen, typed.FromFailOpen},
		{"fallback", typed.FallBack(1), typed.FromFallback},
	} {
		for _, quotas := range [][]algo.Quota{{algo.PerMin(5)}, {algo.PerMin(5), algo.PerHour(50)}} {
			t.Run(fmt.Sprintf("%s/quotas=%d", tc.name, len(quotas)), func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					fs := newFlakyStore(t, bubbleClock{})
					l := must(typed.New[string](typed.WithStore(fs), typed.WithQuotas(quotas...), typed.WithOutagePolicy(tc.policy))).of(t)
					// Two requests of cost 2 on key, with a bad one of each
					// kind between them.
					reqs := func(key string) []typed.Request[string] {
						return []typed.Request[string]{{Key: key, Cost: 2}, {Key: "", Cost: 1}, {Key: "b", Cost: -1}, {Key: key, Cost: 2}}
					}
					check := func(what string, res []typed.Result, err error, src typed.Source) {
						t.Helper()
						items := itemErrors(t, err)
						if len(items) != 2 || items[0].Index != 1 || items[1].Index != 2 || !errors.Is(items[0], algo.ErrInvalid) || !errors.Is(items[1], algo.ErrInvalid) {
							t.Fatalf("%s: errors %v, want requests 1 and 2 invalid", what, err)
						}
						for _, i := range []int{1, 2} {
							if !reflect.DeepEqual(res[i], typed.Result{}) {
								t.Fatalf("%s: request %d failed but got %+v", what, i, res[i])
							}
						}
						remaining := []int64{3, 1} // of 5, after 2 and 2 more
						if src == typed.FromFailOpen {
							remaining = []int64{0, 0} // unknown
						}
						for j, i := range []int{0, 3} {
							r := res[i]
							if r.Limited || r.Source != src || r.State.Remaining != remaining[j] || r.State.Limit != 5 || len(quotas) > 1 && len(r.Quotas) != len(quotas) {
								t.Fatalf("%s: request %d: %+v, want allowed from %v with Remaining %d", what, i, r, src, remaining[j])
							}
						}
					}
					res, err := l.LimitAll(ctx, reqs("a"))
					check("store up", res, err, typed.FromStore)
					if got := fs.takeCalls(); len(got) != 1 || got[0].op != "batch" || got[0].key != "a,a" {
						t.Fatalf("store up: the store got %v, want one batch of the valid requests", got)
					}

					fs.setFail(errDown)
					res, err = l.LimitAll(ctx, reqs("c"))
					check("store down", res, err, tc.want)
					synctest.Wait()
					if got := fs.takeCalls(); len(got) != 2 || got[0].op != "batch" || got[1] != probe(0, "c") {
						t.Fatalf("store down: the store got %v, want the batch, then a probe", got)
					}
					// The circuit is open: the store sees no batch, and no
					// probe before 50ms.
					res, err = l.LimitAll(ctx, reqs("d"))
					check("circuit open", res, err, tc.want)
					synctest.Wait()
					if got := fs.takeCalls(); len(got) != 0 {
						t.Fatalf("circuit open: the store got %v, want nothing", got)
					}
					// A probe that succeeds closes it.
					fs.setFail(nil)
					time.Sleep(50 * time.Millisecond)
					must(l.Limit(ctx, "p", 0)).of(t)
					synctest.Wait()
					fs.takeCalls()
					res, err = l.LimitAll(ctx, reqs("e"))
					check("store back", res, err, typed.FromStore)
					if got := fs.takeCalls(); len(got) != 1 || got[0].op != "batch" || got[0].key != "e,e" {
						t.Fatalf("store back: the store got %v, want one batch", got)
					}
				})
			})
		}
	}
}

// TestResetWithFallBack: Reset forgets the key on the store and on the
// local store of FallBack; with a done ctx it fails and forgets nothing.
func TestResetWithFallBack(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		fs := newFlakyStore(t, bubbleClock{})
		l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(algo.PerMin(5)), typed.WithOutagePolicy(typed.FallBack(1)))).of(t)
		must(l.Limit(ctx, "k", 2)).of(t)
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.Reset(done, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Reset with a done ctx: %v, want its error", err)
		}
		if r := must(l.Limit(ctx, "k", 0)).of(t); r.Source != typed.FromStore || r.State.Remaining != 3 {
			t.Fatalf("after a failed Reset: %+v, want Remaining 3 from the store", r)
		}
		fs.takeCalls()
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		if got := fs.takeCalls(); len(got) != 1 || got[0].op != "reset" || got[0].key != "k" {
			t.Fatalf("Reset: the store got %v, want the reset of k", got)
		}
		if r := must(l.Limit(ctx, "k", 0)).of(t); r.Source != typed.FromStore || r.State.Remaining != 5 {
			t.Fatalf("after Reset: %+v, want a fresh key (Remaining 5) from the store", r)
		}
	})
}
