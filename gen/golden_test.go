package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/*/golden")

// runGenerate calls generate and checks that it gave the working directory
// back. generate changes directory, so no test calling it may be parallel.
func runGenerate(t *testing.T, root, algoDir string) (map[string][]byte, error) {
	t.Helper()
	before, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// generate runs in a goroutine of its own, watched: a generator that
	// loops for ever fails its test in 20s, not at go test's timeout.
	var out map[string][]byte
	var genErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, genErr = generate(root, algoDir)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("generate(%q, %q) still running after 20s", root, algoDir)
	}
	after, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		if err := os.Chdir(before); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("generate(%q, %q) left the working directory at %s, want %s", root, algoDir, after, before)
	}
	return out, genErr
}

// goldenName maps an output path of generate to its file under golden/:
// store/redisstore/lua/x.lua → x.lua, a/b/x.go → a.b.x.go.golden (Go files
// get a suffix so no tool mistakes them for source).
func goldenName(out string) string {
	if name, ok := strings.CutPrefix(out, "store/redisstore/lua/"); ok {
		return name
	}
	return strings.ReplaceAll(strings.TrimPrefix(out, "store/"), "/", ".") + ".golden"
}

// TestGolden translates testdata/ok, a package using every accepted
// construct, and compares every output file byte for byte with golden/.
// Run go test ./gen -run TestGolden -update to rewrite them.
func TestGolden(t *testing.T) {
	const pkg = "testdata/ok"
	out, err := runGenerate(t, ".", pkg)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	goldenDir := filepath.Join(pkg, "golden")
	want := map[string]string{} // golden file name → output path
	for o := range out {
		g := goldenName(o)
		if prev, dup := want[g]; dup {
			t.Fatalf("outputs %s and %s map to the same golden file %s", prev, o, g)
		}
		want[g] = o
	}
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for g, o := range want {
			if err := os.WriteFile(filepath.Join(goldenDir, g), out[o], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatalf("%v (run go test ./gen -run TestGolden -update)", err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("golden/%s: no such output any more (run with -update)", e.Name())
		}
	}
	names := make([]string, 0, len(want))
	for g := range want {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		got := out[want[g]]
		wantBytes, err := os.ReadFile(filepath.Join(goldenDir, g))
		if err != nil {
			t.Errorf("%s: %v (run with -update)", want[g], err)
			continue
		}
		if !bytes.Equal(got, wantBytes) {
			t.Errorf("%s differs from golden/%s (run with -update if the change is intended):\n%s", want[g], g, lineDiff(wantBytes, got))
		}
	}
}

// lineDiff reports the first differing line of two texts, with context.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if i >= len(w) || i >= len(g) || wl != gl {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  want: " + quoteLine(w, i) + "\n  got:  " + quoteLine(g, i)
		}
	}
	return "texts are equal"
}

func quoteLine(lines []string, i int) string {
	if i >= len(lines) {
		return "<end of file>"
	}
	return "`" + lines[i] + "`"
}
