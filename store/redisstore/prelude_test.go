package redisstore

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
)

// TestLuaDivision runs every script's floorDiv and ceilDiv on a real Redis
// against exact Go integer division, on the edges of their range (|a| up to
// 2^53, b up to 2^52, around 2^52 where they switch from % to math.fmod) and
// on random operands.
func TestLuaDivision(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	cases := divisionCases()
	var arg []byte
	for _, p := range cases {
		arg = appendNumbers(arg, p.a, p.b)
	}
	for _, a := range algo.Algorithms {
		src := scripts[a].source
		start, end := strings.Index(src, "local fmod"), strings.Index(src, "local function init")
		if start < 0 || end < start {
			t.Fatalf("cannot find the prelude in the %s script", a)
		}
		body := src[start:end] + `
local n = #ARGV[1] / 16
local out = {}
for i = 1, n do
  local a, b = struct.unpack('<dd', ARGV[1], 16 * i - 15)
  out[i] = struct.pack('<dd', floorDiv(a, b), ceilDiv(a, b))
end
return table.concat(out)
`
		raw, err := c.Do(context.Background(), c.B().Eval().Script(body).Numkeys(0).Arg(string(arg)).Build()).ToString()
		if err != nil || len(raw) != 16*len(cases) {
			t.Fatalf("%s: EVAL: %d bytes, %v", a, len(raw), err)
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
			gotFloor, gotCeil := float64At(raw, 2*i), float64At(raw, 2*i+1)
			if gotFloor != float64(wantFloor) || gotCeil != float64(wantCeil) {
				t.Errorf("%s: a=%d b=%d: Lua floorDiv %v ceilDiv %v, want %d and %d", a, p.a, p.b, gotFloor, gotCeil, wantFloor, wantCeil)
			}
		}
	}
	t.Logf("%d cases per script", len(cases))
}

type division struct{ a, b int64 }

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
