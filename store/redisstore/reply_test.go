package redisstore

import (
	"context"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/store"
)

// TestReplyRadix checks that the radix the Go binding decodes an integer
// reply with is the bound algo documents for Remaining, Params.Max, plus
// one: the generator chose the script's bound by a parameter's name, and
// the two must agree for every algorithm.
func TestReplyRadix(t *testing.T) {
	for _, a := range algo.Algorithms {
		for _, q := range []algo.Quota{algo.PerSec(10), algo.PerMin(600).WithBurst(7), algo.PerHour(5).WithBurst(40)} {
			p := pol(t, a, q)
			if got := replyRadix(p.Params()); got != p.Max()+1 {
				t.Errorf("%s: replyRadix = %d; want Max+1 = %d", p, got, p.Max()+1)
			}
		}
	}
}

// TestReplyForms runs single decisions through the real scripts (each
// algorithm's single-decision script) and checks
// which form each reply takes and what it decodes to: an allowed decision
// is one integer, ResetAfter·(Max+1) + Remaining, exactly when that is
// below 2^52; any other decision is the string of float64s. Every decision
// must be the step function's (internal/steps); each algorithm must show
// both forms, and some allowed decision must be a string. (A sliding
// window's ResetAfter·(Limit+1) stays near 2^53 at most, since its
// quotas keep Limit·Period within 2^52 µs: it falls back to a string only
// at the edge.) A quota an algorithm refuses is skipped for it.
func TestReplyForms(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := clock.NewFake(t0 + 12_345)
	s := mustNew(t, c, WithClock(fake), WithCoalescing(0))
	ctx := context.Background()
	limit := new(big.Int).Lsh(big.NewInt(1), 52)

	type request struct {
		q    algo.Quota
		cost int64
		at   int64 // the time, when not the clock's start
	}
	// Fixed windows whose decision makes ResetAfter·(Limit+1) + Remaining
	// 2^53 + 1 (which a float64 rounds to 2^53), 2^52 exactly, and just
	// below it.
	const ra = (1<<53 + 1) / 3
	edge := algo.Quota{Rate: algo.Rate{Period: time.Duration(1<<52) * time.Microsecond, Limit: 2}}
	ages := algo.Quota{Rate: algo.Rate{Period: time.Duration(1<<52) * time.Microsecond, Limit: 1}}
	deep := algo.Quota{Rate: algo.Rate{Period: time.Duration(1<<30) * time.Microsecond, Limit: 1}, Burst: 1 << 22}
	requests := []request{
		{algo.PerSec(10), 1, 0},        // small: an integer
		{algo.PerSec(10), 0, 0},        // a peek of a fresh key: an integer
		{algo.PerSec(10), 11, 0},       // denied (cost > limit): a string
		{ages, 1, 0},                   // the windows: ResetAfter near 2^52, beyond the integer's reach
		{deep, 1, 0},                   // the buckets: 2^30 µs a token, within reach
		{deep, deep.Burst, 0},          // the buckets emptied: 2^52 µs, beyond it
		{algo.PerDay(1_000_000), 1, 0}, // ResetAfter·(Max+1) about 8.6·10^16 for a window: a string
		{edge, 2, 1<<52 - ra},          // the window ends ra µs later: a string
		{ages, 1, 1 << 51},             // ResetAfter·2 is 2^52: a string
		{ages, 1, 1<<51 + 1},           // ResetAfter·2 is 2^52 − 2: an integer
	}
	allowedStrings := 0
	for _, a := range algo.Algorithms {
		var integers, strs int
		for i, rq := range requests {
			p, err := store.NewPolicy(rq.q.WithAlgorithm(a))
			if err != nil {
				continue
			}
			key := a.String() + ":" + strconv.Itoa(i)
			fake.Set(t0 + 12_345)
			if rq.at != 0 {
				fake.Set(rq.at)
			}
			var fresh steps.Slots
			want, _, _ := steps.Step(&fresh, true, p.Params(), fake.Now(), rq.cost)

			script, args, err := s.scriptCall([]*store.Policy{p}, rq.cost)
			if err != nil {
				t.Fatal(err)
			}
			reply := script.Exec(ctx, c, []string{s.Key(key, p)}, []string{string(args)})
			msg, err := reply.ToMessage()
			if err != nil {
				t.Fatalf("%s cost %d: %v", p, rq.cost, err)
			}
			v := new(big.Int).Mul(big.NewInt(want.ResetAfter), big.NewInt(p.Max()+1))
			v.Add(v, big.NewInt(want.Remaining))
			wantInteger := !want.Limited && v.Cmp(limit) < 0
			if msg.IsInt64() != wantInteger {
				t.Errorf("%s cost %d (decision %+v): an integer reply is %v; want %v", p, rq.cost, want, msg.IsInt64(), wantInteger)
			}
			if msg.IsInt64() {
				integers++
			} else {
				strs++
				if !want.Limited {
					allowedStrings++
				}
			}
			var d [1]algo.Decision
			var errs [1]error
			if err := decodeReply(reply, []string{key}, []*store.Policy{p}, d[:], errs[:]); err != nil || errs[0] != nil {
				t.Fatalf("%s cost %d: decodeReply: %v, %v", p, rq.cost, err, errs[0])
			}
			if d[0] != want {
				t.Errorf("%s cost %d: decoded %+v; the step decides %+v", p, rq.cost, d[0], want)
			}
			// Decide, on a fresh key, agrees.
			if got := decide(t, s, key+":decide", p, rq.cost); got != want {
				t.Errorf("%s cost %d: Decide = %+v; want %+v", p, rq.cost, got, want)
			}
		}
		t.Logf("%s: %d integer replies, %d strings", a, integers, strs)
		if integers == 0 || strs == 0 {
			t.Errorf("%s: %d integer replies and %d strings; want both forms", a, integers, strs)
		}
	}
	t.Logf("allowed decisions replied as strings: %d", allowedStrings)
	if allowedStrings == 0 {
		t.Error("no allowed decision came as a string: the fallback went untested")
	}
}
