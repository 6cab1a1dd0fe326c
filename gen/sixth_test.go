package main

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
)

// TestSixthAlgorithm proves the walk-through of ARCHITECTURE.md: a new
// step function dropped next to algo's sources (testdata/sixth, a fixed
// window written afresh under the name Tumbling, code 6) is accepted by the
// generator, which emits its Go binding, adds it to the Redis script and
// writes its single-decision script; and both scripts, run on a real
// Redis (throttled.lua with code 6), decide exactly as
// algo.FixedWindowStep does on random requests.
func TestSixthAlgorithm(t *testing.T) {
	dir := t.TempDir()
	algoSrc := filepath.Join(moduleRoot, algoDir)
	entries, err := os.ReadDir(algoSrc)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			copyFile(t, filepath.Join(algoSrc, n), filepath.Join(dir, "algo", n))
		}
	}
	copyFile(t, "testdata/sixth/tumbling.go.txt", filepath.Join(dir, "algo", "tumbling.go"))
	out, err := runGenerate(t, dir, "algo")
	if err != nil {
		t.Fatalf("generate with a sixth algorithm: %v", err)
	}
	if _, ok := out["internal/steps/tumbling_gen.go"]; !ok {
		t.Fatalf("no Go binding for the sixth algorithm; outputs: %v", sortedKeys(out))
	}
	script := string(out["store/redisstore/lua/throttled.lua"])
	for _, want := range []string{"local function tumblingStep(", "if code == 6 then -- tumbling", "-- algo/tumbling.go:", "repeat -- TumblingStep, inline"} {
		if !strings.Contains(script, want) {
			t.Fatalf("the script lacks %q", want)
		}
	}
	single := string(out["store/redisstore/lua/tumbling.lua"])
	if !strings.Contains(single, "repeat -- TumblingStep, inline") {
		t.Fatalf("no single-decision script lua/tumbling.lua with the step inline; outputs: %v", sortedKeys(out))
	}
	// The inline form of its else if, whose condition calls floorDiv: else
	// at the first if's level, the helpers' lines and the if one level in,
	// the if's body two, and an end for each (the tests and
	// scripts/mutate-lua.sh read blocks by their indentation).
	m := regexp.MustCompile(`(?m)^( *)else\n *local h\d+ = s_Last\n`).FindStringSubmatch(script)
	var nested *regexp.Regexp
	if m != nil {
		in := m[1]
		nested = regexp.MustCompile(`(?m)^` + in + `if s_Last == now then\n` + in + `  fresh = false.*\n` +
			in + `else\n` + in + `  local h\d+ = s_Last\n(?:` + in + `  .*\n)*?` +
			in + `  if h\d+ < h\d+ then\n` + in + `    fresh = true\n` + in + `  end\n` + in + `end\n`)
	}
	if nested == nil || !nested.MatchString(script) {
		t.Fatal("the script's inline TumblingStep lacks the else, helpers, if form of its else if, indented")
	}

	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(6, 6))
	for i := range 300 {
		q := algo.PerDuration(time.Duration(1+rng.Int64N(5000))*time.Millisecond, 1+rng.Int64N(20))
		p, err := algo.Compile(algo.FixedWindow, q)
		if err != nil {
			t.Fatal(err)
		}
		key := "sixth:" + strconv.Itoa(i)
		s := algo.FixedWindowInit(p, 0)
		fresh := true
		now := int64(1_700_000_000_000_000) + rng.Int64N(1e9)
		for range 20 {
			now += rng.Int64N(2*p.Period) - p.Period/4 // sometimes back
			cost := rng.Int64N(p.Limit + 2)
			if fresh {
				s = algo.FixedWindowInit(p, now)
			}
			ns, want := algo.FixedWindowStep(s, p, now, cost)
			// A minute of TTL slack: keys outlive the test. Each script
			// keeps a key of its own.
			for _, call := range []struct{ name, script, key, args string }{
				{"throttled.lua", script, key, numbers(now, 60_000, 1000, 1, 6, p.Period, p.Limit, 0, 0, cost)},
				{"tumbling.lua", single, key + ":single", numbers(now, 60_000, 1000, p.Period, p.Limit, cost)},
			} {
				msg, err := c.Do(ctx, c.B().Eval().Script(call.script).Numkeys(1).Key(call.key).Arg(call.args).Build()).ToMessage()
				if err != nil {
					t.Fatalf("EVAL %s: %v", call.name, err)
				}
				got := decision(t, msg, p.Limit)
				if got != want {
					t.Fatalf("quota %v at %d cost %d: %s's sixth algorithm decided %+v, algo.FixedWindowStep %+v", q, now, cost, call.name, got, want)
				}
			}
			if !want.Limited && cost > 0 {
				s, fresh = ns, false
			}
		}
	}
}

// numbers encodes vs as the script's ARGV[1]: little-endian float64s.
func numbers(vs ...int64) string {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
	}
	return string(b)
}

// decision decodes a single decision's reply: an allowed one may be the
// integer ResetAfter·(bound+1) + Remaining, bound the algorithm's Limit
// (the single-decision script's header); else a string of six float64s,
// status first.
func decision(t *testing.T, msg rueidis.RedisMessage, bound int64) algo.Decision {
	t.Helper()
	if n, err := msg.ToInt64(); err == nil {
		return algo.Decision{Remaining: n % (bound + 1), ResetAfter: n / (bound + 1)}
	}
	raw, err := msg.ToString()
	if err != nil {
		t.Fatalf("reply %v is neither an integer nor a string", msg)
	}
	if len(raw) != 6*8 {
		t.Fatalf("reply of %d bytes, want 48", len(raw))
	}
	f := func(i int) int64 {
		return int64(math.Float64frombits(binary.LittleEndian.Uint64([]byte(raw[8*i : 8*i+8]))))
	}
	if f(0) != 0 {
		t.Fatalf("reply status %d (fault %d), want 0", f(0), f(1))
	}
	return algo.Decision{Limited: f(2) != 0, Remaining: f(3), RetryAfter: f(4), ResetAfter: f(5)}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
