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
// serially and from -goroutines goroutines. Every cell makes the same
// number of calls (-n, or -redis-n on Redis); ns/op is elapsed wall time
// over calls, so in parallel cells it is the inverse of total throughput.
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
//     redisstore.FromURL (Redis); its quota is PerSec(L), burst L. Two
//     more Redis rows: GCRA on a store coalescing concurrent calls
//     (redisstore.WithCoalescing(redisstore.DefaultCoalescing)), and GCRA
//     with the limiter's deny cache (WithDenyCache(time.Second)), which
//     in the "deny" scenario answers most calls from memory.
//
// Reference rows, not limiters: the mutex-guarded map[string]int64
// increment (memory) and INCRBY on rueidis and on go-redis (Redis).
//
// Flags:
//
//	-n N          calls per memory cell and pass (default 200000)
//	-redis-n N    calls per Redis cell and pass (default 10000)
//	-count N      passes over every cell (default 3); each cell reports the
//	              pass with the median ns/op
//	-goroutines N goroutines of the parallel columns (default 16)
//	-keys N       distinct keys of the many-key columns (default 100000)
//	-scenario S   "allow", "deny" or "both" (default)
//	-redis URL    also run the Redis workloads against URL
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
}

func run(args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&c.n, "n", 200_000, "calls per memory cell and pass")
	fs.Int64Var(&c.redisN, "redis-n", 10_000, "calls per Redis cell and pass")
	fs.IntVar(&c.count, "count", 3, "passes over every cell; each cell reports its median run")
	fs.IntVar(&c.goroutines, "goroutines", 16, "goroutines of the parallel columns")
	fs.IntVar(&c.keys, "keys", 100_000, "distinct keys of the many-key columns")
	fs.StringVar(&c.scenario, "scenario", "both", `"allow" (1e9/s), "deny" (1000/s) or "both"`)
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL; adds the Redis workloads")
	fs.StringVar(&c.jsonPath, "json", "", `also write the "allow" scenario (or the one -scenario picks) to this file, in the schema of docs/bench/peers.json`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || c.n < 1 || c.redisN < 1 || c.count < 1 || c.goroutines < 1 || c.keys < 1 {
		return errors.New("bad flags: -n, -redis-n, -count, -goroutines and -keys must be at least 1, and no arguments")
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
		{"1 key, serial", false, 1, false},
		{fmt.Sprintf("1 key, %d goroutines", c.goroutines), false, c.goroutines, false},
		{fmt.Sprintf("%s keys, serial", group(int64(c.keys))), true, 1, false},
		{fmt.Sprintf("%s keys, %d goroutines", group(int64(c.keys)), c.goroutines), true, c.goroutines, false},
	}
	peers := memoryPeers()
	var env redisEnv
	if c.redisURL != "" {
		var err error
		if env, err = openRedis(c.redisURL); err != nil {
			return err
		}
		defer env.close()
		peers = append(peers, env.peers()...)
		cols = append(cols,
			column{"Redis 1 key, serial", false, 1, true},
			column{fmt.Sprintf("Redis 1 key, %d goroutines", c.goroutines), false, c.goroutines, true})
	}

	fmt.Fprintf(stdout, "Go %s, %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if env.version != "" {
		fmt.Fprintf(stdout, ", Redis %s", env.version)
	}
	fmt.Fprintf(stdout, "; %s calls per memory cell", group(c.n))
	if env.version != "" {
		fmt.Fprintf(stdout, ", %s per Redis cell", group(c.redisN))
	}
	fmt.Fprintf(stdout, ", median of %d passes", c.count)
	fmt.Fprintf(stdout, ". ns/op = wall time / calls (in parallel cells, the inverse of total throughput); × = ns/op ÷ throttled GCRA's on the same store (above 1: the peer is slower).\n")

	for _, sc := range scs {
		runs := map[[2]int][]cellResult{}
		for pass := 1; pass <= c.count; pass++ {
			for ci, col := range cols {
				for pi, p := range peers {
					if p.redis != col.redis || (p.oneKeyOnly && col.many) {
						continue
					}
					d, closeFn, err := p.make(sc)
					if err != nil {
						return fmt.Errorf("%s: %w", p.name, err)
					}
					ks := keys[:1]
					n := c.n
					if col.redis {
						n = c.redisN
					}
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
			if err := writeJSON(c.jsonPath, args, env.version, sc, peers, cols, res); err != nil {
				return err
			}
		}
	}
	return nil
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

// redisEnv holds the Redis clients of a run.
type redisEnv struct {
	store   *redisstore.Store
	grouped *redisstore.Store // the same server, coalescing on
	rdb     *redis.Client
	version string
}

func openRedis(url string) (redisEnv, error) {
	s, err := redisstore.FromURL(url)
	if err != nil {
		return redisEnv{}, err
	}
	grouped, err := redisstore.FromURL(url, redisstore.WithCoalescing(redisstore.DefaultCoalescing))
	if err != nil {
		s.Close()
		return redisEnv{}, err
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		s.Close()
		grouped.Close()
		return redisEnv{}, err
	}
	e := redisEnv{store: s, grouped: grouped, rdb: redis.NewClient(opt)}
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

func (e redisEnv) close() {
	ctx := context.Background()
	e.rdb.Del(ctx, "peers:incr:rueidis", "peers:incr:goredis", "rate:/ping")
	for _, a := range []throttled.Algorithm{throttled.GCRA, throttled.TokenBucket} {
		for _, sc := range scenarios {
			if t, err := throttled.New(throttled.WithAlgorithm(a), throttled.WithQuota(throttled.PerSec(int64(sc.limit))), throttled.WithStore(e.store)); err == nil {
				t.Reset(ctx, "/ping")
			}
		}
	}
	e.rdb.Close()
	e.store.Close()
	e.grouped.Close()
}

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
	return []peer{
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
		{name: "throttled GCRA, coalescing on (WithCoalescing(64))", redis: true, make: oursRedis(throttled.GCRA, e.grouped)},
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

// printStoreTable prints the columns cis of the memory or Redis peers.
func printStoreTable(w io.Writer, peers []peer, cols []column, cis []int, remote bool, res map[[2]int]cellResult) {
	head := []string{"Library"}
	for _, ci := range cis {
		head = append(head, cols[ci].title+", ns/op", "×")
	}
	oursAt := func(ci int) (cellResult, bool) {
		for pi, p := range peers {
			if p.ours && p.redis == remote {
				r, ok := res[[2]int{pi, ci}]
				return r, ok
			}
		}
		return cellResult{}, false
	}
	var body [][]string
	var notes []string
	for pi, p := range peers {
		if p.redis != remote {
			continue
		}
		line := []string{p.name}
		for _, ci := range cis {
			r, ok := res[[2]int{pi, ci}]
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
