package memstore_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// oneT0 is the fake clock's start: 2023-11-09T00:00:00Z.
const oneT0 = int64(1_699_488_000) * 1_000_000

// oneDecider is what DecideOne is compared on: a store that decides both
// ways.
type oneDecider[K comparable] interface {
	store.Store[K]
	store.SingleDecider[K]
}

// onePolicies returns one policy per algorithm, with rates whose Unit and
// Rate are not 1, and a renamed twin of each, which shares its state.
func onePolicies(t testing.TB) (ps, twins []*store.Policy) {
	t.Helper()
	qs := map[algo.Algorithm]algo.Quota{
		algo.FixedWindow:   algo.PerSec(3),
		algo.SlidingWindow: algo.PerMin(7),
		algo.TokenBucket:   algo.PerSec(3).WithBurst(5),
		algo.LeakingBucket: algo.PerMin(7).WithBurst(5),
		algo.GCRA:          algo.PerDuration(1500*time.Millisecond, 4).WithBurst(2),
	}
	for _, a := range algo.Algorithms {
		p, err := store.NewPolicy(qs[a].WithAlgorithm(a))
		if err != nil {
			t.Fatal(err)
		}
		tw, err := store.NewPolicy(qs[a].WithAlgorithm(a).WithName("twin"))
		if err != nil {
			t.Fatal(err)
		}
		if !p.Same(tw) || p == tw {
			t.Fatalf("%v and its renamed twin %v: want distinct policies sharing state", p, tw)
		}
		ps, twins = append(ps, p), append(twins, tw)
	}
	return ps, twins
}

// newOneStores returns two memory stores on one fake clock.
func newOneStores(t testing.TB) (a, b *memstore.Store, fc *store.FakeClock) {
	t.Helper()
	fc = store.NewFakeClock(oneT0)
	a, err := memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	b, err = memstore.New(memstore.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	return a, b, fc
}

// sameError reports how two errors differ, "" when they do not: both nil,
// or the same text and the same answers to errors.Is for the errors a
// caller matches.
func sameError(got, want error) string {
	if (got == nil) != (want == nil) {
		return "one is nil"
	}
	if got == nil {
		return ""
	}
	if got.Error() != want.Error() {
		return "texts differ"
	}
	for _, target := range []error{algo.ErrInvalid, store.ErrUnavailable, store.ErrScript, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(got, target) != errors.Is(want, target) {
			return "errors.Is(" + target.Error() + ") differs"
		}
	}
	return ""
}

// checkOneDecides runs random histories on a and b, which start empty on
// one clock: a decides with DecideOne (and now and then with Decide, so
// each reads the other's state), b always with Decide and a one-policy
// slice; both see the same multi-policy decisions and Resets in between.
// Every decision and error must be the same.
func checkOneDecides[K comparable](t *rapid.T, a, b oneDecider[K], fc *store.FakeClock, keys []K, ps, twins []*store.Policy) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	all := append(append([]*store.Policy(nil), ps...), twins...)
	n := rapid.IntRange(1, 80).Draw(t, "calls")
	for i := range n {
		ctx := context.Background()
		if rapid.IntRange(0, 15).Draw(t, "cancelled") == 0 {
			ctx = cancelled
		}
		key := rapid.SampledFrom(keys).Draw(t, "key")
		switch rapid.IntRange(0, 9).Draw(t, "action") {
		case 0, 1:
			if rapid.Bool().Draw(t, "backwards") {
				fc.Advance(-time.Duration(rapid.Int64Range(0, 1_000_000).Draw(t, "back µs")) * time.Microsecond)
			} else {
				fc.Advance(time.Duration(rapid.Int64Range(0, 3_000_000).Draw(t, "forward µs")) * time.Microsecond)
			}
		case 2:
			// Both stores: a request under two policies, so keys hold
			// several states for DecideOne to find its own among.
			x := rapid.IntRange(0, len(ps)-1).Draw(t, "first")
			y := (x + 1 + rapid.IntRange(0, len(ps)-2).Draw(t, "second")) % len(ps)
			two := []*store.Policy{ps[x], twins[y]}
			cost := rapid.Int64Range(0, 6).Draw(t, "multi cost")
			da, ea := a.Decide(ctx, key, two, cost, nil)
			db, eb := b.Decide(ctx, key, two, cost, nil)
			if da != db || sameError(ea, eb) != "" {
				t.Fatalf("call %d: Decide(%v, %v, %d) on the stores differs: %+v, %v and %+v, %v", i, key, two, cost, da, ea, db, eb)
			}
		case 3:
			if rapid.IntRange(0, 7).Draw(t, "clock out of range") == 0 {
				// A clock out of [0, algo.MaxTime] fails both the same
				// way, and charges nothing.
				was := fc.Now()
				fc.Set(rapid.SampledFrom([]int64{-1, algo.MaxTime + 1, math.MaxInt64}).Draw(t, "bad time"))
				p := rapid.SampledFrom(all).Draw(t, "policy")
				da, ea := a.DecideOne(ctx, key, p, 1)
				db, eb := b.Decide(ctx, key, []*store.Policy{p}, 1, nil)
				fc.Set(was)
				if why := sameError(ea, eb); da != db || why != "" {
					t.Fatalf("call %d, clock out of range: DecideOne(%v, %v, 1) = %+v, %v; Decide = %+v, %v (%s)", i, key, p, da, ea, db, eb, why)
				}
				break
			}
			p := rapid.SampledFrom(all).Draw(t, "reset policy")
			ea := a.Reset(ctx, key, []*store.Policy{p})
			eb := b.Reset(ctx, key, []*store.Policy{p})
			if why := sameError(ea, eb); why != "" {
				t.Fatalf("call %d: Reset(%v, %v): %v and %v: %s", i, key, p, ea, eb, why)
			}
		default:
			p := rapid.SampledFrom(all).Draw(t, "policy")
			var cost int64
			switch rapid.IntRange(0, 9).Draw(t, "cost kind") {
			case 0, 1:
				cost = 0
			case 2, 3, 4:
				cost = 1
			case 5, 6:
				cost = p.Max()
			case 7, 8:
				cost = p.Max() + 1
			default:
				cost = rapid.SampledFrom([]int64{-1, math.MinInt64, math.MaxInt64}).Draw(t, "odd cost")
			}
			var da algo.Decision
			var ea error
			how := "DecideOne"
			if rapid.IntRange(0, 3).Draw(t, "a by Decide") == 0 {
				how = "Decide"
				da, ea = a.Decide(ctx, key, []*store.Policy{p}, cost, nil)
			} else {
				da, ea = a.DecideOne(ctx, key, p, cost)
			}
			db, eb := b.Decide(ctx, key, []*store.Policy{p}, cost, nil)
			if why := sameError(ea, eb); da != db || why != "" {
				t.Fatalf("call %d at %d: %s(%v, %v, %d) = %+v, %v; Decide = %+v, %v (%s)", i, fc.Now(), how, key, p, cost, da, ea, db, eb, why)
			}
		}
	}
}

// TestDecideOneAsDecide: DecideOne decides, and fails, as Decide with a
// one-policy slice, on the Store (string keys, the empty one refused) and
// on its tables.
func TestDecideOneAsDecide(t *testing.T) {
	ps, twins := onePolicies(t)
	t.Run("Store", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			a, b, fc := newOneStores(t)
			checkOneDecides[string](rt, a, b, fc, []string{"a", "b", "user:1", ""}, ps, twins)
		})
	})
	t.Run("For[int]", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			a, b, fc := newOneStores(t)
			checkOneDecides[int](rt, memstore.For[int](a), memstore.For[int](b), fc, []int{0, 1, 2, -7}, ps, twins)
		})
	})
	t.Run("For[string]", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			a, b, fc := newOneStores(t)
			checkOneDecides[string](rt, memstore.For[string](a), memstore.For[string](b), fc, []string{"a", "b", ""}, ps, twins)
		})
	})
}

// TestDecideOneSharesDecideState: a key charged by Decide is seen by
// DecideOne, and the other way round, on one store: the two calls keep
// one state per (policy, key).
func TestDecideOneSharesDecideState(t *testing.T) {
	ps, twins := onePolicies(t)
	ctx := context.Background()
	for i, p := range ps {
		s, _, _ := newOneStores(t)
		if _, err := s.Decide(ctx, "k", []*store.Policy{p}, 1, nil); err != nil {
			t.Fatal(err)
		}
		d, err := s.DecideOne(ctx, "k", twins[i], 0)
		if err != nil || d.Remaining != p.Max()-1 {
			t.Fatalf("%v: after Decide charged 1, DecideOne peeks %+v, %v; want Remaining %d", p, d, err, p.Max()-1)
		}
		if _, err := s.DecideOne(ctx, "k", p, 1); err != nil {
			t.Fatal(err)
		}
		d, err = s.Decide(ctx, "k", []*store.Policy{twins[i]}, 0, nil)
		if err != nil || d.Remaining != p.Max()-2 {
			t.Fatalf("%v: after DecideOne charged 1 more, Decide peeks %+v, %v; want Remaining %d", p, d, err, p.Max()-2)
		}
	}
}

// TestDecideOneErrors: bad input and a done ctx fail DecideOne as they
// fail Decide, with the same error and the same precedence (ctx, then the
// policy, then the cost, then the key), and change nothing: a peek after
// them shows a fresh key, and the store holds no key.
func TestDecideOneErrors(t *testing.T) {
	ps, _ := onePolicies(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	bg := context.Background()
	zero := &store.Policy{}
	for _, p := range ps {
		for _, tc := range []struct {
			name    string
			ctx     context.Context
			p       *store.Policy
			cost    int64
			key     string
			want    error // what the error must match
			strOnly bool  // only the Store refuses it
		}{
			{"nil policy", bg, nil, 1, "k", algo.ErrInvalid, false},
			{"zero policy", bg, zero, 1, "k", algo.ErrInvalid, false},
			{"negative cost", bg, p, -1, "k", algo.ErrInvalid, false},
			{"min cost", bg, p, math.MinInt64, "k", algo.ErrInvalid, false},
			{"empty key", bg, p, 1, "", algo.ErrInvalid, true},
			{"cancelled", cancelled, p, 1, "k", context.Canceled, false},
			{"deadline", expired, p, 1, "k", context.DeadlineExceeded, false},
			{"cancelled, nil policy", cancelled, nil, -1, "", store.ErrUnavailable, false},
			{"cancelled, negative cost", cancelled, p, -1, "k", store.ErrUnavailable, false},
			{"nil policy, negative cost", bg, nil, -1, "k", algo.ErrInvalid, false},
			{"zero policy, empty key", bg, zero, 1, "", algo.ErrInvalid, false},
			{"negative cost, empty key", bg, p, -1, "", algo.ErrInvalid, false},
		} {
			t.Run(p.Algorithm().String()+"/"+tc.name, func(t *testing.T) {
				a, b, _ := newOneStores(t)
				check := func(what string, sa, sb oneDecider[string], refuses bool) {
					t.Helper()
					da, ea := sa.DecideOne(tc.ctx, tc.key, tc.p, tc.cost)
					db, eb := sb.Decide(tc.ctx, tc.key, []*store.Policy{tc.p}, tc.cost, nil)
					if why := sameError(ea, eb); why != "" || da != db {
						t.Fatalf("%s: DecideOne = %+v, %v; Decide = %+v, %v (%s)", what, da, ea, db, eb, why)
					}
					if !refuses {
						return
					}
					if ea == nil || !errors.Is(ea, tc.want) {
						t.Fatalf("%s: DecideOne = %+v, %v; want an error matching %v", what, da, ea, tc.want)
					}
					if da != (algo.Decision{}) {
						t.Fatalf("%s: DecideOne failed with a decision %+v", what, da)
					}
					for _, s := range []oneDecider[string]{sa, sb} {
						key := tc.key
						if key == "" {
							key = "k"
						}
						for _, q := range ps {
							d, err := s.Decide(bg, key, []*store.Policy{q}, 0, nil)
							if err != nil || d != (algo.Decision{Remaining: q.Max()}) {
								t.Fatalf("%s: after the failed call, a peek under %v shows %+v, %v; want a fresh key", what, q, d, err)
							}
						}
					}
				}
				check("Store", a, b, true)
				if st := a.Stats(); st.Keys != 0 {
					t.Fatalf("the failed DecideOne left %d keys", st.Keys)
				}
				// A table refuses the same, but for the empty key, which
				// For[string] keeps: then both decide, alike.
				check("For[string]", memstore.For[string](a), memstore.For[string](b), !tc.strOnly)
			})
		}
	}
}
