package throttledotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/throttled-go/throttled/algo"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

// newTracer returns a tracer provider that records ended spans.
func newTracer(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp
}

// spanAttrs returns a span's attributes by key.
func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestSpans: with a tracer provider, each decision but a batch's gets a
// span under the caller's, named by its operation and carrying the
// decision; an error sets the Error status. Without WithKeyAttribute no
// attribute holds the key.
func TestSpans(t *testing.T) {
	rec, tp := newTracer(t)
	_, mp := newReader(t)
	clock := store.NewFakeClock(fakeStart)
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(mp), throttledotel.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[string](typed.WithStore[string](mem), typed.WithQuota(algo.PerSec(1).WithName("rps")), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(testCtx(t), "request")
	const key = "user-secret-42"
	for _, cost := range []int64{1, 1, 0} { // allowed, denied (retry in 1 s), peek
		if _, err := l.Limit(ctx, key, cost); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Limit(ctx, key, 5); err != nil { // above the burst: can never pass
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Limit(cctx, key, 1); err == nil {
		t.Fatal("no error with a done ctx")
	}
	if _, err := l.LimitAll(ctx, []typed.Request[string]{{Key: key, Cost: 1}}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := rec.Ended()
	type want struct {
		name       string
		result     string
		remaining  int64
		retryAfter float64 // 0: absent
		err        bool
	}
	wants := []want{
		{"throttled.limit", "allowed", 0, 0, false},
		{"throttled.limit", "denied", 0, 1, false},
		{"throttled.peek", "allowed", 0, 0, false},
		{"throttled.limit", "denied", 0, -1, false},
		{"throttled.limit", "error", 0, 0, true},
	}
	if len(spans) != len(wants)+1 { // and the parent; none for the batch
		t.Fatalf("%d spans, want %d", len(spans), len(wants)+1)
	}
	for i, w := range wants {
		s := spans[i]
		at := spanAttrs(s)
		if s.Name() != w.name || s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %d: %q kind %v parent %v; want %q under the caller's", i, s.Name(), s.SpanKind(), s.Parent().SpanID(), w.name)
		}
		if at[throttledotel.AttrResult].AsString() != w.result || at[throttledotel.AttrStore].AsString() != "memory" {
			t.Errorf("span %d: attributes %v, want result %s", i, at, w.result)
		}
		for k, v := range at {
			if v.String() == key {
				t.Errorf("span %d: attribute %s holds the key", i, k)
			}
		}
		if w.err {
			if s.Status().Code != codes.Error || s.Status().Description != "canceled" || len(s.Events()) != 1 || s.Events()[0].Name != "exception" {
				t.Errorf("span %d: status %v, events %v; want an Error and the recorded error", i, s.Status(), s.Events())
			}
			continue
		}
		if s.Status().Code != codes.Unset || at[throttledotel.AttrQuota].AsString() != "rps" {
			t.Errorf("span %d: status %v, quota %v", i, s.Status(), at[throttledotel.AttrQuota])
		}
		if got := at[throttledotel.AttrRemaining]; got.AsInt64() != w.remaining {
			t.Errorf("span %d: remaining %v, want %d", i, got, w.remaining)
		}
		if got, ok := at[throttledotel.AttrRetryAfter]; ok != (w.retryAfter != 0) || got.AsFloat64() != w.retryAfter {
			t.Errorf("span %d: retry_after %v (present %v), want %v", i, got.AsFloat64(), ok, w.retryAfter)
		}
	}
}

// tracedClient is a rueidis.Client that starts a span for each command
// from the command's context and calls the real client, as rueidisotel
// does (which is not fetchable here): it shows that the decision's span
// reaches the Redis client through the store.
type tracedClient struct {
	rueidis.Client
	tracer trace.Tracer
}

func (c tracedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, span := c.tracer.Start(ctx, cmd.Commands()[0], trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return c.Client.Do(ctx, cmd)
}

func (c tracedClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	ctx, span := c.tracer.Start(ctx, "pipeline", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return c.Client.DoMulti(ctx, cmds...)
}

// TestRedisCommandSpansNest: on a real Redis, the commands a decision
// sends are traced under the decision's span when the client traces them
// from their context.
func TestRedisCommandSpansNest(t *testing.T) {
	srv := redistest.Standalone(t)
	rec, tp := newTracer(t)
	_, mp := newReader(t)
	client := redistest.Client(t, srv.Addr())
	st, err := redisstore.New(tracedClient{Client: client, tracer: tp.Tracer("redis")}, redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := throttledotel.NewHook[string](throttledotel.WithMeterProvider(mp), throttledotel.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	l, err := typed.New[string](typed.WithStore[string](st), typed.WithQuota(algo.PerSec(5)), typed.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.Limit(testCtx(t), "k", 1); err != nil || res.Limited {
		t.Fatal(res, err)
	}
	spans := rec.Ended()
	var decision sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "throttled.limit" {
			decision = s
		}
	}
	if decision == nil {
		t.Fatalf("no decision span in %d spans", len(spans))
	}
	var cmds []string
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			cmds = append(cmds, s.Name())
			if s.Parent().SpanID() != decision.SpanContext().SpanID() || s.SpanContext().TraceID() != decision.SpanContext().TraceID() {
				t.Errorf("command span %s is not under the decision's span", s.Name())
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatal("no command span")
	}
	t.Logf("command spans under throttled.limit: %v", cmds)
}
