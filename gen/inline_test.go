package main

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/throttled-go/throttled/internal/redistest"
)

// TestHelperLinesOnRedis runs the inline expansions of floorDiv, ceilDiv,
// later, min and max (helperLines, what the script's one-policy path computes
// with) on a real Redis against exact Go integer arithmetic, on the edges
// of their range (|a| up to 2^53, b up to 2^52, around −2^52 where they
// switch from % to math.fmod) and on random operands; each expansion takes
// its second operand both as a name and as an expression, which it copies
// into a temporary first.
func TestHelperLinesOnRedis(t *testing.T) {
	const p52, p53 = int64(1) << 52, int64(1) << 53
	type pair struct{ a, b int64 }
	var cases []pair
	var as []int64
	for _, v := range []int64{0, 1, 2, 3, 999, 1000, 1001, p52 - 3, p52 - 1, p52, p52 + 1, p52 + 3, p53 - 3, p53 - 1, p53} {
		as = append(as, v, -v)
	}
	for _, a := range as {
		for _, b := range []int64{1, 2, 3, 7, 1000, 1_000_000, p52/3 + 1, p52 - 1, p52} {
			cases = append(cases, pair{a, b})
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := 1 + r.Int64N(p52)
		if r.IntN(2) == 0 {
			b = 1 + r.Int64N(10_000)
		}
		a := r.Int64N(2*p53+1) - p53
		if r.IntN(3) == 0 {
			a = max(-p53, min(p53, a/b*b+r.Int64N(3)-1)) // next to a multiple of b
		}
		cases = append(cases, pair{a, b})
	}

	// The body computes, for each pair, floorDiv(a, b) and ceilDiv(a, b)
	// with b a name and with b an expression (b + zero), and later(a, b).
	var body strings.Builder
	body.WriteString(luaLocals + `
local n = #ARGV[1] / 16
local out = {}
local zero = 0
for i = 1, n do
  local a, b = struct.unpack('<dd', ARGV[1], 16 * i - 15)
`)
	emit := func(name, h string, args ...string) {
		for _, l := range helperLines(name, h, args) {
			body.WriteString(strings.Repeat("  ", 1+l.depth) + l.text + "\n")
		}
	}
	emit("floorDiv", "h1", "a", "b")
	emit("ceilDiv", "h2", "a", "b")
	emit("floorDiv", "h3", "a", "b + zero")
	emit("ceilDiv", "h4", "a - zero", "b + zero")
	emit("later", "h5", "a", "b")
	emit("later", "h6", "b", "a + zero")
	emit("min", "h7", "a", "b")
	emit("max", "h8", "a", "b + zero")
	emit("min", "h9", "b", "a - zero")
	emit("max", "h10", "b", "a")
	body.WriteString(`  out[i] = struct.pack('<dddddddddd', h1, h2, h3, h4, h5, h6, h7, h8, h9, h10)
end
return table.concat(out)
`)
	var arg []byte
	for _, p := range cases {
		arg = binary.LittleEndian.AppendUint64(arg, math.Float64bits(float64(p.a)))
		arg = binary.LittleEndian.AppendUint64(arg, math.Float64bits(float64(p.b)))
	}

	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	raw, err := c.Do(context.Background(), c.B().Eval().Script(body.String()).Numkeys(0).Arg(string(arg)).Build()).ToString()
	if err != nil || len(raw) != 80*len(cases) {
		t.Fatalf("EVAL: %d bytes, %v", len(raw), err)
	}
	at := func(i int) float64 {
		return math.Float64frombits(binary.LittleEndian.Uint64([]byte(raw[8*i : 8*i+8])))
	}
	later := func(d, lag int64) int64 {
		if d > 0 {
			return d + lag
		}
		return d
	}
	for i, p := range cases {
		wantFloor, wantCeil := p.a/p.b, p.a/p.b
		if p.a%p.b != 0 {
			if p.a < 0 {
				wantFloor--
			} else {
				wantCeil++
			}
		}
		var got [10]float64
		for k := range got {
			got[k] = at(10*i + k)
		}
		if got[0] != float64(wantFloor) || got[2] != float64(wantFloor) {
			t.Errorf("floorDiv(%d, %d): inline %v and %v, want %d", p.a, p.b, got[0], got[2], wantFloor)
		}
		if got[1] != float64(wantCeil) || got[3] != float64(wantCeil) {
			t.Errorf("ceilDiv(%d, %d): inline %v and %v, want %d", p.a, p.b, got[1], got[3], wantCeil)
		}
		// The sums stay exact when |a| + b ≤ 2^53, as the step functions keep them.
		if max(p.a, -p.a)+p.b <= p53 {
			if want := later(p.a, p.b); got[4] != float64(want) {
				t.Errorf("later(%d, %d) inline = %v, want %d", p.a, p.b, got[4], want)
			}
			if want := later(p.b, p.a); got[5] != float64(want) {
				t.Errorf("later(%d, %d) inline = %v, want %d", p.b, p.a, got[5], want)
			}
		}
		if lo, hi := float64(min(p.a, p.b)), float64(max(p.a, p.b)); got[6] != lo || got[7] != hi || got[8] != lo || got[9] != hi {
			t.Errorf("min and max of %d and %d inline: %v, %v, %v, %v; want %v and %v", p.a, p.b, got[6], got[7], got[8], got[9], lo, hi)
		}
	}
	t.Logf("%d cases", len(cases))
}

// TestIsLuaName: a helper's argument is repeated as it is only when it is a
// name or a decimal integer, every letter, digit and _ accepted at the
// edges of their ranges; anything else is copied into a temporary first.
func TestIsLuaName(t *testing.T) {
	for _, s := range []string{"a", "z", "A", "Z", "_", "0", "9", "q_Rate", "h12b", "1000", "azAZ_09"} {
		if !isLuaName(s) {
			t.Errorf("isLuaName(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "a + b", "(x)", "-1", "q.Rate", "a`", "z{", "A@", "Z[", "9:", "/0", "é"} {
		if isLuaName(s) {
			t.Errorf("isLuaName(%q) = true, want false", s)
		}
	}
}
