package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
)

// newClient connects a rueidis client to addrs for a test.
func newClient(t testing.TB, addrs ...string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatalf("connect %v: %v", addrs, err)
	}
	t.Cleanup(c.Close)
	return c
}

// randomParams draws quotas that reach the representability bounds: tiny and
// huge periods, limits that do and do not divide the period, bursts up to
// the largest capacity Compile accepts.
func randomParams(r *rand.Rand, a algo.Algorithm) algo.Params {
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
		q := algo.Quota{Rate: algo.Rate{Period: time.Duration(period) * time.Microsecond, Limit: max(limit, 1)}, Burst: burst}
		if p, err := algo.Compile(a, q); err == nil {
			return p
		}
	}
}

// randomState draws a stored state whose fields are in the ranges the step
// functions produce: Last anywhere in [0, MaxTime], counts up to the limit,
// bucket levels up to the capacity.
func randomState(r *rand.Rand, p *algo.Params, n int) slots {
	var st slots
	st[0] = pick(r, 0, algo.MaxTime)
	hi := p.Limit
	if p.Algorithm.IsBucket() {
		hi = p.Capacity
	}
	for i := 1; i < n; i++ {
		st[i] = pick(r, 0, hi)
	}
	return st
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

func randomNow(r *rand.Rand, p *algo.Params, last int64) int64 {
	var now int64
	switch r.IntN(6) {
	case 0:
		now = last
	case 1:
		now = last + r.Int64N(2*p.Period+1) // within a few windows
	case 2:
		now = last - r.Int64N(p.Period+1) // the clock stepped back
	case 3:
		now = algo.MaxTime - r.Int64N(3)
	case 4:
		now = last + r.Int64N(1000)
	default:
		now = r.Int64N(algo.MaxTime + 1)
	}
	return min(max(now, 0), algo.MaxTime)
}

func randomCost(r *rand.Rand, p *algo.Params) int64 {
	capacity := p.Max
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

// TestScriptsMatchGo runs every generated script on a real Redis with the
// time passed in, from random stored states, and checks that its reply, the
// state it stores and the TTL it sets are exactly what the Go step function
// (through the same generated binding the memory store uses) decides.
func TestScriptsMatchGo(t *testing.T) {
	srv := redistest.Standalone(t)
	client := newClient(t, srv.Addr())
	fake := clock.NewFake(0)
	const slackMS = 60_000 // keys must outlive the test's GET on a loaded machine
	s, err := New(client, WithClock(fake), WithTTLSlack(slackMS*time.Millisecond), WithPrefix("diff:"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 1500
	if testing.Short() {
		n = 300
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, a := range algo.Algorithms {
		t.Run("algo="+a.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(a)))
			nFields := scripts[a].fields
			checked, limited, kept := 0, 0, 0
			for i := range n {
				p := randomParams(r, a)
				fresh := r.IntN(5) == 0
				st := randomState(r, &p, nFields)
				now := randomNow(r, &p, st[0])
				cost := randomCost(r, &p)
				key := "k" + strconv.Itoa(i)
				rk := s.Key(key, a)
				var before string
				if fresh {
					client.Do(ctx, client.B().Del().Key(rk).Build())
				} else {
					// The stored expiry must not matter with the caller's time.
					before = encodeState(append(st[:nFields:nFields], r.Int64N(1<<53+1)))
					if err := client.Do(ctx, client.B().Set().Key(rk).Value(before).Build()).Error(); err != nil {
						t.Fatal(err)
					}
				}
				want := st
				wantD, _, keep := step(&want, fresh, &p, now, cost)

				fake.Set(now)
				got, err := s.Decide(ctx, key, &p, cost)
				desc := fmt.Sprintf("case %d: params %+v state %v fresh %v now %d cost %d", i, p, st[:nFields], fresh, now, cost)
				if err != nil {
					t.Fatalf("%s: %v", desc, err)
				}
				if got != wantD {
					t.Fatalf("%s:\nredis %+v\ngo    %+v", desc, got, wantD)
				}
				raw, err := client.Do(ctx, client.B().Get().Key(rk).Build()).ToString()
				if rueidis.IsRedisNil(err) {
					raw, err = "", nil
				}
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case keep:
					kept++
					if w := encodeState(append(want[:nFields:nFields], 0)); raw != w {
						t.Fatalf("%s: stored state %q, want %q", desc, raw, w)
					}
					pttl, err := client.Do(ctx, client.B().Pttl().Key(rk).Build()).AsInt64()
					if err != nil {
						t.Fatal(err)
					}
					wantTTL := (wantD.ResetAfter+999)/1000 + slackMS
					if pttl <= 0 || pttl > wantTTL || pttl < wantTTL-1000 {
						t.Fatalf("%s: PTTL %d, want about %d (ResetAfter %dµs + slack)", desc, pttl, wantTTL, wantD.ResetAfter)
					}
				case raw != before:
					t.Fatalf("%s: state changed from %q to %q though nothing was consumed", desc, before, raw)
				}
				if got.Limited {
					limited++
				}
				checked++
			}
			t.Logf("%d cases: %d limited, %d stored", checked, limited, kept)
			if limited == 0 || kept == 0 || limited == checked {
				t.Fatalf("the generators missed a branch: %d limited, %d stored of %d", limited, kept, checked)
			}
		})
	}
}
