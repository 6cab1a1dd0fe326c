package throttledotel_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	throttledotel "github.com/throttled-go/throttled/contrib/otel"
)

// fakeStart is a fake clock's start, in µs since the epoch: a whole
// minute, so that a fixed window of a minute starts there.
const fakeStart = 1_700_000_040_000_000

// testCtx returns a context that ends the test's calls within 20 s, so a
// hung store fails the test quickly rather than at go test's timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newReader returns a meter provider on a manual reader, shut down at the
// test's end.
func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return r, mp
}

// attrs renders an attribute set as sorted "k=v" pairs joined by ",", the
// key of the maps the tests compare.
func attrs(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// a builds the same rendering as attrs from "k=v" pairs, for expectations.
func a(pairs ...string) string {
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// collected is one collection of this package's instruments.
type collected struct {
	metrics map[string]metricdata.Metrics
}

// collect reads r and returns the metrics of this package's scope by
// name (other scopes are ignored).
func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	c := collected{metrics: map[string]metricdata.Metrics{}}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != throttledotel.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			c.metrics[m.Name] = m
		}
	}
	return c
}

// sum returns an int64 sum's points by attribute set, checking the
// metric's unit and that it is a monotonic cumulative sum.
func (c collected) sum(t *testing.T, name, unit string) map[string]int64 {
	t.Helper()
	m, ok := c.metrics[name]
	if !ok {
		return map[string]int64{}
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data %T, want Sum[int64]", name, m.Data)
	}
	if !s.IsMonotonic || s.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("%s: monotonic %v, temporality %v", name, s.IsMonotonic, s.Temporality)
	}
	out := map[string]int64{}
	for _, p := range s.DataPoints {
		out[attrs(p.Attributes)] = p.Value
	}
	return out
}

// gauge returns an int64 gauge's points by attribute set.
func (c collected) gauge(t *testing.T, name, unit string) map[string]int64 {
	t.Helper()
	m, ok := c.metrics[name]
	if !ok {
		return map[string]int64{}
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s: data %T, want Gauge[int64]", name, m.Data)
	}
	out := map[string]int64{}
	for _, p := range g.DataPoints {
		out[attrs(p.Attributes)] = p.Value
	}
	return out
}

// histCounts returns throttled.duration's counts by attribute set, after
// checking its unit, bounds, and that each point's buckets add up to its
// count and its values are plausible durations.
func (c collected) histCounts(t *testing.T) map[string]uint64 {
	t.Helper()
	m, ok := c.metrics[throttledotel.MetricDuration]
	if !ok {
		return map[string]uint64{}
	}
	if m.Unit != "s" {
		t.Errorf("duration unit %q", m.Unit)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("duration: data %T", m.Data)
	}
	out := map[string]uint64{}
	for _, p := range h.DataPoints {
		if fmt.Sprint(p.Bounds) != fmt.Sprint(throttledotel.DurationBuckets()) {
			t.Errorf("bounds %v, want %v", p.Bounds, throttledotel.DurationBuckets())
		}
		var n uint64
		for _, b := range p.BucketCounts {
			n += b
		}
		if n != p.Count {
			t.Errorf("%s: buckets add up to %d, count %d", attrs(p.Attributes), n, p.Count)
		}
		if p.Sum < 0 || p.Sum > 60 {
			t.Errorf("%s: sum %v s is no sum of decision times", attrs(p.Attributes), p.Sum)
		}
		out[attrs(p.Attributes)] = p.Count
	}
	return out
}

// equal fails the test unless got and want hold the same points.
func equal[N comparable](t *testing.T, what string, got, want map[string]N) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s{%s} = %v (present %v), want %v", what, k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s{%s} = %v, not expected", what, k, g)
		}
	}
}
