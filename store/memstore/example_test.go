package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// A store keyed by a struct: no key is ever turned into a string. The fake
// clock makes the output deterministic; a real program omits WithClock.
func Example() {
	clk := store.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	s, err := memstore.New(memstore.WithClock(clk), memstore.WithMaxSize(10_000))
	if err != nil {
		panic(err)
	}

	type userKey struct {
		Tenant uint32
		User   uint64
	}
	users := memstore.For[userKey](s) // the same table on every call

	// Three requests a second, in bursts of up to two.
	p, err := store.NewPolicy(algo.PerSec(3).WithBurst(2).WithAlgorithm(algo.TokenBucket))
	if err != nil {
		panic(err)
	}
	ps := []*store.Policy{p}
	ctx := context.Background()
	alice := userKey{Tenant: 1, User: 42}
	show := func(d algo.Decision) {
		fmt.Printf("limited=%-5v remaining=%d retry=%v reset=%v\n", d.Limited, d.Remaining,
			time.Duration(d.RetryAfter)*time.Microsecond, time.Duration(d.ResetAfter)*time.Microsecond)
	}
	var d algo.Decision
	for range 3 {
		d, _ = users.Decide(ctx, alice, ps, 1, nil)
		show(d)
	}
	clk.Advance(time.Duration(d.RetryAfter) * time.Microsecond) // exactly when the denied request would pass
	d, _ = users.Decide(ctx, alice, ps, 1, nil)
	show(d)

	d, _ = users.Decide(ctx, userKey{Tenant: 2, User: 42}, ps, 0, nil) // a peek writes nothing
	show(d)
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// limited=false remaining=1 retry=0s reset=333.334ms
	// limited=false remaining=0 retry=0s reset=666.667ms
	// limited=true  remaining=0 retry=333.334ms reset=666.667ms
	// limited=false remaining=0 retry=0s reset=666.666ms
	// limited=false remaining=2 retry=0s reset=0s
	// {Keys:1 LiveEvictions:0}
}

// Two quotas on one key, decided at once: a request passes only if both
// admit it, and then both are charged. each reports every quota's own
// decision; the combined one has the least Remaining, the greatest
// ResetAfter and the greatest RetryAfter.
func ExampleStore_Decide() {
	clk := store.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	s, err := memstore.New(memstore.WithClock(clk))
	if err != nil {
		panic(err)
	}
	burst, err := store.NewPolicy(algo.PerSec(2).WithAlgorithm(algo.GCRA).WithName("burst"))
	if err != nil {
		panic(err)
	}
	minute, err := store.NewPolicy(algo.PerMin(3).WithAlgorithm(algo.FixedWindow).WithName("minute"))
	if err != nil {
		panic(err)
	}
	ps := []*store.Policy{burst, minute}
	each := make([]algo.Decision, len(ps))
	ctx := context.Background()
	request := func() {
		d, err := s.Decide(ctx, "alice", ps, 1, each)
		if err != nil {
			panic(err)
		}
		fmt.Printf("limited=%-5v remaining=%d retry=%v reset=%v (%s: %d left, %s: %d left)\n", d.Limited, d.Remaining,
			time.Duration(d.RetryAfter)*time.Microsecond, time.Duration(d.ResetAfter)*time.Microsecond,
			ps[0].Name(), each[0].Remaining, ps[1].Name(), each[1].Remaining)
	}
	request()
	request()
	request() // the burst quota denies it, so the minute quota is not charged
	clk.Advance(500 * time.Millisecond)
	request()
	request() // both deny it: retry when both admit it
	// Output:
	// limited=false remaining=1 retry=0s reset=1m0s (burst: 1 left, minute: 2 left)
	// limited=false remaining=0 retry=0s reset=1m0s (burst: 0 left, minute: 1 left)
	// limited=true  remaining=0 retry=500ms reset=1m0s (burst: 0 left, minute: 1 left)
	// limited=false remaining=0 retry=0s reset=59.5s (burst: 0 left, minute: 0 left)
	// limited=true  remaining=0 retry=59.5s reset=59.5s (burst: 0 left, minute: 0 left)
}
