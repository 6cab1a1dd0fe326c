package throttled_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// TestBadInput feeds bad input to every constructor and call, on the memory
// store and on a real Redis: each is refused with an error matching
// ErrInvalid whose message names the bad value, with no panic, and no
// state is written (the key the calls name stays fresh on both stores).
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Standalone(t)
	rs, err := redisstore.FromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	client := redistest.Client(t, srv.Addr())
	gcra, err := store.NewPolicy(algo.PerMin(5).WithAlgorithm(algo.GCRA))
	if err != nil {
		t.Fatal(err)
	}
	nine := make([]*store.Policy, 9)
	for i := range nine {
		nine[i] = gcra
	}
	limiters := map[string]*throttled.Limiter{
		"memory": throttled.MustNew(throttled.WithStore(mem), throttled.WithQuota(algo.PerMin(5))),
		"redis":  throttled.MustNew(throttled.WithStore(rs), throttled.WithQuota(algo.PerMin(5))),
	}
	noFn := func(context.Context) error { return nil }

	type tc struct {
		name string
		call func() error
		want string // in the message: the bad value or what it is
	}
	cases := []tc{
		// Quotas and policies.
		{"limit 0", func() error { _, err := store.NewPolicy(algo.PerMin(0).WithAlgorithm(algo.GCRA)); return err }, "limit 0"},
		{"negative limit", func() error { _, err := throttled.New(throttled.WithQuota(algo.PerMin(-3))); return err }, "limit -3"},
		{"negative burst", func() error { _, err := throttled.New(throttled.WithQuota(algo.PerMin(3).WithBurst(-1))); return err }, "burst -1"},
		{"period below 1ms", func() error {
			_, err := throttled.New(throttled.WithQuota(algo.PerDuration(time.Microsecond*999, 1)))
			return err
		}, "999µs"},
		{"fractional µs period", func() error {
			_, err := throttled.New(throttled.WithQuota(algo.PerDuration(time.Millisecond+1, 1)))
			return err
		}, "1.000001ms"},
		{"sliding window beyond 2^52", func() error {
			_, err := throttled.New(throttled.WithAlgorithm(throttled.SlidingWindow), throttled.WithQuota(algo.PerWeek(10_000)))
			return err
		}, "10000/w"},
		{"bucket beyond 2^52", func() error {
			_, err := throttled.New(throttled.WithQuota(algo.PerWeek(7).WithBurst(1 << 40)))
			return err
		}, "burst"},
		{"policy without algorithm", func() error { _, err := store.NewPolicy(algo.PerMin(3)); return err }, "algorithm"},
		{"unknown algorithm", func() error { _, err := throttled.New(throttled.WithAlgorithm(9)); return err }, "Algorithm(9)"},
		{"unknown algorithm of a quota", func() error {
			_, err := throttled.New(throttled.WithQuota(algo.PerMin(3).WithAlgorithm(7)))
			return err
		}, "Algorithm(7)"},
		{"no quota", func() error { _, err := throttled.New(throttled.WithQuotas()); return err }, "number of quotas 0"},
		{"nine quotas", func() error {
			qs := make([]algo.Quota, 9)
			for i := range qs {
				qs[i] = algo.PerMin(int64(i + 1))
			}
			_, err := throttled.New(throttled.WithQuotas(qs...))
			return err
		}, "number of quotas 9"},
		{"two quotas of one state", func() error {
			_, err := throttled.New(throttled.WithQuotas(algo.PerMin(3).WithName("a"), algo.PerMin(3).WithName("b")))
			return err
		}, "same state"},
		{"bad quota string", func() error { _, err := throttled.ParseQuota("10 per fortnight"); return err }, "fortnight"},
		{"bad algorithm name", func() error { _, err := throttled.ParseAlgorithm("leaky"); return err }, `"leaky"`},
		// Limiter options.
		{"nil option", func() error { _, err := throttled.New(nil); return err }, "option"},
		{"negative cost option", func() error { _, err := throttled.New(throttled.WithCost(-1)); return err }, "cost -1"},
		{"negative timeout", func() error { _, err := throttled.New(throttled.WithTimeout(-time.Second)); return err }, `timeout "-1s"`},
		{"nil store", func() error { _, err := throttled.New(throttled.WithStore(nil)); return err }, "store"},
		{"nil memory store", func() error { _, err := throttled.New(throttled.WithStore((*memstore.Store)(nil))); return err }, "store"},
		{"nil quota func", func() error { _, err := throttled.New(throttled.WithQuotaFunc(nil)); return err }, "quota func"},
		{"quota func of another key type", func() error {
			_, err := typed.New[int](typed.WithQuotaFunc(func(context.Context, string) ([]algo.Quota, error) { return nil, nil }))
			return err
		}, "quota func"},
		{"default key of another type", func() error { _, err := typed.New[int](typed.WithDefaultKey("x")); return err }, "x (string)"},
		{"zero default key", func() error { _, err := throttled.New(throttled.WithDefaultKey("")); return err }, "default key"},
		{"key func of another type", func() error {
			_, err := typed.New[int](typed.WithStore(rs), typed.WithKeyFunc(func(string) (string, error) { return "", nil }))
			return err
		}, "key func"},
		{"key type without encoding", func() error {
			_, err := typed.New[struct{ A, B int }](typed.WithStore(rs))
			return err
		}, "struct"},
		{"fallback for no instances", func() error { _, err := throttled.New(throttled.WithOutagePolicy(throttled.FallBack(0))); return err }, "instances 0"},
		{"nil hook", func() error { _, err := throttled.New(throttled.WithHooks(nil)); return err }, "hook"},
		// Store constructors.
		{"memory max size 0", func() error { _, err := memstore.New(memstore.WithMaxSize(0)); return err }, "max size 0"},
		{"memory shards 0", func() error { _, err := memstore.New(memstore.WithShards(0)); return err }, "shards 0"},
		{"memory shards 2^40", func() error { _, err := memstore.New(memstore.WithShards(1 << 40)); return err }, "1099511627776"},
		{"memory nil clock", func() error { _, err := memstore.New(memstore.WithClock(nil)); return err }, "clock"},
		{"memory nil fake clock", func() error { _, err := memstore.New(memstore.WithClock((*store.FakeClock)(nil))); return err }, "clock"},
		{"redis nil client", func() error { _, err := redisstore.New(nil); return err }, "client"},
		{"redis empty prefix", func() error { _, err := redisstore.New(client, redisstore.WithPrefix("")); return err }, `prefix ""`},
		{"redis prefix with a brace", func() error { _, err := redisstore.New(client, redisstore.WithPrefix("a{b")); return err }, `"a{b"`},
		{"redis nil clock", func() error { _, err := redisstore.New(client, redisstore.WithClock(nil)); return err }, "clock"},
		{"redis negative slack", func() error { _, err := redisstore.New(client, redisstore.WithTTLSlack(-time.Second)); return err }, "-1s"},
		{"redis timeout above a minute", func() error { _, err := redisstore.New(client, redisstore.WithTimeout(time.Hour)); return err }, "1h0m0s"},
		{"redis bad URL", func() error { _, err := redisstore.FromURL("ftp://x:y@host/0"); return err }, "ftp"},
		// Store calls.
		{"memory: no policy", func() error { _, err := mem.Decide(ctx, "k", nil, 1, nil); return err }, "policies 0"},
		{"memory: nine policies", func() error { _, err := mem.Decide(ctx, "k", nine, 1, nil); return err }, "policies 9"},
		{"memory: nil policy", func() error { _, err := mem.Decide(ctx, "k", []*store.Policy{nil}, 1, nil); return err }, "nil"},
		{"memory: each of the wrong length", func() error {
			_, err := mem.Decide(ctx, "k", []*store.Policy{gcra}, 1, make([]algo.Decision, 2))
			return err
		}, "each 2"},
		{"redis: no policy", func() error { _, err := rs.Decide(ctx, "k", nil, 1, nil); return err }, "policies 0"},
		{"redis: negative cost", func() error { _, err := rs.Decide(ctx, "k", []*store.Policy{gcra}, -2, nil); return err }, "cost -2"},
		{"redis: empty key", func() error { _, err := rs.Decide(ctx, "", []*store.Policy{gcra}, 1, nil); return err }, `key ""`},
		{"redis: reset with no policy", func() error { return rs.Reset(ctx, "k", nil) }, "policies 0"},
	}
	for name, l := range limiters {
		cases = append(cases,
			tc{name + ": empty key", func() error { _, err := l.Limit(ctx, "", 1); return err }, `key ""`},
			tc{name + ": negative cost", func() error { _, err := l.Limit(ctx, "k", -1); return err }, "cost -1"},
			tc{name + ": peek of the empty key", func() error { _, err := l.Peek(ctx, ""); return err }, `key ""`},
			tc{name + ": wait with a negative cost", func() error { _, err := l.Wait(ctx, "k", -5); return err }, "cost -5"},
			tc{name + ": Do without a function", func() error { return l.Do(ctx, "k", nil) }, "function"},
			tc{name + ": reset of the empty key", func() error { return l.Reset(ctx, "") }, `key ""`},
			tc{name + ": batch with a negative cost", func() error {
				_, err := l.LimitAll(ctx, []throttled.Request{{Key: "k", Cost: -7}})
				return err
			}, "cost -7"},
			tc{name + ": WrapFunc without a key function", func() error {
				_, err := typed.WrapFunc[string, int, int](l, nil, func(context.Context, int) (int, error) { return 0, nil })(ctx, 1)
				return err
			}, "key function"},
			tc{name + ": Do on the empty key", func() error { return l.Do(ctx, "", noFn) }, `key ""`},
		)
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = c.call()
			}()
			if !errors.Is(err, throttled.ErrInvalid) {
				t.Fatalf("got %v, want an error matching ErrInvalid", err)
			}
			var de *throttled.DataError
			if !errors.As(err, &de) {
				t.Fatalf("got %T, want a *DataError in the chain", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "throttled: invalid ") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q does not say \"throttled: invalid\" or does not name %q", msg, c.want)
			}
		})
	}
	// Nothing was written: "k" is fresh everywhere.
	for name, l := range limiters {
		if st, err := l.Peek(ctx, "k"); err != nil || st.Remaining != 5 {
			t.Errorf("%s: after the bad calls, Peek(k) = %+v, %v; want Remaining 5", name, st, err)
		}
	}
	if keys := srv.Do(t, "DBSIZE"); keys != "0" {
		t.Errorf("Redis holds %s keys after the bad calls, want 0", keys)
	}
	if st := mem.Stats(); st.Keys != 0 {
		t.Errorf("the memory store holds %d keys after the bad calls, want 0", st.Keys)
	}
}
