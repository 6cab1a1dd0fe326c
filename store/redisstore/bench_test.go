package redisstore

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/redistest"
)

// BenchmarkDecide measures one decision per algorithm on a real Redis
// started by the harness (server TIME), serially and from parallel
// goroutines, against the INCRBY baseline on the same client.
func BenchmarkDecide(b *testing.B) {
	srv := redistest.Standalone(b)
	client := newClient(b, srv.Addr())
	s, err := New(client)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("baseline=incrby/store=redis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Do(ctx, client.B().Incrby().Key("bench:incr").Increment(1).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, a := range algo.Algorithms {
		p, err := algo.Compile(a, algo.PerSec(1_000_000_000))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("algo="+a.String()+"/store=redis", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decide(ctx, "bench", &p, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("algo="+a.String()+"/store=redis/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() { // one hot key, as the seed's table
					if _, err := s.Decide(ctx, "bench", &p, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
