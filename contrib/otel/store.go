package throttledotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store/memstore"
)

// ObserveMemoryStore registers observable instruments for s, read from
// s.Stats() at each collection: throttled.memory.keys (gauge, unit {key})
// and throttled.memory.live_evictions (a cumulative counter, unit {key}:
// the count only grows, so rate() applies), each with the attributes
// throttled.store="memory", throttled.store.name=name and those of
// WithAttributes and WithLimiterName. Of the options only
// WithMeterProvider, WithAttributes and WithLimiterName apply.
//
// A store is often shared by several limiters (typed.DefaultStore is
// shared by every limiter without WithStore), so it is registered on its
// own, once, whatever limiters use it. Unregister the returned
// Registration when the store is dropped; until then the callback keeps s
// alive. A nil s gives a *algo.DataError.
func ObserveMemoryStore(name string, s *memstore.Store, opts ...Option) (metric.Registration, error) {
	if s == nil {
		return nil, &algo.DataError{Name: "memory store", Value: "nil", Reason: "ObserveMemoryStore needs a store"}
	}
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	m := c.mp.Meter(ScopeName)
	keys, err := m.Int64ObservableGauge(MetricMemoryKeys,
		metric.WithDescription("Keys a memory store holds, expired ones not yet dropped included."),
		metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	evictions, err := m.Int64ObservableCounter(MetricMemoryLiveEvictions,
		metric.WithDescription("Keys with live state a memory store evicted because their shard was full."),
		metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	kvs := append(c.base(), AttrStore.String(s.Name()), AttrStoreName.String(name))
	opt := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := s.Stats()
		o.ObserveInt64(keys, int64(st.Keys), opt)
		o.ObserveInt64(evictions, st.LiveEvictions, opt)
		return nil
	}, keys, evictions)
}
