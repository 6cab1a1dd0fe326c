package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempRoot returns a module root in a temporary directory holding only the
// checked-in peers.json, the tool's one input.
func tempRoot(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), peersJSON))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, benchDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, peersJSON), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// runTool runs the command with args and returns its error and stdout.
func runTool(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), err
}

// TestRunWritesThenChecks generates into an empty root, then -check passes
// until a chart is edited, deleted or joined by one the tool does not draw;
// generating again repairs each.
func TestRunWritesThenChecks(t *testing.T) {
	root := tempRoot(t)
	if out, err := runTool("-root", root, "-check"); err == nil || !strings.Contains(out, "missing: docs/algorithms/window-boundary.svg") {
		t.Fatalf("-check on an empty root: err %v, output %q; want missing charts", err, out)
	}
	if _, err := runTool("-root", root); err != nil {
		t.Fatal(err)
	}
	for _, pt := range patterns {
		if _, err := os.Stat(filepath.Join(root, algorithmsDir, pt.name+".svg")); err != nil {
			t.Error(err)
		}
	}
	if out, err := runTool("-root", root, "-check"); err != nil {
		t.Fatalf("-check right after generating: %v\n%s", err, out)
	}

	chart := filepath.Join(root, filepath.FromSlash(peersSVG))
	orphan := filepath.Join(root, algorithmsDir, "old-pattern.svg")
	for _, tc := range []struct {
		name  string
		spoil func() error
		want  string
	}{
		{"edited", func() error { return os.WriteFile(chart, []byte("<svg/>"), 0o644) }, "stale: " + peersSVG},
		{"deleted", func() error { return os.Remove(chart) }, "missing: " + peersSVG},
		{"orphan", func() error { return os.WriteFile(orphan, []byte("<svg/>"), 0o644) }, "not drawn by throttled-charts: docs/algorithms/old-pattern.svg"},
	} {
		if err := tc.spoil(); err != nil {
			t.Fatal(err)
		}
		out, err := runTool("-root", root, "-check")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: -check: err %v, output %q; want %q", tc.name, err, out, tc.want)
		}
		if _, err := runTool("-root", root); err != nil {
			t.Fatal(err)
		}
		if out, err := runTool("-root", root, "-check"); err != nil {
			t.Errorf("%s: -check after regenerating: %v\n%s", tc.name, err, out)
		}
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("regenerating kept %s: %v", orphan, err)
	}
}

// TestRunErrors covers bad input: flags, a missing or invalid peers.json.
func TestRunErrors(t *testing.T) {
	if _, err := runTool("-root", t.TempDir()); err == nil || !strings.Contains(err.Error(), "peers.json") {
		t.Errorf("root without peers.json: %v", err)
	}
	if _, err := runTool("extra"); err == nil {
		t.Error("an argument was accepted")
	}
	if _, err := runTool("-nope"); err == nil {
		t.Error("an unknown flag was accepted")
	}
	// The edits apply to a fixed copy of a peers.json (testdata), so a new
	// benchmark run does not change what they find.
	fixture, err := os.ReadFile(filepath.Join("testdata", "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"unknown field":   {`"unit"`, `"units"`},
		"bad kind":        {`"kind": "peer"`, `"kind": "rival"`},
		"short row":       {`[35.0, 87.5, 202.9, 282.0]`, `[35.0, 87.5, 202.9]`},
		"negative value":  {`[35.0,`, `[-35.0,`},
		"note off column": {`"column": "1 key, 16 goroutines"`, `"column": "2 keys"`},
		"wrong schema":    {`"throttled-peers/1"`, `"throttled-peers/0"`},
	} {
		root := tempRoot(t)
		data := fixture
		if !bytes.Contains(data, []byte(edit[0])) {
			t.Fatalf("%s: %q is not in peers.json", name, edit[0])
		}
		data = bytes.Replace(data, []byte(edit[0]), []byte(edit[1]), 1)
		if err := os.WriteFile(filepath.Join(root, peersJSON), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := runTool("-root", root); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestFindRoot finds this module's root from a subdirectory, and refuses a
// directory tree whose go.mod is another module's.
func TestFindRoot(t *testing.T) {
	root := moduleRoot(t)
	got, err := findRoot(filepath.Join(root, "cmd", "throttled-charts"))
	if err != nil || got != root {
		t.Errorf("findRoot from the package: %q, %v; want %q", got, err, root)
	}
	other := t.TempDir()
	sub := filepath.Join(other, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findRoot(sub); err == nil {
		t.Errorf("findRoot under another module: %q", got)
	}
	if err := os.WriteFile(filepath.Join(other, "a", "go.mod"), []byte("// x\nmodule "+modulePath+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findRoot(sub); err != nil || got != filepath.Join(other, "a") {
		t.Errorf("findRoot: %q, %v; want %q", got, err, filepath.Join(other, "a"))
	}
}
