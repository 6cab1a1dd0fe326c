package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// config is the parsed command line.
type config struct {
	n          int64
	redisN     int64
	count      int
	duration   time.Duration
	goroutines int
	keys       int
	quota      algo.Quota
	quotaText  string
	redisURL   string
	api        string
	json       bool
	rtt        time.Duration // the round trip the batch table's proxy adds
	batch      int           // keys of the batch table
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("throttled-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&c.n, "n", 500_000, "operations per memory cell")
	fs.Int64Var(&c.redisN, "redis-n", 10_000, "operations per Redis cell")
	fs.IntVar(&c.count, "count", 3, "passes over every cell; each cell reports its median run")
	fs.DurationVar(&c.duration, "duration", 0, "run each cell for about this long instead of -n/-redis-n (0: use the counts)")
	fs.IntVar(&c.goroutines, "goroutines", 16, "goroutines of the parallel columns")
	fs.IntVar(&c.keys, "keys", 100_000, "distinct keys of the many-key rows")
	fs.StringVar(&c.quotaText, "quota", "1000000000/s", `quota of every limiter ("1000/s" is throttled-py's, mostly denied)`)
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL; adds the Redis columns")
	fs.StringVar(&c.api, "api", "limiter", `"limiter" (throttled.Limiter.Limit) or "store" (the store's Decide)`)
	fs.BoolVar(&c.json, "json", false, "print one JSON object instead of tables")
	fs.DurationVar(&c.rtt, "rtt", 200*time.Microsecond, "round trip a TCP proxy adds for the batch table's second row (0: no proxy row)")
	fs.IntVar(&c.batch, "batch", 1000, "keys of the batch table (LimitAll against as many Limit calls; 0: no batch table)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.n < 1 || c.redisN < 1 || c.count < 1:
		return c, errors.New("-n, -redis-n and -count must be at least 1")
	case c.duration < 0:
		return c, errors.New("-duration must not be negative")
	case c.goroutines < 1:
		return c, errors.New("-goroutines must be at least 1")
	case c.keys < 1:
		return c, errors.New("-keys must be at least 1")
	case c.rtt < 0:
		return c, errors.New("-rtt must not be negative")
	case c.batch < 0:
		return c, errors.New("-batch must not be negative")
	case c.api != "limiter" && c.api != "store":
		return c, fmt.Errorf(`-api is %q, want "limiter" or "store"`, c.api)
	}
	q, err := throttled.ParseQuota(c.quotaText)
	if err != nil {
		return c, err
	}
	for _, a := range algo.Algorithms {
		if _, err := algo.Compile(a, q); err != nil {
			return c, fmt.Errorf("-quota %s: %w", c.quotaText, err)
		}
	}
	c.quota = q
	return c, nil
}

// Table and column names, shared by the tables and the JSON cells.
const (
	tableOneKey = "one_key"      // throttled-py's table
	tableMany   = "many_keys"    // memory, -keys keys
	tableCoarse = "coarse_clock" // memory with a coarse clock

	colMemSerial   = "memory_serial"
	colMemParallel = "memory_parallel"
	colRedSerial   = "redis_serial"
	colRedParallel = "redis_parallel"
	colOneSerial   = "one_key_serial"
	colOneParallel = "one_key_parallel"
	colManySerial  = "many_keys_serial"
	colManyPar     = "many_keys_parallel"

	rowBaseline = "baseline"
)

// rows are the row names in table order: the baseline, then the five
// algorithms by their throttled-py names.
func rows() []string {
	r := []string{rowBaseline}
	for _, a := range algo.Algorithms {
		r = append(r, a.String())
	}
	return r
}

// decideFunc decides one request of cost 1 for key.
type decideFunc func(ctx context.Context, key string) (limited bool, err error)

// subject is one row's code under test in one cell, with what to release
// after the cell.
type subject struct {
	decide decideFunc
	close  func()
}

// mutexMap is the memory baseline: throttled-py's dict[key] += 1 under a lock.
type mutexMap struct {
	mu sync.Mutex
	m  map[string]int64
}

func (mm *mutexMap) incr(_ context.Context, key string) (bool, error) {
	mm.mu.Lock()
	mm.m[key]++
	mm.mu.Unlock()
	return false, nil
}

// memorySubject returns the subject of row on a fresh memory store, with a
// coarse clock when coarse is set.
func memorySubject(c *config, row string, coarse bool) (subject, error) {
	if row == rowBaseline {
		mm := &mutexMap{m: make(map[string]int64)}
		return subject{decide: mm.incr, close: func() {}}, nil
	}
	var opts []memstore.Option
	var cc *store.CoarseClock
	if coarse {
		cc = store.NewCoarseClock(time.Millisecond)
		opts = append(opts, memstore.WithClock(cc))
	}
	closeAll := func() {
		if cc != nil {
			cc.Close()
		}
	}
	s, err := memstore.New(opts...)
	if err != nil {
		closeAll()
		return subject{}, err
	}
	d, err := decider(c, row, s)
	if err != nil {
		closeAll()
		return subject{}, err
	}
	return subject{decide: d, close: closeAll}, nil
}

// decider returns row's decision function on store s through the API
// chosen with -api.
func decider(c *config, row string, s throttled.Store) (decideFunc, error) {
	a, err := throttled.ParseAlgorithm(row)
	if err != nil {
		return nil, err
	}
	if c.api == "store" {
		p, err := store.NewPolicy(c.quota.WithAlgorithm(a))
		if err != nil {
			return nil, err
		}
		ps := []*store.Policy{p}
		return func(ctx context.Context, key string) (bool, error) {
			d, err := s.Decide(ctx, key, ps, 1, nil)
			return d.Limited, err
		}, nil
	}
	t, err := throttled.New(throttled.WithAlgorithm(a), throttled.WithQuota(c.quota), throttled.WithStore(s))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, key string) (bool, error) {
		r, err := t.Limit(ctx, key, 1)
		return r.Limited, err
	}, nil
}

// workload is how a cell drives its subject.
type workload struct {
	keys       []string
	goroutines int
	ops        int64 // 0: calibrate to the configured duration
	warmup     int64 // calls before timing (every key is also touched once)
}

// measurement is a cell's raw result.
type measurement struct {
	ops     int64
	elapsed time.Duration
	denied  int64
}

func (m measurement) nsPerOp() float64 {
	return float64(m.elapsed.Nanoseconds()) / float64(max(m.ops, 1))
}

// measure runs w on d: warm-up, then (with w.ops 0) a probe that sizes the
// timed run to about target, then the timed run.
func measure(ctx context.Context, d decideFunc, w workload, target time.Duration) (measurement, error) {
	if len(w.keys) > 1 { // insert every key before timing
		for _, k := range w.keys {
			if _, err := d(ctx, k); err != nil {
				return measurement{}, err
			}
		}
	}
	if w.warmup > 0 {
		if _, err := timed(ctx, d, w.keys, 1, w.warmup); err != nil {
			return measurement{}, err
		}
	}
	ops := w.ops
	if ops == 0 {
		probe := int64(1000)
		m, err := timed(ctx, d, w.keys, w.goroutines, probe)
		if err != nil {
			return m, err
		}
		for m.elapsed < min(target/10, 20*time.Millisecond) && probe < 1<<30 {
			probe *= 10
			if m, err = timed(ctx, d, w.keys, w.goroutines, probe); err != nil {
				return m, err
			}
		}
		ops = max(int64(float64(probe)*float64(target)/float64(max(m.elapsed, 1))), int64(w.goroutines))
	}
	runtime.GC()
	return timed(ctx, d, w.keys, w.goroutines, ops)
}

// timed makes ops calls of d spread over goroutines goroutines, cycling
// through keys (each goroutine starting at its own offset), and times them
// from a common start.
func timed(ctx context.Context, d decideFunc, keys []string, goroutines int, ops int64) (measurement, error) {
	if goroutines == 1 {
		start := time.Now()
		denied, err := loop(ctx, d, keys, 0, ops)
		return measurement{ops: ops, elapsed: time.Since(start), denied: denied}, err
	}
	var (
		wg, ready sync.WaitGroup
		mu        sync.Mutex
		denied    int64
		firstErr  error
	)
	begin := make(chan struct{})
	for g := range goroutines {
		n := ops / int64(goroutines)
		if int64(g) < ops%int64(goroutines) {
			n++
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-begin
			dn, err := loop(ctx, d, keys, g*len(keys)/goroutines, n)
			mu.Lock()
			denied += dn
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	wg.Wait()
	return measurement{ops: ops, elapsed: time.Since(start), denied: denied}, firstErr
}

// loop makes n calls of d, cycling through keys from index i.
func loop(ctx context.Context, d decideFunc, keys []string, i int, n int64) (denied int64, err error) {
	for range n {
		limited, err := d(ctx, keys[i])
		if err != nil {
			return denied, err
		}
		if limited {
			denied++
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
	return denied, nil
}

// manyKeys returns n distinct keys.
func manyKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	return keys
}

// oneKey is throttled-py's benchmark key.
var oneKey = []string{"/ping"}

// cellKey names a cell.
type cellKey struct{ table, row, column string }

// bench runs every cell and collects the report.
type bench struct {
	c        config
	progress io.Writer
	rep      *report
	done     int
	total    int
	pass     int
	runs     map[cellKey][]measurement
	shape    map[cellKey][2]int // keys, goroutines
	order    []cellKey
	server   map[string]*serverStat

	batch      map[string]*batchRuns // by network
	batchOrder []string
}

func (b *bench) step(k cellKey, w workload, s subject, target time.Duration) error {
	defer s.close()
	b.done++
	fmt.Fprintf(b.progress, "[%d/%d] pass %d/%d: %s %s %s ... ", b.done, b.total, b.pass, b.c.count, k.table, k.column, k.row)
	m, err := measure(context.Background(), s.decide, w, target)
	if err != nil {
		fmt.Fprintln(b.progress, "error")
		return fmt.Errorf("%s %s %s: %w", k.table, k.column, k.row, err)
	}
	cl := b.record(k, len(w.keys), w.goroutines, m)
	fmt.Fprintf(b.progress, "%s req/s, %s µs/op\n", group(cl.Throughput), latency(cl.LatencyUS))
	return nil
}

// record adds m to cell k's runs, and returns it as a cell.
func (b *bench) record(k cellKey, keys, goroutines int, m measurement) cell {
	if _, ok := b.runs[k]; !ok {
		b.order = append(b.order, k)
		b.shape[k] = [2]int{keys, goroutines}
	}
	b.runs[k] = append(b.runs[k], m)
	return newCell(k.table, k.row, k.column, keys, goroutines, m)
}

// memColumn is one memory column of the tables.
type memColumn struct {
	table, col string
	keys       []string
	goroutines int
	coarse     bool
}

// run is the command: it parses args, runs every cell -count times (whole
// passes, so that each cell's runs are spread over the run), and prints the
// report, each cell the run with the median time per op, to stdout and
// progress to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{
		c: c, progress: stderr, rep: newReport(&c),
		runs: map[cellKey][]measurement{}, shape: map[cellKey][2]int{}, server: map[string]*serverStat{},
		batch: map[string]*batchRuns{},
	}
	many := manyKeys(c.keys)
	memCols := []memColumn{
		{tableOneKey, colMemSerial, oneKey, 1, false},
		{tableOneKey, colMemParallel, oneKey, c.goroutines, false},
		{tableMany, colManySerial, many, 1, false},
		{tableMany, colManyPar, many, c.goroutines, false},
		{tableCoarse, colOneSerial, oneKey, 1, true},
		{tableCoarse, colOneParallel, oneKey, c.goroutines, true},
		{tableCoarse, colManySerial, many, 1, true},
		{tableCoarse, colManyPar, many, c.goroutines, true},
	}
	var rs *redisBench
	if c.redisURL != "" {
		if rs, err = openRedis(&c); err != nil {
			return err
		}
		defer rs.close()
		b.rep.Env.Redis = rs.version
		b.rep.Env.RedisURL = redact(c.redisURL)
		if c.batch > 0 {
			if b.rep.BatchNote, err = rs.openBatch(); err != nil {
				return err
			}
		}
	}
	nets := -1 // no Redis
	if rs != nil {
		nets = len(rs.nets)
	}
	b.total = progressSteps(len(memCols), nets, c.count)
	fmt.Fprintf(stderr, "throttled-bench: %s %s/%s, %d CPUs; quota %s; api %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), c.quota, c.api)

	for b.pass = 1; b.pass <= c.count; b.pass++ {
		if err := b.memoryPass(memCols); err != nil {
			return err
		}
		if rs != nil {
			if err := b.redisPass(rs); err != nil {
				return err
			}
			if err := b.batchPass(rs); err != nil {
				return err
			}
		}
	}
	for _, k := range b.order {
		sh := b.shape[k]
		cl := newCell(k.table, k.row, k.column, sh[0], sh[1], median(b.runs[k]))
		for _, m := range b.runs[k] {
			cl.Runs = append(cl.Runs, m.nsPerOp())
		}
		b.rep.Cells = append(b.rep.Cells, cl)
	}
	if rs != nil {
		if err := b.floorPairs(rs.serial); err != nil {
			return err
		}
	}
	for _, row := range redisRows() {
		if st := b.server[row]; st != nil {
			if st.Calls > 0 {
				st.USecPerCall = float64(st.usec) / float64(st.Calls)
			}
			if st.ParallelDecisions > 0 {
				st.ParallelUSecPerDecision = float64(st.usec) / float64(st.ParallelDecisions)
			}
		}
	}
	// The floor's row comes last, after the rows of earlier versions.
	for _, row := range append(rows(), rowFloor) {
		if st := b.server[row]; st != nil {
			if fl := b.server[rowFloor]; fl != nil && fl.ParallelUSecPerDecision > 0 {
				st.ParallelFloorRatio = st.ParallelUSecPerDecision / fl.ParallelUSecPerDecision
			}
			b.rep.Server = append(b.rep.Server, *st)
		}
	}
	for _, name := range b.batchOrder {
		b.rep.Batch = append(b.rep.Batch, b.batch[name].row(c.batch))
	}
	b.rep.finish()
	if c.json {
		return b.rep.writeJSON(stdout)
	}
	return b.rep.writeText(stdout)
}

// memoryPass measures every memory cell once.
func (b *bench) memoryPass(memCols []memColumn) error {
	c := &b.c
	for _, mc := range memCols {
		for _, row := range rows() {
			if mc.table == tableCoarse && row == rowBaseline {
				// The baseline reads no clock: the coarse table reuses the
				// plain memory baseline of the same workload.
				continue
			}
			s, err := memorySubject(c, row, mc.coarse)
			if err != nil {
				return err
			}
			w := workload{keys: mc.keys, goroutines: mc.goroutines, ops: c.n}
			if len(mc.keys) == 1 {
				w.warmup = min(c.n/10, 100_000)
			}
			if c.duration > 0 {
				w.ops = 0
			}
			if err := b.step(cellKey{mc.table, row, mc.col}, w, s, c.duration); err != nil {
				return err
			}
		}
	}
	return nil
}

// redisRows are the rows of the Redis pass in the order measured: the
// baseline, the floor script, then the algorithms.
func redisRows() []string {
	r := rows()
	return append([]string{r[0], rowFloor}, r[1:]...)
}

// redisPass measures every Redis cell once: the serial column in one
// step, every row interleaved (serialPass, on rs.serial), then each row's
// parallel cell on rs, resetting the server's statistics before each and
// adding them up, per row, after it (the store may coalesce a parallel
// cell's concurrent decisions into fewer calls). The serial server time a
// call is measured in the paired rounds (floorPairs).
func (b *bench) redisPass(rs *redisBench) error {
	c := &b.c
	if err := b.serialPass(rs.serial); err != nil {
		return err
	}
	for _, row := range redisRows() {
		if err := rs.collectGarbage(); err != nil {
			return err
		}
		if err := rs.resetStats(); err != nil {
			return err
		}
		s, err := rs.subject(row)
		if err != nil {
			return err
		}
		var decisions atomic.Int64 // what the server's time is shared by
		decide := s.decide
		s.decide = func(ctx context.Context, key string) (bool, error) {
			decisions.Add(1)
			return decide(ctx, key)
		}
		w := workload{keys: oneKey, goroutines: c.goroutines, ops: c.redisN, warmup: min(c.redisN/10, 200)}
		if c.duration > 0 {
			w.ops = 0
		}
		if err := b.step(cellKey{tableOneKey, row, colRedParallel}, w, s, c.duration); err != nil {
			return err
		}
		st, err := rs.stats(row)
		if err != nil {
			return err
		}
		acc := b.server[row]
		if acc == nil {
			acc = &serverStat{Row: st.Row, Command: st.Command}
			b.server[row] = acc
		}
		acc.Calls += st.Calls
		acc.EvalCalls += st.EvalCalls
		acc.usec += st.usec
		acc.ParallelDecisions += decisions.Load()
	}
	return nil
}

// serialPass measures the serial Redis cell of every row in one step, on
// rs: after a warm-up, rounds in which every row makes one call, the order
// rotating from round to round, each call timed alone; a row's cell is the
// time of its calls, summed. Rows measured one after another, in blocks of
// a fraction of a second, see different states of the host (a VM's
// neighbours, the server's caches) and their ratios to the baseline moved
// by a fifth from run to run; interleaved, every row sees the same states
// (as bench/peers measures its serial Redis columns). With -duration, a
// probe of 100 rounds sizes the run so that each row's calls take about
// that long.
func (b *bench) serialPass(rs *redisBench) error {
	ctx := context.Background()
	c := &b.c
	rows := redisRows()
	subs := make([]subject, 0, len(rows))
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	for _, row := range rows {
		s, err := rs.subject(row)
		if err != nil {
			return err
		}
		subs = append(subs, s)
	}
	b.done++
	fmt.Fprintf(b.progress, "[%d/%d] pass %d/%d: %s %s, the rows interleaved ... ", b.done, b.total, b.pass, c.count, tableOneKey, colRedSerial)
	elapsed, denied := make([]time.Duration, len(rows)), make([]int64, len(rows))
	rounds := func(n int64) error {
		for r := range n {
			for j := range subs {
				i := (j + int(r)) % len(subs)
				start := time.Now()
				limited, err := subs[i].decide(ctx, oneKey[0])
				elapsed[i] += time.Since(start)
				if err != nil {
					fmt.Fprintln(b.progress, "error")
					return fmt.Errorf("%s %s %s: %w", tableOneKey, colRedSerial, rows[i], err)
				}
				if limited {
					denied[i]++
				}
			}
		}
		return nil
	}
	n := c.redisN
	if err := rounds(min(n/10, 200)); err != nil { // warm-up
		return err
	}
	if c.duration > 0 {
		clear(elapsed)
		const probe = 100
		if err := rounds(probe); err != nil {
			return err
		}
		perCall := max(slices.Max(elapsed)/probe, 1)
		n = max(int64(c.duration/perCall), 1)
	}
	clear(elapsed)
	clear(denied)
	runtime.GC()
	if err := rounds(n); err != nil {
		return err
	}
	var lat []string
	for i, row := range rows {
		cl := b.record(cellKey{tableOneKey, row, colRedSerial}, 1, 1, measurement{ops: n, elapsed: elapsed[i], denied: denied[i]})
		lat = append(lat, latency(cl.LatencyUS))
	}
	fmt.Fprintf(b.progress, "µs/op %s\n", strings.Join(lat, ", "))
	return nil
}

// median returns the run with the median time per op (the faster of the
// two middle ones for an even count).
func median(ms []measurement) measurement {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measurement) int { return cmp.Compare(a.nsPerOp(), b.nsPerOp()) })
	return s[(len(s)-1)/2]
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the three load averages of /proc/loadavg, or "".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// redact hides a URL's password.
func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "***" + u[at:]
		}
	}
	return u
}

// progressSteps is how many steps the progress lines count: every memory
// cell of every pass (the coarse table measures no baseline), and with
// Redis (nets ≥ 0: the batch table's networks) the serial Redis cells (one
// step), the parallel cell of every row and both batch runs of every
// network in every pass, then the paired floor rounds (pairedRounds).
func progressSteps(memCols, nets, count int) int {
	n := memCols*len(rows()) - 4
	if nets >= 0 {
		n += 1 + len(redisRows()) + 2*nets
	}
	n *= count
	if nets >= 0 {
		n += pairedRounds(count)
	}
	return n
}
