package typed_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLimitInlines checks that Go inlines Limit at a plain call site
// (testdata/inlinelimit): the caller's Result is then the one the fast
// lane fills, where a Result returned from a call of its own is copied
// once more (cmd/throttled-bench: 89-98 against 73-79 ns a memory
// decision). Limit must stay a call of limitInto and no more.
func TestLimitInlines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	out, err := exec.Command("go", "build", "-gcflags=-m", "-o", os.DevNull, "./testdata/inlinelimit").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The line of the call in main.go; other lines name Limit's callers
	// inside this package, and methods whose names begin with Limit.
	const want = ": inlining call to typed.(*Limiter[go.shape.string]).Limit"
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "testdata/inlinelimit/main.go:") && strings.HasSuffix(line, want) {
			return
		}
	}
	t.Fatalf("Limit is not inlined at testdata/inlinelimit's call: -gcflags=-m printed no line of main.go ending %q:\n%s", want, out)
}
