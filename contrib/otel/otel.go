package throttledotel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// ScopeName is the instrumentation scope of the meter and tracer this
// package gets from the providers: its import path.
const ScopeName = "github.com/throttled-go/throttled/contrib/otel"

// The names of the instruments (see the package documentation).
const (
	// MetricRequests counts decisions (Int64Counter, unit {request}).
	MetricRequests = "throttled.requests"
	// MetricDuration is the time a decision took, in seconds
	// (Float64Histogram, unit s, DurationBuckets).
	MetricDuration = "throttled.duration"
	// MetricFallbackActive is 1 while the last decision of a limiter came
	// from the outage policy (fallback or fail-open), else 0
	// (Int64ObservableGauge, unit {state}).
	MetricFallbackActive = "throttled.fallback.active"
	// MetricMemoryKeys is the number of keys a memory store holds
	// (Int64ObservableGauge, unit {key}).
	MetricMemoryKeys = "throttled.memory.keys"
	// MetricMemoryLiveEvictions counts the keys with live state a memory
	// store evicted because a shard was full (Int64ObservableCounter, unit
	// {key}).
	MetricMemoryLiveEvictions = "throttled.memory.live_evictions"
)

// The attribute keys this package records (see the package documentation).
const (
	// AttrAlgorithm is the algorithm of the quota in AttrQuota (of the
	// call's first quota when no quota decided): "fixed_window",
	// "sliding_window", "token_bucket", "leaking_bucket" or "gcra".
	AttrAlgorithm = attribute.Key("throttled.algorithm")
	// AttrStore is the limiter's store, as it names itself: "memory",
	// "redis", or its Go type.
	AttrStore = attribute.Key("throttled.store")
	// AttrResult is "allowed", "denied" or "error".
	AttrResult = attribute.Key("throttled.result")
	// AttrSource is what decided: "store", "fallback" or "fail_open"
	// (typed.Result.Source); absent on errors.
	AttrSource = attribute.Key("throttled.source")
	// AttrQuota names the quota that bound the decision: its Name, or its
	// rate such as "10/s" or "100/s burst 200" when it has none; absent
	// when no quota decided (errors and fail-open).
	AttrQuota = attribute.Key("throttled.quota")
	// AttrOperation is "limit", or "peek" for a call of cost 0.
	AttrOperation = attribute.Key("throttled.operation")
	// AttrLimiter is the name WithLimiterName gives.
	AttrLimiter = attribute.Key("throttled.limiter")
	// AttrErrorType classifies an error, as OTel's semantic conventions
	// name it: "invalid", "unavailable", "script", "canceled" or "_OTHER".
	AttrErrorType = attribute.Key("error.type")
	// AttrStoreName is the name ObserveMemoryStore gives a store.
	AttrStoreName = attribute.Key("throttled.store.name")
)

// Span attribute keys, on spans only (see WithTracerProvider).
const (
	// AttrCost is the request's cost.
	AttrCost = attribute.Key("throttled.cost")
	// AttrRemaining is Result.State.Remaining.
	AttrRemaining = attribute.Key("throttled.remaining")
	// AttrRetryAfter is Result.State.RetryAfter in seconds on a denial, -1
	// when the request can never pass.
	AttrRetryAfter = attribute.Key("throttled.retry_after")
)

// DurationBuckets returns the explicit bucket boundaries of
// throttled.duration, in seconds: 250 ns to 1 s in 1-2.5-5 steps (21
// boundaries), so that a memory-store decision (a few hundred ns), a Redis
// round trip (tens of µs on loopback to a few ms across a network) and a
// store timeout (redisstore's default is 200 ms) each fall in buckets of
// their own. Change them with an sdk/metric View if they do not fit.
func DurationBuckets() []float64 {
	return []float64{
		0.00000025, 0.0000005,
		0.000001, 0.0000025, 0.000005,
		0.00001, 0.000025, 0.00005,
		0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05,
		0.1, 0.25, 0.5,
		1,
	}
}

// Option configures New, NewHook and ObserveMemoryStore. An Option is a
// plain function value, safe to share.
type Option func(*config)

type config struct {
	mp      metric.MeterProvider
	tp      trace.TracerProvider
	attrs   []attribute.KeyValue
	limiter string
	keyAttr any // func(K) attribute.KeyValue
	errs    []error
}

// WithMeterProvider sets the meter provider (default
// otel.GetMeterProvider(), the global one, read when New runs).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "meter provider", Value: "nil", Reason: "WithMeterProvider needs a provider"})
			return
		}
		c.mp = mp
	}
}

// WithTracerProvider makes the hook start a span per decision from tp's
// tracer (default: no spans). The span is named "throttled.limit", or
// "throttled.peek" for a call of cost 0, is of kind internal, and carries
// the metric attributes plus throttled.cost, throttled.remaining and, on a
// denial, throttled.retry_after; an error sets its status to Error and is
// recorded on it. The store is called with the span's context, so a Redis
// client traced by rueidisotel puts its command spans under it (see the
// package documentation). Requests of a LimitAll get no span: the store
// decided the whole batch before the hook runs, so wrap the LimitAll call
// in a span of your own.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "tracer provider", Value: "nil", Reason: "WithTracerProvider needs a provider"})
			return
		}
		c.tp = tp
	}
}

// WithLimiterName adds the attribute throttled.limiter=name to every
// measurement and span, so that the limiters of a process have series of
// their own; throttled.fallback.active needs it to tell limiters apart.
// Default: no such attribute.
func WithLimiterName(name string) Option {
	return func(c *config) { c.limiter = name }
}

// WithAttributes adds constant attributes to every measurement and span
// (default none), such as a tenant or a route group. They must not repeat
// this package's keys.
func WithAttributes(kvs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, kvs...) }
}

// WithKeyAttribute adds the attribute f returns for the request's key to
// every request measurement and span. The raw key is never recorded by
// default: a metric attribute per user or per IP address makes a series
// per key, without bound. Give f only when it maps keys to a small set
// (a plan, a route, an API client you register), or when only spans record
// it. With it, each decision builds its attribute set (a few allocations).
// K must be the hook's key type, or New fails.
func WithKeyAttribute[K comparable](f func(key K) attribute.KeyValue) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, &algo.DataError{Name: "key attribute func", Value: "nil", Reason: "WithKeyAttribute needs a function"})
			return
		}
		c.keyAttr = f
	}
}

// Instrumentation records the metrics, and optionally the spans, of the
// limiters its Hook is given to. Build it with New; it is safe for
// concurrent use. Give each limiter an Instrumentation of its own (and a
// WithLimiterName), because throttled.fallback.active reports the last
// decision an Instrumentation saw.
type Instrumentation[K comparable] struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	tracer   trace.Tracer               // nil: no spans
	keyAttr  func(K) attribute.KeyValue // nil: no key attribute
	cache    attrCache                  // attribute sets by decision class
	degraded atomic.Bool                // the last decision came from the outage policy
	reg      metric.Registration        // the fallback gauge's callback
	closed   atomic.Bool
}

// New returns an Instrumentation for limiters of keys of type K: it
// creates the instruments on the meter provider and registers the
// throttled.fallback.active callback, which Close removes. A bad option
// gives a *algo.DataError (errors.Is(err, algo.ErrInvalid)); an error of
// the meter provider is returned as it is.
func New[K comparable](opts ...Option) (*Instrumentation[K], error) {
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	in := &Instrumentation[K]{}
	if c.keyAttr != nil {
		f, ok := c.keyAttr.(func(K) attribute.KeyValue)
		if !ok {
			return nil, &algo.DataError{Name: "key attribute func", Value: fmt.Sprintf("%T", c.keyAttr), Reason: fmt.Sprintf("want func(%s) attribute.KeyValue", reflect.TypeFor[K]())}
		}
		in.keyAttr = f
	}
	base := c.base()
	in.cache.base = base
	m := c.mp.Meter(ScopeName)
	if in.requests, err = m.Int64Counter(MetricRequests,
		metric.WithDescription("Rate-limit decisions, by result, quota and what decided them."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if in.duration, err = m.Float64Histogram(MetricDuration,
		metric.WithDescription("Time a rate-limit decision took, store round trip included."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(DurationBuckets()...)); err != nil {
		return nil, err
	}
	gauge, err := m.Int64ObservableGauge(MetricFallbackActive,
		metric.WithDescription("1 while the last decision of the limiter came from its outage policy (fallback or fail-open), else 0."),
		metric.WithUnit("{state}"))
	if err != nil {
		return nil, err
	}
	gaugeOpt := metric.WithAttributeSet(attribute.NewSet(base...))
	if in.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var v int64
		if in.degraded.Load() {
			v = 1
		}
		o.ObserveInt64(gauge, v, gaugeOpt)
		return nil
	}, gauge); err != nil {
		return nil, err
	}
	if c.tp != nil {
		in.tracer = c.tp.Tracer(ScopeName)
	}
	return in, nil
}

// NewHook returns the Hook of a new Instrumentation, for a limiter that
// lives as long as the process: the throttled.fallback.active callback
// stays registered as long as the meter provider. Use New, and Close, for
// limiters made and dropped at run time.
func NewHook[K comparable](opts ...Option) (typed.Hook[K], error) {
	in, err := New[K](opts...)
	if err != nil {
		return nil, err
	}
	return in.Hook, nil
}

// configure applies opts over the defaults.
func configure(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return c, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		o(&c)
	}
	if len(c.errs) > 0 {
		return c, c.errs[0]
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	return c, nil
}

// base returns the constant attributes: the limiter's name, then
// WithAttributes's.
func (c *config) base() []attribute.KeyValue {
	var kvs []attribute.KeyValue
	if c.limiter != "" {
		kvs = append(kvs, AttrLimiter.String(c.limiter))
	}
	return append(kvs, c.attrs...)
}

// FallbackActive reports whether the last decision the Instrumentation saw
// came from the limiter's outage policy (typed.FromFallback or
// typed.FromFailOpen): what throttled.fallback.active reports. Errors and
// the deny cache's decisions (typed.FromDenyCache) do not change it. It is false before the first decision.
func (in *Instrumentation[K]) FallbackActive() bool { return in.degraded.Load() }

// Close unregisters the throttled.fallback.active callback. The Hook still
// records the other instruments after Close. Close is idempotent.
func (in *Instrumentation[K]) Close() error {
	if in.closed.Swap(true) {
		return nil
	}
	return in.reg.Unregister()
}

// Hook is the typed.Hook that records each decision: give it to the
// limiter with typed.WithHooks(in.Hook) (throttled.WithHooks for string
// keys). It returns next's Result and error unchanged. Put it first among
// the hooks to measure what the others add, last to measure the store
// alone.
func (in *Instrumentation[K]) Hook(ctx context.Context, c *typed.Call[K], next typed.Next) (typed.Result, error) {
	var span trace.Span
	if in.tracer != nil && !c.Batch {
		name := "throttled.limit"
		if c.Cost == 0 {
			name = "throttled.peek"
		}
		ctx, span = in.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
	}
	start := time.Now()
	res, err := next(ctx)
	elapsed := time.Since(start)

	class, quota := classify(ctx, c, res, err)
	e := in.cache.get(class, c.Quotas, quota)
	add, rec, kvs := e.add, e.rec, e.kvs
	if in.keyAttr != nil {
		kvs = append(append(make([]attribute.KeyValue, 0, len(e.kvs)+1), e.kvs...), in.keyAttr(c.Key))
		opt := metric.WithAttributeSet(attribute.NewSet(kvs...))
		add, rec = []metric.AddOption{opt}, []metric.RecordOption{opt}
	}
	in.requests.Add(ctx, 1, add...)
	if !c.Batch {
		in.duration.Record(ctx, elapsed.Seconds(), rec...)
	}
	if err == nil && res.Source != typed.FromDenyCache { // the deny cache says nothing of the store
		// Write only on a change, so that concurrent decisions share the
		// cache line instead of fighting over it.
		if d := res.Source == typed.FromFallback || res.Source == typed.FromFailOpen; in.degraded.Load() != d {
			in.degraded.Store(d)
		}
	}
	if span != nil {
		span.SetAttributes(kvs...)
		span.SetAttributes(AttrCost.Int64(c.Cost))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, class.errType.String())
		} else {
			span.SetAttributes(AttrRemaining.Int64(res.State.Remaining))
			if res.Limited {
				ra := res.State.RetryAfter.Seconds()
				if res.State.RetryAfter == typed.Never {
					ra = -1
				}
				span.SetAttributes(AttrRetryAfter.Float64(ra))
			}
		}
		span.End()
	}
	return res, err
}

// classify returns the decision's class and the index in c.Quotas of the
// quota that bound it (-1: none). On a denial that is the quota that
// denied it and holds it longest (the greatest RetryAfter; the first on a
// tie); on an allowed request, the quota with the least Remaining (the
// first on a tie), whose Limit Result.State reports.
func classify[K comparable](ctx context.Context, c *typed.Call[K], res typed.Result, err error) (class, int) {
	cl := class{store: c.Store, peek: c.Cost == 0}
	if err != nil {
		cl.result, cl.errType = resultError, errorTypeOf(ctx, err)
		return cl, -1
	}
	cl.source = res.Source
	if res.Limited {
		cl.result = resultDenied
	}
	if res.Source == typed.FromFailOpen || len(c.Quotas) == 0 {
		return cl, -1
	}
	if len(res.Quotas) != len(c.Quotas) || len(c.Quotas) == 1 {
		return cl, 0
	}
	best := -1
	for i, q := range res.Quotas {
		switch {
		case res.Limited:
			if q.Limited && (best < 0 || q.State.RetryAfter > res.Quotas[best].State.RetryAfter) {
				best = i
			}
		case best < 0 || q.State.Remaining < res.Quotas[best].State.Remaining:
			best = i
		}
	}
	return cl, max(best, 0)
}

// errorTypeOf classifies err for error.type.
func errorTypeOf(ctx context.Context, err error) errorType {
	switch {
	case ctx.Err() != nil:
		return errCanceled // the caller gave up: not the store's fault
	case errors.Is(err, algo.ErrInvalid):
		return errInvalid
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, store.ErrScript):
		return errScript
	}
	return errOther
}
