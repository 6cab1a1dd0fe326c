package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/floorscript"
	"github.com/throttled-go/throttled/internal/latencyproxy"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// serverTime returns the calls and total µs of cmd in INFO commandstats.
func serverTime(tb testing.TB, srv *redistest.Server, cmd string) (calls, usec int64) {
	tb.Helper()
	for _, line := range strings.Split(srv.Do(tb, "INFO", "commandstats"), "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				calls, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return calls, usec
}

// withServerTime runs a benchmark body (a b.Loop, run once) after CONFIG
// RESETSTAT and reports the server's µs of cmd per op as "server-µs/op":
// per call, unless concurrent decisions were coalesced into fewer calls.
func withServerTime(b *testing.B, srv *redistest.Server, cmd string, body func()) {
	srv.Do(b, "CONFIG", "RESETSTAT")
	body()
	calls, usec := serverTime(b, srv, cmd)
	if calls == 0 {
		b.Fatalf("INFO commandstats shows no %s call", cmd)
	}
	b.ReportMetric(float64(usec)/float64(b.N), "server-µs/op")
}

// BenchmarkDecide measures one decision on a real Redis started by the
// harness (server TIME), per algorithm and under two policies of mixed
// algorithms, serially and from parallel goroutines, against the INCRBY
// baseline and a floor script (read a state and TIME, write the state) on
// the same client. Each reports the server's time per call (INFO
// commandstats) as server-µs/op.
func BenchmarkDecide(b *testing.B) {
	srv := redistest.Standalone(b)
	client := redistest.Client(b, srv.Addr())
	// A generous per-call timeout: the default 200 ms would fail calls on a
	// loaded machine; any timeout costs the same per call.
	s, err := New(client, WithTimeout(testTimeout))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("baseline=incrby/store=redis", func(b *testing.B) {
		b.ReportAllocs()
		withServerTime(b, srv, "incrby", func() {
			for b.Loop() {
				if err := client.Do(ctx, client.B().Incrby().Key("bench:incr").Increment(1).Build()).Error(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	// The floor a decision's server time is measured against: a script
	// that only reads a state and TIME and writes the state back.
	floor := rueidis.NewLuaScript(`local t = redis.call('TIME')
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], t[1] .. t[2], 'PX', 60000)
return v`)
	b.Run("baseline=floor-script/store=redis", func(b *testing.B) {
		b.ReportAllocs()
		withServerTime(b, srv, "evalsha", func() {
			for b.Loop() {
				if err := floor.Exec(ctx, client, []string{"bench:floor"}, nil).Error(); err != nil && !rueidis.IsRedisNil(err) {
					b.Fatal(err)
				}
			}
		})
	})
	// Quotas no hot key exhausts: every decision is allowed and writes.
	policy := func(a algo.Algorithm, q algo.Quota) *store.Policy {
		p, err := store.NewPolicy(q.WithAlgorithm(a))
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	sets := map[string][]*store.Policy{}
	names := []string{}
	for _, a := range algo.Algorithms {
		name := "algo=" + a.String()
		sets[name] = []*store.Policy{policy(a, algo.PerSec(1_000_000_000))}
		names = append(names, name)
	}
	two := "policies=2/algo=token_bucket+fixed_window"
	sets[two] = []*store.Policy{policy(algo.TokenBucket, algo.PerSec(1_000_000_000)), policy(algo.FixedWindow, algo.PerDay(1<<50))}
	names = append(names, two)
	for _, name := range names {
		ps := sets[name]
		b.Run(name+"/store=redis", func(b *testing.B) {
			b.ReportAllocs()
			withServerTime(b, srv, "evalsha", func() {
				for b.Loop() {
					if _, err := s.Decide(ctx, "bench", ps, 1, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name+"/store=redis/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			withServerTime(b, srv, "evalsha", func() {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() { // one hot key, as throttled-py's table
						if _, err := s.Decide(ctx, "bench", ps, 1, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// allowAll returns the benchmarks' one policy: GCRA at 10^9 a second, so
// that every decision is allowed and writes its state.
func allowAll(b *testing.B) []*store.Policy {
	p, err := store.NewPolicy(algo.PerSec(1_000_000_000).WithAlgorithm(algo.GCRA))
	if err != nil {
		b.Fatal(err)
	}
	return []*store.Policy{p}
}

// rttProxy starts a proxy in front of srv adding 200 µs of round trip
// (100 µs each way), closed when b ends.
func rttProxy(b *testing.B, srv *redistest.Server) *latencyproxy.Proxy {
	proxy, err := latencyproxy.Start("tcp", srv.Addr(), 100*time.Microsecond)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { proxy.Close() })
	return proxy
}

// BenchmarkCoalescing measures Decide from 16 goroutines (and serially) on
// one hot key and on 10,000 keys, without coalescing (WithCoalescing(0))
// and with it, on loopback and through a proxy adding 200 µs of round
// trip (net=rtt200us, internal/latencyproxy). It reports the server's time
// per decision (INFO commandstats evalsha µs over the decisions) as
// server-µs/decision and the script calls per decision.
func BenchmarkCoalescing(b *testing.B) {
	srv := redistest.Standalone(b)
	proxy := rttProxy(b, srv)
	ps := allowAll(b)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for _, mode := range []struct {
		name, addr string
		max        int
	}{
		{"net=loopback/coalesce=off", srv.Addr(), 0}, {"net=loopback/coalesce=on", srv.Addr(), DefaultCoalescing},
		{"net=rtt200us/coalesce=off", proxy.Addr(), 0}, {"net=rtt200us/coalesce=on", proxy.Addr(), DefaultCoalescing},
	} {
		// A client per mode: once a rueidis connection has pipelined
		// concurrent calls it stays in that mode, which costs a serial
		// caller an allocation (ctx.Done) the next mode would be charged.
		s, err := New(redistest.Client(b, mode.addr), WithTimeout(testTimeout), WithCoalescing(mode.max))
		if err != nil {
			b.Fatal(err)
		}
		// perDecision runs body after CONFIG RESETSTAT and reports the
		// server's time and script calls per decision.
		perDecision := func(b *testing.B, body func()) {
			srv.Do(b, "CONFIG", "RESETSTAT")
			body()
			calls, usec := serverTime(b, srv, "evalsha")
			b.ReportMetric(float64(usec)/float64(b.N), "server-µs/decision")
			b.ReportMetric(float64(calls)/float64(b.N), "calls/decision")
		}
		b.Run("keys=1/goroutines=1/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			perDecision(b, func() {
				for b.Loop() {
					if _, err := s.Decide(ctx, "bench", ps, 1, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		for _, nkeys := range []int{1, len(keys)} {
			b.Run("keys="+strconv.Itoa(nkeys)+"/goroutines=16/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((16 + procs - 1) / procs)
				var next atomic.Uint64
				perDecision(b, func() {
					b.RunParallel(func(pb *testing.PB) {
						i := next.Add(7919) // goroutines start on different keys
						for pb.Next() {
							i++
							if _, err := s.Decide(ctx, keys[i%uint64(nkeys)], ps, 1, nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			})
		}
	}
}

// redisCPU returns the server's CPU seconds so far (INFO cpu, user + sys).
func redisCPU(tb testing.TB, srv *redistest.Server) float64 {
	tb.Helper()
	var sum float64
	for _, line := range strings.Split(srv.Do(tb, "INFO", "cpu"), "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("INFO cpu %s: %v", line, err)
				}
				sum += f
			}
		}
	}
	return sum
}

// processCPU returns this process's CPU seconds so far (user + sys).
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkCPUPerCall splits the cost of a call from 16 goroutines between
// the Redis server and this process, on one hot key: the INCRBY baseline,
// the floor script (GET, TIME, SET PX: the least a decision does), and a
// GCRA decision alone (with and without the per-call timeout) and
// coalesced. It reports redis-cpu-µs/op (INFO cpu) and client-cpu-µs/op
// (getrusage). On a host whose cores the client and the server share, the
// sum bounds the throughput: it shows what no script can reach there (the
// floor's server CPU alone is about twice INCRBY's).
func BenchmarkCPUPerCall(b *testing.B) {
	srv := redistest.Standalone(b)
	ps := allowAll(b)
	ctx := context.Background()
	newStore := func(b *testing.B, opts ...Option) *Store {
		s, err := New(redistest.Client(b, srv.Addr()), opts...)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name string
		op   func(b *testing.B) func() error
	}{
		{"incrby", func(b *testing.B) func() error {
			c := redistest.Client(b, srv.Addr())
			return func() error { return c.Do(ctx, c.B().Incrby().Key("bench:incr").Increment(1).Build()).Error() }
		}},
		{"floor-script", func(b *testing.B) func() error {
			c := redistest.Client(b, srv.Addr())
			return func() error { return floorscript.Call(ctx, c, "bench:floor") }
		}},
		{"gcra/coalesce=off/timeout=none", func(b *testing.B) func() error {
			s := newStore(b, WithTimeout(0), WithCoalescing(0))
			return func() error { _, err := s.Decide(ctx, "bench", ps, 1, nil); return err }
		}},
		{"gcra/coalesce=off/timeout=on", func(b *testing.B) func() error {
			s := newStore(b, WithTimeout(testTimeout), WithCoalescing(0))
			return func() error { _, err := s.Decide(ctx, "bench", ps, 1, nil); return err }
		}},
		{"gcra/coalesce=on", func(b *testing.B) func() error {
			s := newStore(b, WithTimeout(testTimeout), WithCoalescing(DefaultCoalescing))
			return func() error { _, err := s.Decide(ctx, "bench", ps, 1, nil); return err }
		}},
	} {
		b.Run(c.name+"/goroutines=16", func(b *testing.B) {
			op := c.op(b)
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((16 + procs - 1) / procs)
			server, client := redisCPU(b, srv), processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric((redisCPU(b, srv)-server)*1e6/float64(b.N), "redis-cpu-µs/op")
			b.ReportMetric((processCPU()-client)*1e6/float64(b.N), "client-cpu-µs/op")
		})
	}
}

// BenchmarkCoalescingCPUBound measures Decide beside 4 goroutines that
// never block (a CPU-bound process on 2 cores), serially and from 8
// goroutines, with coalescing off and on: the case where a yield waits for
// other goroutines' time slices. It reports the median and 99th
// percentile of a decision's latency (p50-µs, p99-µs).
func BenchmarkCoalescingCPUBound(b *testing.B) {
	srv := redistest.Standalone(b)
	ps := allowAll(b)
	ctx := context.Background()
	for _, callers := range []int{1, 8} {
		for _, max := range []int{0, DefaultCoalescing} {
			b.Run(fmt.Sprintf("callers=%d/coalesce=%d", callers, max), func(b *testing.B) {
				s, err := New(redistest.Client(b, srv.Addr()), WithCoalescing(max))
				if err != nil {
					b.Fatal(err)
				}
				var stop atomic.Bool
				var spinners sync.WaitGroup
				for range 4 {
					spinners.Go(func() {
						for n := 0; !stop.Load(); n++ {
						}
					})
				}
				var mu sync.Mutex
				var lat []time.Duration
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range callers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							start := time.Now()
							if _, err := s.Decide(ctx, "bench", ps, 1, nil); err != nil {
								b.Error(err)
								return
							}
							d := time.Since(start)
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				stop.Store(true)
				spinners.Wait()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// BenchmarkSerialInterleaved measures serial calls of four kinds, each on
// a connection of its own, alternated call by call in an order shuffled
// every round (one round of four calls an iteration), so that the state of
// the machine (on a VM, whether a vCPU must be woken for the reply) weighs
// on all alike, where one block of calls after another would measure each
// in its own state, and so that no kind always follows the same other (a
// call after one that started and stopped a timer was seen 5–10 µs slower
// through the proxy): INCRBY, the floor script (internal/floorscript),
// Decide on a store with the default options, and Decide with
// WithTimeout(0). On loopback and through a proxy adding 200 µs of round
// trip. It reports each kind's median in µs (incrby-p50-µs, …) and its
// ratio to INCRBY's (…/incrby).
func BenchmarkSerialInterleaved(b *testing.B) {
	srv := redistest.Standalone(b)
	proxy := rttProxy(b, srv)
	ps := allowAll(b)
	ctx := context.Background()
	for _, net := range []struct{ name, addr string }{{"loopback", srv.Addr()}, {"rtt200us", proxy.Addr()}} {
		b.Run("net="+net.name, func(b *testing.B) {
			incr, fl := redistest.Client(b, net.addr), redistest.Client(b, net.addr)
			def := mustNew(b, redistest.Client(b, net.addr))
			none := mustNew(b, redistest.Client(b, net.addr), WithTimeout(0))
			kinds := []struct {
				name string
				call func() error
			}{
				{"incrby", func() error { return incr.Do(ctx, incr.B().Incrby().Key("bench:si").Increment(1).Build()).Error() }},
				{"floor", func() error { return floorscript.Call(ctx, fl, "bench:sf") }},
				{"store", func() error { _, err := def.Decide(ctx, "bench:ss", ps, 1, nil); return err }},
				{"store-timeout0", func() error { _, err := none.Decide(ctx, "bench:s0", ps, 1, nil); return err }},
			}
			for _, k := range kinds { // connect, load the scripts
				for range 3 {
					if err := k.call(); err != nil {
						b.Fatal(err)
					}
				}
			}
			took := make([][]time.Duration, len(kinds))
			rng := rand.New(rand.NewPCG(1, 2))
			order := rng.Perm(len(kinds))
			for b.Loop() {
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, j := range order {
					start := time.Now()
					if err := kinds[j].call(); err != nil {
						b.Fatal(err)
					}
					took[j] = append(took[j], time.Since(start))
				}
			}
			median := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)/2].Nanoseconds()) / 1e3
			}
			base := median(took[0])
			for j, k := range kinds {
				m := median(took[j])
				b.ReportMetric(m, k.name+"-p50-µs")
				if j > 0 {
					b.ReportMetric(m/base, k.name+"/incrby")
				}
			}
		})
	}
}
