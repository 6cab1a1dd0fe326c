package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

var errBoom = errors.New("boom")

// counter is a decideFunc that counts its calls per key, reports the
// calls for key limited as denied, and fails call number failAt (from 1).
type counter struct {
	mu      sync.Mutex
	calls   map[string]int
	n       int
	limited string
	failAt  int
}

func (c *counter) decide(_ context.Context, key string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n == c.failAt {
		return false, errBoom
	}
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[key]++
	return key == c.limited, nil
}

func (c *counter) want(t *testing.T, what string, want map[string]int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for k, n := range want {
		total += n
		if c.calls[k] != n {
			t.Errorf("%s: %d calls for %q, want %d (all: %v)", what, c.calls[k], k, n, c.calls)
		}
	}
	if len(c.calls) > len(want) {
		t.Errorf("%s: calls %v, want %v", what, c.calls, want)
	}
}

// within fails the test if fn does not return within d: a mutant that
// loops for ever fails here, not at go test's timeout.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

var fiveKeys = []string{"a", "b", "c", "d", "e"}

// TestTimed checks how timed spreads ops calls over goroutines: ops/g
// each, the first ops%g one more, each goroutine cycling through the keys
// from its own offset g·len(keys)/goroutines.
func TestTimed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		keys       []string
		goroutines int
		ops        int64
		want       map[string]int
		denied     int64
	}{
		// 4, 3, 3 calls from offsets 0, 1, 3: abcd, bcd, dea.
		{"3 goroutines", fiveKeys, 3, 10, map[string]int{"a": 2, "b": 2, "c": 2, "d": 3, "e": 1}, 3},
		// 1, 1, 0, 0 calls from offsets 0, 1.
		{"fewer ops than goroutines", fiveKeys, 4, 2, map[string]int{"a": 1, "b": 1}, 0},
		// 2 calls each from offsets 0, 2: ab, cd... over 4 keys.
		{"2 goroutines", fiveKeys[:4], 2, 4, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, 1},
		{"serial", fiveKeys[:3], 1, 7, map[string]int{"a": 3, "b": 2, "c": 2}, 0},
		{"serial, one key", []string{"d"}, 1, 4, map[string]int{"d": 4}, 4},
	} {
		c := &counter{limited: "d"}
		var m measurement
		var err error
		within(t, 10*time.Second, func() { m, err = timed(ctx, c.decide, tc.keys, tc.goroutines, tc.ops) })
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.want(t, tc.name, tc.want)
		if m.ops != tc.ops || m.denied != tc.denied || m.elapsed <= 0 {
			t.Errorf("%s: measurement %+v, want %d ops, %d denied and some time", tc.name, m, tc.ops, tc.denied)
		}
	}
	for _, g := range []int{1, 3} {
		c := &counter{failAt: 4}
		var err error
		within(t, 10*time.Second, func() { _, err = timed(ctx, c.decide, fiveKeys, g, 9) })
		if !errors.Is(err, errBoom) {
			t.Errorf("%d goroutines, a call fails: timed = %v, want it", g, err)
		}
	}
}

func TestLoop(t *testing.T) {
	ctx := context.Background()
	c := &counter{limited: "c"}
	denied, err := loop(ctx, c.decide, fiveKeys[:3], 2, 5) // c a b c a
	if err != nil || denied != 2 {
		t.Fatalf("loop = %d, %v; want 2 denied", denied, err)
	}
	c.want(t, "loop", map[string]int{"a": 2, "b": 1, "c": 2})
	c = &counter{limited: "c", failAt: 3}
	if denied, err := loop(ctx, c.decide, fiveKeys[:3], 2, 5); denied != 1 || !errors.Is(err, errBoom) {
		t.Fatalf("loop failing at its third call = %d, %v; want 1 denied and the error", denied, err)
	}
	c.want(t, "loop until it fails", map[string]int{"a": 1, "c": 1})
}

// TestMeasure counts the calls measure makes: every key once when there
// are several, the warm-up serially, then the timed run; with ops 0 a
// probe of 1000 calls sizes the run, which a target of 0 makes as short as
// it gets (one call per goroutine).
func TestMeasure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		w       workload
		want    map[string]int
		wantOps int64
	}{
		{"keys, warm-up, run", workload{keys: fiveKeys[:3], goroutines: 1, ops: 6, warmup: 4},
			map[string]int{"a": 1 + 2 + 2, "b": 1 + 1 + 2, "c": 1 + 1 + 2}, 6},
		{"one key", workload{keys: []string{"a"}, goroutines: 2, ops: 5}, map[string]int{"a": 5}, 5},
		{"probe", workload{keys: []string{"a"}, goroutines: 2, ops: 0, warmup: 3}, map[string]int{"a": 3 + 1000 + 2}, 2},
	} {
		c := &counter{}
		var m measurement
		var err error
		within(t, 10*time.Second, func() { m, err = measure(ctx, c.decide, tc.w, 0) })
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.want(t, tc.name, tc.want)
		if m.ops != tc.wantOps {
			t.Errorf("%s: %d ops timed, want %d", tc.name, m.ops, tc.wantOps)
		}
	}
	// A failure anywhere is returned: inserting the keys, the warm-up, the
	// probe, the run.
	for _, tc := range []struct {
		name   string
		w      workload
		failAt int
	}{
		{"insert", workload{keys: fiveKeys, goroutines: 1, ops: 5}, 3},
		{"warm-up", workload{keys: fiveKeys, goroutines: 1, ops: 5, warmup: 5}, 5 + 2},
		{"run", workload{keys: fiveKeys, goroutines: 2, ops: 5, warmup: 5}, 10 + 3},
		{"probe", workload{keys: []string{"a"}, goroutines: 1}, 500},
		{"probe", workload{keys: []string{"a"}, goroutines: 3}, 999},
	} {
		c := &counter{failAt: tc.failAt}
		var err error
		within(t, 10*time.Second, func() { _, err = measure(ctx, c.decide, tc.w, 0) })
		if !errors.Is(err, errBoom) {
			t.Errorf("%s fails: measure = %v, want the error", tc.name, err)
		}
	}
}

// TestMeasureProbes checks how measure sizes a run to a target: probes of
// 1000, 10000, … calls while a probe takes less than a tenth of the target
// (at most 20ms), then about target's worth of calls. Only call counts are
// asserted, in the direction the machine's speed cannot change: a call
// that fails (here the 1001st) ends measure with the measurement of the
// probe or run it was part of.
func TestMeasureProbes(t *testing.T) {
	ctx := context.Background()
	one := workload{keys: []string{"a"}, goroutines: 1}
	run := func(d decideFunc, w workload, target time.Duration) (m measurement, err error) {
		t.Helper()
		within(t, 10*time.Second, func() { m, err = measure(ctx, d, w, target) })
		return m, err
	}

	// 1000 quick calls take far less than 20ms, so a 10s target probes
	// again, with 10000 calls, and call 1001 fails in that probe. (A probe
	// slowed past 20ms by the machine goes to the run instead: try again.)
	secondProbe := false
	for range 5 {
		m, err := run((&counter{failAt: 1001}).decide, one, 10*time.Second)
		if !errors.Is(err, errBoom) {
			t.Fatalf("measure = %v, want the error of call 1001", err)
		}
		if m.ops == 10_000 {
			secondProbe = true
			break
		}
	}
	if !secondProbe {
		t.Error("1000 quick calls never led to a probe of 10000 with a target of 10s")
	}

	// Calls of at least 1µs make the first probe last 1ms or more: with a
	// target of 1ms (a tenth: 100µs) that is enough, and the run follows,
	// of at most 1000·1ms/1ms = 1000 calls.
	slow := &counter{failAt: 1001}
	busy := func(ctx context.Context, key string) (bool, error) {
		for t0 := time.Now(); time.Since(t0) < time.Microsecond; {
		}
		return slow.decide(ctx, key)
	}
	m, err := run(busy, one, time.Millisecond)
	if !errors.Is(err, errBoom) || m.ops > 1000 {
		t.Errorf("measure after a probe of 1ms with a target of 1ms = %d ops, %v; want a run of at most 1000 ops failing", m.ops, err)
	}

	// The run is sized to the target from the last probe: far more calls
	// than one per goroutine, after at least the first probe.
	c := &counter{}
	two := workload{keys: []string{"a"}, goroutines: 2}
	if m, err = run(c.decide, two, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if m.ops <= 2 || int64(c.calls["a"]) < 1000+m.ops {
		t.Fatalf("measure ran %d ops after %d calls in all, want a run sized to 20ms after a probe of 1000", m.ops, c.calls["a"])
	}
}

func TestMedian(t *testing.T) {
	ms := func(ns ...int64) []measurement {
		var out []measurement
		for _, n := range ns {
			out = append(out, measurement{ops: 1, elapsed: time.Duration(n)})
		}
		return out
	}
	for _, tc := range []struct {
		in   []measurement
		want time.Duration
	}{
		{ms(7), 7},
		{ms(5, 1, 3), 3},
		{ms(4, 1, 3, 2), 2}, // the faster of the two middle ones
		{ms(9, 8, 1, 2, 3), 3},
	} {
		in := append([]measurement(nil), tc.in...)
		if got := median(tc.in); got.elapsed != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got.elapsed, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its input: %v", tc.in)
			}
		}
	}
}

func TestNewCell(t *testing.T) {
	c := newCell("t", "r", "c", 30, 4, measurement{ops: 1000, elapsed: 2 * time.Millisecond, denied: 5})
	want := cell{Table: "t", Row: "r", Column: "c", Keys: 30, Goroutines: 4, Ops: 1000, Seconds: 0.002, Denied: 5,
		Throughput: 500_000, NsPerOp: 2000, LatencyUS: 8}
	if c.Table != want.Table || c.Row != want.Row || c.Column != want.Column || c.Keys != want.Keys || c.Goroutines != want.Goroutines ||
		c.Ops != want.Ops || c.Seconds != want.Seconds || c.Denied != want.Denied || c.Throughput != want.Throughput ||
		c.NsPerOp != want.NsPerOp || c.LatencyUS != want.LatencyUS {
		t.Errorf("newCell = %+v, want %+v", c, want)
	}
	// No time at all counts as 1ns, so nothing divides by zero.
	c = newCell("t", "r", "c", 1, 1, measurement{ops: 10})
	if c.Seconds != 1e-9 || c.Throughput != 1e10 || c.NsPerOp != 0 {
		t.Errorf("newCell of no time = %+v", c)
	}
	if got := (measurement{elapsed: 50}).nsPerOp(); got != 50 {
		t.Errorf("nsPerOp of 0 ops = %v, want the elapsed ns", got)
	}
}

func TestGroupAndLatency(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 7: "7", 999: "999", 999.6: "1,000", 1000: "1,000", 12345: "12,345", 123456: "123,456",
		1234567.4: "1,234,567", 100_000_000: "100,000,000",
	} {
		if got := group(v); got != want {
			t.Errorf("group(%v) = %q, want %q", v, got, want)
		}
	}
	for us, want := range map[float64]string{
		0.05: "0.0500", 0.0999: "0.0999", 0.1: "0.100", 9.99: "9.990", 10: "10.00", 99.9: "99.90", 100: "100.0", 1234.56: "1234.6",
	} {
		if got := latency(us); got != want {
			t.Errorf("latency(%v) = %q, want %q", us, got, want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	for row, want := range map[string]string{
		rowBaseline: "**Baseline** *[1]*", "fixed_window": "Fixed Window", "sliding_window": "Sliding Window",
		"token_bucket": "Token Bucket", "leaking_bucket": "Leaky Bucket", "gcra": "GCRA",
	} {
		if got := displayName(row); got != want {
			t.Errorf("displayName(%q) = %q, want %q", row, got, want)
		}
	}
}

// TestFinish checks the ratios: each cell over the baseline of its column,
// the coarse table's over the plain memory baseline of the same workload.
func TestFinish(t *testing.T) {
	r := &report{}
	add := func(table, row, col string, ns float64) {
		r.Cells = append(r.Cells, cell{Table: table, Row: row, Column: col, NsPerOp: ns})
	}
	add(tableOneKey, rowBaseline, colMemSerial, 10)
	add(tableOneKey, rowBaseline, colMemParallel, 20)
	add(tableMany, rowBaseline, colManySerial, 40)
	add(tableMany, rowBaseline, colManyPar, 50)
	add(tableOneKey, "gcra", colMemSerial, 25)
	add(tableOneKey, "gcra", colMemParallel, 30)
	add(tableCoarse, "gcra", colOneSerial, 15)
	add(tableCoarse, "gcra", colOneParallel, 10)
	add(tableCoarse, "gcra", colManySerial, 60)
	add(tableCoarse, "gcra", colManyPar, 25)
	add(tableOneKey, "gcra", colRedSerial, 7) // no baseline: no ratio
	add(tableOneKey, rowBaseline, "zero", 0)
	add(tableOneKey, "gcra", "zero", 5) // a baseline of 0ns: no ratio
	r.finish()
	want := []float64{1, 1, 1, 1, 2.5, 1.5, 1.5, 0.5, 1.5, 0.5, 0, 0, 0}
	for i, c := range r.Cells {
		if c.Ratio != want[i] {
			t.Errorf("%s/%s/%s: ratio %v, want %v", c.Table, c.Column, c.Row, c.Ratio, want[i])
		}
	}
	if c := r.find(tableOneKey, "gcra", colMemParallel); c == nil || c.NsPerOp != 30 {
		t.Errorf("find = %+v", c)
	}
	if c := r.find(tableOneKey, "nope", colMemParallel); c != nil {
		t.Errorf("find of no cell = %+v", c)
	}
}

func TestDeniedSummary(t *testing.T) {
	r := &report{}
	if got := r.deniedSummary(); got != "no limiter requests" {
		t.Errorf("no cells: %q", got)
	}
	r.Cells = []cell{{Row: rowBaseline, Ops: 100, Denied: 100}}
	if got := r.deniedSummary(); got != "no limiter requests" {
		t.Errorf("a baseline only: %q", got)
	}
	r.Cells = append(r.Cells, cell{Row: "gcra", Ops: 300, Denied: 1}, cell{Row: "fixed_window", Ops: 100, Denied: 2})
	if got, want := r.deniedSummary(), "0.75% of the timed limiter requests were denied"; got != want {
		t.Errorf("deniedSummary = %q, want %q", got, want)
	}
}

// TestWriteTextVariants prints a report of a few cells with each option
// the text mentions: a duration, the store API, Redis, a cell missing.
func TestWriteTextVariants(t *testing.T) {
	r := &report{
		Env: env{Go: "go1.26", GOOS: "linux", GOARCH: "amd64", CPUs: 2, GOMAXPROCS: 2, Redis: "7.0.15", RedisURL: "redis://x/0",
			LoadStart: "0.10 0.20 0.30", LoadEnd: "1.00 0.50 0.40"},
		Config: reportConfig{N: 5, Count: 1, RedisN: 3, Duration: "2s", Goroutines: 4, Keys: 1500, Quota: "10/s", API: "store"},
		Cells: []cell{
			{Table: tableOneKey, Row: rowBaseline, Column: colMemSerial, Throughput: 1234.4, LatencyUS: 0.5, Ratio: 1},
			{Table: tableOneKey, Row: "gcra", Column: colMemSerial, Throughput: 617, LatencyUS: 1, Ratio: 2},
			{Table: tableCoarse, Row: "gcra", Column: colOneSerial, Throughput: 1000, LatencyUS: 0.25, Ratio: 0.8},
		},
		Server: []serverStat{{Row: "gcra", Command: "evalsha", Calls: 3, USecPerCall: 9, PairedUSecPerCall: 12.5}},
	}
	var b bytes.Buffer
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"- **Go**: go1.26, linux/amd64, 2 CPUs (GOMAXPROCS 2)\n",
		"- **Load average** (1/5/15 min): 0.10 0.20 0.30 at the start, 1.00 0.50 0.40 at the end\n",
		"- **Redis**: 7.0.15 at redis://x/0 (same host, one rueidis client)\n",
		"- **Run**: about 2s per cell, median of 1 passes; parallel columns use 4 goroutines; called: the store's `Decide` with precompiled params\n",
		"#### In-Memory, 1,500 keys",
		"| 1,500 keys, 4 goroutines |",
		"| **1,234 / 0.500** ", "| 1.00× |",
		"| 617 / 1.000 ", "| 2.00× |",
		"| 1,000 / 0.250 ", "| 0.80× |",
		"| 12.50 ",
		"Redis - `INCRBY key 1`",
		"* *[5] Redis (serial): the rows measured together",
		"Redis server µs/call: the server's time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	// Rows without a cell get a dash in both of the column's fields; the
	// coarse table's baseline row shows the plain memory baseline.
	lines := tableLines(t, out, "#### One key")
	if !strings.HasPrefix(lines[3], "| Fixed Window ") || strings.Count(lines[3], "| — ") != 9 {
		t.Errorf("a row without cells: %q", lines[3])
	}
	coarse := tableLines(t, out, "#### In-Memory, coarse clock (1 ms)")
	if !strings.Contains(coarse[2], "| **1,234 / 0.500** ") || !strings.Contains(coarse[2], "| 1.00× |") {
		t.Errorf("the coarse table's baseline: %q", coarse[2])
	}

	r.Env.Redis, r.Env.LoadStart, r.Config.Duration, r.Config.API = "", "", "", "limiter"
	b.Reset()
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if !strings.Contains(out, "- **Run**: 5 per memory cell, median of 1 passes; parallel columns use 4 goroutines; called: `throttled.Limiter.Limit(ctx, key, 1)`\n") {
		t.Errorf("the text without options:\n%s", out)
	}
	for _, unwanted := range []string{"Redis", "[5]", "Load average"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("the text without Redis mentions %q:\n%s", unwanted, out)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	writeMarkdown(&b, []string{"a", "bb"}, [][]string{{"xyz", "é"}, {"", "12345"}})
	want := "| a   | bb    |\n|-----|-------|\n| xyz | é     |\n|     | 12345 |\n"
	if b.String() != want {
		t.Errorf("writeMarkdown:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestParseFlagsBounds accepts the least value of every bounded flag and
// refuses one less.
func TestParseFlagsBounds(t *testing.T) {
	c, err := parseFlags([]string{"-n", "1", "-redis-n", "1", "-count", "1", "-goroutines", "1", "-keys", "1", "-duration", "0s", "-api", "store", "-rtt", "0s", "-batch", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.n != 1 || c.redisN != 1 || c.count != 1 || c.goroutines != 1 || c.keys != 1 || c.api != "store" || c.quota != algo.PerSec(1_000_000_000) || c.rtt != 0 || c.batch != 0 {
		t.Errorf("config %+v", c)
	}
	if c, err := parseFlags(nil, io.Discard); err != nil || c.rtt != 200*time.Microsecond || c.batch != 1000 {
		t.Errorf("defaults: -rtt %v, -batch %d, %v; want 200µs and 1000", c.rtt, c.batch, err)
	}
	for _, args := range [][]string{
		{"-redis-n", "0"}, {"-duration", "-1ns"}, {"-nope"}, {"-h"}, {"-rtt", "-1ns"}, {"-batch", "-1"},
		{"-quota", "1/w burst 10000"}, // parses, but no bucket can be exact
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":           "redis://127.0.0.1:6379/0",
		"redis://user:secret@127.0.0.1:6379": "redis://***@127.0.0.1:6379",
		"rediss://:p@ss@host:1/0":            "rediss://***@host:1/0",
		"user@host":                          "user@host",
		"@redis://host":                      "@redis://host",
		"://user:secret@host":                "://***@host",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCmdstat(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_incrby:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0\r\ncmdstat_evalsha:calls=7,usec=98,usec_per_call=14.00\r\n"
	if calls, usec, per := cmdstat(info, "incrby"); calls != 12 || usec != 30 || per != 2.5 {
		t.Errorf("cmdstat incrby = %d, %d, %v", calls, usec, per)
	}
	if calls, usec, per := cmdstat(info, "eval"); calls != 0 || usec != 0 || per != 0 {
		t.Errorf("cmdstat of a command not called = %d, %d, %v", calls, usec, per)
	}
	if got := infoField("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis_version"); got != "7.0.15" {
		t.Errorf("infoField = %q", got)
	}
	if got := infoField("redis_version_x:1\r\n", "redis_version"); got != "" {
		t.Errorf("infoField of a field not there = %q", got)
	}
}

// TestSubjectErrors: a row that is no algorithm, or a quota that is no
// policy's, fails the subject's construction.
func TestSubjectErrors(t *testing.T) {
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	good := &config{quota: algo.PerHour(10), api: "limiter"}
	for _, coarse := range []bool{false, true} {
		if _, err := memorySubject(good, "nope", coarse); err == nil {
			t.Errorf("memorySubject of row nope (coarse %v) succeeded", coarse)
		}
	}
	for _, api := range []string{"limiter", "store"} {
		bad := &config{quota: algo.Quota{}, api: api}
		if _, err := decider(bad, "gcra", s); !errors.Is(err, algo.ErrInvalid) {
			t.Errorf("decider with no quota, api %s: %v", api, err)
		}
	}
	sub, err := memorySubject(good, "gcra", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		limited, err := sub.decide(context.Background(), "k")
		if err != nil || limited != (i >= 10) {
			t.Fatalf("call %d: limited %v, %v; want the 11th call on denied at 10/h", i+1, limited, err)
		}
	}
	sub.close()
}

// TestMainReturns runs main in the process: -h returns, and so does a
// tiny run.
func TestMainReturns(t *testing.T) {
	args, stdout, stderr := os.Args, os.Stdout, os.Stderr
	defer func() { os.Args, os.Stdout, os.Stderr = args, stdout, stderr }()
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	os.Stdout, os.Stderr = out, out
	os.Args = []string{"throttled-bench", "-h"}
	main()
	os.Args = append([]string{"throttled-bench"}, tiny...)
	main()
	os.Stdout, os.Stderr = stdout, stderr
	data, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "#### One key") {
		t.Errorf("main printed:\n%s", data)
	}
}

// redisUser adds an ACL user to srv with the given rules and returns its URL.
func redisUser(t *testing.T, srv *redistest.Server, name string, rules ...string) string {
	t.Helper()
	args := append([]string{"ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all"}, rules...)
	if got := srv.Do(t, args...); got != "OK" {
		t.Fatalf("ACL SETUSER %v: %s", rules, got)
	}
	return "redis://" + name + ":pw@" + srv.Addr() + "/0"
}

// TestRedisFailures checks that what Redis refuses is reported: the
// server's version (INFO server), a key to clear (DEL), a write the server
// has no memory for, the statistics (INFO commandstats), a server gone.
func TestRedisFailures(t *testing.T) {
	srv := redistest.Standalone(t)
	var out, errb bytes.Buffer
	noInfo := redisUser(t, srv, "noinfo", "-info")
	if err := run(append(append([]string(nil), tiny...), "-redis", noInfo), &out, &errb); err == nil || !strings.Contains(err.Error(), "INFO server: ") {
		t.Errorf("run without INFO: %v", err)
	}

	noDel := redisUser(t, srv, "nodel", "-del")
	c, err := parseFlags([]string{"-redis", noDel}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	if want := infoField(srv.Do(t, "INFO", "server"), "redis_version"); rs.version != want || want == "" {
		t.Errorf("version %q, want %q", rs.version, want)
	}
	for _, row := range []string{rowBaseline, rowFloor, "gcra"} {
		if _, err := rs.subject(row); err == nil {
			t.Errorf("subject %s without DEL succeeded", row)
		}
	}
	if _, err := rs.subject("nope"); err == nil {
		t.Error("subject of row nope succeeded")
	}
	rs.close()

	// A quota that is no policy's fails the first algorithm row's subject,
	// which the serial pass makes, with every row's, before it measures
	// anything.
	c, err = parseFlags([]string{"-redis", srv.URL(), "-redis-n", "20", "-goroutines", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err = openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{c: c, progress: io.Discard, runs: map[cellKey][]measurement{}, shape: map[cellKey][2]int{}, server: map[string]*serverStat{}}
	rs.c.quota = algo.Quota{}
	if err := b.redisPass(rs); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("redisPass with no quota: %v", err)
	}
	if len(b.order) != 0 || len(b.server) != 0 || b.done != 0 {
		t.Errorf("cells %v, server statistics %v and %d steps before the failure, want none", b.order, b.server, b.done)
	}
	rs.c.quota = c.quota
	rs.close()

	noStats := redisUser(t, srv, "nostats", "-info", "+info|server")
	if err := run(append(append([]string(nil), tiny...), "-redis", noStats), &out, &errb); err == nil || !strings.Contains(err.Error(), "INFO commandstats: ") {
		t.Errorf("run without INFO commandstats: %v", err)
	}

	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	if err := run(append(append([]string(nil), tiny...), "-redis", srv.URL()), &out, &errb); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Errorf("run on a server out of memory: %v", err)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "0")

	c, err = parseFlags([]string{"-redis", srv.URL()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs, err = openRedis(&c)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	b = &bench{c: c, progress: io.Discard, runs: map[cellKey][]measurement{}, shape: map[cellKey][2]int{}, server: map[string]*serverStat{}}
	if err := b.redisPass(rs); err == nil {
		t.Error("redisPass on a server gone succeeded")
	}
	rs.close()
}

// fakeStore records the decisions asked of it and admits everything.
type fakeStore struct {
	mu    sync.Mutex
	calls []string // "key policy cost each"
}

func (s *fakeStore) Decide(_ context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key())
	}
	s.calls = append(s.calls, fmt.Sprintf("%q %s %d %v", key, strings.Join(keys, ","), cost, each != nil))
	return algo.Decision{Remaining: 1}, nil
}

func (s *fakeStore) Reset(context.Context, string, []*store.Policy) error { return nil }

// TestDeciderAPI checks what -api calls: "store" the store's Decide with
// the row's policy and cost 1, without the limiter's checks (an empty key
// reaches the store); "limiter" the limiter, which refuses the empty key.
func TestDeciderAPI(t *testing.T) {
	ctx := context.Background()
	fs := &fakeStore{}
	d, err := decider(&config{quota: algo.PerSec(10).WithBurst(20), api: "store"}, "gcra", fs)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k", ""} {
		if limited, err := d(ctx, key); limited || err != nil {
			t.Fatalf("store API, key %q: %v, %v", key, limited, err)
		}
	}
	if want := []string{`"k" gcra:10/s:b20 1 false`, `"" gcra:10/s:b20 1 false`}; strings.Join(fs.calls, "|") != strings.Join(want, "|") {
		t.Errorf("store API: the store was asked %q, want %q", fs.calls, want)
	}

	fs = &fakeStore{}
	d, err = decider(&config{quota: algo.PerSec(10).WithBurst(20), api: "limiter"}, "token_bucket", fs)
	if err != nil {
		t.Fatal(err)
	}
	if limited, err := d(ctx, "k"); limited || err != nil {
		t.Fatalf("limiter API: %v, %v", limited, err)
	}
	if _, err := d(ctx, ""); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("limiter API, empty key: %v, want ErrInvalid from the limiter", err)
	}
	if len(fs.calls) != 1 || !strings.HasPrefix(fs.calls[0], `"k" token_bucket:10/s:b20 1 `) {
		t.Errorf("limiter API: the store was asked %q, want one decision for k", fs.calls)
	}
}

// TestWarmupAndCounts runs a quota of 5 a week, so every call shows: on
// one key the warm-up (n/10 calls, here 1) takes a token before the timed
// n calls, which then pass 4 times; on many keys each key is touched once
// first and the timed calls each get a key of their own. Without
// -duration every cell times exactly -n calls.
func TestWarmupAndCounts(t *testing.T) {
	r := runJSON(t, "-quota", "5/w", "-n", "10", "-keys", "30")
	if r.Config.Duration != "" {
		t.Errorf("config duration %q without -duration", r.Config.Duration)
	}
	for _, c := range r.Cells {
		want := int64(0)
		if c.Row != rowBaseline && c.Keys == 1 {
			want = 10 - (5 - 1)
		}
		if c.Denied != want || c.Ops != 10 {
			t.Errorf("cell %s/%s/%s: %d ops, %d denied; want 10 ops, %d denied", c.Table, c.Column, c.Row, c.Ops, c.Denied, want)
		}
	}
}

func TestCPUModelAndLoad(t *testing.T) {
	want := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				want = strings.TrimSpace(v)
				break
			}
		}
	}
	if got := cpuModel(); got != want {
		t.Errorf("cpuModel() = %q, want %q", got, want)
	}
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		if got := loadAvg(); got != "" {
			t.Errorf("loadAvg() without /proc/loadavg = %q", got)
		}
		return
	}
	got := strings.Fields(loadAvg())
	if len(got) != 3 || len(strings.Fields(string(data))) < 3 {
		t.Fatalf("loadAvg() = %q, want the three averages of %q", got, data)
	}
	for i, v := range got {
		if !regexp.MustCompile(`^[0-9]+\.[0-9][0-9]$`).MatchString(v) {
			t.Errorf("loadAvg()[%d] = %q, want a load average such as 0.42", i, v)
		}
	}
}

// floorEnv and floorConfig are the environment and configuration of the
// floor table's tests.
var (
	floorEnv    = env{Go: "go1.26", Redis: "7.0.15", RedisURL: "redis://x/0"}
	floorConfig = reportConfig{N: 5, Count: 1, RedisN: 3, Goroutines: 4, Keys: 10, Quota: "10/s", API: "limiter"}
)

// TestWriteFloorAndBatch prints the floor and batch tables of a report:
// the floor's row first, each algorithm's server time over the floor's, a
// dash where a cell is missing; the batch rows with their round trips,
// and the note on a missing row.
func TestWriteFloorAndBatch(t *testing.T) {
	r := &report{
		Env:    floorEnv,
		Config: floorConfig,
		Cells: []cell{
			{Table: tableOneKey, Row: rowFloor, Column: colRedSerial, Throughput: 40000, LatencyUS: 25},
			{Table: tableOneKey, Row: rowFloor, Column: colRedParallel, Throughput: 60000, LatencyUS: 66.5},
			{Table: tableOneKey, Row: "gcra", Column: colRedSerial, Throughput: 20000, LatencyUS: 50},
		},
		Server: []serverStat{
			{Row: "gcra", Command: "evalsha", Calls: 3, USecPerCall: 9, PairedUSecPerCall: 3.25, PairedFloorRatio: 1.2, PairedFloorRatios: []float64{1.3, 1.2, 1.1},
				ParallelDecisions: 8, ParallelUSecPerDecision: 1.6, ParallelFloorRatio: 0.25},
			{Row: rowFloor, Command: "evalsha", Calls: 3, USecPerCall: 7, PairedUSecPerCall: 2.75, PairedFloorRatio: 1, PairedFloorRatios: []float64{1, 1, 1},
				ParallelDecisions: 1, ParallelUSecPerDecision: 6.4, ParallelFloorRatio: 1},
		},
		Batch: []batchRow{
			{Network: netLoopback, PingRTTUS: 45.25, Keys: 1500, Algorithm: "token_bucket", LimitMS: 41.234, LimitAllMS: 3.5, Ratio: 11.78},
			{Network: netProxy, AddedRTTUS: 250, PingRTTUS: 262.5, Keys: 1500, Algorithm: "token_bucket", LimitMS: 262.25, LimitAllMS: 3.9, Ratio: 67.24},
		},
		BatchNote: "a note",
	}
	var b bytes.Buffer
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	floor := tableLines(t, out, "#### Redis server time against the floor")
	for i, want := range []string{
		"| Script          | Redis (serial) | Redis (4 goroutines) | Server µs/call, serial *[8]* | × floor *[6]* | Server µs/decision, 4 goroutines *[9]* | × floor *[9]* |",
		"",
		"| **Floor** *[6]* | 40,000 / 25.00 | 60,000 / 66.50       | 2.75                         | 1.00×         | 6.40                                   | 1.00×         |",
		"| Fixed Window    | —              | —                    | —                            | —             | —                                      | —             |",
	} {
		if want != "" && floor[i] != want {
			t.Errorf("floor table line %d:\n%s\nwant\n%s", i, floor[i], want)
		}
	}
	// The paired rounds' µs and ratio.
	if want := "| GCRA            | 20,000 / 50.00 | —                    | 3.25                         | 1.20×         | 1.60                                   | 0.25×         |"; floor[len(floor)-1] != want {
		t.Errorf("floor table, GCRA:\n%s\nwant\n%s", floor[len(floor)-1], want)
	}
	if !strings.Contains(out, "*[8] Paired: 3 rounds, in each 100 serial calls") {
		t.Errorf("no footnote [8] on the paired measurement's 3 rounds:\n%s", out)
	}
	if !strings.Contains(out, "over the floor's, measured side by side in the paired rounds [8] (target: at most 1.25×)") {
		t.Errorf("footnote [6] does not say × floor comes from the paired rounds:\n%s", out)
	}
	if !strings.Contains(out, "*[9] Per decision from 4 goroutines:") {
		t.Errorf("no footnote [9] on the time per decision from 4 goroutines:\n%s", out)
	}
	batch := tableLines(t, out, "#### Batches: `LimitAll` of 1,500 keys against 1,500 `Limit` calls")
	for i, want := range []string{
		"| Network *[7]*      | RTT (PING) | 1,500 × `Limit` | `LimitAll` | ×     |",
		"",
		"| Loopback           | 45.25 µs   | 41.23 ms        | 3.500 ms   | 11.8× |",
		"| Proxy, +250 µs RTT | 262.5 µs   | 262.2 ms        | 3.900 ms   | 67.2× |",
	} {
		if want != "" && batch[i] != want {
			t.Errorf("batch table line %d:\n%s\nwant\n%s", i, batch[i], want)
		}
	}
	for _, want := range []string{
		"\n\n(a note.)\n",
		"* *[6] Floor: a script doing only what any decision must",
		"* *[7] Batches: 1,500 `Limit` calls one after another, then one `LimitAll` of as many keys, through `throttled.Limiter` (token_bucket, every key written before timing); RTT is the median of 50 PINGs.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}

	// No floor statistics, no batches: neither table nor their notes.
	r.Server, r.Batch, r.BatchNote = r.Server[:1], nil, ""
	b.Reset()
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{"against the floor", "[6]", "#### Batches", "[7]"} {
		if strings.Contains(b.String(), unwanted) {
			t.Errorf("the text without floor or batches mentions %q:\n%s", unwanted, b.String())
		}
	}
}

// TestBatchRow checks a network's row: the median pass of each
// measurement (the faster middle one of an even count), their ratio, the
// runs in ms.
func TestBatchRow(t *testing.T) {
	ms := time.Millisecond
	br := &batchRuns{
		net:      &batchNet{name: netProxy, rtt: 200 * time.Microsecond},
		ping:     []time.Duration{300 * time.Microsecond, 250 * time.Microsecond, 400 * time.Microsecond, 260 * time.Microsecond},
		limit:    []time.Duration{300 * ms, 200 * ms, 250 * ms},
		limitAll: []time.Duration{4 * ms, 5 * ms, 2 * ms},
	}
	got := br.row(1000)
	if got.Network != netProxy || got.AddedRTTUS != 200 || got.PingRTTUS != 260 || got.Keys != 1000 || got.Algorithm != "token_bucket" ||
		got.LimitMS != 250 || got.LimitAllMS != 4 || got.Ratio != 62.5 ||
		!slices.Equal(got.LimitRuns, []float64{300, 200, 250}) || !slices.Equal(got.LimitAllRuns, []float64{4, 5, 2}) {
		t.Errorf("row = %+v", got)
	}
	if got := medianDuration([]time.Duration{3, 1, 2, 4}); got != 2 {
		t.Errorf("medianDuration = %v, want 2", got)
	}
	br.limitAll = []time.Duration{0}
	br.limit = []time.Duration{ms}
	if got := br.row(1); got.Ratio != 0 {
		t.Errorf("a LimitAll of no time: ratio %v, want 0", got.Ratio)
	}
}

// TestPairedRatios: each round's ratio is that round's time over the
// floor's in the same round, and the median is the middle round's (the
// lower middle one for an even count).
func TestPairedRatios(t *testing.T) {
	got := pairedRatios([]float64{6, 9, 5}, []float64{5, 6, 5})
	if want := []float64{1.2, 1.5, 1}; !slices.Equal(got, want) {
		t.Fatalf("pairedRatios = %v, want %v", got, want)
	}
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{1.5, 1, 1.2}, 1.2}, {[]float64{4, 1, 3, 2}, 2}} {
		if got := medianFloat(c.xs); got != c.want {
			t.Errorf("medianFloat(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

// TestProgressSteps: the progress lines count every memory cell but the
// coarse table's four baselines, per pass; with Redis, the serial cells
// (one step), the parallel cell of each row and both batch runs of each
// network, per pass, and the 4·count+3 paired floor rounds once.
func TestProgressSteps(t *testing.T) {
	mem := len(rows())*8 - 4
	red := 1 + len(redisRows())
	for _, c := range []struct{ memCols, nets, count, want int }{
		{8, -1, 1, mem},
		{8, -1, 3, 3 * mem},
		{8, 0, 1, mem + red + 7},
		{8, 2, 1, mem + red + 4 + 7},
		{8, 2, 3, 3*(mem+red+4) + 15},
	} {
		if got := progressSteps(c.memCols, c.nets, c.count); got != c.want {
			t.Errorf("progressSteps(%d, %d, %d) = %d, want %d", c.memCols, c.nets, c.count, got, c.want)
		}
	}
}

// TestWriteFloorWithoutPairedOrParallel prints the floor table of a report
// whose server statistics have no paired rounds and no parallel cell (as
// the rows of earlier script versions): dashes in those columns, and
// neither footnote [8] nor [9].
func TestWriteFloorWithoutPairedOrParallel(t *testing.T) {
	r := &report{
		Env:    floorEnv,
		Config: floorConfig,
		Cells: []cell{
			{Table: tableOneKey, Row: rowFloor, Column: colRedSerial, Throughput: 40000, LatencyUS: 25},
			{Table: tableOneKey, Row: "gcra", Column: colRedSerial, Throughput: 20000, LatencyUS: 50},
		},
		Server: []serverStat{
			{Row: "gcra", Command: "evalsha", Calls: 2, USecPerCall: 3.5},
			{Row: rowFloor, Command: "evalsha", Calls: 2, USecPerCall: 2.8},
		},
	}
	var b bytes.Buffer
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	floor := tableLines(t, out, "#### Redis server time against the floor")
	for _, line := range []string{floor[2], floor[len(floor)-1]} {
		cells := strings.Split(line, "|")
		if len(cells) != 9 {
			t.Fatalf("floor table line %q: %d cells, want 7", line, len(cells)-2)
		}
		for i, name := range map[int]string{4: "paired µs", 5: "paired × floor", 6: "per decision", 7: "per decision × floor"} {
			if got := strings.TrimSpace(cells[i]); got != "—" {
				t.Errorf("floor table line %q: %s column %q, want —", line, name, got)
			}
		}
	}
	// The one-key table's server column: a dash without paired rounds.
	one := tableLines(t, out, "#### One key")
	if last := one[len(one)-1]; !strings.HasPrefix(last, "| GCRA ") || !strings.HasSuffix(last, "| —                                  |") {
		t.Errorf("one-key table, GCRA: %q, want a dash in the server column", last)
	}
	for _, absent := range []string{"*[8] Paired", "*[9] Per decision", "[8] ("} {
		if strings.Contains(out, absent) {
			t.Errorf("footnote %q without its measurement:\n%s", absent, out)
		}
	}
}
