package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
)

// TestPerBucket counts requests into buckets: one per started bucket of
// the span, requests before from or at from+span or later left out, the
// denied ones only when all are counted.
func TestPerBucket(t *testing.T) {
	r := outcome{events: []event{
		{at: 99}, // before the axis
		{at: 100}, {at: 399},
		{at: 400}, {at: 500, d: algo.Decision{Limited: true, RetryAfter: 7}},
		{at: 1099},
		{at: 1100}, // the axis ends before it
	}}
	for _, tc := range []struct {
		span          int64
		all, admitted []int
	}{
		{1000, []int{2, 2, 0, 1}, []int{2, 1, 0, 1}}, // 1000/300: 4 buckets, the last one short
		{900, []int{2, 2, 0}, []int{2, 1, 0}},        // 900/300: exactly 3
		{999, []int{2, 2, 0, 0}, []int{2, 1, 0, 0}},  // ends at 1099: the request there is out
	} {
		pt := pattern{from: 100, span: tc.span, bucket: 300}
		if got := perBucket(pt, r, false); !slices.Equal(got, tc.all) {
			t.Errorf("span %d: perBucket(all) = %v, want %v", tc.span, got, tc.all)
		}
		if got := perBucket(pt, r, true); !slices.Equal(got, tc.admitted) {
			t.Errorf("span %d: perBucket(admitted) = %v, want %v", tc.span, got, tc.admitted)
		}
	}
}

func TestRetries(t *testing.T) {
	r := outcome{events: []event{
		{d: algo.Decision{Remaining: 3}},
		{d: algo.Decision{Limited: true, RetryAfter: 5}},
		{d: algo.Decision{Limited: true, RetryAfter: -1}},
		{d: algo.Decision{Limited: true, RetryAfter: 7}},
		{d: algo.Decision{Limited: true, RetryAfter: 6}},
		{d: algo.Decision{Limited: true, RetryAfter: -1}},
	}}
	if longest, never := r.retries(); longest != 7 || never != 2 {
		t.Errorf("retries() = %d, %d; want 7, 2", longest, never)
	}
	if longest, never := (outcome{events: r.events[:1]}).retries(); longest != 0 || never != 0 {
		t.Errorf("retries() of no denial = %d, %d; want 0, 0", longest, never)
	}
}

// TestNewScales checks the shared axes: the bars' top is a nice number at
// or above the most requests of a bucket, the remaining track's top the
// largest Limit, and the retry track's top a nice number at or above the
// longest RetryAfter, or 1 s when nothing was denied.
func TestNewScales(t *testing.T) {
	pt := pattern{from: 0, span: 1000, bucket: 500}
	allowed := outcome{p: algo.Params{Max: 7}, events: []event{{at: 1}, {at: 2}, {at: 3}, {at: 600}}}
	denied := outcome{p: algo.Params{Max: 12}, events: []event{{at: 1, d: algo.Decision{Limited: true, RetryAfter: 3 * sec}}, {at: 2, d: algo.Decision{Limited: true, RetryAfter: -1}}}}
	for _, tc := range []struct {
		runs []outcome
		want scales
	}{
		{[]outcome{allowed}, scales{from: 0, span: 1000, bars: 5, limit: 7, retry: sec}},
		{[]outcome{allowed, denied}, scales{from: 0, span: 1000, bars: 5, limit: 12, retry: 5 * sec}},
	} {
		if got := newScales(pt, tc.runs); got != tc.want {
			t.Errorf("newScales = %+v, want %+v", got, tc.want)
		}
	}
}

// TestPanelRetryTrack draws one panel whose algorithm told Never and a
// wait beyond the track's scale: both go at the top of the track, the
// others at their height, and the header counts them.
func TestPanelRetryTrack(t *testing.T) {
	s := &svg{}
	r := outcome{alg: algo.GCRA, p: algo.Params{Period: sec, Max: 10}, events: []event{
		{at: 0, d: algo.Decision{Remaining: 9}},
		{at: 250, d: algo.Decision{Limited: true, RetryAfter: 500}},   // half the scale
		{at: 500, d: algo.Decision{Limited: true, RetryAfter: -1}},    // Never
		{at: 750, d: algo.Decision{Limited: true, RetryAfter: 1000}},  // the scale
		{at: 1000, d: algo.Decision{Limited: true, RetryAfter: 3000}}, // beyond it
	}}
	p := panel{s: s, pt: pattern{span: 1000, bucket: 500}, r: r, sc: scales{span: 1000, bars: 5, limit: 10, retry: 1000}}
	p.header()
	p.retryAfter()
	out := s.b.String()
	// x = 120 + at/1000·824; the retry track spans y 126 (top) to 160.
	if want := `<path d="M326 143h0M532 126h0M738 126h0M944 126h0" stroke="#D55E00"`; !strings.Contains(out, want) {
		t.Errorf("retry dots: want %s in\n%s", want, out)
	}
	for _, want := range []string{"admitted 1 of 5", "longest RetryAfter 3 ms", " · 1 told Never"} {
		if !strings.Contains(out, want) {
			t.Errorf("header lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "no request denied") {
		t.Errorf("a panel with denials says none:\n%s", out)
	}

	// No denial: no dot, a note instead, and a header without waits.
	s = &svg{}
	p.s, p.r.events = s, r.events[:1]
	p.header()
	p.retryAfter()
	out = s.b.String()
	if strings.Contains(out, "<path") || !strings.Contains(out, "no request denied, so no RetryAfter") {
		t.Errorf("a panel without denials:\n%s", out)
	}
	if strings.Contains(out, "longest RetryAfter") || strings.Contains(out, "told Never") {
		t.Errorf("a header without denials mentions waits:\n%s", out)
	}
}

func TestQuotaText(t *testing.T) {
	for _, tc := range []struct {
		q    algo.Quota
		want string
	}{
		{algo.PerSec(10).WithBurst(10), "10/s, burst 10"},
		{algo.PerSec(10), "10/s, burst 10"},
		{algo.PerDuration(2*time.Second, 5).WithBurst(8), "5 per 2 s, burst 8"},
		{algo.PerMin(3), "3 per 60 s, burst 3"},
		{algo.PerDuration(250*time.Millisecond, 1), "1 per 250 ms, burst 1"},
	} {
		if got := quotaText(tc.q); got != tc.want {
			t.Errorf("quotaText(%v) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestSimulateErrors(t *testing.T) {
	p, err := algo.Compile(algo.GCRA, quota)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newStepper(algo.Algorithm(9), p, start); err == nil || err.Error() != "no step function for algorithm Algorithm(9)" {
		t.Errorf("newStepper(9) = %v", err)
	}
	if _, err := simulate(patterns[0], algo.PerSec(0)); err == nil {
		t.Error("simulate with limit 0 succeeded")
	}
}

// TestMostInPeriod counts the most admissions in a half-open interval one
// period long.
func TestMostInPeriod(t *testing.T) {
	denied := algo.Decision{Limited: true, RetryAfter: 1}
	r := outcome{p: algo.Params{Period: 100}, events: []event{
		{at: 0}, {at: 50}, {at: 99}, // 3 within (−1, 99]
		{at: 100}, // (0, 100] holds 50, 99, 100: 0 is a period before
		{at: 120, d: denied}, {at: 130, d: denied},
		{at: 149}, // (49, 149] holds 50, 99, 100, 149: 4
		{at: 300},
	}}
	if got := r.mostInPeriod(); got != 4 {
		t.Errorf("mostInPeriod() = %d, want 4", got)
	}
	if got := r.admitted(); got != 6 {
		t.Errorf("admitted() = %d, want 6", got)
	}
	if got := (outcome{p: algo.Params{Period: 100}}).mostInPeriod(); got != 0 {
		t.Errorf("mostInPeriod() of nothing = %d", got)
	}
}

func TestValidate(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	good := func() *peersFile {
		return &peersFile{Schema: peersSchema, Machine: "m", Unit: "ns/op", Tables: []peersTable{{
			Title: "T", Command: "go run .", Columns: []string{"a", "b", "c", "d"},
			Rows: []peersRow{{Library: "L", Kind: "peer", NsPerOp: []*float64{v(1), nil, v(0.5), v(2)},
				Notes: []peersNote{{Column: "a", Note: "n"}, {Column: "d", Note: "n"}}}},
		}}}
	}
	if err := good().validate(); err != nil {
		t.Fatalf("a valid file: %v", err)
	}
	for _, tc := range []struct {
		edit func(f *peersFile)
		want string
	}{
		{func(f *peersFile) { f.Schema = "" }, `schema is "", want "throttled-peers/1"`},
		{func(f *peersFile) { f.Machine = "" }, "machine, unit and tables are required"},
		{func(f *peersFile) { f.Unit = "" }, "machine, unit and tables are required"},
		{func(f *peersFile) { f.Tables = nil }, "machine, unit and tables are required"},
		{func(f *peersFile) { f.Tables[0].Command = "" }, `table "T": command, columns and rows are required`},
		{func(f *peersFile) { f.Tables[0].Columns = nil }, `table "T": command, columns and rows are required`},
		{func(f *peersFile) { f.Tables[0].Rows = nil }, `table "T": command, columns and rows are required`},
		{func(f *peersFile) { f.Tables[0].Columns = append(f.Tables[0].Columns, "e") }, `table "T": 5 columns, the chart has room for 4`},
		{func(f *peersFile) { f.Tables[0].Rows[0].Kind = "rival" }, `row "L": kind "rival" is not ours, throttled, peer or baseline`},
		{func(f *peersFile) { f.Tables[0].Rows[0].NsPerOp = f.Tables[0].Rows[0].NsPerOp[:3] }, `row "L": 3 values for 4 columns`},
		{func(f *peersFile) { f.Tables[0].Rows[0].NsPerOp[3] = v(0) }, `row "L", column "d": ns/op 0 is not positive`},
		{func(f *peersFile) { f.Tables[0].Rows[0].NsPerOp[0] = v(-1) }, `row "L", column "a": ns/op -1 is not positive`},
		{func(f *peersFile) { f.Tables[0].Rows[0].Notes[1].Column = "e" }, `row "L": note on unknown column "e"`},
	} {
		f := good()
		tc.edit(f)
		if err := f.validate(); err == nil || err.Error() != tc.want {
			t.Errorf("validate = %v, want %q", err, tc.want)
		}
	}
	if got := column(good().Tables[0], "c"); got != 2 {
		t.Errorf(`column "c" = %d, want 2`, got)
	}
	if got := column(good().Tables[0], "x"); got != -1 {
		t.Errorf(`column "x" = %d, want -1`, got)
	}
}

// TestBenchChartNotes draws the fixture, which has a note and cells not
// measured: the noted cell's label is starred and the note is a footnote.
func TestBenchChartNotes(t *testing.T) {
	f, err := readPeers(filepath.Join("testdata", "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(benchChart(f))
	if err := checkSVG([]byte(out)); err != nil {
		t.Fatal(err)
	}
	if err := checkBenchChart([]byte(out), f); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		">408.6</text>", ">1055.4 *</text>", ">797.9</text>",
		">* throttled/throttled/v2 GCRA (memstore, LRU 2^20), 1 key, 16 goroutines: some calls failed (timed, not counted as denials; the README gives no count).</text>",
		">— (not measured)</text>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if n := strings.Count(out, " *</text>"); n != 1 {
		t.Errorf("%d starred labels, want 1", n)
	}
	if n := strings.Count(out, "— (not measured)"); n != 2 {
		t.Errorf("%d cells not measured, want 2", n)
	}
}

// generatedRoot is a module root holding the checked-in peers.json and
// every chart, freshly drawn, and a go.mod of this module.
func generatedRoot(t *testing.T) string {
	t.Helper()
	root := tempRoot(t)
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+modulePath+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTool("-root", root); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestFileErrors puts directories and files where the tool expects the
// other: each failure is reported, not ignored.
func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(root string) error
		check bool // -check fails too
	}{
		{"a chart is a directory", func(root string) error {
			p := filepath.Join(root, filepath.FromSlash(peersSVG))
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.MkdirAll(filepath.Join(p, "x"), 0o755)
		}, true},
		{"the charts' directory is a file", func(root string) error {
			d := filepath.Join(root, filepath.FromSlash(algorithmsDir))
			if err := os.RemoveAll(d); err != nil {
				return err
			}
			return os.WriteFile(d, []byte("x"), 0o644)
		}, true},
	} {
		root := generatedRoot(t)
		if err := tc.spoil(root); err != nil {
			t.Fatal(err)
		}
		if _, err := runTool("-root", root); err == nil {
			t.Errorf("%s: generating succeeded", tc.name)
		}
		if out, err := runTool("-root", root, "-check"); err == nil || strings.Contains(out, "stale") || strings.Contains(out, "missing") {
			t.Errorf("%s: -check: %v, output %q; want an error", tc.name, err, out)
		}
	}
}

// TestRunFindsRoot runs the tool without -root from inside a module root
// and from outside any.
func TestRunFindsRoot(t *testing.T) {
	root := generatedRoot(t)
	sub := filepath.Join(root, "cmd", "throttled-charts")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if out, err := runTool("-check"); err != nil {
		t.Fatalf("-check from %s: %v\n%s", sub, err, out)
	}
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(peersSVG)), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool("-check"); err == nil || !strings.Contains(out, "stale: "+peersSVG) {
		t.Fatalf("-check of a stale chart from %s: %v, %q", sub, err, out)
	}
	if _, err := runTool(); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool("-check"); err != nil {
		t.Fatalf("-check after generating from %s: %v\n%s", sub, err, out)
	}

	t.Chdir(t.TempDir())
	if _, err := runTool("-check"); err == nil || !strings.Contains(err.Error(), "no go.mod of module "+modulePath) {
		t.Fatalf("-check outside a module: %v", err)
	}
}

// TestMainChecks runs main in the process on an up-to-date root: it returns.
func TestMainChecks(t *testing.T) {
	root := generatedRoot(t)
	args := os.Args
	defer func() { os.Args = args }()
	os.Args = []string{"throttled-charts", "-check", "-root", root}
	main()
}

func TestIsModuleRoot(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		gomod string
		want  bool
	}{
		{"module " + modulePath + "\n", true},
		{"// c\nmodule \"" + modulePath + "\"\n\ngo 1.26\n", true},
		{"module " + modulePath + "/v2\n", false},
		{"go 1.26\n", false},
		{"module\n", false},
		{"", false},
	} {
		name := filepath.Join(dir, "go.mod")
		if err := os.WriteFile(name, []byte(tc.gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := isModuleRoot(name); got != tc.want {
			t.Errorf("isModuleRoot(%q) = %v, want %v", tc.gomod, got, tc.want)
		}
	}
	if isModuleRoot(filepath.Join(dir, "missing")) {
		t.Error("isModuleRoot of a missing file = true")
	}
}

// TestWriteLeavesUnchangedFiles: generating again rewrites only what
// changed, and removes every chart it no longer draws, in both folders.
func TestWriteLeavesUnchangedFiles(t *testing.T) {
	root := generatedRoot(t)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	var names []string
	for _, pt := range patterns {
		names = append(names, filepath.Join(root, algorithmsDir, pt.name+".svg"))
	}
	names = append(names, filepath.Join(root, filepath.FromSlash(peersSVG)))
	for _, n := range names {
		if err := os.Chtimes(n, old, old); err != nil {
			t.Fatal(err)
		}
	}
	edited := names[1]
	if err := os.WriteFile(edited, []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(edited, old, old); err != nil {
		t.Fatal(err)
	}
	orphans := []string{filepath.Join(root, algorithmsDir, "a.svg"), filepath.Join(root, filepath.FromSlash(benchDir), "b.svg")}
	for _, o := range orphans {
		if err := os.WriteFile(o, []byte("<svg/>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(root, algorithmsDir, "notes.txt") // not a chart
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTool("-root", root); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		if changed := !st.ModTime().Equal(old); changed != (n == edited) {
			t.Errorf("%s: rewritten = %v, want %v", n, changed, n == edited)
		}
	}
	for _, o := range orphans {
		if _, err := os.Stat(o); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", o, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is not a chart was removed: %v", err)
	}
	if out, err := runTool("-root", root, "-check"); err != nil {
		t.Errorf("-check after generating: %v\n%s", err, out)
	}
}
