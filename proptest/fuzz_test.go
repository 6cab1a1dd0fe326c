package proptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// fuzzQuotas are the quotas FuzzKeys picks from: fractional refill, burst
// unlike the limit, the shortest period.
var fuzzQuotas = []algo.Quota{
	algo.PerSec(3),
	algo.PerDuration(7*time.Millisecond, 3).WithBurst(5),
	algo.PerDuration(time.Millisecond, 1),
}

// fuzzDeadline bounds one fuzz input: every store call takes its context
// from it.
const fuzzDeadline = 30 * time.Second

// maxFuzzKey bounds the keys FuzzKeys builds: a MiB, far past any key a
// caller should use, and still quick for Redis.
const maxFuzzKey = 1 << 20

// longKey repeats b 1+repeat times (at most maxFuzzKey bytes), so a short
// input can stand for a very long key.
func longKey(b []byte, repeat uint16) string {
	if len(b) == 0 {
		return ""
	}
	n := min(1+int(repeat), maxFuzzKey/len(b)+1)
	k := bytes.Repeat(b, n)
	return string(k[:min(len(k), maxFuzzKey)])
}

type namedStore struct {
	name string
	s    store.Store[string]
}

// fuzzQuotaSet returns the quotas sel picks: one quota of fuzzQuotas under
// one algorithm, and, when sel/15 is odd, a second quota (another one of
// fuzzQuotas under another algorithm) on the same key, so that one
// decision spans two Redis keys that must share a Cluster slot.
func fuzzQuotaSet(sel uint8) []algo.Quota {
	ai, qi := int(sel)%len(algo.Algorithms), int(sel)/len(algo.Algorithms)%len(fuzzQuotas)
	qs := []algo.Quota{fuzzQuotas[qi].WithAlgorithm(algo.Algorithms[ai])}
	if sel/15%2 == 1 {
		qs = append(qs, fuzzQuotas[(qi+1)%len(fuzzQuotas)].WithAlgorithm(algo.Algorithms[(ai+2)%len(algo.Algorithms)]).WithName("second"))
	}
	return qs
}

// FuzzKeys feeds arbitrary bytes as keys ('{', '}', NUL, invalid UTF-8,
// very long) to the memory store, a standalone Redis and a three-node Redis
// Cluster (one server and one cluster per fuzz process, started by the
// harness), all on one fake clock, under one quota or two (two Redis keys
// per user key), and checks:
//
//   - nothing panics or fails; an empty key is invalid input (algo.ErrInvalid)
//     on every store, and fails its request alone in typed.Limiter.LimitAll;
//   - a fixed timeline on the key decides the same on every store (each
//     quota's decision too), equal to the exact models, and the same again
//     on fresh stores (deterministic);
//   - two distinct keys never share state: traffic on one leaves the other
//     where it was, in every store;
//   - LimitAll over both keys (several slots on the cluster) decides as
//     the models do, on every store.
func FuzzKeys(f *testing.F) {
	f.Add([]byte("a"), []byte("b"), uint16(0), uint8(0))
	f.Add([]byte("{user}"), []byte("user"), uint16(0), uint8(1))
	f.Add([]byte("}{"), []byte("{}"), uint16(0), uint8(7))
	f.Add([]byte("\x00"), []byte("\x00\x00"), uint16(3), uint8(12))
	f.Add([]byte("k"), []byte("k"), uint16(0), uint8(4))
	f.Add([]byte("x"), []byte(""), uint16(0), uint8(2))
	f.Add([]byte{0xff, 0xfe, '{', 0x80}, []byte("\xff"), uint16(9), uint8(13))
	f.Add([]byte("long-"), []byte("long-long-"), uint16(65535), uint8(9))
	f.Add([]byte("a"), []byte("b"), uint16(0), uint8(15))
	f.Add([]byte("{user}"), []byte("user"), uint16(0), uint8(16))
	f.Add([]byte("\x00"), []byte("{\x00}"), uint16(3), uint8(27))
	f.Add([]byte("}x"), []byte("}"), uint16(0), uint8(18))
	srv := redistest.Standalone(f)
	cl := redistest.Cluster(f)
	standalone, cluster := redistest.Client(f, srv.Addr()), redistest.Client(f, cl.Addrs()...)

	f.Fuzz(func(t *testing.T, k1, k2 []byte, repeat uint16, sel uint8) {
		// A panic in a store would end the test binary before the
		// cleanups that stop the Redis servers run: fail the input instead.
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("k1 %q, k2 %q, repeat %d, sel %d: panic: %v\n%s", clip(string(k1)), clip(string(k2)), repeat, sel, v, debug.Stack())
			}
		}()
		qs := fuzzQuotaSet(sel)
		ps := make([]*store.Policy, len(qs))
		caps := make([]int64, len(qs))
		for i, q := range qs {
			ps[i] = mustPolicy(t, q)
			caps[i] = ps[i].Max()
		}
		p := ps[0].Params()
		key1, key2 := longKey(k1, repeat), string(k2)
		const t0 = int64(1_700_000_000_000_000)
		ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
		defer cancel()

		newStores := func(clk store.Clock) []namedStore {
			return []namedStore{
				{"memory", newMemStore(t, clk)},
				{"redis", newRedisStore(t, standalone, clk)},
				{"cluster", newRedisStore(t, cluster, clk)},
			}
		}
		clk := store.NewFakeClock(t0)
		stores := newStores(clk)
		defer func() { // the Redis keys of this input, so long sessions stay small
			for _, s := range stores {
				for _, k := range []string{key1, key2} {
					if k != "" {
						s.s.Reset(context.Background(), k, ps)
					}
				}
			}
		}()
		limiters := make([]*typed.Limiter[string], len(stores))
		for i, s := range stores {
			var err error
			if limiters[i], err = typed.New[string](typed.WithStore(s.s), typed.WithQuotas(qs...)); err != nil {
				t.Fatal(err)
			}
		}

		if key1 == "" || key2 == "" {
			for i, s := range stores {
				if _, err := s.s.Decide(ctx, "", ps, 1, nil); !errors.Is(err, algo.ErrInvalid) {
					t.Fatalf("%s: Decide with an empty key: err %v, want algo.ErrInvalid", s.name, err)
				}
				res, err := limiters[i].LimitAll(ctx, []typed.Request[string]{{Key: key1, Cost: 1}, {Key: key2, Cost: 1}})
				var ie *typed.ItemError
				if !errors.Is(err, algo.ErrInvalid) || !errors.As(err, &ie) {
					t.Fatalf("%s: LimitAll with an empty key: err %v, want an ItemError matching algo.ErrInvalid", s.name, err)
				}
				for j, k := range []string{key1, key2} {
					if k != "" && res[j].Limited {
						t.Fatalf("%s: LimitAll: the non-empty key's first request was denied: %v", s.name, res[j])
					}
					if k == "" && res[j].State != (typed.State{}) {
						t.Fatalf("%s: LimitAll: the empty key's request has a Result: %v", s.name, res[j])
					}
				}
			}
			return
		}

		// decideAll decides on every store, which must agree, and returns
		// the combined decision and each quota's.
		decideAll := func(stores []namedStore, key string, cost int64) (algo.Decision, []algo.Decision) {
			t.Helper()
			var first algo.Decision
			var firstEach []algo.Decision
			for i, s := range stores {
				each := make([]algo.Decision, len(ps))
				d, err := s.s.Decide(ctx, key, ps, cost, each)
				if err != nil {
					t.Fatalf("%s: Decide(key %q of %d bytes, cost %d): %v", s.name, clip(key), len(key), cost, err)
				}
				if i == 0 {
					first, firstEach = d, each
				} else if d != first || fmt.Sprint(each) != fmt.Sprint(firstEach) {
					t.Fatalf("key %q (%d bytes) cost %d at %d: %s %+v %+v, %s %+v %+v", clip(key), len(key), cost, clk.Now(), stores[0].name, first, firstEach, s.name, d, each)
				}
			}
			return first, firstEach
		}
		// expect checks a decision against the models.
		expect := func(key string, ms []*model, now, cost int64, d algo.Decision, each []algo.Decision) {
			t.Helper()
			want, wantEach, _ := conjunction(ms, now, cost)
			if d != want || fmt.Sprint(each) != fmt.Sprint(wantEach) {
				t.Fatalf("key %q cost %d at %d: %+v %+v, models %+v %+v", clip(key), cost, now, d, each, want, wantEach)
			}
		}
		timeline := []struct{ dt, cost int64 }{
			{0, 1}, {0, p.Max}, {p.Period / p.Limit / 2, 1}, {0, 0}, {p.Period, p.Max + 1}, {1, 1}, {-p.Period / 2, 1}, {p.Period / 3, p.Max},
		}
		play := func(stores []namedStore, clk *store.FakeClock, ms []*model) []algo.Decision {
			var out []algo.Decision
			for _, st := range timeline {
				clk.Set(clk.Now() + st.dt)
				d, each := decideAll(stores, key1, st.cost)
				expect(key1, ms, clk.Now(), st.cost, d, each)
				out = append(out, d)
				out = append(out, each...)
			}
			return out
		}
		m1 := modelsOf(ps)
		first := play(stores, clk, m1)

		// Deterministic: the same timeline on fresh stores decides the same.
		clk2 := store.NewFakeClock(t0)
		stores2 := newStores(clk2)
		again := play(stores2, clk2, modelsOf(ps))
		if fmt.Sprint(first) != fmt.Sprint(again) {
			t.Fatalf("key %q: the same timeline decided %v, then %v", clip(key1), first, again)
		}
		for _, s := range stores2 {
			s.s.Reset(ctx, key1, ps)
		}

		if key1 == key2 {
			return
		}
		// Distinct keys share nothing: key2 is untouched by key1's traffic,
		// and key1 by key2's.
		if _, each := decideAll(stores, key2, 0); fmt.Sprint(each) != fmt.Sprint(initialStates(ps)) {
			t.Fatalf("key %q after traffic on %q only: %+v, want a fresh key", clip(key2), clip(key1), each)
		}
		m2 := modelsOf(ps)
		for _, c := range []int64{p.Max, 1} {
			d, each := decideAll(stores, key2, c)
			expect(key2, m2, clk.Now(), c, d, each)
		}
		d, each := decideAll(stores, key1, 0)
		expect(key1, m1, clk.Now(), 0, d, each)

		// LimitAll over both keys.
		clk.Set(clk.Now() + p.Period/2)
		reqs := []typed.Request[string]{{Key: key1, Cost: 1}, {Key: key2, Cost: 1}, {Key: key1, Cost: 0}, {Key: key2, Cost: p.Max}}
		type decision struct {
			d    algo.Decision
			each []algo.Decision
		}
		var want []decision
		for _, r := range reqs {
			ms := m1
			if r.Key == key2 {
				ms = m2
			}
			d, each, _ := conjunction(ms, clk.Now(), r.Cost)
			want = append(want, decision{d, each})
		}
		for i, l := range limiters {
			res, err := l.LimitAll(ctx, reqs)
			if err != nil {
				t.Fatalf("%s: LimitAll: %v", stores[i].name, err)
			}
			for j := range reqs {
				checkResult(t, fmt.Sprintf("%s: LimitAll request %d (key %q cost %d)", stores[i].name, j, clip(reqs[j].Key), reqs[j].Cost),
					l.Quotas(), caps, res[j], want[j].d, want[j].each)
			}
		}
	})
}

// initialStates returns the decisions a key never used shows under each
// policy of ps: its capacity remaining, nothing to wait for.
func initialStates(ps []*store.Policy) []algo.Decision {
	out := make([]algo.Decision, len(ps))
	for i, p := range ps {
		out[i] = algo.Decision{Remaining: p.Max()}
	}
	return out
}

// clip shortens a key for a message.
func clip(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}
