package proptest

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
)

const (
	hammerers = 8 // goroutines per key
	phases    = 24
)

// concurrencyQuota has a small capacity, a rate that does not divide the
// period (so refills leave fractions) and a burst unlike the limit.
var concurrencyQuota = algo.PerDuration(10*time.Millisecond, 7).WithBurst(5)

// hammer runs n goroutines, each sending per requests (costs from cost)
// for key on s at once, and returns the cost admitted in total.
func hammer(t *testing.T, s store.Store, p *algo.Params, key string, n, per int, cost func(g, i int) int64) int64 {
	t.Helper()
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
				d, err := s.Decide(context.Background(), key, p, c)
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
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Decide: %v", err)
	}
	return admitted.Load()
}

// recoverTo turns a panic of a hammering goroutine into an error on errs:
// a panic there would end the test binary before the cleanups that stop
// the Redis servers run.
func recoverTo(errs chan<- error) {
	if r := recover(); r != nil {
		errs <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
	}
}

// concurrencyStores returns the memory store and, when redis-server is
// available, the Redis store, each taking its time from clk.
func concurrencyStores(t *testing.T, clk clock.Clock) map[string]store.Store {
	mem := memstore.New(memstore.WithClock(clk), memstore.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	red, err := redisstore.New(newClient(t, redistest.Standalone(t).Addr()), redisstore.WithClock(clk), redisstore.WithTTLSlack(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]store.Store{"memory": mem, "redis": red}
}

// TestConcurrentFakeClock: goroutines hammer one key on each store while a
// fake clock stands still, phase after phase; between phases the clock
// moves by a seeded random step (zero, a µs, a fraction of the emission
// interval, a period, backwards). All requests of a phase see the same
// time, so what the key admits is fully determined:
//
//   - with cost-1 requests, a phase admits exactly min(attempts, what the
//     exact model says remains), whatever the interleaving, and the Peek
//     after the phase equals the model's;
//   - with mixed costs (1–3) the order decides which requests pass, so the
//     test checks the quota's bound instead: over the phases' effective
//     times, admitted ≤ B + ⌊Δt·L/P⌋ for the buckets and ≤ L per aligned
//     window for the windows (checkBounds).
func TestConcurrentFakeClock(t *testing.T) {
	clk := clock.NewFake(0)
	stores := concurrencyStores(t, clk)
	for _, name := range []string{"memory", "redis"} {
		s := stores[name]
		for _, a := range algo.Algorithms {
			p, err := algo.Compile(a, concurrencyQuota)
			if err != nil {
				t.Fatal(err)
			}
			for _, mixed := range []bool{false, true} {
				kind := "unit"
				if mixed {
					kind = "mixed"
				}
				t.Run("store="+name+"/algo="+a.String()+"/cost="+kind, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(a), 42))
					key := "hammer:" + kind
					m := newModel(a, concurrencyQuota)
					var adm []admission
					now := int64(1_700_000_000_000_000) // aligned to the 10ms period
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
						eff := m.effective(now)
						per := 3
						cost := func(g, i int) int64 { return 1 }
						if mixed {
							cost = func(g, i int) int64 { return 1 + int64((g+i+phase)%3) }
						}
						got := hammer(t, s, &p, key, hammerers, per, cost)
						if !mixed {
							// The model, request by request until denied.
							var want int64
							for range hammerers * per {
								if d, _ := m.decide(now, 1); d.Limited {
									break
								}
								want++
							}
							if got != want {
								t.Fatalf("phase %d at %d: %d admitted, the model says exactly %d", phase, now, got, want)
							}
							peek, err := s.Decide(context.Background(), key, &p, 0)
							if err != nil {
								t.Fatal(err)
							}
							if w := m.peek(now); peek != w {
								t.Fatalf("phase %d at %d: Peek %+v, model %+v", phase, now, peek, w)
							}
						} else if got > 0 {
							m.admitted, m.last = true, eff
						}
						if got > 0 {
							adm = append(adm, admission{eff, got})
							checkBounds(t, a, m, adm)
						}
					}
					if len(adm) == 0 {
						t.Fatal("nothing was ever admitted")
					}
				})
			}
		}
	}
}

// TestConcurrentRealClock: goroutines hammer one key per algorithm on each
// store for a quarter of a second of real time (several periods of the
// quota). Each store takes its time from one clock.Real, read before the
// first request and after the last, so every request was decided at a
// time in [start, end], and the total admitted never exceeds:
//
//   - buckets: B + ⌊(end−start)·L/P⌋;
//   - windows: L per aligned window that meets [start, end].
func TestConcurrentRealClock(t *testing.T) {
	clk := clock.NewReal()
	q := algo.PerDuration(20*time.Millisecond, 9).WithBurst(4)
	const run = 250 * time.Millisecond
	for name, s := range concurrencyStores(t, clk) {
		for _, a := range algo.Algorithms {
			t.Run("store="+name+"/algo="+a.String(), func(t *testing.T) {
				t.Parallel()
				p, err := algo.Compile(a, q)
				if err != nil {
					t.Fatal(err)
				}
				var admitted atomic.Int64
				var wg sync.WaitGroup
				start := clk.Now()
				deadline := time.Now().Add(run)
				errs := make(chan error, hammerers)
				for range hammerers {
					wg.Go(func() {
						defer recoverTo(errs)
						for time.Now().Before(deadline) {
							d, err := s.Decide(context.Background(), "real", &p, 1)
							if err != nil {
								t.Errorf("Decide: %v", err)
								return
							}
							if !d.Limited {
								admitted.Add(1)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				end := clk.Now()
				got := admitted.Load()
				var bound int64
				if a.IsBucket() {
					refill := new(big.Int).Mul(big.NewInt(end-start), big.NewInt(p.Limit))
					bound = p.Burst + refill.Div(refill, big.NewInt(p.Period)).Int64()
				} else {
					windows := floorDiv(end, p.Period) - floorDiv(start, p.Period) + 1
					bound = p.Limit * windows
				}
				t.Logf("%d admitted in %dµs, bound %d", got, end-start, bound)
				if got > bound {
					t.Fatalf("%d admitted in [%d, %d] (%dµs), bound %d", got, start, end, end-start, bound)
				}
				if got == 0 {
					t.Fatal("nothing was admitted")
				}
			})
		}
	}
}
