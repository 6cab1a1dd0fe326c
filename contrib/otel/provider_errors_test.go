package throttledotel_test

import (
	"errors"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/store/memstore"
)

// errProvider is what failingMeter's failing call returns.
var errProvider = errors.New("meter provider: out of instruments")

// failingMeter is a no-op meter whose instrument named failAt (or, with
// failAt "callback", whose RegisterCallback) fails with errProvider.
type failingMeter struct {
	noop.Meter
	failAt string
}

func (m failingMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	if name == m.failAt {
		return nil, errProvider
	}
	return m.Meter.Int64Counter(name, opts...)
}

func (m failingMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	if name == m.failAt {
		return nil, errProvider
	}
	return m.Meter.Float64Histogram(name, opts...)
}

func (m failingMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	if name == m.failAt {
		return nil, errProvider
	}
	return m.Meter.Int64ObservableGauge(name, opts...)
}

func (m failingMeter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	if name == m.failAt {
		return nil, errProvider
	}
	return m.Meter.Int64ObservableCounter(name, opts...)
}

func (m failingMeter) RegisterCallback(f metric.Callback, instruments ...metric.Observable) (metric.Registration, error) {
	if m.failAt == "callback" {
		return nil, errProvider
	}
	return m.Meter.RegisterCallback(f, instruments...)
}

// failingProvider hands out a failingMeter.
type failingProvider struct {
	noop.MeterProvider
	failAt string
}

func (p failingProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return failingMeter{failAt: p.failAt}
}

// TestMeterProviderErrors: an error of the meter provider, creating any
// instrument or registering a callback, is returned as it is, by New,
// NewHook and ObserveMemoryStore, with nothing else returned.
func TestMeterProviderErrors(t *testing.T) {
	for _, failAt := range []string{throttledotel.MetricRequests, throttledotel.MetricDuration, throttledotel.MetricFallbackActive, "callback"} {
		in, err := throttledotel.New[string](throttledotel.WithMeterProvider(failingProvider{failAt: failAt}))
		if in != nil || err != errProvider {
			t.Errorf("New, %s failing: %v, %v; want nil and the provider's error", failAt, in, err)
		}
		hook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(failingProvider{failAt: failAt}))
		if hook != nil || err != errProvider {
			t.Errorf("NewHook, %s failing: hook %v, %v; want none and the provider's error", failAt, hook != nil, err)
		}
	}
	if in, err := throttledotel.New[string](throttledotel.WithMeterProvider(failingProvider{})); in == nil || err != nil {
		t.Fatalf("New on a provider that does not fail: %v, %v", in, err)
	}

	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, failAt := range []string{throttledotel.MetricMemoryKeys, throttledotel.MetricMemoryLiveEvictions, "callback"} {
		reg, err := throttledotel.ObserveMemoryStore("mem", mem, throttledotel.WithMeterProvider(failingProvider{failAt: failAt}))
		if reg != nil || err != errProvider {
			t.Errorf("ObserveMemoryStore, %s failing: %v, %v; want nil and the provider's error", failAt, reg, err)
		}
	}
	if _, err := throttledotel.ObserveMemoryStore("mem", mem, nil); !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("ObserveMemoryStore with a nil option: %v, want algo.ErrInvalid", err)
	}
	reg, err := throttledotel.ObserveMemoryStore("mem", mem, throttledotel.WithMeterProvider(failingProvider{}))
	if reg == nil || err != nil {
		t.Fatalf("ObserveMemoryStore on a provider that does not fail: %v, %v", reg, err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
}
