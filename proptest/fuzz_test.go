package proptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// fuzzQuotas are the quotas FuzzKeys picks from: fractional refill, burst
// unlike the limit, the shortest period.
var fuzzQuotas = []algo.Quota{
	algo.PerSec(3),
	algo.PerDuration(7*time.Millisecond, 3).WithBurst(5),
	algo.PerDuration(time.Millisecond, 1),
}

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
	s    store.Store
}

// FuzzKeys feeds arbitrary bytes as keys ('{', '}', NUL, invalid UTF-8,
// very long) to the memory store, a standalone Redis and a three-node Redis
// Cluster (one server and one cluster per fuzz process, started by the
// harness), all on one fake clock, and checks:
//
//   - nothing panics or fails; an empty key is invalid input (algo.ErrInvalid)
//     on the Redis stores and through typed.Limiter.LimitBatch on every store;
//   - a fixed timeline on the key decides the same on every store, equal to
//     the exact model, and the same again on fresh stores (deterministic);
//   - two distinct keys never share state: traffic on one leaves the other
//     where it was, in every store;
//   - LimitBatch over both keys (several slots on the cluster) decides as
//     the model does, on every store.
func FuzzKeys(f *testing.F) {
	f.Add([]byte("a"), []byte("b"), uint16(0), uint8(0))
	f.Add([]byte("{user}"), []byte("user"), uint16(0), uint8(1))
	f.Add([]byte("}{"), []byte("{}"), uint16(0), uint8(7))
	f.Add([]byte("\x00"), []byte("\x00\x00"), uint16(3), uint8(12))
	f.Add([]byte("k"), []byte("k"), uint16(0), uint8(4))
	f.Add([]byte("x"), []byte(""), uint16(0), uint8(2))
	f.Add([]byte{0xff, 0xfe, '{', 0x80}, []byte("\xff"), uint16(9), uint8(13))
	f.Add([]byte("long-"), []byte("long-long-"), uint16(65535), uint8(9))
	srv := redistest.Standalone(f)
	cl := redistest.Cluster(f)
	standalone, cluster := newClient(f, srv.Addr()), newClient(f, cl.Addrs()...)

	f.Fuzz(func(t *testing.T, k1, k2 []byte, repeat uint16, sel uint8) {
		a := algo.Algorithms[int(sel)%len(algo.Algorithms)]
		q := fuzzQuotas[int(sel)/len(algo.Algorithms)%len(fuzzQuotas)]
		p, err := algo.Compile(a, q)
		if err != nil {
			t.Fatal(err)
		}
		key1, key2 := longKey(k1, repeat), string(k2)
		const t0 = int64(1_700_000_000_000_000)
		ctx := context.Background()

		newStores := func(clk *clock.Fake) []namedStore {
			mem := memstore.New(memstore.WithClock(clk), memstore.WithSweepInterval(0))
			t.Cleanup(func() { mem.Close() })
			return []namedStore{
				{"memory", mem},
				{"redis", newRedisStore(t, standalone, clk)},
				{"cluster", newRedisStore(t, cluster, clk)},
			}
		}
		clk := clock.NewFake(t0)
		stores := newStores(clk)
		defer func() { // the Redis keys of this input, so long sessions stay small
			for _, s := range stores {
				for _, k := range []string{key1, key2} {
					if k != "" {
						s.s.Reset(ctx, k, a)
					}
				}
			}
		}()
		limiters := make([]*typed.Limiter[string], len(stores))
		for i, s := range stores {
			if limiters[i], err = typed.New[string](typed.WithStore(s.s), typed.WithAlgorithm(a), typed.WithQuota(q)); err != nil {
				t.Fatal(err)
			}
		}

		if key1 == "" || key2 == "" {
			for i, s := range stores {
				// (The memory store's own Decide accepts "": see
				// TestRegressionEmptyKey. The typed path refuses it on
				// every store.)
				if _, err := s.s.Decide(ctx, "", &p, 1); s.name != "memory" && !errors.Is(err, algo.ErrInvalid) {
					t.Fatalf("%s: Decide with an empty key: err %v, want algo.ErrInvalid", s.name, err)
				}
				res, err := limiters[i].LimitBatch(ctx, []typed.Request[string]{{Key: key1, Cost: 1}, {Key: key2, Cost: 1}})
				var ie *typed.ItemError
				if !errors.Is(err, algo.ErrInvalid) || !errors.As(err, &ie) {
					t.Fatalf("%s: LimitBatch with an empty key: err %v, want an ItemError matching algo.ErrInvalid", s.name, err)
				}
				for j, k := range []string{key1, key2} {
					if k != "" && res[j].Limited {
						t.Fatalf("%s: LimitBatch: the non-empty key's first request was denied: %v", s.name, res[j])
					}
				}
			}
			return
		}

		// decideAll decides on every store, which must agree, and returns the decision.
		decideAll := func(stores []namedStore, key string, cost int64) algo.Decision {
			t.Helper()
			var first algo.Decision
			for i, s := range stores {
				d, err := s.s.Decide(ctx, key, &p, cost)
				if err != nil {
					t.Fatalf("%s: Decide(key of %d bytes, cost %d): %v", s.name, len(key), cost, err)
				}
				if i == 0 {
					first = d
				} else if d != first {
					t.Fatalf("key %q (%d bytes) cost %d at %d: %s %+v, %s %+v", clip(key), len(key), cost, clk.Now(), stores[0].name, first, s.name, d)
				}
			}
			return first
		}
		timeline := []struct{ dt, cost int64 }{
			{0, 1}, {0, p.Max}, {p.Period / p.Limit / 2, 1}, {0, 0}, {p.Period, p.Max + 1}, {1, 1}, {p.Period / 3, p.Max},
		}
		play := func(stores []namedStore, clk *clock.Fake, m *model) []algo.Decision {
			var out []algo.Decision
			for _, st := range timeline {
				clk.AdvanceMicros(st.dt)
				d := decideAll(stores, key1, st.cost)
				if want, _ := m.decide(clk.Now(), st.cost); d != want {
					t.Fatalf("key %q cost %d at %d: %+v, model %+v", clip(key1), st.cost, clk.Now(), d, want)
				}
				out = append(out, d)
			}
			return out
		}
		m1 := newModel(a, q)
		first := play(stores, clk, m1)

		// Deterministic: the same timeline on fresh stores decides the same.
		clk2 := clock.NewFake(t0)
		stores2 := newStores(clk2)
		again := play(stores2, clk2, newModel(a, q))
		if fmt.Sprint(first) != fmt.Sprint(again) {
			t.Fatalf("key %q: the same timeline decided %v, then %v", clip(key1), first, again)
		}
		for _, s := range stores2 {
			s.s.Reset(ctx, key1, a)
		}

		if key1 == key2 {
			return
		}
		// Distinct keys share nothing: key2 is untouched by key1's traffic,
		// and key1 by key2's.
		if d := decideAll(stores, key2, 0); d != (algo.Decision{Remaining: p.Max}) {
			t.Fatalf("key %q after traffic on %q only: %+v, want a fresh key", clip(key2), clip(key1), d)
		}
		m2 := newModel(a, q)
		for _, c := range []int64{p.Max, 1} {
			d := decideAll(stores, key2, c)
			if want, _ := m2.decide(clk.Now(), c); d != want {
				t.Fatalf("key %q cost %d: %+v, model %+v", clip(key2), c, d, want)
			}
		}
		if d, want := decideAll(stores, key1, 0), m1.peek(clk.Now()); d != want {
			t.Fatalf("key %q after traffic on %q: %+v, model %+v", clip(key1), clip(key2), d, want)
		}

		// LimitBatch over both keys.
		clk.AdvanceMicros(p.Period / 2)
		reqs := []typed.Request[string]{{Key: key1, Cost: 1}, {Key: key2, Cost: 1}, {Key: key1, Cost: 0}, {Key: key2, Cost: p.Max}}
		var want []algo.Decision
		for _, r := range reqs {
			mm := m1
			if r.Key == key2 {
				mm = m2
			}
			d, _ := mm.decide(clk.Now(), r.Cost)
			want = append(want, d)
		}
		for i, l := range limiters {
			res, err := l.LimitBatch(ctx, reqs)
			if err != nil {
				t.Fatalf("%s: LimitBatch: %v", stores[i].name, err)
			}
			for j := range reqs {
				if d := resultDecision(t, &p, res[j]); d != want[j] {
					t.Fatalf("%s: LimitBatch request %d (key %q cost %d): %+v, model %+v", stores[i].name, j, clip(reqs[j].Key), reqs[j].Cost, d, want[j])
				}
			}
		}
	})
}

// clip shortens a key for a message.
func clip(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}
