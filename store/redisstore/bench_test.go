package redisstore

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
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
	client := newClient(b, srv.Addr())
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

// BenchmarkCoalescing measures Decide from 16 goroutines (and serially) on
// one hot key and on 10,000 keys, without coalescing (WithCoalescing(0))
// and with it, one or two calls in flight per group. It reports the
// server's time per decision (INFO commandstats evalsha µs over the
// decisions) as server-µs/decision and the script calls per decision.
func BenchmarkCoalescing(b *testing.B) {
	srv := redistest.Standalone(b)
	p, err := store.NewPolicy(algo.PerSec(1_000_000_000).WithAlgorithm(algo.GCRA))
	if err != nil {
		b.Fatal(err)
	}
	ps := []*store.Policy{p}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for _, mode := range []struct {
		name     string
		max      int
		inflight int
	}{{"coalesce=off", 0, 0}, {"coalesce=on", DefaultCoalescing, 1}, {"coalesce=on/inflight=2", DefaultCoalescing, 2}} {
		// A client per mode: once a rueidis connection has pipelined
		// concurrent calls it stays in that mode, which costs a serial
		// caller an allocation (ctx.Done) the next mode would be charged.
		s, err := New(newClient(b, srv.Addr()), WithTimeout(testTimeout), WithCoalescing(mode.max))
		if err != nil {
			b.Fatal(err)
		}
		s.co.inflight = mode.inflight
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
