// Package throttledotel records OpenTelemetry metrics, and optionally
// spans, of the decisions of throttled limiters. It is the module
// github.com/throttled-go/throttled/contrib/otel, so that the core module
// depends on no OTel package; its package name keeps clear of
// go.opentelemetry.io/otel's otel in users' code.
//
// It depends on the OTel API only. Export with any SDK reader: OTLP, or
// Prometheus through go.opentelemetry.io/otel/exporters/prometheus (see
// examples/prometheus in the repository).
//
// # Use
//
//	in, err := throttledotel.New[string](
//		throttledotel.WithMeterProvider(mp), // default otel.GetMeterProvider()
//		throttledotel.WithLimiterName("login"),
//	)
//	if err != nil { ... }
//	defer in.Close()
//	l, err := throttled.New(throttled.WithQuota(throttled.PerMin(10)), throttled.WithHooks(in.Hook))
//
//	// the memory store's gauges, once per store:
//	reg, err := throttledotel.ObserveMemoryStore("default", typed.DefaultStore(), throttledotel.WithMeterProvider(mp))
//
// NewHook[K](opts...) is the short form for a limiter that lives as long
// as the process. One Instrumentation per limiter: its
// throttled.fallback.active reports that limiter's last decision.
//
// # Metrics
//
// Names and units follow OTel's semantic-convention style, as
// throttled-py's OTel hook does (throttled.requests, throttled.duration);
// the names after the Prometheus exporter's default translation are in the
// last column.
//
//	name                             instrument               unit       attributes          Prometheus
//	throttled.requests               Int64Counter             {request}  decision            throttled_requests_total
//	throttled.duration               Float64Histogram         s          decision            throttled_duration_seconds_{bucket,sum,count}
//	throttled.fallback.active        Int64ObservableGauge     {state}    limiter             throttled_fallback_active
//	throttled.memory.keys            Int64ObservableGauge     {key}      store               throttled_memory_keys
//	throttled.memory.live_evictions  Int64ObservableCounter   {key}      store               throttled_memory_live_evictions_total
//
// throttled.requests counts decisions (one point per Limit, Peek, and each
// request of a LimitAll, whatever its cost; Wait, Do and Wrap count each
// attempt). throttled.duration times the same decisions, the store's round
// trip included, except LimitAll's requests: the hook runs after the store
// decided the whole batch, so it cannot time one request, and records none
// (throttled.requests still counts them). Its explicit buckets are
// DurationBuckets: 250 ns, 500 ns, then 1-2.5-5 steps from 1 µs to 1 s.
//
// throttled.fallback.active is 1 while the limiter's last decision came
// from its outage policy (typed.WithOutagePolicy: Result.Source fallback or
// fail_open), 0 while it came from the store; errors leave it as it was,
// and it is 0 before the first decision. The hook keeps it in one atomic
// flag, written only when it changes, and the gauge reads that flag at
// collection: no lock and no shared write per decision. It reports the
// last decision, so it stays 1 after an outage until the next decision
// finds the store back (the limiter probes the store in the background,
// and the first decision after the circuit closes sets it to 0).
// Instrumentation.FallbackActive reads the same flag, for health checks.
//
// throttled.memory.keys and throttled.memory.live_evictions are
// memstore.Store.Stats(), read at collection. Live evictions only grow, so
// they are a counter (rate() applies); an eviction means the store is too
// small for its keys (see memstore).
//
// # Attributes
//
// The decision attributes, on throttled.requests and throttled.duration
// (and on spans):
//
//	throttled.algorithm  fixed_window, sliding_window, token_bucket, leaking_bucket, gcra: the quota's in throttled.quota (the first quota's when none)
//	throttled.store      memory, redis, or the store's Go type (the limiter's store, also when the fallback decided)
//	throttled.result     allowed, denied, error
//	throttled.source     store, fallback, fail_open, deny_cache (typed.Result.Source); absent on errors
//	throttled.quota      the quota that bound the decision (below): its Name, or its rate ("10/s", "100/s burst 200") when unnamed
//	throttled.operation  limit, or peek for a call of cost 0
//	error.type           on errors only: invalid, unavailable, script, canceled (the caller's ctx ended first), _OTHER
//	throttled.limiter    the name WithLimiterName gives, when given
//
// plus the constant attributes of WithAttributes and the key attribute of
// WithKeyAttribute. throttled.fallback.active has throttled.limiter and
// WithAttributes's; the memory store's instruments have
// throttled.store=memory, throttled.store.name (ObserveMemoryStore's name)
// and WithAttributes's.
//
// With several quotas a decision is still one point, labelled with the
// quota that bound it: on a denial, the quota that denied it and holds it
// longest (the greatest RetryAfter; the first in the limiter's order on a
// tie), so a day quota that is spent shows rather than the second quota
// that also denied; on an allowed request, the quota with the least
// Remaining (the first on a tie): the quota whose Limit Result.State
// reports, the next to deny. Errors and fail-open decisions, which no
// quota decided, have no throttled.quota. Sums over throttled.quota are
// thus the limiter's decisions, and denials per quota say which limit
// users hit. A fallback decision is labelled with the limiter's quota,
// not the fallback's scaled copy.
//
// The raw key is never an attribute by default: a series per user or IP
// address grows without bound. WithKeyAttribute maps keys to an attribute
// whose values the user bounds (a plan, a route, a tenant). The SDK keeps
// at most 2000 attribute sets per instrument by default and counts the
// rest under otel.metric.overflow=true; a quota function that names a
// quota per key runs into it too, so name quotas by plan, not by key.
//
// # Cost
//
// Attribute sets are built once per class of decision (store, result,
// source, quota, operation, error type) and kept, with their
// metric.WithAttributeSet options, in a copy-on-write map read without a
// lock; the hook itself allocates nothing per decision (WithKeyAttribute
// and spans do). BenchmarkLimit measures it against no hook.
//
// # Tracing
//
// WithTracerProvider adds a span per decision, "throttled.limit" or
// "throttled.peek", of kind internal, with the decision attributes,
// throttled.cost, throttled.remaining and, on a denial,
// throttled.retry_after (seconds; -1: never). An error sets the span's
// status to Error (description: its error.type) and is recorded on it.
// The store is called with the span's context.
//
// # With rueidisotel
//
// github.com/redis/rueidis/rueidisotel (its own module, versioned with
// rueidis) wraps a rueidis client to trace each Redis command from its
// context and record the client's own metrics. Give that client to
// redisstore.New; redisstore passes the decision's context to it, so with
// this package's WithTracerProvider each command span is a child of the
// decision's span:
//
//	co, err := rueidis.ParseURL("redis://127.0.0.1:6379")
//	co.DisableRetry = true                      // as redisstore.FromURL does: fail fast,
//	co.Dialer.Timeout = 200 * time.Millisecond  // within the store's 200 ms call timeout
//	client, err := rueidisotel.NewClient(co, rueidisotel.WithTracerProvider(tp), rueidisotel.WithMeterProvider(mp))
//	st, err := redisstore.New(client)           // the caller closes client
//	in, err := throttledotel.New[string](throttledotel.WithTracerProvider(tp), throttledotel.WithMeterProvider(mp))
//	l, err := throttled.New(throttled.WithStore(st), throttled.WithHooks(in.Hook))
//
// A Limit then gives the trace
//
//	your span
//	└── throttled.limit       (this package: result, quota, source, remaining)
//	    └── EVALSHA           (rueidisotel: the decision's script; EVAL too when Redis did not have it yet)
//
// throttled.duration includes the command's round trip, which rueidisotel
// also measures on its own. A LimitAll's commands go under the caller's
// span (the hook makes no span for batches). A decision made while the
// circuit is open (outage policy) sends no command; the limiter's
// background probes run on context.Background, so their commands start
// traces of their own. redisstore.FromURL builds its own client, so use
// redisstore.New as above to trace commands.
package throttledotel
