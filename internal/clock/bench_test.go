package clock

import (
	"testing"
	"time"
)

// sink keeps benchmark results alive.
var sink int64

func BenchmarkNow(b *testing.B) {
	b.Run("clock=time.Now", func(b *testing.B) {
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += time.Now().UnixMicro()
		}
		sink = s
	})
	b.Run("clock=real", func(b *testing.B) {
		c := NewReal()
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += c.Now()
		}
		sink = s
	})
	b.Run("clock=coarse", func(b *testing.B) {
		c := NewCoarse(DefaultResolution)
		defer c.Close()
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += c.Now()
		}
		sink = s
	})
	b.Run("clock=fake", func(b *testing.B) {
		c := NewFake(0)
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += c.Now()
		}
		sink = s
	})
	// Through the Clock interface, as library code will call it.
	b.Run("clock=System", func(b *testing.B) {
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += System.Now()
		}
		sink = s
	})
}

func BenchmarkNowParallel(b *testing.B) {
	run := func(b *testing.B, now func() int64) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s int64
			for pb.Next() {
				s += now()
			}
			if s == 42 {
				b.Log(s)
			}
		})
	}
	b.Run("clock=time.Now", func(b *testing.B) {
		run(b, func() int64 { return time.Now().UnixMicro() })
	})
	b.Run("clock=real", func(b *testing.B) {
		run(b, NewReal().Now)
	})
	b.Run("clock=coarse", func(b *testing.B) {
		c := NewCoarse(DefaultResolution)
		defer c.Close()
		run(b, c.Now)
	})
}
