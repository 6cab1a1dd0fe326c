package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// report is everything a run measured; -json prints it as is.
type report struct {
	Env    env          `json:"env"`
	Config reportConfig `json:"config"`
	Cells  []cell       `json:"cells"`
	Server []serverStat `json:"redis_server,omitempty"`
	// Batch is the batch table: LimitAll against as many Limit calls, on
	// loopback and through the latency proxy; BatchNote says why a row is
	// missing.
	Batch     []batchRow `json:"batch,omitempty"`
	BatchNote string     `json:"batch_note,omitempty"`
}

type env struct {
	Go         string `json:"go"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Redis      string `json:"redis_version,omitempty"`
	RedisURL   string `json:"redis_url,omitempty"`
	Time       string `json:"time"`
	// LoadStart and LoadEnd are /proc/loadavg's 1, 5 and 15 minute load
	// averages before and after the run: other work on the machine skews
	// the numbers.
	LoadStart string `json:"loadavg_start,omitempty"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
}

type reportConfig struct {
	N          int64  `json:"n"`
	Count      int    `json:"count"`
	RedisN     int64  `json:"redis_n"`
	Duration   string `json:"duration,omitempty"`
	Goroutines int    `json:"goroutines"`
	Keys       int    `json:"keys"`
	Quota      string `json:"quota"`
	API        string `json:"api"`
	RTT        string `json:"rtt,omitempty"`   // -rtt, with -redis
	Batch      int    `json:"batch,omitempty"` // -batch, with -redis
}

// cell is one measurement. Ratio is its time per op over the baseline's in
// the same column (the coarse-clock table's baseline is the plain memory
// baseline of the same workload).
type cell struct {
	Table      string  `json:"table"`
	Row        string  `json:"row"`
	Column     string  `json:"column"`
	Keys       int     `json:"keys"`
	Goroutines int     `json:"goroutines"`
	Ops        int64   `json:"ops"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput_per_sec"`
	LatencyUS  float64 `json:"latency_us_per_op"`
	NsPerOp    float64 `json:"ns_per_op"` // elapsed/ops: the inverse of throughput
	Denied     int64   `json:"denied"`
	Ratio      float64 `json:"ratio_vs_baseline"`
	// Runs are the ns/op of every pass (-count); the cell is the median.
	Runs []float64 `json:"ns_per_op_runs"`
}

// serverStat is the Redis server's time for one row, from INFO
// commandstats (EVALSHA for the floor and the algorithms, INCRBY for the
// baseline).
//
// Serially, one decision a call, it is measured in the paired rounds
// (floorPairs): every row's calls one after the other on a client of its
// own, so that a script's time is compared with the floor's (row "floor",
// listed last) side by side. PairedUSecPerCall is the median over the
// rounds of the row's time per call; PairedFloorRatio the median of its
// time per call over the floor's in the same round, PairedFloorRatios the
// rounds' ratios.
//
// From the goroutines of the parallel cells (CONFIG RESETSTAT before each,
// warm-up included, added up over the passes), where the store may
// coalesce concurrent decisions into fewer calls: Calls, EvalCalls (the
// script's first calls, before the server has it) and USecPerCall count
// calls; ParallelUSecPerDecision is the time over the decisions the
// goroutines made, ParallelFloorRatio that over the floor's (which makes
// one call a decision).
type serverStat struct {
	Row     string `json:"row"`
	Command string `json:"command"`

	PairedUSecPerCall float64   `json:"paired_usec_per_call,omitempty"`
	PairedFloorRatio  float64   `json:"ratio_vs_floor_paired,omitempty"`
	PairedFloorRatios []float64 `json:"ratio_vs_floor_paired_rounds,omitempty"`

	Calls                   int64   `json:"parallel_calls"`
	EvalCalls               int64   `json:"parallel_eval_calls,omitempty"`
	USecPerCall             float64 `json:"parallel_usec_per_call"`
	ParallelDecisions       int64   `json:"parallel_decisions,omitempty"`
	ParallelUSecPerDecision float64 `json:"parallel_usec_per_decision,omitempty"`
	ParallelFloorRatio      float64 `json:"ratio_vs_floor_parallel,omitempty"`

	usec int64
}

// batchRow is one network of the batch table: Keys sequential Limit calls
// and one LimitAll of Keys keys through throttled.Limiter, the pass with
// the median time of each, and their ratio.
type batchRow struct {
	Network    string  `json:"network"`      // "loopback" or "proxy"
	AddedRTTUS float64 `json:"added_rtt_us"` // the round trip the proxy adds (-rtt); 0 on loopback
	PingRTTUS  float64 `json:"ping_rtt_us"`  // median PING round trip through this network
	Keys       int     `json:"keys"`
	Algorithm  string  `json:"algorithm"`
	LimitMS    float64 `json:"limit_ms"`     // Keys sequential Limit calls
	LimitAllMS float64 `json:"limit_all_ms"` // one LimitAll of Keys requests
	Ratio      float64 `json:"ratio"`        // LimitMS / LimitAllMS
	// The ms of every pass (-count).
	LimitRuns    []float64 `json:"limit_ms_runs"`
	LimitAllRuns []float64 `json:"limit_all_ms_runs"`
}

func newReport(c *config) *report {
	r := &report{
		Env: env{
			Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUModel: cpuModel(),
			Time: time.Now().UTC().Format(time.RFC3339), LoadStart: loadAvg(),
		},
		Config: reportConfig{
			N: c.n, Count: c.count, RedisN: c.redisN, Goroutines: c.goroutines, Keys: c.keys,
			Quota: c.quota.String(), API: c.api,
		},
		Cells: []cell{},
	}
	if c.duration > 0 {
		r.Config.Duration = c.duration.String()
	}
	if c.redisURL != "" {
		r.Config.RTT, r.Config.Batch = c.rtt.String(), c.batch
	}
	return r
}

func newCell(table, row, column string, keys, goroutines int, m measurement) cell {
	sec := max(m.elapsed.Seconds(), 1e-9)
	return cell{
		Table: table, Row: row, Column: column, Keys: keys, Goroutines: goroutines,
		Ops: m.ops, Seconds: sec, Denied: m.denied,
		Throughput: float64(m.ops) / sec,
		NsPerOp:    m.nsPerOp(),
		LatencyUS:  sec * 1e6 * float64(goroutines) / float64(m.ops),
	}
}

// baselineOf returns where the baseline of a cell of table/column lives.
func baselineOf(table, column string) (string, string) {
	if table != tableCoarse {
		return table, column
	}
	switch column {
	case colOneSerial:
		return tableOneKey, colMemSerial
	case colOneParallel:
		return tableOneKey, colMemParallel
	}
	return tableMany, column
}

func (r *report) find(table, row, column string) *cell {
	for i := range r.Cells {
		if c := &r.Cells[i]; c.Table == table && c.Row == row && c.Column == column {
			return c
		}
	}
	return nil
}

// finish fills in the ratios and the load at the end.
func (r *report) finish() {
	r.Env.LoadEnd = loadAvg()
	for i := range r.Cells {
		c := &r.Cells[i]
		bt, bc := baselineOf(c.Table, c.Column)
		if base := r.find(bt, rowBaseline, bc); base != nil && base.NsPerOp > 0 {
			c.Ratio = c.NsPerOp / base.NsPerOp
		}
	}
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// displayName is a row's label in the tables, as in throttled-py's README.
func displayName(row string) string {
	switch row {
	case rowBaseline:
		return "**Baseline** *[1]*"
	case "leaking_bucket":
		return "Leaky Bucket"
	case "gcra":
		return "GCRA"
	}
	words := strings.Split(row, "_")
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// column is one measured column of a printed table.
type column struct {
	title string
	table string
	col   string
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	e, c := r.Env, r.Config
	fmt.Fprintf(&b, "### Test environment\n\n")
	fmt.Fprintf(&b, "- **Go**: %s, %s/%s, %d CPUs (GOMAXPROCS %d)", e.Go, e.GOOS, e.GOARCH, e.CPUs, e.GOMAXPROCS)
	if e.CPUModel != "" {
		fmt.Fprintf(&b, ", %s", e.CPUModel)
	}
	b.WriteString("\n")
	if e.LoadStart != "" {
		fmt.Fprintf(&b, "- **Load average** (1/5/15 min): %s at the start, %s at the end\n", e.LoadStart, e.LoadEnd)
	}
	if e.Redis != "" {
		fmt.Fprintf(&b, "- **Redis**: %s at %s (same host, one rueidis client)\n", e.Redis, e.RedisURL)
	}
	fmt.Fprintf(&b, "- **Quota**: %s for every algorithm; %s\n", c.Quota, r.deniedSummary())
	ops := fmt.Sprintf("%s per memory cell", group(float64(c.N)))
	if e.Redis != "" {
		ops += fmt.Sprintf(", %s per Redis cell", group(float64(c.RedisN)))
	}
	if c.Duration != "" {
		ops = "about " + c.Duration + " per cell"
	}
	ops += fmt.Sprintf(", median of %d passes", c.Count)
	api := "`throttled.Limiter.Limit(ctx, key, 1)`"
	if c.API == "store" {
		api = "the store's `Decide` with precompiled params"
	}
	fmt.Fprintf(&b, "- **Run**: %s; parallel columns use %d goroutines; called: %s\n\n", ops, c.Goroutines, api)
	fmt.Fprintf(&b, "Throughput in req/s / latency in µs/op; × is the time per op relative to the baseline of the same column (lower is better).\n\n")

	g := c.Goroutines
	one := []column{
		{"In-Memory (serial)", tableOneKey, colMemSerial},
		{fmt.Sprintf("In-Memory (%d goroutines)", g), tableOneKey, colMemParallel},
	}
	if e.Redis != "" {
		one = append(one,
			column{"Redis (serial)", tableOneKey, colRedSerial},
			column{fmt.Sprintf("Redis (%d goroutines)", g), tableOneKey, colRedParallel})
	}
	fmt.Fprintf(&b, "#### One key\n\n")
	r.table(&b, one, e.Redis != "", false)
	if r.serverStat(rowFloor) != nil {
		fmt.Fprintf(&b, "\n#### Redis server time against the floor\n\n")
		r.floorTable(&b)
	}
	if len(r.Batch) > 0 {
		fmt.Fprintf(&b, "\n#### Batches: `LimitAll` of %s keys against %s `Limit` calls\n\n", group(float64(r.Batch[0].Keys)), group(float64(r.Batch[0].Keys)))
		r.batchTable(&b)
	}
	fmt.Fprintf(&b, "\n#### In-Memory, %s keys\n\n", group(float64(c.Keys)))
	r.table(&b, []column{
		{"serial", tableMany, colManySerial},
		{fmt.Sprintf("%d goroutines", g), tableMany, colManyPar},
	}, false, false)
	fmt.Fprintf(&b, "\n#### In-Memory, coarse clock (1 ms)\n\n")
	r.table(&b, []column{
		{"1 key, serial", tableCoarse, colOneSerial},
		{fmt.Sprintf("1 key, %d goroutines", g), tableCoarse, colOneParallel},
		{fmt.Sprintf("%s keys, serial", group(float64(c.Keys))), tableCoarse, colManySerial},
		{fmt.Sprintf("%s keys, %d goroutines", group(float64(c.Keys)), g), tableCoarse, colManyPar},
	}, false, true)
	b.WriteString("\n")
	b.WriteString("* *[1] Baseline: In-Memory - `mu.Lock(); m[key]++; mu.Unlock()` on a `map[string]int64`")
	if e.Redis != "" {
		b.WriteString(", Redis - `INCRBY key 1` on the store's rueidis client")
	}
	b.WriteString(".*\n")
	b.WriteString("* *[2] Latency is the mean time of one call as seen by its goroutine: elapsed/ops serially, elapsed×goroutines/ops in parallel.*\n")
	fmt.Fprintf(&b, "* *[3] Many-key cells cycle through %s distinct keys, each inserted before timing; parallel goroutines start at different keys.*\n", group(float64(c.Keys)))
	b.WriteString("* *[4] The coarse-clock rows use `memstore.WithClock(store.NewCoarseClock(time.Millisecond))`; their baseline is the plain memory baseline of the same workload.*\n")
	if e.Redis != "" {
		b.WriteString("* *[5] Redis (serial): the rows measured together, one call of each in turn, each call timed alone. Redis server µs/call: the server's time (`INFO commandstats`) a call of EVALSHA (INCRBY for the baseline), one decision a call, from the paired rounds [8].*\n")
	}
	if st := r.serverStat(rowFloor); st != nil {
		how := "measured side by side in the paired rounds [8]"
		if st.PairedFloorRatio == 0 {
			how = "from paired rounds, which this report has none of"
		}
		fmt.Fprintf(&b, "* *[6] Floor: a script doing only what any decision must, `GET key`, `TIME`, `SET key state PX ttl`, called as the limiter's script is (EVALSHA, one key, one ARGV string); × floor is each script's server µs per call, one decision a call, over the floor's, %s (target: at most 1.25×).*\n", how)
	}
	if len(r.Batch) > 0 {
		fmt.Fprintf(&b, "* *[7] Batches: %s `Limit` calls one after another, then one `LimitAll` of as many keys, through `throttled.Limiter` (%s, every key written before timing); RTT is the median of %d PINGs. The proxy row goes through an in-process TCP proxy delaying every chunk by half the added round trip each way (target: × at least 20 at 200 µs).*\n",
			group(float64(r.Batch[0].Keys)), r.Batch[0].Algorithm, pings)
	}
	if st := r.serverStat(rowFloor); st != nil && st.PairedFloorRatio > 0 {
		fmt.Fprintf(&b, "* *[8] Paired: %d rounds, in each %d serial calls of every row (INCRBY too) one after the other (the order rotating), on a client of their own that never pipelines (so that no client goroutine takes the server's CPU mid-call), server time from `INFO commandstats`; µs/call is the median over the rounds, × floor the median of each script's time per call over the floor's in the same round, so a server whose speed drifts during the run does not tilt the ratio.*\n", len(st.PairedFloorRatios), pairedCalls(r.Config.RedisN))
	}
	if st := r.serverStat(rowFloor); st != nil && st.ParallelDecisions > 0 {
		fmt.Fprintf(&b, "* *[9] Per decision from %d goroutines: the server time of the parallel cell (its warm-up included) over the decisions its goroutines made, where the store coalesces concurrent decisions into fewer calls and the floor makes one call a decision; × floor is that over the floor's.*\n", r.Config.Goroutines)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// serverStat returns the server statistics of row, or nil.
func (r *report) serverStat(row string) *serverStat {
	for i := range r.Server {
		if r.Server[i].Row == row {
			return &r.Server[i]
		}
	}
	return nil
}

// floorTable prints the Redis server time per call of the floor script and
// of each algorithm's, with the ratio to the floor's and the client-side
// Redis cells of the one-key table.
func (r *report) floorTable(b *strings.Builder) {
	head := []string{"Script", "Redis (serial)", fmt.Sprintf("Redis (%d goroutines)", r.Config.Goroutines), "Server µs/call, serial *[8]*", "× floor *[6]*",
		fmt.Sprintf("Server µs/decision, %d goroutines *[9]*", r.Config.Goroutines), "× floor *[9]*"}
	var body [][]string
	for _, row := range append([]string{rowFloor}, rows()[1:]...) {
		name := displayName(row)
		if row == rowFloor {
			name = "**Floor** *[6]*"
		}
		line := []string{name}
		for _, col := range []string{colRedSerial, colRedParallel} {
			v := "—"
			if cl := r.find(tableOneKey, row, col); cl != nil {
				v = group(cl.Throughput) + " / " + latency(cl.LatencyUS)
			}
			line = append(line, v)
		}
		if st := r.serverStat(row); st != nil {
			if st.PairedFloorRatio > 0 {
				line = append(line, fmt.Sprintf("%.2f", st.PairedUSecPerCall), fmt.Sprintf("%.2f×", st.PairedFloorRatio))
			} else {
				line = append(line, "—", "—")
			}
			if st.ParallelDecisions > 0 {
				line = append(line, fmt.Sprintf("%.2f", st.ParallelUSecPerDecision), fmt.Sprintf("%.2f×", st.ParallelFloorRatio))
			} else {
				line = append(line, "—", "—")
			}
		} else {
			line = append(line, "—", "—", "—", "—")
		}
		body = append(body, line)
	}
	writeMarkdown(b, head, body)
}

// batchTable prints the batch table, and the note on a missing row.
func (r *report) batchTable(b *strings.Builder) {
	n := group(float64(r.Batch[0].Keys))
	head := []string{"Network *[7]*", "RTT (PING)", n + " × `Limit`", "`LimitAll`", "×"}
	var body [][]string
	for _, br := range r.Batch {
		name := "Loopback"
		if br.Network == netProxy {
			name = fmt.Sprintf("Proxy, +%g µs RTT", br.AddedRTTUS)
		}
		body = append(body, []string{name, latency(br.PingRTTUS) + " µs", millis(br.LimitMS) + " ms", millis(br.LimitAllMS) + " ms", fmt.Sprintf("%.1f×", br.Ratio)})
	}
	writeMarkdown(b, head, body)
	if r.BatchNote != "" {
		fmt.Fprintf(b, "\n(%s.)\n", r.BatchNote)
	}
}

// millis formats ms with about three significant digits.
func millis(ms float64) string { return latency(ms) }

// table prints one markdown table with a "throughput / latency" and a ×
// column per measured column, the Redis server column when server is set.
func (r *report) table(b *strings.Builder, cols []column, server, sharedBaseline bool) {
	head := []string{"Algorithm"}
	for _, c := range cols {
		head = append(head, c.title, "×")
	}
	if server {
		head = append(head, "Redis server µs/call, serial *[5]*")
	}
	var body [][]string
	for _, row := range rows() {
		line := []string{displayName(row)}
		for _, c := range cols {
			table, col := c.table, c.col
			if row == rowBaseline && sharedBaseline {
				table, col = baselineOf(table, col)
			}
			cl := r.find(table, row, col)
			if cl == nil {
				line = append(line, "—", "—")
				continue
			}
			v := group(cl.Throughput) + " / " + latency(cl.LatencyUS)
			if row == rowBaseline {
				v = "**" + v + "**"
			}
			line = append(line, v, fmt.Sprintf("%.2f×", cl.Ratio))
		}
		if server {
			v := "—"
			if st := r.serverStat(row); st != nil && st.PairedUSecPerCall > 0 {
				v = fmt.Sprintf("%.2f", st.PairedUSecPerCall)
			}
			line = append(line, v)
		}
		body = append(body, line)
	}
	writeMarkdown(b, head, body)
}

// writeMarkdown prints an aligned markdown table.
func writeMarkdown(b *strings.Builder, head []string, body [][]string) {
	width := make([]int, len(head))
	for _, line := range append([][]string{head}, body...) {
		for i, v := range line {
			width[i] = max(width[i], len([]rune(v)))
		}
	}
	put := func(line []string) {
		b.WriteString("|")
		for i, v := range line {
			fmt.Fprintf(b, " %s%s |", v, strings.Repeat(" ", width[i]-len([]rune(v))))
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
}

// deniedSummary describes how many limiter requests were denied.
func (r *report) deniedSummary() string {
	var ops, denied int64
	for _, c := range r.Cells {
		if c.Row != rowBaseline {
			ops += c.Ops
			denied += c.Denied
		}
	}
	if ops == 0 {
		return "no limiter requests"
	}
	return fmt.Sprintf("%.2f%% of the timed limiter requests were denied", 100*float64(denied)/float64(ops))
}

// group formats v rounded to an integer with thousands separators.
func group(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// latency formats µs with about three significant digits.
func latency(us float64) string {
	switch {
	case us < 0.1:
		return fmt.Sprintf("%.4f", us)
	case us < 10:
		return fmt.Sprintf("%.3f", us)
	case us < 100:
		return fmt.Sprintf("%.2f", us)
	}
	return fmt.Sprintf("%.1f", us)
}
