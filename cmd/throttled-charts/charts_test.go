package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/throttled-go/throttled/algo"
)

// allNames returns the five algorithms' names.
func allNames() []string {
	var names []string
	for _, a := range algo.Algorithms {
		names = append(names, a.String())
	}
	return names
}

// moduleRoot is the repository this test runs in.
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestCeilTo runs first (an arithmetic slip in ceilTo would make the
// charts' window-edge loop run for ever): the first multiple of step at or
// after t.
func TestCeilTo(t *testing.T) {
	for _, tc := range []struct{ t, step, want int64 }{
		{0, 5, 0}, {1, 5, 5}, {4, 5, 5}, {5, 5, 5}, {6, 5, 10},
		{start, sec, start}, {start + 1, sec, start + sec}, {start - 1, sec, start},
		{7, 1, 7},
	} {
		if got := ceilTo(tc.t, tc.step); got != tc.want {
			t.Fatalf("ceilTo(%d, %d) = %d, want %d", tc.t, tc.step, got, tc.want)
		}
	}
}

// TestChartsFresh fails when a checked-in chart differs from what the
// current step functions and peers.json draw, so a change to an algorithm
// without regenerating the pictures fails `go test ./...`.
func TestChartsFresh(t *testing.T) {
	root := moduleRoot(t)
	charts, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := compare(root, charts)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("charts out of date; run `go generate ./cmd/throttled-charts/` and commit docs/:\n%s", strings.Join(stale, "\n"))
	}
}

// TestChartsValid checks every chart drawn from the checked-in data: valid
// SVG, a panel with every series for each of the five algorithms, one dot
// per decision and per denial, one bar per measured cell; and small.
func TestChartsValid(t *testing.T) {
	root := moduleRoot(t)
	charts, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(patterns) + 1; len(charts) != want {
		t.Fatalf("%d charts, want %d", len(charts), want)
	}
	peers, err := readPeers(filepath.Join(root, peersJSON))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range charts {
		if err := checkSVG(c.data); err != nil {
			t.Errorf("%s: %v", c.path, err)
		}
		if len(c.data) > 64<<10 {
			t.Errorf("%s: %d bytes, want at most 64 KiB", c.path, len(c.data))
		}
		if c.path == peersSVG {
			if err := checkBenchChart(c.data, peers); err != nil {
				t.Errorf("%s: %v", c.path, err)
			}
			continue
		}
		runs, err := simulate(patterns[i], quota)
		if err != nil {
			t.Fatal(err)
		}
		dots := map[string][2]int{}
		for _, r := range runs {
			dots[r.alg.String()] = [2]int{len(r.events), len(r.events) - r.admitted()}
		}
		if err := checkAlgorithmChart(c.data, dots); err != nil {
			t.Errorf("%s: %v", c.path, err)
		}
	}
}

// TestChecksCanFail feeds the checks broken charts: each must be caught.
func TestChecksCanFail(t *testing.T) {
	charts, err := render(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	alg, bench := charts[0].data, charts[len(charts)-1].data
	peers, err := readPeers(filepath.Join(moduleRoot(t), peersJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAlgorithmChart(alg, nil); err != nil {
		t.Fatalf("the intact chart fails: %v", err)
	}
	// Count every decision of fixed_window's run, to break the dot count.
	runs, err := simulate(patterns[0], quota)
	if err != nil {
		t.Fatal(err)
	}
	n := len(runs[0].events)
	brokenAlg := map[string][]byte{
		"gcra panel renamed":     bytes.Replace(alg, []byte(`data-algorithm="gcra"`), []byte(`data-algorithm="gcra2"`), 1),
		"gcra panel dropped":     bytes.Replace(alg, []byte(`data-algorithm="gcra"`), []byte(`data-x="gcra"`), 1),
		"a series dropped":       bytes.Replace(alg, []byte(`data-series="remaining"`), []byte(`data-x="remaining"`), 1),
		"a panel duplicated":     bytes.Replace(alg, []byte(`data-algorithm="gcra"`), []byte(`data-algorithm="token_bucket"`), 1),
		"a remaining dot missed": bytes.Replace(alg, []byte(`h0M`), []byte(`h0L`), 1),
	}
	for name, data := range brokenAlg {
		if bytes.Equal(data, alg) {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		dots := map[string][2]int{}
		if name == "a remaining dot missed" {
			dots["fixed_window"] = [2]int{n, n - runs[0].admitted()}
		}
		if err := checkAlgorithmChart(data, dots); err == nil {
			t.Errorf("%s: checkAlgorithmChart passed", name)
		}
	}
	if err := checkBenchChart(bench, peers); err != nil {
		t.Fatalf("the intact chart fails: %v", err)
	}
	bar := regexp.MustCompile(`<rect data-column="[^"]*"[^>]*/>\n`).FindIndex(bench)
	brokenBench := map[string][]byte{
		"a bar dropped":   append(bytes.Clone(bench[:bar[0]]), bench[bar[1]:]...),
		"a row dropped":   bytes.Replace(bench, []byte(`data-library=`), []byte(`data-x=`), 1),
		"a bar relabeled": bytes.Replace(bench, []byte(`data-column="1 key, serial"`), []byte(`data-column="1 key"`), 1),
	}
	for name, data := range brokenBench {
		if err := checkBenchChart(data, peers); err == nil {
			t.Errorf("%s: checkBenchChart passed", name)
		}
	}
	brokenSVG := map[string][]byte{
		"foreignObject":   bytes.Replace(alg, []byte("</svg>"), []byte("<foreignObject/></svg>"), 1),
		"not well-formed": bytes.Replace(alg, []byte("</svg>"), nil, 1),
		"text overflow":   bytes.Replace(alg, []byte("</svg>"), []byte(`<text x="900" y="9">`+strings.Repeat("x", 20)+"</text></svg>"), 1),
		"wrong viewBox":   bytes.Replace(alg, []byte(`viewBox="0 0 960`), []byte(`viewBox="0 0 961`), 1),
		"external link":   bytes.Replace(alg, []byte("</svg>"), []byte(`<a href="https://example.com/x"/></svg>`), 1),
	}
	for name, data := range brokenSVG {
		if bytes.Equal(data, alg) {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if err := checkSVG(data); err == nil {
			t.Errorf("%s: checkSVG passed", name)
		}
	}
}

// TestDeterministic draws everything twice: the bytes must not change.
func TestDeterministic(t *testing.T) {
	root := moduleRoot(t)
	a, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].path != b[i].path || !bytes.Equal(a[i].data, b[i].data) {
			t.Errorf("%s: two renderings differ", a[i].path)
		}
	}
}

// TestREADMELinksCharts checks that docs/algorithms/README.md embeds every
// algorithm chart by a relative link that resolves.
func TestREADMELinksCharts(t *testing.T) {
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, algorithmsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllSubmatch(readme, -1)
	linked := map[string]bool{}
	for _, l := range links {
		target := string(l[1])
		linked[target] = true
		if _, err := os.Stat(filepath.Join(root, algorithmsDir, filepath.FromSlash(target))); err != nil {
			t.Errorf("README.md links %s: %v", target, err)
		}
	}
	for _, pt := range patterns {
		if !linked[pt.name+".svg"] {
			t.Errorf("README.md does not embed %s.svg", pt.name)
		}
	}
}
