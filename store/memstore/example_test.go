package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store/memstore"
)

// A store keyed by a struct: no key is ever turned into a string. The fake
// clock makes the output deterministic; a real program omits WithClock.
func Example() {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	s := memstore.New(memstore.WithClock(clk), memstore.WithMaxSize(10_000))
	defer s.Close()

	type userKey struct {
		Tenant uint32
		User   uint64
	}
	users := memstore.For[userKey](s) // the same table on every call

	// Three requests a second, in bursts of up to two.
	p, err := algo.Compile(algo.TokenBucket, algo.PerSec(3).WithBurst(2))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	alice := userKey{Tenant: 1, User: 42}
	show := func(d algo.Decision) {
		fmt.Printf("limited=%-5v remaining=%d retry=%v reset=%v\n", d.Limited, d.Remaining,
			time.Duration(d.RetryAfter)*time.Microsecond, time.Duration(d.ResetAfter)*time.Microsecond)
	}
	var d algo.Decision
	for range 3 {
		d, _ = users.Decide(ctx, alice, &p, 1)
		show(d)
	}
	clk.AdvanceMicros(d.RetryAfter) // exactly when the denied request would pass
	d, _ = users.Decide(ctx, alice, &p, 1)
	show(d)

	d, _ = users.Decide(ctx, userKey{Tenant: 2, User: 42}, &p, 0) // a peek writes nothing
	show(d)
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// limited=false remaining=1 retry=0s reset=333.334ms
	// limited=false remaining=0 retry=0s reset=666.667ms
	// limited=true  remaining=0 retry=333.334ms reset=666.667ms
	// limited=false remaining=0 retry=0s reset=666.666ms
	// limited=false remaining=2 retry=0s reset=0s
	// {Entries:1 LiveEvictions:0}
}
