package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyOK copies testdata/ok, a package using every accepted construct and
// quick to type-check (it imports nothing), to root/ok.
func copyOK(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "ok"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") {
			copyFile(t, filepath.Join("testdata", "ok", n), filepath.Join(root, "ok", n))
		}
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunWritesOutputs runs the command on a package: it writes every
// file generate makes, leaves a file that is already right untouched,
// removes the stale files in its folders (and nothing else), and a second
// run changes nothing.
func TestRunWritesOutputs(t *testing.T) {
	root := t.TempDir()
	copyOK(t, root)
	want, err := runGenerate(t, root, "ok")
	if err != nil {
		t.Fatal(err)
	}

	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	same := filepath.Join(root, "internal", "steps", "steps_gen.go")
	writeFile(t, same, string(want["internal/steps/steps_gen.go"]))
	edited := filepath.Join(root, "store", "redisstore", "lua", "throttled.lua")
	writeFile(t, edited, "-- an old script\n")
	for _, n := range []string{same, edited} {
		if err := os.Chtimes(n, old, old); err != nil {
			t.Fatal(err)
		}
	}
	stale := []string{
		filepath.Join(root, "internal", "steps", "tumbling_gen.go"),
		filepath.Join(root, "store", "redisstore", "lua", "old.lua"),
		filepath.Join(root, "store", "redisstore", "old_gen.go"),
		filepath.Join(root, "store", "redisstore", "old_gen_test.go"),
		filepath.Join(root, "store", "memstore", "old_gen.go"),
	}
	kept := []string{
		filepath.Join(root, "internal", "steps", "steps.go"),
		filepath.Join(root, "store", "redisstore", "redisstore.go"),
		filepath.Join(root, "store", "redisstore", "lua", "README.md"),
	}
	for _, n := range append(append([]string(nil), stale...), kept...) {
		writeFile(t, n, "x")
	}

	if err := run(root, "ok"); err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %v, or not what generate makes", name, err)
		}
	}
	for _, n := range []string{same, edited} {
		st, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		if rewritten := !st.ModTime().Equal(old); rewritten != (n == edited) {
			t.Errorf("%s: rewritten = %v, want %v", n, rewritten, n == edited)
		}
	}
	for _, n := range stale {
		if _, err := os.Stat(n); !os.IsNotExist(err) {
			t.Errorf("stale %s not removed: %v", n, err)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(n); err != nil {
			t.Errorf("%s, not generated, was removed: %v", n, err)
		}
	}

	// main does the same from its flags, and finds nothing to change.
	for name := range want {
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(name)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	args := os.Args
	defer func() { os.Args = args }()
	os.Args = []string{"gen", "-root", root, "-algo", "ok"}
	wd, _ := os.Getwd()
	main()
	if now, _ := os.Getwd(); now != wd {
		t.Fatalf("main left the working directory at %s", now)
	}
	for name := range want {
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil || !st.ModTime().Equal(old) {
			t.Errorf("%s rewritten by a run that had nothing to change (%v)", name, err)
		}
	}
}

// TestRunFails checks the failures run reports: no such root, no such
// package, and outputs it cannot write.
func TestRunFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(root string)
		want  string
	}{
		{"no root", func(root string) { os.RemoveAll(root) }, "no such file or directory"},
		{"no package", func(root string) { os.RemoveAll(filepath.Join(root, "ok")) }, "no such file or directory"},
		{"a file where a folder goes", func(root string) { writeFile(t, filepath.Join(root, "internal"), "x") }, "not a directory"},
		{"a folder where a file goes", func(root string) {
			writeFile(t, filepath.Join(root, "store", "redisstore", "script_gen.go", "x"), "x")
		}, "is a directory"},
	} {
		root := t.TempDir()
		copyOK(t, root)
		tc.setup(root)
		wd, _ := os.Getwd()
		err := run(root, "ok")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: run = %v, want an error saying %q", tc.name, err, tc.want)
		}
		if now, _ := os.Getwd(); now != wd {
			t.Fatalf("%s: run left the working directory at %s", tc.name, now)
		}
	}
}

// genPackage generates package p, made of files, in a new root.
func genPackage(t *testing.T, files map[string]string) (map[string][]byte, error) {
	t.Helper()
	root := t.TempDir()
	for name, src := range files {
		writeFile(t, filepath.Join(root, "p", name), src)
	}
	return runGenerate(t, root, "p")
}

// TestLoadFails checks the packages generate cannot read: no Go file, a
// syntax error, a type error, no marked function.
func TestLoadFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no Go file", map[string]string{"base.go.txt": refuseBase, "x_test.go": "package p\n"}, "p: no Go files"},
		{"syntax error", map[string]string{"base.go": refuseBase, "x.go": "package p\n\nfunc (\n"}, "p/x.go:3:8: expected ')'"},
		{"type error", map[string]string{"base.go": refuseBase, "x.go": "package p\n\nvar v int64 = \"s\"\n"}, "x.go:3:15: cannot use"},
		{"nothing marked", map[string]string{"base.go": refuseBase, "x.go": "package p\n\nfunc XStep() {}\n"}, "p: no functions marked //throttled:step"},
	} {
		_, err := genPackage(t, tc.files)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: generate = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestAlgorithmCodeBounds: the codes 1 and 255, the extremes, name the
// algorithm in the script (0 and 256 are refused, see TestRefuse).
func TestAlgorithmCodeBounds(t *testing.T) {
	src := strings.NewReplacer("XInit", "YInit", "XStep", "YStep").Replace(stepWith(`	return s, Decision{}
`))
	for _, code := range []string{"1", "255"} {
		out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": src + "\nconst Y = " + code + "\n"})
		if err != nil {
			t.Fatalf("code %s: %v", code, err)
		}
		if script := string(out["store/redisstore/lua/throttled.lua"]); !strings.Contains(script, "if code == "+code+" then -- y") {
			t.Errorf("code %s: the script does not dispatch it:\n%s", code, script)
		}
	}
}

// TestTranslateComments checks where comments of a step body go: one on a
// statement's last line is appended to it; one spanning several lines,
// even if it starts there, gets lines of its own.
func TestTranslateComments(t *testing.T) {
	out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": stepWith(`	n := s.N + cost // one line
	m := n /*two
lines*/
	return State{Last: now, N: m}, Decision{}
`)})
	if err != nil {
		t.Fatal(err)
	}
	script := string(out["store/redisstore/lua/throttled.lua"])
	for _, want := range []string{
		"\n  local n = s_N + cost -- one line\n",
		"\n  local m = n\n  -- two\n  -- lines\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
}

// TestTranslateRedeclaration: := that redeclares a name (Go reuses the
// variable) assigns it, as := of new names declares them.
func TestTranslateRedeclaration(t *testing.T) {
	out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": stepWith(`	n := s.N
	n, m := n+cost, now
	return State{Last: m, N: n}, Decision{}
`)})
	if err != nil {
		t.Fatal(err)
	}
	script := string(out["store/redisstore/lua/throttled.lua"])
	if want := "\n  local n, m = n + cost, now\n"; !strings.Contains(script, want) {
		t.Errorf("the script lacks %q:\n%s", want, script)
	}
}

// TestTranslateCommentsAgainstCode: comments written against the code, not
// separated by a space, are kept: one ending where a statement starts goes
// on a line before it, one ending where the body's brace starts is kept
// too.
func TestTranslateCommentsAgainstCode(t *testing.T) {
	out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": stepWith(`	/*before*/n := s.N + cost
	return State{Last: now, N: n}, Decision{} /*last*/`)})
	if err != nil {
		t.Fatal(err)
	}
	script := string(out["store/redisstore/lua/throttled.lua"])
	for _, want := range []string{
		"\n  -- before\n  local n = s_N + cost\n",
		"\n  return now, n, false, 0, 0, 0 -- last\nend\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
}

// TestTranslateExactConstants: ±2^53, the largest integers a Lua double
// holds with their neighbours, are accepted (2^53+1 is refused, see
// TestRefuse).
func TestTranslateExactConstants(t *testing.T) {
	out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": stepWith(`	n := s.N + 1<<53
	m := cost + -1<<53
	return State{Last: m, N: n}, Decision{}
`)})
	if err != nil {
		t.Fatal(err)
	}
	script := string(out["store/redisstore/lua/throttled.lua"])
	// (A shift is a constant expression Lua gets as its value, in parentheses.)
	for _, want := range []string{"local n = s_N + (9007199254740992)\n", "local m = cost + (-9007199254740992)\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
}

// TestNames checks the names derived from an algorithm's: its file name
// in snake case (an acronym stays one word, and ends before the word
// that follows it), and its unexported Lua name ("" is not checked).
func TestNames(t *testing.T) {
	for _, tc := range []struct{ name, snake, lower string }{
		{"TokenBucket", "token_bucket", "tokenBucket"},
		{"GCRA", "gcra", "gcra"},
		{"HTTPWindow", "http_window", ""},
		{"WindowHTTP", "window_http", "windowHTTP"},
		{"X", "x", "x"},
		{"Tumbling", "tumbling", "tumbling"},
	} {
		a := &algorithm{Name: tc.name}
		if got := a.Snake(); got != tc.snake {
			t.Errorf("%s: Snake() = %q, want %q", tc.name, got, tc.snake)
		}
		if got := a.Lower(); tc.lower != "" && got != tc.lower {
			t.Errorf("%s: Lower() = %q, want %q", tc.name, got, tc.lower)
		}
	}
}

// TestInlineBindings: an inlined function binds only the parameters it
// reads whose argument is another name, or which it assigns to; the
// single-decision script names its locals as the step's parameters, so
// that its step binds only those it assigns to (now, here; cost too when
// the step assigns it), and XInit, which reads no parameter of q, binds
// nothing. A parameter left unbound that the function assigns would change
// the outer local the script reads afterwards.
func TestInlineBindings(t *testing.T) {
	const body = `	if now < s.Last {
		now = s.Last
	}
	n := s.N + cost
	return State{Last: now, N: n}, Decision{Remaining: q.Limit - n}
`
	// firstLine returns the line after the first "repeat -- <fn>, inline".
	firstLine := func(script, fn string) string {
		_, rest, ok := strings.Cut(script, "repeat -- "+fn+", inline")
		if !ok {
			t.Fatalf("no inline %s in:\n%s", fn, script)
		}
		_, rest, _ = strings.Cut(rest, "\n")
		line, _, _ := strings.Cut(rest, "\n")
		return strings.TrimSpace(line)
	}
	for _, c := range []struct {
		name, body      string
		general, single string // the step's first line in throttled.lua's one-policy path and in x.lua
	}{
		{"cost read", body, "local s_Last, s_N, q_Limit, now = s1, s2, q1, now", "local now = now"},
		{"cost assigned", "\tcost = cost + 1\n" + body, "local s_Last, s_N, q_Limit, now, cost = s1, s2, q1, now, cost", "local now, cost = now, cost"},
	} {
		out, err := genPackage(t, map[string]string{"base.go": refuseBase, "x.go": stepWith(c.body)})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		general, single := string(out["store/redisstore/lua/throttled.lua"]), string(out["store/redisstore/lua/x.lua"])
		if got := firstLine(general, "XStep"); got != c.general {
			t.Errorf("%s: throttled.lua's inline XStep starts %q, want %q", c.name, got, c.general)
		}
		if got := firstLine(single, "XStep"); got != c.single {
			t.Errorf("%s: x.lua's inline XStep starts %q, want %q", c.name, got, c.single)
		}
		for _, script := range []string{general, single} {
			if got := firstLine(script, "XInit"); strings.HasPrefix(got, "local ") {
				t.Errorf("%s: an inline XInit binds %q, parameters it never reads or reads in place", c.name, got)
			}
		}
	}
}
