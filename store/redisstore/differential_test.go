package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/internal/steps"
	"github.com/throttled-go/throttled/store"
)

// scriptEnv names a file whose text the tests run instead of the embedded
// script of the same file name (throttled.lua, or an algorithm's
// single-decision script such as gcra.lua), so that scripts/mutate-lua.sh
// can run the differential tests on each mutant of the scripts with one
// test binary, never touching the checked-in files.
const scriptEnv = "THROTTLED_TEST_SCRIPT"

// TestMain swaps in the script named by THROTTLED_TEST_SCRIPT, if set.
func TestMain(m *testing.M) {
	if path := os.Getenv(scriptEnv); path != "" {
		if err := swapScript(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", scriptEnv, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// swapScript makes the file at path the script of its file name.
func swapScript(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	sum := sha1.Sum(src)
	sha := hex.EncodeToString(sum[:])
	if name == "throttled.lua" {
		scriptSource, scriptSHA = string(src), sha
		fmt.Fprintf(os.Stderr, "testing the script %s (SHA-1 %s) instead of lua/throttled.lua\n", path, sha)
		return nil
	}
	for a, sc := range singleScripts {
		if sc.file == "lua/"+name {
			singleScripts[a].source = string(src)
			fmt.Fprintf(os.Stderr, "testing the script %s (SHA-1 %s) instead of %s\n", path, sha, sc.file)
			return nil
		}
	}
	return fmt.Errorf("%s: no script of the store is named %s", path, name)
}

// combine is the reference of the combined decision of a request under
// several policies: Limited if any policy denies, the least Remaining, the
// greatest ResetAfter, and the greatest RetryAfter, or -1 if any is -1.
func combine(each []algo.Decision) algo.Decision {
	c := algo.Decision{Remaining: each[0].Remaining}
	for _, d := range each {
		c.Limited = c.Limited || d.Limited
		c.Remaining = min(c.Remaining, d.Remaining)
		c.ResetAfter = max(c.ResetAfter, d.ResetAfter)
	}
	for _, d := range each {
		if d.RetryAfter == never {
			c.RetryAfter = never
			break
		}
		c.RetryAfter = max(c.RetryAfter, d.RetryAfter)
	}
	return c
}

// randomPolicy draws a quota of algorithm a that reaches the
// representability bounds: tiny and huge periods, limits that do and do
// not divide the period, bursts up to the largest capacity a policy
// accepts.
func randomPolicy(r *rand.Rand, a algo.Algorithm) *store.Policy {
	for {
		var period int64
		switch r.IntN(6) {
		case 0:
			period = 1000 // 1ms, the minimum
		case 1:
			period = []int64{1e6, 60e6, 3600e6, 86400e6, 604800e6}[r.IntN(5)]
		case 2:
			period = 1000 + r.Int64N(1e9)
		case 3:
			period = algo.MaxSafe - r.Int64N(1000) // the largest periods
		default:
			period = 1000 + r.Int64N(1e7)
		}
		var limit int64
		switch r.IntN(5) {
		case 0:
			limit = 1
		case 1:
			limit = 1 + r.Int64N(10)
		case 2:
			limit = 1 + r.Int64N(1e6)
		case 3:
			limit = algo.MaxSafe / max(1, period/(1+r.Int64N(3))) // near the sliding window bound
		default:
			limit = 1 + r.Int64N(1<<40)
		}
		var burst int64
		switch r.IntN(4) {
		case 0:
			burst = 0 // = limit
		case 1:
			burst = 1 + r.Int64N(100)
		case 2:
			burst = 1 + r.Int64N(1<<52)
		default:
			burst = 1 + r.Int64N(1e9)
		}
		q := algo.Quota{Rate: algo.Rate{Period: time.Duration(period) * time.Microsecond, Limit: max(limit, 1)}, Burst: burst, Algorithm: a}
		if p, err := store.NewPolicy(q); err == nil {
			return p
		}
	}
}

// randomState draws a stored state whose fields are in the ranges the step
// functions produce: Last around now (before it, or after it as when the
// caller's clock is behind the one that wrote the state) or anywhere in
// [0, MaxTime], counts up to the limit, bucket levels up to the capacity.
func randomState(r *rand.Rand, p *algo.Params, now int64) steps.Slots {
	var st steps.Slots
	var last int64
	switch r.IntN(8) {
	case 0:
		last = now
	case 1:
		last = now - r.Int64N(2*p.Period+1) // within a few windows
	case 2:
		last = now + 1 + r.Int64N(p.Period) // the clock is behind the state
	case 3:
		last = now + 1 + r.Int64N(1000) // a little behind
	case 4:
		last = now - r.Int64N(1000)
	case 5:
		last = []int64{0, algo.MaxTime}[r.IntN(2)]
	default:
		last = r.Int64N(algo.MaxTime + 1)
	}
	hi := p.Limit
	if p.Algorithm.IsBucket() {
		hi = p.Capacity
	}
	for i := 1; i < steps.Fields[p.Algorithm]; i++ {
		st[i] = pick(r, 0, hi)
	}
	if r.IntN(4) == 0 {
		last = edgeLast(r, p, st, now)
	}
	st[0] = min(max(last, 0), algo.MaxTime)
	return st
}

// edgeLast returns a Last next to where a comparison of elapsed time in
// the step functions flips for state st at now: for the buckets, the
// elapsed time at which the bucket is back to full (ceil(gap/Rate), the
// gap not always a multiple of Rate), for the windows, the edges of the
// current and the previous window.
func edgeLast(r *rand.Rand, p *algo.Params, st steps.Slots, now int64) int64 {
	d := r.Int64N(3) - 1
	var gap int64
	switch p.Algorithm {
	case algo.TokenBucket:
		gap = p.Capacity - st[1]
	case algo.LeakingBucket, algo.GCRA:
		gap = st[1]
	default:
		start := now / p.Period * p.Period
		return []int64{start, start - p.Period}[r.IntN(2)] + d
	}
	return now - (gap+p.Rate-1)/p.Rate + d
}

// pick draws from [lo, hi], often at or next to the ends.
func pick(r *rand.Rand, lo, hi int64) int64 {
	switch r.IntN(6) {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return min(hi, lo+r.Int64N(3))
	case 3:
		return max(lo, hi-r.Int64N(3))
	default:
		return lo + r.Int64N(hi-lo+1)
	}
}

// randomNow draws a decision time: the epoch, the end of the range, about
// now, or anywhere.
func randomNow(r *rand.Rand) int64 {
	switch r.IntN(6) {
	case 0:
		return r.Int64N(1000)
	case 1:
		return algo.MaxTime - r.Int64N(3)
	case 2:
		return t0 + r.Int64N(1e12)
	default:
		return r.Int64N(algo.MaxTime + 1)
	}
}

// randomCost draws a cost around the capacity capacity.
func randomCost(r *rand.Rand, capacity int64) int64 {
	switch r.IntN(7) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return capacity
	case 3:
		return capacity + 1
	case 4:
		return 1<<62 + r.Int64N(1<<62) // far above any capacity
	default:
		return r.Int64N(capacity + 1)
	}
}

// diffRig is a store on the caller's (fake) time and what the differential
// tests count of the cases they ran.
type diffRig struct {
	c     rueidis.Client
	s     *Store
	fake  *clock.Fake
	slack int64 // ms
	n     int   // unique keys so far

	calls, requests, limited, charged, never, lagged, peeked, repeated, bounds int
}

// newDiffRig starts a standalone server and a store on a fake clock with
// keys under prefix.
func newDiffRig(t *testing.T, prefix string) *diffRig {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	fake := clock.NewFake(0)
	const slackMS = 60_000 // keys must outlive the test's GET on a loaded machine
	s := mustNew(t, c, WithClock(fake), WithTTLSlack(slackMS*time.Millisecond), WithPrefix(prefix))
	return &diffRig{c: c, s: s, fake: fake, slack: slackMS}
}

// keyState is the model of one Redis key (one user key under one policy)
// during a call.
type keyState struct {
	fields  int // the policy's number of state fields
	fresh   bool
	st      steps.Slots
	before  string // the stored value before the call, "" when absent
	charged bool   // some request of the call charged it
	reset   int64  // the ResetAfter of its last charge
}

// call runs one script call (Decide or DecideBatch) of nreq requests under
// ps at a random time, from random stored states, and checks every
// decision, each policy's, the states stored and their TTLs against
// steps.Step under the all-or-nothing rule: a request passes iff every
// policy admits it, then (cost > 0) every policy is charged, else none is
// and a policy that admitted reports a peek. A request may repeat the key
// of an earlier one of the call, and then sees its outcome.
func (g *diffRig) call(t *testing.T, r *rand.Rand, ps []*store.Policy, nreq int) {
	t.Helper()
	ctx := context.Background()
	npol := len(ps)
	now := randomNow(r)
	reqs := make([]store.Request[string], nreq)
	model := map[string]*keyState{} // by Redis key
	var setup rueidis.Commands
	for i := range reqs {
		if i > 0 && r.IntN(4) == 0 {
			reqs[i].Key = reqs[r.IntN(i)].Key
			g.repeated++
		} else {
			g.n++
			reqs[i].Key = "k" + strconv.Itoa(g.n)
			for _, p := range ps {
				ks := &keyState{fields: steps.Fields[p.Algorithm()], fresh: r.IntN(5) == 0}
				if !ks.fresh {
					ks.st = randomState(r, p.Params(), now)
					if ks.st[0] > now {
						g.lagged++
					}
					// The stored expiry must not matter with the caller's time.
					expires := pick(r, 0, 1<<53)
					ks.before = encodeState(append(ks.st[:ks.fields:ks.fields], expires))
					setup = append(setup, g.c.B().Set().Key(g.s.Key(reqs[i].Key, p)).Value(ks.before).Build())
				}
				model[g.s.Key(reqs[i].Key, p)] = ks
			}
		}
		reqs[i].Cost = randomCost(r, ps[r.IntN(npol)].Max())
	}
	for _, res := range g.c.DoMulti(ctx, setup...) {
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps {
		if q := p.Params(); q.Period > algo.MaxSafe/2 || q.Capacity > algo.MaxSafe/2 || now > algo.MaxTime/2 {
			g.bounds++
			break
		}
	}

	// What the step functions decide, request by request.
	want := make([]algo.Decision, nreq*npol)
	for i, rq := range reqs {
		mine := want[i*npol : (i+1)*npol]
		next := make([]steps.Slots, npol)
		admit := true
		for j, p := range ps {
			ks := model[g.s.Key(rq.Key, p)]
			next[j] = ks.st
			mine[j], _, _ = steps.Step(&next[j], ks.fresh, p.Params(), now, rq.Cost)
			admit = admit && !mine[j].Limited
		}
		if admit && rq.Cost > 0 {
			g.charged++
			for j, p := range ps {
				ks := model[g.s.Key(rq.Key, p)]
				ks.st, ks.fresh, ks.charged, ks.reset = next[j], false, true, mine[j].ResetAfter
			}
			continue
		}
		for j, p := range ps {
			if !mine[j].Limited && rq.Cost > 0 {
				g.peeked++
				ks := model[g.s.Key(rq.Key, p)]
				st := ks.st
				mine[j], _, _ = steps.Step(&st, ks.fresh, p.Params(), now, 0)
			}
		}
	}

	// What the script decides.
	g.fake.Set(now)
	got := make([]algo.Decision, nreq*npol)
	out := make([]algo.Decision, nreq)
	errs := make([]error, nreq)
	how := "DecideBatch"
	if nreq == 1 && r.IntN(2) == 0 {
		how = "Decide"
		out[0], errs[0] = g.s.Decide(ctx, reqs[0].Key, ps, reqs[0].Cost, got)
	} else {
		g.s.DecideBatch(ctx, ps, reqs, out, got, errs)
	}
	g.calls++
	desc := func(i int) string {
		s := fmt.Sprintf("%s at %d, request %d of %d, key %s, cost %d:", how, now, i, nreq, reqs[i].Key, reqs[i].Cost)
		for _, p := range ps {
			ks := model[g.s.Key(reqs[i].Key, p)]
			s += fmt.Sprintf("\n  %+v (%s), state %v fresh %v", *p.Params(), p, ks.st, ks.fresh)
		}
		return s
	}
	for i := range reqs {
		g.requests++
		if errs[i] != nil {
			t.Fatalf("%s\n%v", desc(i), errs[i])
		}
		mine, wantMine := got[i*npol:(i+1)*npol], want[i*npol:(i+1)*npol]
		for j := range ps {
			if mine[j] != wantMine[j] {
				t.Fatalf("%s\npolicy %d: redis %+v\n          go    %+v", desc(i), j, mine[j], wantMine[j])
			}
		}
		if c := combine(wantMine); out[i] != c {
			t.Fatalf("%s\ncombined: redis %+v, want %+v (of %+v)", desc(i), out[i], c, wantMine)
		}
		if out[i].Limited {
			g.limited++
		}
		if out[i].RetryAfter == never {
			g.never++
		}
	}

	// What the script stored.
	var keys []string
	var reads rueidis.Commands
	for k := range model {
		keys = append(keys, k)
		reads = append(reads, g.c.B().Get().Key(k).Build(), g.c.B().Pttl().Key(k).Build())
	}
	res := g.c.DoMulti(ctx, reads...)
	for n, k := range keys {
		ks := model[k]
		raw, err := res[2*n].ToString()
		if rueidis.IsRedisNil(err) {
			raw, err = "", nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ks.charged {
			if raw != ks.before {
				t.Fatalf("%s: key %s changed from %q to %q though nothing was charged", how, k, ks.before, raw)
			}
			continue
		}
		fields := ks.fields
		if w := encodeState(append(ks.st[:fields:fields], 0)); raw != w {
			t.Fatalf("%s at %d: key %s: stored state %q, want %q (state %v, expiry 0)", how, now, k, raw, w, ks.st[:fields])
		}
		ttl, err := res[2*n+1].AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		wantTTL := (ks.reset+999)/1000 + g.slack
		if ttl <= 0 || ttl > wantTTL || ttl < wantTTL-1000 {
			t.Fatalf("%s at %d: key %s: PTTL %d, want about %d (ResetAfter %dµs + slack)", how, now, k, ttl, wantTTL, ks.reset)
		}
	}
}

// report logs the counts and fails the test when a branch was missed.
func (g *diffRig) report(t *testing.T, multi bool) {
	t.Helper()
	t.Logf("%d calls, %d requests: %d limited, %d charged, %d never, %d states ahead of now, %d peeks of admitting policies, %d repeated keys, %d calls near the bounds",
		g.calls, g.requests, g.limited, g.charged, g.never, g.lagged, g.peeked, g.repeated, g.bounds)
	if g.limited == 0 || g.charged == 0 || g.limited == g.requests || g.never == 0 || g.lagged == 0 || g.repeated == 0 || g.bounds == 0 || multi && g.peeked == 0 {
		t.Fatalf("the generators missed a branch")
	}
}

// diffSeed returns the seed of a differential test, logged so that a
// failure can be replayed by setting THROTTLED_DIFF_SEED.
func diffSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("THROTTLED_DIFF_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("THROTTLED_DIFF_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set THROTTLED_DIFF_SEED to replay)", seed)
	return seed
}

// TestScriptMatchesGo runs the generated script on a real Redis with the
// time passed in, from random stored states under one random policy of
// each algorithm, and checks that its replies, the states it stores and
// the TTLs it sets are exactly what the Go step functions (through
// internal/steps, the binding the memory store runs) decide.
func TestScriptMatchesGo(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 300
	}
	seed := diffSeed(t)
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			g := newDiffRig(t, "diff:")
			r := rand.New(rand.NewPCG(seed, uint64(a)))
			for range n {
				nreq := 1
				if r.IntN(4) == 0 {
					nreq = 2 + r.IntN(4)
				}
				g.call(t, r, []*store.Policy{randomPolicy(r, a)}, nreq)
			}
			g.report(t, false)
		})
	}
}

// randomPolicies draws n policies of random algorithms, no two the same.
func randomPolicies(r *rand.Rand, n int) []*store.Policy {
	ps := make([]*store.Policy, 0, n)
	for len(ps) < n {
		p := randomPolicy(r, algo.Algorithms[r.IntN(len(algo.Algorithms))])
		if !slices.ContainsFunc(ps, p.Same) {
			ps = append(ps, p)
		}
	}
	return ps
}

// TestScriptMatchesGoMulti is TestScriptMatchesGo for requests under two
// or three policies of mixed algorithms at once, where the script must
// compose the policies' decisions all or nothing.
func TestScriptMatchesGoMulti(t *testing.T) {
	n := 2500
	if testing.Short() {
		n = 500
	}
	seed := diffSeed(t)
	g := newDiffRig(t, "multi:")
	r := rand.New(rand.NewPCG(seed, 99))
	mixed := 0
	for range n {
		ps := randomPolicies(r, 2+r.IntN(2))
		if ps[0].Algorithm() != ps[1].Algorithm() {
			mixed++
		}
		nreq := 1
		if r.IntN(3) == 0 {
			nreq = 2 + r.IntN(4)
		}
		g.call(t, r, ps, nreq)
	}
	g.report(t, true)
	if mixed == 0 {
		t.Fatal("no call mixed algorithms")
	}
}
