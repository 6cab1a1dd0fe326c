package proptest

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

const (
	hammerers = 8 // goroutines per key
	phases    = 24

	// hammerDeadline bounds one phase of hammering: goroutines stuck on a
	// lock or a store that stopped answering fail the test then.
	hammerDeadline = 20 * time.Second
)

// concurrencyQuota has a small capacity, a rate that does not divide the
// period (so refills leave fractions) and a burst unlike the limit.
var concurrencyQuota = algo.PerDuration(10*time.Millisecond, 7).WithBurst(5)

// concurrencySets are the quota sets the concurrency tests hammer: each
// algorithm alone on concurrencyQuota, and three quotas of different
// algorithms on one key, the tightest changing with time, so that a
// request one quota admits is often denied by another (and must charge
// none).
func concurrencySets(t *testing.T) map[string][]*store.Policy {
	sets := map[string][]*store.Policy{}
	for _, a := range algo.Algorithms {
		sets["algo="+a.String()] = []*store.Policy{mustPolicy(t, concurrencyQuota.WithAlgorithm(a))}
	}
	sets["quotas=several"] = []*store.Policy{
		mustPolicy(t, concurrencyQuota.WithAlgorithm(algo.GCRA)),
		mustPolicy(t, algo.PerDuration(20*time.Millisecond, 9).WithAlgorithm(algo.FixedWindow)),
		mustPolicy(t, algo.PerDuration(7*time.Millisecond, 4).WithAlgorithm(algo.SlidingWindow)),
	}
	return sets
}

// modelsOf returns a fresh exact model per policy of ps.
func modelsOf(ps []*store.Policy) []*model {
	ms := make([]*model, len(ps))
	for i, p := range ps {
		ms[i] = newModel(p.Algorithm(), p.Quota())
	}
	return ms
}

// hammer runs n goroutines, each sending per requests (costs from cost)
// for key under ps on s at once, and returns the cost admitted in total.
// It fails t if the goroutines are not done within hammerDeadline.
func hammer(t *testing.T, s store.Store[string], ps []*store.Policy, key string, n, per int, cost func(g, i int) int64) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hammerDeadline)
	defer cancel()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for g := range n {
		wg.Go(func() {
			defer recoverTo(errs)
			<-start
			for i := range per {
				c := cost(g, i)
				d, err := s.Decide(ctx, key, ps, c, nil)
				if err != nil {
					errs <- err
					return
				}
				if !d.Limited {
					admitted.Add(c)
				}
			}
		})
	}
	close(start)
	waitOrFail(t, &wg, ctx)
	close(errs)
	for err := range errs {
		t.Fatalf("Decide: %v", err)
	}
	return admitted.Load()
}

// waitOrFail waits for wg, failing t (with every goroutine's stack) if
// ctx ends first.
func waitOrFail(t *testing.T, wg *sync.WaitGroup, ctx context.Context) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines still running at the deadline:\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// recoverTo turns a panic of a hammering goroutine into an error on errs:
// a panic there would end the test binary before the cleanups that stop
// the Redis servers run.
func recoverTo(errs chan<- error) {
	if r := recover(); r != nil {
		errs <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
	}
}

// concurrencyStores returns the memory store and the Redis store, each
// taking its time from clk.
func concurrencyStores(t *testing.T, clk store.Clock) map[string]store.Store[string] {
	red, err := redisstore.New(redistest.Client(t, redistest.Standalone(t).Addr()), redisstore.WithClock(clk), redisstore.WithTTLSlack(time.Hour), redisstore.WithTimeout(redisTimeout))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]store.Store[string]{"memory": newMemStore(t, clk), "redis": red}
}

// TestConcurrentFakeClock: goroutines hammer one key on each store while a
// fake clock stands still, phase after phase; between phases the clock
// moves by a seeded random step (zero, a µs, a fraction of the emission
// interval, a period, backwards). All requests of a phase see the same
// time, so what the key admits is fully determined:
//
//   - with cost-1 requests, a phase admits exactly what the exact models
//     admit one request after another until the first denial (at one time
//     with one cost, a denial is final), whatever the interleaving, and the
//     Peek after the phase equals the models' (each quota's state too, so
//     a request denied by one quota charged none);
//   - with mixed costs (1–3) the order decides which requests pass, so the
//     test checks each quota's bound instead: over the phases' effective
//     times, admitted ≤ B + ⌊Δt·L/P⌋ for the buckets and ≤ L per aligned
//     window for the windows (checkBounds).
//
// The quota sets are each algorithm alone and three quotas of different
// algorithms on one key.
func TestConcurrentFakeClock(t *testing.T) {
	clk := store.NewFakeClock(0)
	stores := concurrencyStores(t, clk)
	sets := concurrencySets(t)
	for _, name := range []string{"memory", "redis"} {
		s := stores[name]
		for _, set := range slices.Sorted(maps.Keys(sets)) {
			ps := sets[set]
			for _, mixed := range []bool{false, true} {
				kind := "unit"
				if mixed {
					kind = "mixed"
				}
				t.Run("store="+name+"/"+set+"/cost="+kind, func(t *testing.T) {
					var seed uint64
					for _, c := range set {
						seed = seed*31 + uint64(c)
					}
					rng := rand.New(rand.NewPCG(seed, 42))
					key := "hammer:" + set + ":" + kind
					ms := modelsOf(ps)
					adm := make([][]admission, len(ps))
					now := int64(1_700_000_000_000_000) // aligned to every period
					p := ps[0].Params()
					interval := p.Period / p.Limit
					for phase := range phases {
						switch rng.IntN(6) {
						case 0: // same instant
						case 1:
							now++
						case 2:
							now += rng.Int64N(interval)
						case 3:
							now += p.Period
						case 4:
							now -= rng.Int64N(p.Period)
						default:
							now += rng.Int64N(3 * interval)
						}
						clk.Set(now)
						effs := make([]int64, len(ms))
						for i, m := range ms {
							effs[i] = m.effective(now)
						}
						per := 3
						cost := func(g, i int) int64 { return 1 }
						if mixed {
							cost = func(g, i int) int64 { return 1 + int64((g+i+phase)%3) }
						}
						got := hammer(t, s, ps, key, hammerers, per, cost)
						if !mixed {
							// The models, request by request until denied.
							var want int64
							for range hammerers * per {
								if d, _, _ := conjunction(ms, now, 1); d.Limited {
									break
								}
								want++
							}
							if got != want {
								t.Fatalf("phase %d at %d: %d admitted, the models say exactly %d", phase, now, got, want)
							}
							each := make([]algo.Decision, len(ps))
							peek, err := s.Decide(context.Background(), key, ps, 0, each)
							if err != nil {
								t.Fatal(err)
							}
							if w, we, _ := conjunction(ms, now, 0); peek != w || fmt.Sprint(each) != fmt.Sprint(we) {
								t.Fatalf("phase %d at %d: Peek %+v %+v, models %+v %+v", phase, now, peek, each, w, we)
							}
						} else if got > 0 {
							for i, m := range ms {
								m.admitted, m.last = true, effs[i]
							}
						}
						if got > 0 {
							for i, m := range ms {
								adm[i] = append(adm[i], admission{effs[i], got})
								checkBounds(t, m.alg, m, adm[i])
							}
						}
					}
					if len(adm[0]) == 0 {
						t.Fatal("nothing was ever admitted")
					}
				})
			}
		}
	}
}

// TestConcurrentRealClock: goroutines hammer one key per quota set on each
// store for a quarter of a second of real time (several periods of the
// quotas). Each store takes its time from store.SystemClock, read before
// the first request and after the last, so every request was decided at a
// time in [start, end], and the total admitted never exceeds any quota's
// bound:
//
//   - buckets: B + ⌊(end−start)·L/P⌋;
//   - windows: L per aligned window that meets [start, end].
func TestConcurrentRealClock(t *testing.T) {
	clk := store.SystemClock()
	q := algo.PerDuration(20*time.Millisecond, 9).WithBurst(4)
	sets := map[string][]*store.Policy{}
	for _, a := range algo.Algorithms {
		sets["algo="+a.String()] = []*store.Policy{mustPolicy(t, q.WithAlgorithm(a))}
	}
	sets["quotas=several"] = []*store.Policy{
		mustPolicy(t, q.WithAlgorithm(algo.TokenBucket)),
		mustPolicy(t, algo.PerDuration(30*time.Millisecond, 10).WithAlgorithm(algo.SlidingWindow)),
	}
	const run = 250 * time.Millisecond
	for name, s := range concurrencyStores(t, clk) {
		for _, set := range slices.Sorted(maps.Keys(sets)) {
			ps := sets[set]
			t.Run("store="+name+"/"+set, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), hammerDeadline)
				defer cancel()
				var admitted atomic.Int64
				var wg sync.WaitGroup
				start := clk.Now()
				deadline := time.Now().Add(run)
				errs := make(chan error, hammerers)
				for range hammerers {
					wg.Go(func() {
						defer recoverTo(errs)
						for time.Now().Before(deadline) {
							d, err := s.Decide(ctx, "real:"+set, ps, 1, nil)
							if err != nil {
								errs <- err
								return
							}
							if !d.Limited {
								admitted.Add(1)
							}
						}
					})
				}
				waitOrFail(t, &wg, ctx)
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				end := clk.Now()
				got := admitted.Load()
				var bounds []string
				for _, p := range ps {
					pp := p.Params()
					var bound int64
					if p.Algorithm().IsBucket() {
						refill := new(big.Int).Mul(big.NewInt(end-start), big.NewInt(pp.Limit))
						bound = pp.Burst + refill.Div(refill, big.NewInt(pp.Period)).Int64()
					} else {
						windows := floorDiv(end, pp.Period) - floorDiv(start, pp.Period) + 1
						bound = pp.Limit * windows
					}
					bounds = append(bounds, fmt.Sprintf("%v: %d", p, bound))
					if got > bound {
						t.Errorf("%d admitted in [%d, %d] (%dµs), over the bound %d of %v", got, start, end, end-start, bound, p)
					}
				}
				t.Logf("%d admitted in %dµs; bounds %s", got, end-start, strings.Join(bounds, ", "))
				if got == 0 {
					t.Fatal("nothing was admitted")
				}
			})
		}
	}
}
