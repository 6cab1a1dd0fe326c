package throttledotel_test

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/typed"
)

// benchLimiter returns a limiter on a fresh memory store (system clock)
// whose quota admits every benchmark request, with hooks.
func benchLimiter(b *testing.B, quotas int, hooks ...typed.Hook[string]) *typed.Limiter[string] {
	b.Helper()
	mem, err := memstore.New()
	if err != nil {
		b.Fatal(err)
	}
	qs := []algo.Quota{algo.PerSec(1_000_000_000).WithName("rps"), algo.PerHour(1_000_000_000_000).WithName("hourly")}
	opts := []typed.Option{typed.WithStore[string](mem), typed.WithQuotas(qs[:quotas]...)}
	if len(hooks) > 0 {
		opts = append(opts, typed.WithHooks(hooks...))
	}
	l, err := typed.New[string](opts...)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkLimit measures a decision on the memory store (one key; one
// quota, and two for the _2q cases) without a hook, with a hook that only
// calls next (typed's own cost of having hooks), and with this package's
// hook on the SDK's meter provider (the cost users pay), on the no-op
// provider, with a key attribute, and with spans; the _parallel cases
// spread 1024 keys over GOMAXPROCS goroutines.
func BenchmarkLimit(b *testing.B) {
	sdk := func(b *testing.B) *sdkmetric.MeterProvider {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		return mp
	}
	hook := func(b *testing.B, opts ...throttledotel.Option) typed.Hook[string] {
		h, err := throttledotel.NewHook[string](opts...)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	cases := []struct {
		name  string
		hooks func(b *testing.B) []typed.Hook[string]
	}{
		{"no_hook", func(*testing.B) []typed.Hook[string] { return nil }},
		{"passthrough_hook", func(*testing.B) []typed.Hook[string] { // typed's own cost of a hook
			return []typed.Hook[string]{func(ctx context.Context, _ *typed.Call[string], next typed.Next) (typed.Result, error) {
				return next(ctx)
			}}
		}},
		{"hook_sdk", func(b *testing.B) []typed.Hook[string] {
			return []typed.Hook[string]{hook(b, throttledotel.WithMeterProvider(sdk(b)), throttledotel.WithLimiterName("api"))}
		}},
		{"hook_noop", func(b *testing.B) []typed.Hook[string] {
			return []typed.Hook[string]{hook(b, throttledotel.WithMeterProvider(noop.NewMeterProvider()))}
		}},
		{"hook_sdk_key_attribute", func(b *testing.B) []typed.Hook[string] {
			return []typed.Hook[string]{hook(b, throttledotel.WithMeterProvider(sdk(b)), throttledotel.WithKeyAttribute(func(k string) attribute.KeyValue {
				return attribute.String("tier", k[:1])
			}))}
		}},
		{"hook_sdk_spans", func(b *testing.B) []typed.Hook[string] {
			tp := sdktrace.NewTracerProvider() // samples every span, exports none
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return []typed.Hook[string]{hook(b, throttledotel.WithMeterProvider(sdk(b)), throttledotel.WithTracerProvider(tp))}
		}},
	}
	for _, c := range cases {
		for _, nq := range []int{1, 2} {
			name := c.name
			if nq == 2 {
				name += "_2q"
			}
			b.Run(name, func(b *testing.B) {
				l := benchLimiter(b, nq, c.hooks(b)...)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.Limit(ctx, "key", 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(c.name+"_parallel", func(b *testing.B) {
			l := benchLimiter(b, 1, c.hooks(b)...)
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = "key" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				i := 0
				for pb.Next() {
					if _, err := l.Limit(ctx, keys[i%len(keys)], 1); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
