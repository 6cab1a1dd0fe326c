// Command peers runs the workloads of cmd/throttled-bench on other Go
// rate limiters, side by side with throttled, and prints ns/op and the
// ratio of each to throttled's GCRA on the same store.
//
// It lives in its own module (this directory's go.mod, with a replace
// directive pointing at the repository root) so that the library's go.mod
// never requires the peers.
//
// Usage:
//
//	cd bench/peers && go run . [flags]
//	cd bench/peers && go run . -redis redis://127.0.0.1:6379/0
//
// Workloads (memory): one key serially; one key from -goroutines
// goroutines; -keys distinct keys serially (every key inserted before
// timing); -keys keys from -goroutines goroutines. With -redis: one key
// serially and from -goroutines goroutines, on loopback ("Redis 1 key,
// serial" and "Redis 1 key, 16 goroutines") and again through a latency
// proxy ("Redis +200µs RTT, serial" and "Redis +200µs RTT, 16 goroutines",
// named after -rtt). Every cell makes the same number of calls (-n in
// memory, -redis-n on Redis, -rtt-n through the proxy); ns/op is elapsed
// wall time over calls, so in parallel cells it is the inverse of total
// throughput. The serial Redis columns of the "allow" scenario measure
// their peers together, one call of each in turn, in an order shuffled
// every round, each cell's time the sum of its calls' (measureInterleaved):
// measured one block after another, the same code's cells moved by a
// tenth from run to run.
//
// The proxy: a round trip to Redis on loopback takes 10–60 µs, so the
// loopback columns show the clients' and the scripts' own costs, not how
// a limiter compares with a bare INCRBY over a real network (about 200 µs
// a round trip within a cloud zone). For the proxied columns every Redis
// peer gets clients of its own connected to an in-process TCP proxy
// (internal/latencyproxy) listening on 127.0.0.1 and forwarding to the
// -redis URL's host:port, which delays each chunk of bytes by -rtt/2 in
// each direction (chunks in flight overlap, as on a real link: it adds
// latency, not a throughput cap). On Linux its waits sleep on a kernel
// timer (timerfd), costing no CPU; elsewhere their last 2 ms spin, and on
// a machine with few cores the proxy then competes with the clients and
// the server for CPU. The header prints the PING round trip achieved
// through it next to the direct one. The proxy stands in for a standalone
// redis:// server only: with a rediss://, unix:// or Cluster/Sentinel URL
// the proxied columns are left out, with a note on stderr. In the "deny"
// scenario a serial client through the proxy makes only a few thousand
// calls a second, not far above the quota of 1,000, so fewer of its calls
// are denied than on loopback (the table shows the share).
//
// Two scenarios, run one after the other unless -scenario picks one:
// "allow" gives every limiter 1,000,000,000 requests per second with a
// burst of as many (nearly every request is allowed: the write path), and
// "deny" gives 1,000 per second with a burst of 1,000 (throttled-py's quota:
// on a hot key nearly every request is denied).
//
// The peers and how their quota is made equivalent:
//
//   - golang.org/x/time/rate: a token bucket, rate.NewLimiter(L per second,
//     burst L). It has no keys; "one Limiter" calls Allow on a single
//     limiter (one-key columns only), "map[key]" looks the limiter up in a
//     map under a mutex first, the usual per-key pattern (no eviction).
//   - sethvargo/go-limiter memorystore: Tokens L per Interval 1s, refilled
//     at interval ticks counted from the key's first use (a fixed window
//     per key). Take.
//   - throttled/throttled/v2: GCRA, RateQuota{PerSec(L), MaxBurst L-1}
//     (MaxBurst counts requests beyond the first), on its memstore bounded
//     to 2^20 keys (an LRU, like throttled's bounded store).
//     RateLimitCtx with quantity 1; it updates by compare-and-swap and
//     fails after a bounded number of CAS retries, counted as errors.
//   - ulule/limiter/v3 memory store: a fixed window of L per 1s starting at
//     the key's first request; Get increments even when the limit is
//     reached (Reached is the denial).
//   - go-chi/httprate: a sliding-window counter (the previous window's
//     count weighted by overlap) over its LocalCounter. It only exposes
//     HTTP-shaped calls, so the bench calls RateLimiter.OnLimit(w, r, key)
//     directly, with one prebuilt httptest request and a discarding
//     ResponseWriter, response headers switched off: no handler chain, no
//     HTTP parsing, only the limiter's work.
//   - go-redis/redis_rate/v10: GCRA in Lua, Limit{Rate L, Period 1s,
//     Burst L}, on a go-redis v9 client from redis.ParseURL.
//   - throttled (this repository): token bucket and GCRA through
//     throttled.Limiter.Limit on its memstore (memory) or on
//     redisstore.FromURL (Redis, coalescing concurrent calls as it does by
//     default); its quota is PerSec(L), burst L. Two more Redis rows: GCRA
//     on a store that does not coalesce (redisstore.WithCoalescing(0)),
//     and GCRA with the limiter's deny cache (WithDenyCache(time.Second)),
//     which in the "deny" scenario answers most calls from memory.
//
// Reference rows, not limiters: the mutex-guarded map[string]int64
// increment (memory) and INCRBY on rueidis and on go-redis (Redis).
//
// Every Redis row is measured twice, by two sets of clients: those
// connected to the server directly run the loopback columns only, those
// connected through the proxy the proxied columns only. The table shows
// both in one row, and each cell's × divides by throttled GCRA's cell in
// the same column, so a proxied cell compares with GCRA through the same
// proxy.
//
// Flags:
//
//	-n N          calls per memory cell and pass (default 1000000: ten
//	              visits to each key of the 100,000-key columns, so that a
//	              cell measures a store in use rather than mostly the first
//	              visits after the keys' insertion, up to 15% slower than the
//	              later ones for throttled's store; see bench/README.md)
//	-redis-n N    calls per loopback Redis cell and pass (default 10000)
//	-rtt D        round trip the proxy adds, half each way (default 200µs;
//	              0: no proxied columns)
//	-rtt-n N      calls per proxied Redis cell and pass (default 2000: a
//	              serial call takes -rtt plus a loopback call or more)
//	-count N      passes over every cell (default 3); each cell reports the
//	              pass with the median ns/op
//	-goroutines N goroutines of the parallel columns (default 16)
//	-keys N       distinct keys of the many-key columns (default 100000)
//	-scenario S   "allow", "deny" or "both" (default)
//	-redis URL    also run the Redis workloads against URL (and, with -rtt,
//	              through the proxy to the same server)
//	-json FILE    also write the "allow" scenario (or the one -scenario
//	              picks) to FILE, in the schema of docs/bench/peers.json
//
// Progress goes to stderr; the tables (markdown) go to stdout.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	chirate "github.com/go-chi/httprate"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	slimiter "github.com/sethvargo/go-limiter"
	smemory "github.com/sethvargo/go-limiter/memorystore"
	tv2 "github.com/throttled/throttled/v2"
	tv2mem "github.com/throttled/throttled/v2/store/memstore"
	ulimiter "github.com/ulule/limiter/v3"
	umemory "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/internal/latencyproxy"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

type config struct {
	n, redisN  int64
	rtt        time.Duration // the round trip the proxy adds; 0: no proxy
	rttN       int64         // calls per proxied Redis cell
	count      int
	goroutines int
	keys       int
	scenario   string
	redisURL   string
	jsonPath   string
}

// scenario is a quota given to every limiter.
type scenario struct {
	name  string
	limit int // L requests per second, burst L
}

var scenarios = []scenario{{"allow", 1_000_000_000}, {"deny", 1_000}}

// decide makes one call; limited reports a denial.
type decide func(ctx context.Context, key string) (limited bool, err error)

// peer builds a fresh limiter for one cell.
type peer struct {
	name  string
	redis bool
	// proxied marks a Redis peer whose clients connect through the
	// latency proxy: it runs in the proxied columns only. A direct peer
	// and a proxied one of the same name share a table row.
	proxied bool
	// oneKeyOnly marks limiters without keys, measured on one key only.
	oneKeyOnly bool
	// ref marks the reference rows (not limiters).
	ref bool
	// ours marks throttled's GCRA, the denominator of the ratios.
	ours bool
	make func(sc scenario) (decide, func(), error)
}

// column is a workload.
type column struct {
	title      string
	many       bool
	goroutines int
	redis      bool
	proxied    bool // on Redis through the latency proxy
}

// runs reports whether p is measured in column c: the same store and
// network, and a limiter with keys unless c has one key.
func (c column) runs(p peer) bool {
	return p.redis == c.redis && p.proxied == c.proxied && !(p.oneKeyOnly && c.many)
}

func run(args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&c.n, "n", 1_000_000, "calls per memory cell and pass")
	fs.Int64Var(&c.redisN, "redis-n", 10_000, "calls per loopback Redis cell and pass")
	fs.DurationVar(&c.rtt, "rtt", 200*time.Microsecond, "round trip an in-process TCP proxy adds (half each way) for the proxied Redis columns; 0: none")
	fs.Int64Var(&c.rttN, "rtt-n", 2_000, "calls per proxied Redis cell and pass")
	fs.IntVar(&c.count, "count", 3, "passes over every cell; each cell reports its median run")
	fs.IntVar(&c.goroutines, "goroutines", 16, "goroutines of the parallel columns")
	fs.IntVar(&c.keys, "keys", 100_000, "distinct keys of the many-key columns")
	fs.StringVar(&c.scenario, "scenario", "both", `"allow" (1e9/s), "deny" (1000/s) or "both"`)
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL; adds the Redis workloads, on loopback and (with -rtt) through the proxy")
	fs.StringVar(&c.jsonPath, "json", "", `also write the "allow" scenario (or the one -scenario picks) to this file, in the schema of docs/bench/peers.json`)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: cd bench/peers && go run . [flags]

Runs cmd/throttled-bench's workloads on throttled and other Go rate limiters
and prints ns/op and the ratio to throttled's GCRA on the same store, as
markdown tables on stdout (progress on stderr). With -redis, the Redis rows
are measured on the server directly and, with -rtt above 0, again through an
in-process TCP proxy on 127.0.0.1 that adds -rtt to every round trip (the
"Redis +RTT" columns; standalone redis:// URLs only).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || c.n < 1 || c.redisN < 1 || c.rttN < 1 || c.count < 1 || c.goroutines < 1 || c.keys < 1 {
		return errors.New("bad flags: -n, -redis-n, -rtt-n, -count, -goroutines and -keys must be at least 1, and no arguments")
	}
	if c.rtt < 0 {
		return fmt.Errorf("bad flags: -rtt is %v, want 0 (no proxy) or more", c.rtt)
	}
	var scs []scenario
	for _, sc := range scenarios {
		if c.scenario == "both" || c.scenario == sc.name {
			scs = append(scs, sc)
		}
	}
	if len(scs) == 0 {
		return fmt.Errorf(`-scenario is %q, want "allow", "deny" or "both"`, c.scenario)
	}

	keys := make([]string, c.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	cols := []column{
		{title: "1 key, serial", goroutines: 1},
		{title: fmt.Sprintf("1 key, %d goroutines", c.goroutines), goroutines: c.goroutines},
		{title: fmt.Sprintf("%s keys, serial", group(int64(c.keys))), many: true, goroutines: 1},
		{title: fmt.Sprintf("%s keys, %d goroutines", group(int64(c.keys)), c.goroutines), many: true, goroutines: c.goroutines},
	}
	peers := memoryPeers()
	var env redisEnv
	var px *proxiedRedis
	if c.redisURL != "" {
		var err error
		if env, err = openRedis(c.redisURL, false); err != nil {
			return err
		}
		defer env.close()
		peers = append(peers, env.peers()...)
		cols = append(cols,
			column{title: "Redis 1 key, serial", goroutines: 1, redis: true},
			column{title: fmt.Sprintf("Redis 1 key, %d goroutines", c.goroutines), goroutines: c.goroutines, redis: true})
		if c.rtt > 0 {
			var note string
			if px, note, err = openProxied(c.redisURL, c.rtt, env); err != nil {
				return err
			}
			if note != "" {
				fmt.Fprintln(stderr, "peers: no proxied Redis columns:", note)
			} else {
				defer px.close()
				peers = append(peers, px.env.peers()...)
				cols = append(cols,
					column{title: fmt.Sprintf("Redis +%v RTT, serial", c.rtt), goroutines: 1, redis: true, proxied: true},
					column{title: fmt.Sprintf("Redis +%v RTT, %d goroutines", c.rtt, c.goroutines), goroutines: c.goroutines, redis: true, proxied: true})
			}
		}
	}

	fmt.Fprintf(stdout, "Go %s, %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if env.version != "" {
		fmt.Fprintf(stdout, ", Redis %s", env.version)
	}
	fmt.Fprintf(stdout, "; %s calls per memory cell", group(c.n))
	if env.version != "" {
		fmt.Fprintf(stdout, ", %s per Redis cell", group(c.redisN))
	}
	if px != nil {
		fmt.Fprintf(stdout, ", %s per proxied Redis cell", group(c.rttN))
	}
	fmt.Fprintf(stdout, ", median of %d passes", c.count)
	fmt.Fprintf(stdout, ". ns/op = wall time / calls (in parallel cells, the inverse of total throughput); × = ns/op ÷ throttled GCRA's in the same column (above 1: the peer is slower).\n")
	proxyNote := ""
	if px != nil {
		proxyNote = px.brief(c.rtt)
		fmt.Fprintf(stdout, "\n%s\n", px.describe(c.rtt))
	}

	for _, sc := range scs {
		runs := map[[2]int][]cellResult{}
		for pass := 1; pass <= c.count; pass++ {
			for ci, col := range cols {
				if interleaved(sc, col) {
					if err := runInterleaved(sc, col, ci, peers, keys[0], c, pass, stderr, runs); err != nil {
						return err
					}
					continue
				}
				for pi, p := range peers {
					if !col.runs(p) {
						continue
					}
					d, closeFn, err := p.make(sc)
					if err != nil {
						return fmt.Errorf("%s: %w", p.name, err)
					}
					ks, n := keys[:1], c.calls(col)
					if col.many {
						ks = keys
					}
					fmt.Fprintf(stderr, "pass %d/%d: %s / %s / %s ... ", pass, c.count, sc.name, col.title, p.name)
					r := measure(d, ks, col.goroutines, n, col.redis)
					closeFn()
					fmt.Fprintf(stderr, "%.1f ns/op, %d denied, %d errors\n", r.nsPerOp(), r.denied, r.errors)
					if r.fatal != nil {
						return fmt.Errorf("%s / %s / %s: %w", sc.name, col.title, p.name, r.fatal)
					}
					runs[[2]int{pi, ci}] = append(runs[[2]int{pi, ci}], r)
				}
			}
		}
		res := map[[2]int]cellResult{}
		for k, rs := range runs {
			slices.SortFunc(rs, func(a, b cellResult) int { return cmp.Compare(a.nsPerOp(), b.nsPerOp()) })
			res[k] = rs[(len(rs)-1)/2]
		}
		printTable(stdout, sc, peers, cols, res)
		if c.jsonPath != "" && (sc.name == "allow" || len(scs) == 1) {
			if err := writeJSON(c.jsonPath, args, env.version, proxyNote, sc, peers, cols, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// calls is how many calls a cell of column col makes: -n in memory,
// -redis-n on Redis, -rtt-n through the proxy.
func (c config) calls(col column) int64 {
	switch {
	case col.proxied:
		return c.rttN
	case col.redis:
		return c.redisN
	}
	return c.n
}

// interleaved reports whether column col of scenario sc is measured by
// runInterleaved: the serial Redis columns of the "allow" scenario. In the
// "deny" scenario a peer's denials depend on its own call rate, which
// interleaving with the others would cut below the quota.
func interleaved(sc scenario, col column) bool {
	return sc.name == "allow" && col.redis && col.goroutines == 1 && !col.many
}

// runInterleaved measures the cells of column ci (col) of every peer that
// runs in it together (measureInterleaved) and appends them to runs.
func runInterleaved(sc scenario, col column, ci int, peers []peer, key string, c config, pass int, stderr io.Writer, runs map[[2]int][]cellResult) error {
	var (
		idx    []int
		ds     []decide
		closes []func()
	)
	defer func() {
		for _, f := range closes {
			f()
		}
	}()
	for pi, p := range peers {
		if !col.runs(p) {
			continue
		}
		d, closeFn, err := p.make(sc)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		idx, ds, closes = append(idx, pi), append(ds, d), append(closes, closeFn)
	}
	fmt.Fprintf(stderr, "pass %d/%d: %s / %s / %d peers interleaved ... ", pass, c.count, sc.name, col.title, len(ds))
	rs := measureInterleaved(ds, key, c.calls(col))
	fmt.Fprintln(stderr, "done")
	for j, r := range rs {
		p := peers[idx[j]]
		fmt.Fprintf(stderr, "  %s: %.1f ns/op, %d denied, %d errors\n", p.name, r.nsPerOp(), r.denied, r.errors)
		if r.fatal != nil {
			return fmt.Errorf("%s / %s / %s: %w", sc.name, col.title, p.name, r.fatal)
		}
		runs[[2]int{idx[j], ci}] = append(runs[[2]int{idx[j], ci}], r)
	}
	return nil
}

// measureInterleaved times n serial calls of each of ds on key, one call
// of each after the other in an order shuffled every round, so that the
// state of the machine (on a VM, whether a vCPU must be woken for a
// reply; a timer another call just stopped) weighs on all alike, where
// one block of calls after another measures each in its own state:
// through the proxy, the serial cells measured in blocks moved by a tenth
// from run to run, the same code ranking differently. A cell's elapsed
// time is the sum of its calls' times. Each warms up first.
func measureInterleaved(ds []decide, key string, n int64) []cellResult {
	ctx := context.Background()
	for _, d := range ds {
		for range min(n/10, 200) {
			d(ctx, key)
		}
	}
	runtime.GC()
	out := make([]cellResult, len(ds))
	last := make([]error, len(ds))
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(ds))
	for range n {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			start := time.Now()
			limited, err := ds[i](ctx, key)
			out[i].elapsed += time.Since(start)
			switch {
			case err != nil:
				out[i].errors++
				last[i] = err
			case limited:
				out[i].denied++
			}
		}
	}
	for i := range out {
		out[i].ops = n
		if out[i].errors == n {
			out[i].fatal = last[i]
		}
	}
	return out
}

// cellResult is one measurement.
type cellResult struct {
	ops     int64
	elapsed time.Duration
	denied  int64
	errors  int64
	fatal   error
}

func (r cellResult) nsPerOp() float64 { return float64(r.elapsed.Nanoseconds()) / float64(r.ops) }

// measure inserts every key (many-key cells), warms up, then times n calls
// over goroutines goroutines from a common start. Errors are counted; a
// cell where every call fails is fatal.
func measure(d decide, keys []string, goroutines int, n int64, remote bool) cellResult {
	ctx := context.Background()
	if len(keys) > 1 {
		for _, k := range keys {
			d(ctx, k)
		}
	}
	warm := min(n/10, 10_000)
	if remote {
		warm = min(n/10, 200)
	}
	for i := range warm {
		d(ctx, keys[int(i)%len(keys)])
	}
	runtime.GC()
	var (
		wg, ready sync.WaitGroup
		mu        sync.Mutex
		out       = cellResult{ops: n}
		lastErr   error
	)
	begin := make(chan struct{})
	for g := range goroutines {
		per := n / int64(goroutines)
		if int64(g) < n%int64(goroutines) {
			per++
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-begin
			var denied, errs int64
			var last error
			i := g * len(keys) / goroutines
			for range per {
				limited, err := d(ctx, keys[i])
				if err != nil {
					errs++
					last = err
				} else if limited {
					denied++
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
			mu.Lock()
			out.denied += denied
			out.errors += errs
			if last != nil {
				lastErr = last
			}
			mu.Unlock()
		}()
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	wg.Wait()
	out.elapsed = time.Since(start)
	if out.errors == n {
		out.fatal = lastErr
	}
	return out
}

func memoryPeers() []peer {
	ctx := context.Background()
	return []peer{
		{name: "baseline: mutex + map[string]int64 ++", ref: true, make: func(scenario) (decide, func(), error) {
			var mu sync.Mutex
			m := map[string]int64{}
			return func(_ context.Context, k string) (bool, error) {
				mu.Lock()
				m[k]++
				mu.Unlock()
				return false, nil
			}, func() {}, nil
		}},
		{name: "**throttled GCRA** (memstore)", ours: true, make: ours(throttled.GCRA)},
		{name: "throttled token bucket (memstore)", make: ours(throttled.TokenBucket)},
		{name: "x/time/rate, one Limiter (no key)", oneKeyOnly: true, make: func(sc scenario) (decide, func(), error) {
			l := rate.NewLimiter(rate.Limit(sc.limit), sc.limit)
			return func(context.Context, string) (bool, error) { return !l.Allow(), nil }, func() {}, nil
		}},
		{name: "x/time/rate, mutex + map[key]*Limiter", make: func(sc scenario) (decide, func(), error) {
			var mu sync.Mutex
			m := map[string]*rate.Limiter{}
			return func(_ context.Context, k string) (bool, error) {
				mu.Lock()
				l, ok := m[k]
				if !ok {
					l = rate.NewLimiter(rate.Limit(sc.limit), sc.limit)
					m[k] = l
				}
				mu.Unlock()
				return !l.Allow(), nil
			}, func() {}, nil
		}},
		{name: "sethvargo/go-limiter memorystore", make: func(sc scenario) (decide, func(), error) {
			s, err := smemory.New(&smemory.Config{Tokens: uint64(sc.limit), Interval: time.Second})
			if err != nil {
				return nil, nil, err
			}
			var st slimiter.Store = s
			return func(ctx context.Context, k string) (bool, error) {
				_, _, _, ok, err := st.Take(ctx, k)
				return !ok, err
			}, func() { st.Close(ctx) }, nil
		}},
		{name: "throttled/throttled/v2 GCRA (memstore, LRU 2^20)", make: func(sc scenario) (decide, func(), error) {
			s, err := tv2mem.NewCtx(1 << 20)
			if err != nil {
				return nil, nil, err
			}
			l, err := tv2.NewGCRARateLimiterCtx(s, tv2.RateQuota{MaxRate: tv2.PerSec(sc.limit), MaxBurst: sc.limit - 1})
			if err != nil {
				return nil, nil, err
			}
			return func(ctx context.Context, k string) (bool, error) {
				limited, _, err := l.RateLimitCtx(ctx, k, 1)
				return limited, err
			}, func() {}, nil
		}},
		{name: "ulule/limiter/v3 (memory store)", make: func(sc scenario) (decide, func(), error) {
			l := ulimiter.New(umemory.NewStore(), ulimiter.Rate{Period: time.Second, Limit: int64(sc.limit)})
			return func(ctx context.Context, k string) (bool, error) {
				r, err := l.Get(ctx, k)
				return r.Reached, err
			}, func() {}, nil
		}},
		{name: "go-chi/httprate (OnLimit, LocalCounter)", make: func(sc scenario) (decide, func(), error) {
			l := chirate.NewRateLimiter(sc.limit, time.Second, chirate.WithResponseHeaders(chirate.ResponseHeaders{}))
			r := httptest.NewRequest(http.MethodGet, "/ping", nil)
			var w discardWriter
			return func(_ context.Context, k string) (bool, error) {
				return l.OnLimit(&w, r, k), nil
			}, func() {}, nil
		}},
	}
}

// ours returns throttled with algorithm a on a fresh memstore.
//
// Not inlined, so that its closure is compiled as the other peers' are:
// the closure of a function inlined into memoryPeers is a copy in which Go
// does not inline the calls it makes (Limit, here), where user code calls
// Limit from a function of its own.
//
//go:noinline
func ours(a throttled.Algorithm) func(sc scenario) (decide, func(), error) {
	return func(sc scenario) (decide, func(), error) {
		s, err := memstore.New()
		if err != nil {
			return nil, nil, err
		}
		t, err := throttled.New(throttled.WithAlgorithm(a), throttled.WithQuota(throttled.PerSec(int64(sc.limit))), throttled.WithStore(s))
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, k string) (bool, error) {
			r, err := t.Limit(ctx, k, 1)
			return r.Limited, err
		}, func() {}, nil
	}
}

// discardWriter is a ResponseWriter that keeps nothing. With response
// headers switched off, httprate's OnLimit never touches it.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// redisEnv holds the Redis clients of a run: connected to the server
// directly, or (proxied) through the latency proxy.
type redisEnv struct {
	store   *redisstore.Store
	alone   *redisstore.Store // the same server, coalescing off
	rdb     *redis.Client
	version string
	proxied bool
}

// openRedis opens the clients of every Redis peer on url; proxied marks
// clients connected through the latency proxy (url is then the proxy's).
func openRedis(url string, proxied bool) (redisEnv, error) {
	s, err := redisstore.FromURL(url)
	if err != nil {
		return redisEnv{}, err
	}
	alone, err := redisstore.FromURL(url, redisstore.WithCoalescing(0))
	if err != nil {
		s.Close()
		return redisEnv{}, err
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		s.Close()
		alone.Close()
		return redisEnv{}, err
	}
	e := redisEnv{store: s, alone: alone, rdb: redis.NewClient(opt), proxied: proxied}
	info, err := e.rdb.Info(context.Background(), "server").Result()
	if err != nil {
		e.close()
		return redisEnv{}, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			e.version = v
		}
	}
	return e, nil
}

// close closes the clients. The direct clients delete the keys the run
// wrote first (the proxied ones wrote the same keys on the same server).
func (e redisEnv) close() {
	ctx := context.Background()
	if !e.proxied {
		e.rdb.Del(ctx, "peers:incr:rueidis", "peers:incr:goredis", "rate:/ping")
		for _, a := range []throttled.Algorithm{throttled.GCRA, throttled.TokenBucket} {
			for _, sc := range scenarios {
				if t, err := throttled.New(throttled.WithAlgorithm(a), throttled.WithQuota(throttled.PerSec(int64(sc.limit))), throttled.WithStore(e.store)); err == nil {
					t.Reset(ctx, "/ping")
				}
			}
		}
	}
	e.rdb.Close()
	e.store.Close()
	e.alone.Close()
}

// peers returns the Redis peers on e's clients, marked proxied if e's
// clients go through the proxy.
func (e redisEnv) peers() []peer {
	ctx := context.Background()
	rc := e.store.Client()
	oursRedis := func(a throttled.Algorithm, st *redisstore.Store, opts ...throttled.Option) func(sc scenario) (decide, func(), error) {
		return func(sc scenario) (decide, func(), error) {
			t, err := throttled.New(append([]throttled.Option{throttled.WithAlgorithm(a), throttled.WithQuota(throttled.PerSec(int64(sc.limit))), throttled.WithStore(st)}, opts...)...)
			if err != nil {
				return nil, nil, err
			}
			if err := t.Reset(ctx, "/ping"); err != nil {
				return nil, nil, err
			}
			return func(ctx context.Context, k string) (bool, error) {
				r, err := t.Limit(ctx, k, 1)
				return r.Limited, err
			}, func() {}, nil
		}
	}
	ps := []peer{
		{name: "baseline: rueidis INCRBY", redis: true, ref: true, make: func(scenario) (decide, func(), error) {
			return func(ctx context.Context, _ string) (bool, error) {
				return false, rc.Do(ctx, rc.B().Incrby().Key("peers:incr:rueidis").Increment(1).Build()).Error()
			}, func() {}, nil
		}},
		{name: "baseline: go-redis INCRBY", redis: true, ref: true, make: func(scenario) (decide, func(), error) {
			return func(ctx context.Context, _ string) (bool, error) {
				return false, e.rdb.IncrBy(ctx, "peers:incr:goredis", 1).Err()
			}, func() {}, nil
		}},
		{name: "**throttled GCRA** (redisstore, rueidis)", redis: true, ours: true, make: oursRedis(throttled.GCRA, e.store)},
		{name: "throttled token bucket (redisstore, rueidis)", redis: true, make: oursRedis(throttled.TokenBucket, e.store)},
		{name: "throttled GCRA, coalescing off (WithCoalescing(0))", redis: true, make: oursRedis(throttled.GCRA, e.alone)},
		{name: "throttled GCRA, deny cache (WithDenyCache(1s))", redis: true, make: oursRedis(throttled.GCRA, e.store, throttled.WithDenyCache(time.Second))},
		{name: "go-redis/redis_rate/v10 GCRA (go-redis)", redis: true, make: func(sc scenario) (decide, func(), error) {
			l := redis_rate.NewLimiter(e.rdb)
			if err := l.Reset(ctx, "/ping"); err != nil {
				return nil, nil, err
			}
			lim := redis_rate.Limit{Rate: sc.limit, Period: time.Second, Burst: sc.limit}
			return func(ctx context.Context, k string) (bool, error) {
				r, err := l.Allow(ctx, k, lim)
				if err != nil {
					return false, err
				}
				return r.Allowed == 0, nil
			}, func() {}, nil
		}},
	}
	for i := range ps {
		ps[i].proxied = e.proxied
	}
	return ps
}

// pings is how many PINGs measure a round trip to Redis.
const pings = 50

// proxiedRedis is the Redis side of a run reached through the latency
// proxy: the proxy and the Redis peers' clients connected to it.
type proxiedRedis struct {
	proxy *latencyproxy.Proxy
	env   redisEnv
	// Median PING round trips, measured when the proxy opened: to the
	// server directly and through the proxy.
	direct, ping time.Duration
}

// openProxied starts a latency proxy adding rtt to every round trip (rtt/2
// each way) in front of the server of url, and opens the Redis peers'
// clients on it; direct's clients measure the direct PING. For a URL the
// proxy cannot stand in for (see latencyproxy.RedisTarget) it returns no
// proxy and a note saying why.
func openProxied(url string, rtt time.Duration, direct redisEnv) (px *proxiedRedis, note string, err error) {
	network, target, err := latencyproxy.RedisTarget(url)
	if err != nil {
		return nil, err.Error(), nil
	}
	p, err := latencyproxy.Start(network, target, rtt/2)
	if err != nil {
		return nil, "", fmt.Errorf("proxy: %w", err)
	}
	purl, err := latencyproxy.ProxiedURL(url, p.Addr())
	if err != nil {
		p.Close()
		return nil, "", err
	}
	env, err := openRedis(purl, true)
	if err != nil {
		p.Close()
		return nil, "", fmt.Errorf("through the proxy: %w", err)
	}
	px = &proxiedRedis{proxy: p, env: env}
	ctx := context.Background()
	if px.direct, err = pingRTT(ctx, direct.store); err == nil {
		px.ping, err = pingRTT(ctx, env.store)
	}
	if err != nil {
		px.close()
		return nil, "", fmt.Errorf("PING: %w", err)
	}
	return px, "", nil
}

// close closes the clients, then the proxy.
func (px *proxiedRedis) close() {
	px.env.close()
	px.proxy.Close()
}

// brief is describe in a few words, for the chart's machine line.
func (px *proxiedRedis) brief(rtt time.Duration) string {
	return fmt.Sprintf("+%v RTT via a proxy (PING %v)", rtt, px.ping.Round(time.Microsecond))
}

// describe says what the proxied columns measure, for the header.
func (px *proxiedRedis) describe(rtt time.Duration) string {
	return fmt.Sprintf("Redis +%v RTT columns: every Redis row again, its clients connected to an in-process TCP proxy on 127.0.0.1 (internal/latencyproxy) in front of the same server, delaying each direction by %v; PING round trip %v through the proxy, %v direct (median of %d).",
		rtt, px.proxy.Delay(), px.ping.Round(time.Microsecond), px.direct.Round(time.Microsecond), pings)
}

// pingRTT returns the median round trip of pings PINGs on s's client.
func pingRTT(ctx context.Context, s *redisstore.Store) (time.Duration, error) {
	c := s.Client()
	ds := make([]time.Duration, pings)
	for i := range ds {
		start := time.Now()
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2], nil
}

// printTable prints one scenario's markdown tables: memory, then Redis.
func printTable(w io.Writer, sc scenario, peers []peer, cols []column, res map[[2]int]cellResult) {
	fmt.Fprintf(w, "\n#### Scenario %q: %s requests/s per key, burst %s\n", sc.name, group(int64(sc.limit)), group(int64(sc.limit)))
	for _, remote := range []bool{false, true} {
		var cis []int
		for ci, c := range cols {
			if c.redis == remote {
				cis = append(cis, ci)
			}
		}
		if len(cis) == 0 {
			continue
		}
		printStoreTable(w, peers, cols, cis, remote, res)
	}
}

// tableRow is one library's row of a table: the peer measured in each of
// the table's columns, or -1. A Redis library has two peers of the same
// name, direct and proxied, each measured in its own network's columns.
type tableRow struct {
	peer peer  // the row's first peer (for its name and kind)
	at   []int // per column of the table, an index into peers, or -1
}

// tableRows returns the rows of the table of columns cis, the memory or
// the Redis peers, one per name in the order of peers.
func tableRows(peers []peer, cols []column, cis []int, remote bool) []tableRow {
	var rows []tableRow
	index := map[string]int{}
	for pi, p := range peers {
		if p.redis != remote {
			continue
		}
		ri, ok := index[p.name]
		if !ok {
			ri = len(rows)
			index[p.name] = ri
			at := make([]int, len(cis))
			for i := range at {
				at[i] = -1
			}
			rows = append(rows, tableRow{peer: p, at: at})
		}
		for i, ci := range cis {
			if cols[ci].runs(p) {
				rows[ri].at[i] = pi
			}
		}
	}
	return rows
}

// cell returns the result of row's peer in the table's column i (column
// ci of cols), if measured.
func (row tableRow) cell(i, ci int, res map[[2]int]cellResult) (cellResult, bool) {
	if row.at[i] < 0 {
		return cellResult{}, false
	}
	r, ok := res[[2]int{row.at[i], ci}]
	return r, ok
}

// printStoreTable prints the columns cis of the memory or Redis peers. A
// cell's ratio divides by throttled GCRA's cell in the same column: on the
// same store and, on Redis, through the same network (direct or proxied).
func printStoreTable(w io.Writer, peers []peer, cols []column, cis []int, remote bool, res map[[2]int]cellResult) {
	head := []string{"Library"}
	for _, ci := range cis {
		head = append(head, cols[ci].title+", ns/op", "×")
	}
	oursAt := func(ci int) (cellResult, bool) {
		for pi, p := range peers {
			if p.ours && cols[ci].runs(p) {
				r, ok := res[[2]int{pi, ci}]
				return r, ok
			}
		}
		return cellResult{}, false
	}
	var body [][]string
	var notes []string
	for _, row := range tableRows(peers, cols, cis, remote) {
		p := row.peer
		line := []string{p.name}
		for i, ci := range cis {
			r, ok := row.cell(i, ci, res)
			if !ok {
				line = append(line, "—", "—")
				continue
			}
			v := fmt.Sprintf("%.1f", r.nsPerOp())
			if r.denied > 0 {
				v += fmt.Sprintf(" (%.0f%% denied)", 100*float64(r.denied)/float64(r.ops))
			}
			if r.errors > 0 {
				v += " *"
				notes = append(notes, fmt.Sprintf("\\* %s, %s: %d of %d calls failed (timed, not counted as denials).", p.name, cols[ci].title, r.errors, r.ops))
			}
			ratio := "—"
			if o, ok := oursAt(ci); ok && !p.ref {
				ratio = fmt.Sprintf("%.2f×", r.nsPerOp()/o.nsPerOp())
			}
			line = append(line, v, ratio)
		}
		body = append(body, line)
	}
	fmt.Fprintln(w)
	writeMarkdown(w, head, body)
	for _, n := range notes {
		fmt.Fprintln(w, "\n"+n)
	}
}

// writeMarkdown prints an aligned markdown table.
func writeMarkdown(w io.Writer, head []string, body [][]string) {
	width := make([]int, len(head))
	for _, line := range append([][]string{head}, body...) {
		for i, v := range line {
			width[i] = max(width[i], len([]rune(v)))
		}
	}
	var b strings.Builder
	put := func(line []string) {
		b.WriteString("|")
		for i, v := range line {
			fmt.Fprintf(&b, " %s%s |", v, strings.Repeat(" ", width[i]-len([]rune(v))))
		}
		b.WriteString("\n")
	}
	put(head)
	b.WriteString("|")
	for _, n := range width {
		b.WriteString(strings.Repeat("-", n+2) + "|")
	}
	b.WriteString("\n")
	for _, line := range body {
		put(line)
	}
	io.WriteString(w, b.String())
}

// group formats n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
