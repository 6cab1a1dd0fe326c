package redisstore

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/internal/redistest"
)

// prelude returns the script's helpers: its line of locals ("local fmod")
// and the functions from "local function floorDiv" to the first translated
// function (marked by its "-- algo/" source comment).
func prelude(t testing.TB) string {
	t.Helper()
	locals := strings.Index(scriptSource, "local fmod")
	start := strings.Index(scriptSource, "local function floorDiv")
	end := strings.Index(scriptSource, "\n-- algo/")
	if locals < 0 || start < locals || end < start {
		t.Fatalf("cannot find the prelude in the script")
	}
	line, _, _ := strings.Cut(scriptSource[locals:], "\n")
	return line + "\n" + scriptSource[start:end]
}

// TestLuaPrelude runs the script's floorDiv, ceilDiv and later on a real
// Redis against exact Go integer arithmetic: the divisions on the edges of
// their range (|a| up to 2^53, b up to 2^52, around -2^52 where they
// switch from % to math.fmod) and on random operands; later on durations
// of 0, -1 (never) and positive ones, with and without a lag.
func TestLuaPrelude(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	cases := divisionCases()
	raw := evalPairs(t, c, prelude(t), `  out[i] = struct.pack('<dddd', floorDiv(a, b), ceilDiv(a, b), later(a, b), later(b, a))`, 4, cases)
	for i, p := range cases {
		wantFloor, wantCeil := p.exact()
		gotFloor, gotCeil := float64At(raw, 4*i), float64At(raw, 4*i+1)
		if gotFloor != float64(wantFloor) || gotCeil != float64(wantCeil) {
			t.Errorf("a=%d b=%d: Lua floorDiv %v ceilDiv %v, want %d and %d", p.a, p.b, gotFloor, gotCeil, wantFloor, wantCeil)
		}
		if p.laterExact() {
			if got, want := float64At(raw, 4*i+2), later(p.a, p.b); got != float64(want) {
				t.Errorf("later(%d, %d) = %v, want %d", p.a, p.b, got, want)
			}
			if got, want := float64At(raw, 4*i+3), later(p.b, p.a); got != float64(want) {
				t.Errorf("later(%d, %d) = %v, want %d", p.b, p.a, got, want)
			}
		}
	}
	t.Logf("%d cases", len(cases))
}

// abs returns |v|.
func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

type division struct{ a, b int64 }

// exact returns ⌊a/b⌋ and ⌈a/b⌉ in integers.
func (p division) exact() (floor, ceil int64) {
	floor, ceil = p.a/p.b, p.a/p.b
	if p.a%p.b != 0 {
		if p.a < 0 {
			floor--
		} else {
			ceil++
		}
	}
	return floor, ceil
}

// laterExact reports whether later(a, b) and later(b, a) are exact in a
// float64: when |a| + b ≤ 2^53, as the step functions keep their sums.
func (p division) laterExact() bool { return abs(p.a)+p.b <= 1<<53 }

// later is the script's later: d + lag for a positive d, else d.
func later(d, lag int64) int64 {
	if d > 0 {
		return d + lag
	}
	return d
}

// evalPairs runs on Redis a script of head, then a loop over the pairs
// (a, b) of cases whose body (loop) sets out[i] to a string of n float64s,
// and returns the strings concatenated.
func evalPairs(t *testing.T, c rueidis.Client, head, loop string, n int, cases []division) string {
	t.Helper()
	var arg []byte
	for _, p := range cases {
		arg = appendNumbers(arg, p.a, p.b)
	}
	script := head + "\nlocal out = {}\nfor i = 1, #ARGV[1] / 16 do\n" +
		"  local a, b = struct.unpack('<dd', ARGV[1], 16 * i - 15)\n" + loop + "\nend\nreturn table.concat(out)\n"
	raw, err := c.Do(context.Background(), c.B().Eval().Script(script).Numkeys(0).Arg(string(arg)).Build()).ToString()
	if err != nil || len(raw) != 8*n*len(cases) {
		t.Fatalf("EVAL: %d bytes, %v\n%s", len(raw), err, script)
	}
	return raw
}

// divisionCases returns the operands: every pair of edge values, and
// random ones, some next to a multiple of b.
func divisionCases() []division {
	const p52, p53 = int64(1) << 52, int64(1) << 53
	var as, bs []int64
	for _, v := range []int64{0, 1, 2, 3, 999, 1000, 1001, p52 - 3, p52 - 1, p52, p52 + 1, p52 + 3, p53 - 3, p53 - 1, p53} {
		as = append(as, v, -v)
	}
	bs = append(bs, 1, 2, 3, 7, 1000, 1_000_000, p52/3+1, p52-1, p52)
	var cases []division
	for _, a := range as {
		for _, b := range bs {
			cases = append(cases, division{a, b})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		b := 1 + r.Int64N(p52)
		if r.IntN(2) == 0 {
			b = 1 + r.Int64N(10_000)
		}
		a := r.Int64N(2*p53+1) - p53
		if r.IntN(3) == 0 {
			a = a/b*b + r.Int64N(3) - 1 // next to a multiple of b
		}
		if a > p53 || a < -p53 {
			continue
		}
		cases = append(cases, division{a, b})
	}
	return cases
}

// expansion is one helper call the generator wrote inline in a script:
// out is the local it computes, divisor the name (or number) it divides
// by or adds, lines the block from "local out = …" to its "end".
type expansion struct {
	helper  string // floorDiv, ceilDiv or later
	out     string
	divisor string
	lines   []string
	at      string // file:line in the scripts
}

// scripts returns the store's scripts by file: throttled.lua and every
// algorithm's single-decision script.
func scripts() map[string]string {
	out := map[string]string{"lua/throttled.lua": scriptSource}
	for _, sc := range singleScripts {
		if sc.file != "" {
			out[sc.file] = sc.source
		}
	}
	return out
}

// expansions finds the scripts' inline helper calls: a line "local X = …"
// where X is a temporary hN, or the TTL's "local t = <name>" (then
// perhaps "local Xb = …"),
// and the block to the "end" at its indentation: a division when its "if"
// compares with −2^52 (ceilDiv when the next line takes the remainder
// "local Xr", floorDiv otherwise), min or max when the "if" says so in a
// comment, later otherwise. The "if" lines are told apart by what follows
// them, not by their operators, so that a mutated comparison is still
// found and run.
func expansions(t *testing.T) []expansion {
	t.Helper()
	var out []expansion
	all := scripts()
	for _, file := range slices.Sorted(maps.Keys(all)) {
		out = append(out, expansionsIn(t, file, all[file])...)
	}
	return out
}

// expansionsIn finds the inline helper calls of the script src, named file.
func expansionsIn(t *testing.T, file, src string) []expansion {
	t.Helper()
	lines := strings.Split(src, "\n")
	local := regexp.MustCompile(`^( *)local (h\d+ = .+|ttl = \w+|t = \w+)$`)
	var out []expansion
	for i := 0; i+2 < len(lines); i++ {
		m := local.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent := m[1]
		x, _, _ := strings.Cut(m[2], " ")
		j := i + 1
		if strings.HasPrefix(lines[j], indent+"local "+x+"b = ") {
			j++
		}
		ifLine, named, commented := strings.Cut(lines[j], " then -- ")
		if !strings.HasPrefix(ifLine, indent+"if "+x+" ") || !commented && !strings.HasSuffix(ifLine, " then") {
			t.Fatalf("%s:%d: %q is not followed by the if of a helper's expansion", file, i+1, lines[i])
		}
		e := expansion{out: x, at: fmt.Sprintf("%s:%d", file, i+1), helper: "later"}
		switch {
		case named == "min" || named == "max":
			e.helper = named
		case commented:
			t.Fatalf("%s:%d: %q names no helper", file, j+1, lines[j])
		case strings.Contains(lines[j], "4503599627370496"):
			e.helper = "floorDiv"
			if strings.HasPrefix(strings.TrimSpace(lines[j+1]), "local "+x+"r = ") {
				e.helper = "ceilDiv"
			}
		}
		// "local Xr = X % B % B", "X = (X - X % B % B) / B" or "X = X + LAG":
		// the divisor or the lag is the last word.
		f := strings.Fields(lines[j+1])
		e.divisor = strings.TrimSuffix(f[len(f)-1], ")")
		for k := i; k < len(lines); k++ {
			e.lines = append(e.lines, lines[k])
			if k > j && lines[k] == indent+"end" {
				break
			}
		}
		out = append(out, e)
	}
	return out
}

// TestScriptInlineHelpers runs every helper call the generator wrote
// inline in the scripts (the single-decision scripts' and throttled.lua's
// one-policy path's steps and TTLs), its
// operands replaced by a and b, on a real Redis against exact Go integer
// arithmetic on the edge cases of TestLuaPrelude: the inline form must be
// as exact as the prelude's functions over their whole range, including
// the branches below −2^52 that the steps reach only from extreme states.
func TestScriptInlineHelpers(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	cases := divisionCases()
	exps := expansions(t)
	count := map[string]int{}
	for _, e := range exps {
		count[e.helper]++
	}
	// Every algorithm's step calls the helpers, and the TTL a ceilDiv, in
	// its single-decision script and in the one-policy path.
	if count["floorDiv"] < 10 || count["ceilDiv"] < 12 || count["later"] < 10 || count["max"] < 4 {
		t.Fatalf("found %v inline helper calls in the scripts; are the single-decision scripts and the one-policy path inline?", count)
	}
	divisor := regexp.MustCompile(`\b` + `(\w+)` + `\b`)
	for _, e := range exps {
		body := []string{"local " + e.out + " = a"}
		for _, l := range e.lines[1:] {
			if strings.HasPrefix(strings.TrimSpace(l), "local "+e.out+"b = ") {
				l = "local " + e.out + "b = b"
			}
			l = divisor.ReplaceAllStringFunc(l, func(w string) string {
				if w == e.divisor {
					return "b"
				}
				return w
			})
			body = append(body, l)
		}
		body = append(body, "  out[i] = struct.pack('<d', "+e.out+")")
		raw := evalPairs(t, c, "local fmod = math.fmod", strings.Join(body, "\n"), 1, cases)
		for i, p := range cases {
			var want int64
			switch floor, ceil := p.exact(); e.helper {
			case "floorDiv":
				want = floor
			case "ceilDiv":
				want = ceil
			case "later":
				if !p.laterExact() {
					continue
				}
				want = later(p.a, p.b)
			case "min":
				want = min(p.a, p.b)
			case "max":
				want = max(p.a, p.b)
			}
			if got := float64At(raw, i); got != float64(want) {
				t.Fatalf("%s: inline %s(%d, %d) = %v, want %d", e.at, e.helper, p.a, p.b, got, want)
			}
		}
	}
	t.Logf("%d inline helper calls (%v), %d cases each", len(exps), count, len(cases))
}
