package main

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled/internal/redistest"
)

// These tests check the command's output, not its numbers: every run is
// tiny, and nothing is asserted about time.

// tiny are flags that make a run take a moment.
var tiny = []string{"-n", "200", "-redis-n", "40", "-keys", "30", "-goroutines", "3", "-count", "1"}

func runBench(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	var err error
	within(t, 20*time.Second, func() { err = run(append(append([]string(nil), tiny...), args...), &out, &errb) })
	if err != nil {
		t.Fatalf("run %q: %v\nstderr:\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	out, _ := runBench(t, append(args, "-json")...)
	var r report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("-json output does not parse: %v\n%s", err, out)
	}
	return r
}

// memoryCells lists the (table, column) pairs every run measures, each for
// every row, except the coarse table's baseline.
var memoryCells = [][2]string{
	{tableOneKey, colMemSerial}, {tableOneKey, colMemParallel},
	{tableMany, colManySerial}, {tableMany, colManyPar},
	{tableCoarse, colOneSerial}, {tableCoarse, colOneParallel},
	{tableCoarse, colManySerial}, {tableCoarse, colManyPar},
}

var redisCells = [][2]string{{tableOneKey, colRedSerial}, {tableOneKey, colRedParallel}}

func checkCells(t *testing.T, r report, want [][2]string) {
	t.Helper()
	n := 0
	for _, tc := range want {
		rs := rows()
		if strings.HasPrefix(tc[1], "redis_") { // and the floor script's
			rs = redisRows()
		}
		for _, row := range rs {
			if tc[0] == tableCoarse && row == rowBaseline {
				continue
			}
			n++
			c := r.find(tc[0], row, tc[1])
			if c == nil {
				t.Errorf("no cell %s/%s/%s", tc[0], tc[1], row)
				continue
			}
			if c.Ops <= 0 || c.Throughput <= 0 || c.LatencyUS <= 0 || c.NsPerOp <= 0 || c.Ratio <= 0 {
				t.Errorf("cell %+v has a non-positive measure", *c)
			}
			if len(c.Runs) != r.Config.Count || !slices.Contains(c.Runs, c.NsPerOp) {
				t.Errorf("cell %+v: want %d runs, one of them the cell's", *c, r.Config.Count)
			}
			if row == rowBaseline && c.Ratio != 1 {
				t.Errorf("baseline cell %+v has ratio %v, want 1", *c, c.Ratio)
			}
			if c.Denied != 0 {
				t.Errorf("cell %+v: %d denied at the default quota", *c, c.Denied)
			}
		}
	}
	if len(r.Cells) != n {
		t.Errorf("%d cells, want %d", len(r.Cells), n)
	}
}

func TestMemoryJSON(t *testing.T) {
	r := runJSON(t)
	checkCells(t, r, memoryCells)
	if r.Env.Go == "" || r.Env.GOOS == "" || r.Env.GOARCH == "" || r.Env.CPUs < 1 {
		t.Errorf("env %+v is incomplete", r.Env)
	}
	if r.Env.Redis != "" || len(r.Server) != 0 {
		t.Errorf("Redis reported without -redis: %+v, %+v", r.Env, r.Server)
	}
	if r.Config.Quota != "1000000000/s" || r.Config.Goroutines != 3 || r.Config.Keys != 30 || r.Config.N != 200 {
		t.Errorf("config %+v does not echo the flags", r.Config)
	}
}

// tableLines returns the markdown table rows of the section headed by title.
func tableLines(t *testing.T, out, title string) []string {
	t.Helper()
	_, sec, ok := strings.Cut(out, title+"\n")
	if !ok {
		t.Fatalf("no section %q in:\n%s", title, out)
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimLeft(sec, "\n"), "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		lines = append(lines, line)
	}
	return lines
}

// checkTable checks a table's header names cols and that it has the
// baseline and every algorithm, each with a value in every column.
func checkTable(t *testing.T, out, title string, cols ...string) {
	t.Helper()
	lines := tableLines(t, out, title)
	if len(lines) != 2+len(rows()) {
		t.Fatalf("%s: %d table lines, want %d:\n%s", title, len(lines), 2+len(rows()), strings.Join(lines, "\n"))
	}
	for _, c := range cols {
		if !strings.Contains(lines[0], "| "+c) {
			t.Errorf("%s: header %q lacks column %q", title, lines[0], c)
		}
	}
	wantFields := len(strings.Split(lines[0], "|"))
	for i, row := range rows() {
		line := lines[2+i]
		if !strings.HasPrefix(line, "| "+displayName(row)) {
			t.Errorf("%s: line %q, want row %s", title, line, displayName(row))
		}
		if f := len(strings.Split(line, "|")); f != wantFields {
			t.Errorf("%s: line %q has %d fields, want %d", title, line, f, wantFields)
		}
		if strings.Contains(line, "—") {
			t.Errorf("%s: line %q has an empty cell", title, line)
		}
	}
}

func TestMemoryText(t *testing.T) {
	out, progress := runBench(t)
	checkTable(t, out, "#### One key", "In-Memory (serial)", "In-Memory (3 goroutines)")
	if strings.Contains(tableLines(t, out, "#### One key")[0], "Redis") {
		t.Error("Redis columns without -redis")
	}
	checkTable(t, out, "#### In-Memory, 30 keys", "serial", "3 goroutines")
	checkTable(t, out, "#### In-Memory, coarse clock (1 ms)",
		"1 key, serial", "1 key, 3 goroutines", "30 keys, serial", "30 keys, 3 goroutines")
	for _, want := range []string{"**Go**", "**Quota**: 1000000000/s", "0.00% of the timed limiter requests were denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "[44/44] pass 1/1") {
		t.Errorf("progress does not count to 44 cells:\n%s", progress)
	}
}

func TestDurationStoreAPIAndPasses(t *testing.T) {
	r := runJSON(t, "-duration", "1ms", "-api", "store", "-count", "2")
	checkCells(t, r, memoryCells)
	if r.Config.Duration != "1ms" || r.Config.API != "store" || r.Config.Count != 2 {
		t.Errorf("config %+v", r.Config)
	}
}

// TestSeedQuotaDenies checks the denials are counted: the hot key of a
// 10/s quota is denied almost every time.
func TestSeedQuotaDenies(t *testing.T) {
	r := runJSON(t, "-quota", "10/s")
	for _, c := range r.Cells {
		if c.Row != rowBaseline && c.Keys == 1 && c.Denied == 0 {
			t.Errorf("cell %+v: nothing denied at 10/s", c)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-api", "nope"}, {"-quota", "fast"}, {"-n", "0"}, {"-count", "0"}, {"-goroutines", "0"},
		{"-keys", "0"}, {"-duration", "-1s"}, {"extra"}, {"-redis", "nope://x"},
		{"-rtt", "-1us"}, {"-batch", "-1"},
	} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}

func TestRedis(t *testing.T) {
	srv := redistest.Standalone(t)
	r := runJSON(t, "-redis", srv.URL(), "-count", "2", "-batch", "7")
	checkCells(t, r, append(memoryCells, redisCells...))
	if r.Env.Redis == "" || r.Env.RedisURL != srv.URL() {
		t.Errorf("env %+v lacks the Redis version or URL", r.Env)
	}
	if r.Config.RTT != "200µs" || r.Config.Batch != 7 {
		t.Errorf("config %+v does not echo -rtt and -batch", r.Config)
	}
	serverRows := append(rows(), rowFloor) // the floor's listed last
	if len(r.Server) != len(serverRows) {
		t.Fatalf("server stats %+v, want one per row and the floor's", r.Server)
	}
	// Each row's parallel cell makes redis-n + a warm-up of redis-n/10
	// decisions a pass, which the store may coalesce into fewer calls (never
	// fewer than half here: 3 goroutines); the µs per call is the total µs
	// over the total calls (INFO reports whole µs, so their product is
	// whole).
	decisions := int64((40 + 4) * 2)
	floor := r.Server[len(r.Server)-1]
	for i, st := range r.Server {
		wantCmd := "evalsha"
		if serverRows[i] == rowBaseline {
			wantCmd = "incrby"
		}
		if st.Row != serverRows[i] || st.Command != wantCmd || st.Calls < decisions/3 || st.Calls > decisions || st.USecPerCall <= 0 || st.USecPerCall > 5000 {
			t.Errorf("server stat %+v, want row %s, command %s, %d calls (fewer if coalesced) and a time per call", st, serverRows[i], wantCmd, decisions)
		}
		if total := st.USecPerCall * float64(st.Calls); math.Abs(total-math.Round(total)) > 1e-6 {
			t.Errorf("server stat %+v: %v µs in all, want whole µs over the calls", st, total)
		}
		// The serial cells ran first, on the other client: the server has
		// every single-decision script by then, and only the scripts of
		// coalesced calls may be new to it.
		if (serverRows[i] == rowBaseline || serverRows[i] == rowFloor) && st.EvalCalls != 0 || st.EvalCalls > st.Calls {
			t.Errorf("server stat %+v: EVAL calls %d in the parallel cells, want none for INCRBY and the floor, at most the calls", st, st.EvalCalls)
		}
		// Per decision in the parallel cell: its calls' time over the
		// decisions made, and that over the floor's; the floor and INCRBY
		// make one call a decision.
		if st.ParallelDecisions != decisions || st.ParallelUSecPerDecision <= 0 || st.ParallelUSecPerDecision > 5000 {
			t.Errorf("server stat %+v, want %d decisions in the parallel cells and their time each", st, decisions)
		}
		if serverRows[i] == rowBaseline || serverRows[i] == rowFloor {
			if st.Calls != decisions {
				t.Errorf("server stat %+v: %d calls, want one a decision (%d)", st, st.Calls, decisions)
			}
		}
		if total := st.ParallelUSecPerDecision * float64(st.ParallelDecisions); math.Abs(total-math.Round(total)) > 1e-6 {
			t.Errorf("server stat %+v: %v µs in the parallel cells, want whole µs over the decisions", st, total)
		}
		if want := st.ParallelUSecPerDecision / floor.ParallelUSecPerDecision; st.ParallelFloorRatio != want {
			t.Errorf("server stat %+v: ratio to the floor per decision %v, want %v", st, st.ParallelFloorRatio, want)
		}
		// The paired rounds: 4·count + 3 of them, for every row, the median
		// time per call and ratio reported; the floor's ratio is 1, INCRBY's
		// far below (no script).
		if len(st.PairedFloorRatios) != 4*r.Config.Count+3 || st.PairedFloorRatio != medianFloat(st.PairedFloorRatios) || st.PairedFloorRatio <= 0 {
			t.Errorf("server stat %+v: want %d paired rounds and their median", st, 4*r.Config.Count+3)
		}
		if st.PairedUSecPerCall <= 0 || st.PairedUSecPerCall > 5000 {
			t.Errorf("server stat %+v: want the paired rounds' median time per call", st)
		}
		if serverRows[i] == rowFloor && st.PairedFloorRatio != 1 {
			t.Errorf("floor server stat %+v: paired ratio %v, want 1", st, st.PairedFloorRatio)
		}
		if serverRows[i] == rowBaseline && st.PairedFloorRatio >= 1 {
			t.Errorf("baseline server stat %+v: paired ratio %v, want below the floor's", st, st.PairedFloorRatio)
		}
	}
	checkBatch(t, r, 7, netLoopback, netProxy)
	for _, c := range r.Cells {
		if want := map[bool]int64{false: 200, true: 40}[strings.HasPrefix(c.Column, "redis_")]; c.Ops != want {
			t.Errorf("cell %s/%s/%s timed %d ops, want %d", c.Table, c.Column, c.Row, c.Ops, want)
		}
	}
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("DBSIZE after the run = %s, want 0 (the keys are deleted)", got)
	}

	out, progress := runBench(t, "-redis", srv.URL(), "-batch", "5")
	if !strings.Contains(progress, "[56/63] pass 1/1") || !strings.Contains(progress, "[63/63] floor round 7/7") ||
		!strings.Contains(progress, "[45/63] pass 1/1: one_key redis_serial, the rows interleaved ... µs/op ") {
		t.Errorf("progress does not count to 63 steps (44 in memory, 8 on Redis, 4 of batches, 7 paired floor rounds):\n%s", progress)
	}
	checkTable(t, out, "#### One key", "In-Memory (serial)", "In-Memory (3 goroutines)",
		"Redis (serial)", "Redis (3 goroutines)", "Redis server µs/call, serial")
	floorLines := tableLines(t, out, "#### Redis server time against the floor")
	if len(floorLines) != 2+len(rows()) || !strings.HasPrefix(floorLines[2], "| **Floor** *[6]* ") || !strings.Contains(floorLines[2], "| 1.00×") {
		t.Errorf("the floor table:\n%s", strings.Join(floorLines, "\n"))
	}
	for _, line := range floorLines {
		if strings.Contains(line, "—") {
			t.Errorf("the floor table has an empty cell: %q", line)
		}
	}
	batchLines := tableLines(t, out, "#### Batches: `LimitAll` of 5 keys against 5 `Limit` calls")
	if len(batchLines) != 4 || !strings.HasPrefix(batchLines[2], "| Loopback ") || !strings.HasPrefix(batchLines[3], "| Proxy, +200 µs RTT ") {
		t.Errorf("the batch table:\n%s", strings.Join(batchLines, "\n"))
	}
	if !strings.Contains(out, "**Redis**: "+r.Env.Redis) {
		t.Errorf("output lacks the Redis version:\n%s", out)
	}

	// Without the proxy, and without batches.
	r = runJSON(t, "-redis", srv.URL(), "-batch", "3", "-rtt", "0")
	checkBatch(t, r, 3, netLoopback)
	if r.BatchNote != "no proxy row: -rtt 0" {
		t.Errorf("batch note %q", r.BatchNote)
	}
	out, progress = runBench(t, "-redis", srv.URL(), "-batch", "0")
	if strings.Contains(out, "#### Batches") || strings.Contains(out, "[7]") || !strings.Contains(progress, "[59/59] floor round 7/7") {
		t.Errorf("-batch 0 measured batches:\n%s\n%s", out, progress)
	}
	if got := srv.Do(t, "DBSIZE"); got != "0" {
		t.Errorf("DBSIZE after the runs = %s, want 0 (the keys are deleted)", got)
	}
}

// checkBatch checks the batch rows of a run of one pass or more: one per
// network named, with keys keys, the medians among the runs, their ratio,
// and a PING round trip through the proxy of at least -rtt (200µs).
func checkBatch(t *testing.T, r report, keys int, networks ...string) {
	t.Helper()
	if len(r.Batch) != len(networks) {
		t.Fatalf("batch rows %+v, want %v", r.Batch, networks)
	}
	for i, br := range r.Batch {
		if br.Network != networks[i] || br.Keys != keys || br.Algorithm != "token_bucket" || br.PingRTTUS <= 0 {
			t.Errorf("batch row %+v, want network %s, %d keys of token_bucket, a PING round trip", br, networks[i], keys)
		}
		if len(br.LimitRuns) != r.Config.Count || len(br.LimitAllRuns) != r.Config.Count ||
			!slices.Contains(br.LimitRuns, br.LimitMS) || !slices.Contains(br.LimitAllRuns, br.LimitAllMS) {
			t.Errorf("batch row %+v: want %d runs of each, the medians among them", br, r.Config.Count)
		}
		if br.LimitMS <= 0 || br.LimitAllMS <= 0 || br.Ratio != br.LimitMS/br.LimitAllMS {
			t.Errorf("batch row %+v: want times and their ratio", br)
		}
		wantRTT := map[string]float64{netLoopback: 0, netProxy: 200}[br.Network]
		if br.AddedRTTUS != wantRTT || br.PingRTTUS < wantRTT {
			t.Errorf("batch row %+v: want an added round trip of %vµs, and at least as much by PING", br, wantRTT)
		}
	}
}
