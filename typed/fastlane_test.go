package typed

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// flT0 is the fake clock's start in these tests: 2023-11-09T00:00:00Z.
const flT0 = int64(1_699_488_000) * 1_000_000

// flMem returns a memory store on fc.
func flMem(t testing.TB, fc *store.FakeClock) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flNoop is a hook that only passes the call on: it takes a limiter off
// the fast lane and changes nothing else.
func flNoop[K comparable](ctx context.Context, _ *Call[K], next Next) (Result, error) {
	return next(ctx)
}

// flNew builds a limiter or fails t.
func flNew[K comparable](t testing.TB, opts ...Option) *Limiter[K] {
	t.Helper()
	l, err := New[K](opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// TestFastLaneTaken: a limiter that is nothing but one quota on a store
// deciding one policy takes the fast lane, its store itself; a hook, a
// deny cache, an outage policy that does something, several quotas, a
// quota function, or a store without DecideOne keep it on the general
// path.
func TestFastLaneTaken(t *testing.T) {
	fc := store.NewFakeClock(flT0)
	mem := flMem(t, fc)
	q := WithQuota(algo.PerSec(3))
	quotaFunc := func(context.Context, string) ([]algo.Quota, error) { return []algo.Quota{algo.PerSec(3)}, nil }

	type laneCase struct {
		name string
		lane flLaneOf
		fast bool
	}
	cases := []laneCase{
		{"memstore", flLane(flNew[string](t, WithStore[string](mem), q)), true},
		{"memstore defaults", flLane(flNew[string](t, WithStore[string](mem))), true},
		{"quota with its algorithm", flLane(flNew[string](t, WithStore[string](mem), WithQuota(algo.PerMin(7).WithAlgorithm(algo.SlidingWindow).WithName("m")))), true},
		{"table of int", flLane(flNew[int](t, WithStore[int](memstore.For[int](mem)), q)), true},
		{"default store", flLane(flNew[int](t, q)), true},
		{"default key, cost, timeout", flLane(flNew[string](t, WithStore[string](mem), q, WithDefaultKey("anon"), WithCost(2), WithTimeout(time.Second))), true},
		{"fail closed (the default)", flLane(flNew[string](t, WithStore[string](mem), q, WithOutagePolicy(FailClosed))), true},

		{"hook", flLane(flNew[string](t, WithStore[string](mem), q, WithHooks[string](flNoop[string]))), false},
		{"deny cache", flLane(flNew[string](t, WithStore[string](mem), q, WithDenyCache(time.Second))), false},
		{"fail open", flLane(flNew[string](t, WithStore[string](mem), q, WithOutagePolicy(FailOpen))), false},
		{"fall back", flLane(flNew[string](t, WithStore[string](mem), q, WithOutagePolicy(FallBack(2)))), false},
		{"two quotas", flLane(flNew[string](t, WithStore[string](mem), WithQuotas(algo.PerSec(3), algo.PerMin(100)))), false},
		{"quota func", flLane(flNew[string](t, WithStore[string](mem), WithQuotaFunc(quotaFunc))), false},
		{"int keys on a string store", flLane(flNew[int](t, WithStore[string](mem), q)), false},
	}
	for _, a := range algo.Algorithms {
		cases = append(cases, laneCase{a.String(), flLane(flNew[string](t, WithStore[string](mem), WithAlgorithm(a), q)), true})
	}
	for _, tc := range cases {
		one, st := tc.lane.one, tc.lane.st
		switch {
		case tc.fast && one == nil:
			t.Errorf("%s: l.one is nil, want the fast lane", tc.name)
		case tc.fast && one != st:
			t.Errorf("%s: l.one is %T, want the store %T", tc.name, one, st)
		case !tc.fast && one != nil:
			t.Errorf("%s: l.one is %T, want the general path", tc.name, one)
		}
	}
}

// flLaneOf is a limiter's l.one, as an any that is nil when l.one is, and
// its store l.st.
type flLaneOf struct{ one, st any }

func flLane[K comparable](l *Limiter[K]) flLaneOf {
	if l.one == nil {
		return flLaneOf{nil, l.st}
	}
	return flLaneOf{l.one, l.st}
}

// flQuotas are the quotas the differential test draws from: Units and
// Rates of 1 and not, bursts below and above the limit, a name, and one
// with its own algorithm.
var flQuotas = []algo.Quota{
	algo.PerSec(3),
	algo.PerMin(7).WithBurst(5),
	algo.PerSec(1),
	algo.PerSec(1_000_000).WithBurst(4),
	algo.PerDuration(1500*time.Millisecond, 4).WithBurst(2),
	algo.PerHour(100).WithBurst(250).WithName("hourly"),
	algo.PerSec(10).WithAlgorithm(algo.GCRA).WithName("gcra"),
}

// flSameError reports how two errors differ, "" when they do not.
func flSameError(got, want error) string {
	if (got == nil) != (want == nil) {
		return "one is nil"
	}
	if got == nil {
		return ""
	}
	if got.Error() != want.Error() {
		return "texts differ"
	}
	for _, target := range []error{algo.ErrInvalid, store.ErrUnavailable, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(got, target) != errors.Is(want, target) {
			return "errors.Is(" + target.Error() + ") differs"
		}
	}
	return ""
}

// flSameResult reports how two Results differ, "" when they do not: the
// same fields, Quota compared by value.
func flSameResult(f, g Result) string {
	if (f.Quota == nil) != (g.Quota == nil) || f.Quota != nil && *f.Quota != *g.Quota {
		return "quotas differ"
	}
	f.Quota, g.Quota = nil, nil
	if !reflect.DeepEqual(f, g) {
		return "results differ"
	}
	return ""
}

// flDiff runs one random history on a fast-lane limiter and on the same
// limiter kept on the general path by a hook that does nothing, each on
// its own memory store (as store(mem)), the two stores on one fake clock.
// Every Limit, Peek and Reset must give the same Result and error.
func flDiff[K comparable](t *rapid.T, tb testing.TB, keys []K, dflt K, as func(*memstore.Store) store.Store[K]) {
	fc := store.NewFakeClock(flT0)
	a := rapid.SampledFrom(algo.Algorithms).Draw(t, "algorithm")
	q := rapid.SampledFrom(flQuotas).Draw(t, "quota")
	opts := []Option{WithAlgorithm(a), WithQuota(q)}
	var zero K
	if rapid.Bool().Draw(t, "default key") {
		opts = append(opts, WithDefaultKey(dflt))
	}
	f := flNew[K](tb, append(opts, WithStore(as(flMem(tb, fc))))...)
	g := flNew[K](tb, append(opts, WithStore(as(flMem(tb, fc))), WithHooks[K](flNoop[K]))...)
	if f.one == nil || g.one != nil {
		t.Fatalf("f.one = %v, g.one = %v: want f on the fast lane and g off it", f.one, g.one)
	}
	capacity := f.set.ps[0].Max()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	keys = append(append([]K(nil), keys...), zero, dflt)
	n := rapid.IntRange(1, 60).Draw(t, "calls")
	for i := range n {
		ctx := context.Background()
		if rapid.IntRange(0, 9).Draw(t, "cancelled") == 0 {
			ctx = cancelled
		}
		key := rapid.SampledFrom(keys).Draw(t, "key")
		switch rapid.IntRange(0, 9).Draw(t, "action") {
		case 0, 1:
			if rapid.Bool().Draw(t, "backwards") {
				fc.Advance(-time.Duration(rapid.Int64Range(0, 2_000_000).Draw(t, "back µs")) * time.Microsecond)
			} else {
				fc.Advance(time.Duration(rapid.Int64Range(0, 4_000_000).Draw(t, "forward µs")) * time.Microsecond)
			}
		case 2:
			ef, eg := f.Reset(ctx, key), g.Reset(ctx, key)
			if why := flSameError(ef, eg); why != "" {
				t.Fatalf("call %d: Reset(%v): fast lane %v, general path %v (%s)", i, key, ef, eg, why)
			}
		case 3:
			sf, ef := f.Peek(ctx, key)
			sg, eg := g.Peek(ctx, key)
			if why := flSameError(ef, eg); why != "" || sf != sg {
				t.Fatalf("call %d: Peek(%v): fast lane %+v, %v; general path %+v, %v (%s)", i, key, sf, ef, sg, eg, why)
			}
		default:
			var cost int64
			switch rapid.IntRange(0, 9).Draw(t, "cost kind") {
			case 0:
				cost = 0
			case 1, 2, 3:
				cost = 1
			case 4:
				cost = capacity
			case 5:
				cost = capacity + 1
			case 6:
				cost = rapid.Int64Range(0, capacity+2).Draw(t, "cost")
			case 7:
				cost = -rapid.Int64Range(1, 3).Draw(t, "negative cost")
			default:
				cost = rapid.SampledFrom([]int64{math.MinInt64, math.MaxInt64}).Draw(t, "extreme cost")
			}
			rf, ef := f.Limit(ctx, key, cost)
			rg, eg := g.Limit(ctx, key, cost)
			why := flSameError(ef, eg)
			if why == "" {
				why = flSameResult(rf, rg)
			}
			if why != "" {
				t.Fatalf("call %d at %d: Limit(%v, %d):\nfast lane    %+v (quota %v), %v\ngeneral path %+v (quota %v), %v\n(%s)",
					i, fc.Now(), key, cost, rf, rf.Quota, ef, rg, rg.Quota, eg, why)
			}
			if ef == nil && (rf.Quota == nil || *rf.Quota != f.Quotas()[0]) {
				t.Fatalf("call %d: Limit's Quota is %v, want a pointer to the limiter's own %v", i, rf.Quota, f.Quotas()[0])
			}
		}
	}
}

// TestFastLaneAsGeneralPath: the fast lane gives the general path's
// Results and errors, for string keys (the empty one refused unless a
// default key stands for it) and int keys (whose zero is a key).
func TestFastLaneAsGeneralPath(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			flDiff(rt, t, []string{"a", "b"}, "anon", func(s *memstore.Store) store.Store[string] { return s })
		})
	})
	t.Run("int", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			flDiff(rt, t, []int{1, -2}, 7, func(s *memstore.Store) store.Store[int] { return memstore.For[int](s) })
		})
	})
}

// TestFastLaneErrors: bad input and a done ctx fail the fast lane as they
// fail the general path, in its order: the key, then the cost, then the
// store's ctx check; and nothing is charged.
func TestFastLaneErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		key   string
		cost  int64
		dflt  bool
		match error
	}{
		{"empty key", bg, "", 1, false, algo.ErrInvalid},
		{"negative cost", bg, "k", -1, false, algo.ErrInvalid},
		{"cancelled", cancelled, "k", 1, false, context.Canceled},
		{"cancelled peek", cancelled, "k", 0, false, store.ErrUnavailable},
		{"empty key, negative cost, cancelled", cancelled, "", -1, false, algo.ErrInvalid},
		{"negative cost, cancelled", cancelled, "k", math.MinInt64, false, algo.ErrInvalid},
		{"default key, negative cost", bg, "", -1, true, algo.ErrInvalid},
		{"default key, cancelled", cancelled, "", 1, true, store.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := store.NewFakeClock(flT0)
			opts := []Option{WithQuota(algo.PerSec(3))}
			if tc.dflt {
				opts = append(opts, WithDefaultKey("anon"))
			}
			f := flNew[string](t, append(opts, WithStore[string](flMem(t, fc)))...)
			g := flNew[string](t, append(opts, WithStore[string](flMem(t, fc)), WithHooks[string](flNoop[string]))...)
			if f.one == nil || g.one != nil {
				t.Fatal("want f on the fast lane and g off it")
			}
			rf, ef := f.Limit(tc.ctx, tc.key, tc.cost)
			rg, eg := g.Limit(tc.ctx, tc.key, tc.cost)
			if why := flSameError(ef, eg); why != "" {
				t.Fatalf("fast lane %v, general path %v (%s)", ef, eg, why)
			}
			if !errors.Is(ef, tc.match) {
				t.Fatalf("error %v, want one matching %v", ef, tc.match)
			}
			if !reflect.DeepEqual(rf, Result{}) || !reflect.DeepEqual(rg, Result{}) {
				t.Fatalf("failed calls returned Results %+v and %+v, want zero ones", rf, rg)
			}
			for _, key := range []string{"k", "anon"} {
				s, err := f.Peek(bg, key)
				if err != nil || s != (State{Limit: 3, Remaining: 3}) {
					t.Fatalf("after the failed call, Peek(%q) = %+v, %v; want a fresh key", key, s, err)
				}
			}
		})
	}
}
