package throttledotel_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/throttled-go/throttled"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/store/memstore"
)

// A limiter with the hook, on an SDK meter provider whose manual reader
// stands in for an exporter.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	in, err := throttledotel.New[string](throttledotel.WithMeterProvider(mp), throttledotel.WithLimiterName("login"))
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	mem, err := memstore.New()
	if err != nil {
		log.Fatal(err)
	}
	l, err := throttled.New(throttled.WithStore(mem), throttled.WithQuota(throttled.PerMin(2).WithName("per-minute")), throttled.WithHooks(in.Hook))
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if _, err := l.Limit(context.Background(), "alice", 1); err != nil {
			log.Fatal(err)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != throttledotel.MetricRequests {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				result, _ := p.Attributes.Value(throttledotel.AttrResult)
				quota, _ := p.Attributes.Value(throttledotel.AttrQuota)
				fmt.Printf("%s %s: %d\n", quota.AsString(), result.AsString(), p.Value)
			}
		}
	}
	// Unordered output:
	// per-minute allowed: 2
	// per-minute denied: 1
}
