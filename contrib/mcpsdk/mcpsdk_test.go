package mcpsdk_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// step is one moment of a timeline: the clock moves by advance, then tool
// is called; want is "pass" or the exact retry-after of the denial, and
// remaining the Remaining a denial reports.
type step struct {
	advance   time.Duration
	tool      string
	pass      bool
	retry     time.Duration // of a denial
	remaining int64         // of a denial
	text      string        // of a denial
}

// runTimeline calls each step's tool on cs, checking each outcome, and
// that exactly the passing calls ran the tool.
func runTimeline(t *testing.T, s *server, cs *mcp.ClientSession, clock *store.FakeClock, steps []step) {
	t.Helper()
	for i, st := range steps {
		clock.Advance(st.advance)
		before := s.runs.Load()
		res := call(t, cs, st.tool)
		ran := s.runs.Load() - before
		if st.pass {
			if res.IsError || ran != 1 {
				t.Fatalf("step %d (%s): want a run, got %+v (ran %d)", i, st.tool, res, ran)
			}
			var out struct{ Echo string }
			decode(t, res.StructuredContent, &out)
			if out.Echo != "hi" {
				t.Fatalf("step %d: tool output %+v", i, res.StructuredContent)
			}
			continue
		}
		if ran != 0 {
			t.Fatalf("step %d (%s): a denied call ran the tool", i, st.tool)
		}
		d := denialOf(t, res)
		if d.RetryAfterSeconds == nil || *d.RetryAfterSeconds != seconds(st.retry) {
			t.Fatalf("step %d (%s): retryAfterSeconds %v, want %v", i, st.tool, d.RetryAfterSeconds, seconds(st.retry))
		}
		if d.Remaining != st.remaining {
			t.Fatalf("step %d (%s): remaining %d, want %d", i, st.tool, d.Remaining, st.remaining)
		}
		if d.Method != "tools/call" || d.Name != st.tool {
			t.Fatalf("step %d: denial names %s %s", i, d.Method, d.Name)
		}
		if st.text != "" && textOf(t, res) != st.text {
			t.Fatalf("step %d: text %q, want %q", i, textOf(t, res), st.text)
		}
	}
}

// testLimitThenDeny: 4 calls pass, the 5th is denied with the exact
// retry-after, and the call passes at that moment and not 1µs before. The
// quota is 4 per 10s (token bucket, burst 4): a token every 2.5s.
func testLimitThenDeny(t *testing.T, storeOpt typed.Option, clock *store.FakeClock) {
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 4)))
	s := newServer(t, l)
	cs := connect(t, s, "client")
	runTimeline(t, s, cs, clock, []step{
		{tool: "echo", pass: true},
		{tool: "echo", pass: true},
		{tool: "echo", pass: true},
		{tool: "echo", pass: true},
		{tool: "echo", retry: 2500 * time.Millisecond, text: "rate limit exceeded for tool echo; retry after 2.5s"},
		{tool: "cheap", retry: 2500 * time.Millisecond}, // one budget per session, whatever the tool
		{advance: 2500*time.Millisecond - time.Microsecond, tool: "echo", retry: time.Microsecond, text: "rate limit exceeded for tool echo; retry after 1ms"},
		{advance: time.Microsecond, tool: "echo", pass: true},
		{tool: "echo", retry: 2500 * time.Millisecond},
		{advance: 5 * time.Second, tool: "echo", pass: true}, // two tokens back
		{tool: "echo", pass: true},
		{tool: "echo", retry: 2500 * time.Millisecond},
	})
	// The full denial: limit, reset and cost too.
	res := call(t, cs, "echo")
	d := denialOf(t, res)
	if d.Limit != 4 || d.ResetAfterSeconds != 10 || d.Cost != 1 || d.Quotas != nil {
		t.Fatalf("denial %+v: want limit 4, resetAfterSeconds 10 (four tokens), cost 1, no quotas", d)
	}
}

func TestLimitThenDeny(t *testing.T) {
	storeOpt, clock := memStore(t)
	testLimitThenDeny(t, storeOpt, clock)
}

// testSessionsIndependent: two sessions (two in-memory connections, which
// have no session id) have a budget each.
func testSessionsIndependent(t *testing.T, storeOpt typed.Option, clock *store.FakeClock) {
	var mu sync.Mutex
	keys := map[mcpsdk.Key]int{}
	record := typed.WithHooks(func(ctx context.Context, c *typed.Call[mcpsdk.Key], next typed.Next) (typed.Result, error) {
		mu.Lock()
		keys[c.Key]++
		mu.Unlock()
		return next(ctx)
	})
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 2)), record)
	s := newServer(t, l)
	a, b := connect(t, s, "a"), connect(t, s, "b")
	runTimeline(t, s, a, clock, []step{
		{tool: "echo", pass: true},
		{tool: "echo", pass: true},
		{tool: "echo", retry: 5 * time.Second},
	})
	runTimeline(t, s, b, clock, []step{
		{tool: "echo", pass: true},
		{tool: "echo", pass: true},
		{tool: "echo", retry: 5 * time.Second},
	})
	runTimeline(t, s, a, clock, []step{{advance: 5 * time.Second, tool: "echo", pass: true}, {tool: "echo", retry: 5 * time.Second}})
	// A session's calls left b's budget alone: b has its token back too.
	runTimeline(t, s, b, clock, []step{{tool: "echo", pass: true}})
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 {
		t.Fatalf("keys %v: want one per connection", keys)
	}
	total := 0
	for k, n := range keys {
		if !strings.HasPrefix(k.Session, "conn:") || (k != mcpsdk.Key{Session: k.Session}) || (n != 4 && n != 5) {
			t.Fatalf("key %+v decided %d times: want a connection id only, 5 times for a and 4 for b", k, n)
		}
		total += n
	}
	if total != 9 {
		t.Fatalf("keys %v: want 9 decisions", keys)
	}
}

func TestSessionsIndependent(t *testing.T) {
	storeOpt, clock := memStore(t)
	testSessionsIndependent(t, storeOpt, clock)
}

// testConcurrent: many goroutines on many sessions call one tool keyed by
// tool alone; with the clock still, exactly the burst passes.
func testConcurrent(t *testing.T, storeOpt typed.Option) {
	const burst, sessions, perSession, callsEach = 50, 8, 8, 5
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerHour(burst)))
	s := newServer(t, l, mcpsdk.WithKey(mcpsdk.Tool))
	var passed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sessions*perSession)
	for i := range sessions {
		cs := connect(t, s, fmt.Sprint("client-", i))
		for range perSession {
			wg.Go(func() {
				for range callsEach {
					res, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
					switch {
					case err != nil:
						errs <- err
						return
					case res.IsError:
						if !isDenial(res) {
							errs <- fmt.Errorf("not a denial: %s", textOf(t, res))
							return
						}
						denied.Add(1)
					default:
						passed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if passed.Load() != burst || denied.Load() != sessions*perSession*callsEach-burst || s.runs.Load() != burst {
		t.Fatalf("passed %d, denied %d, ran %d: want %d passed and run, %d denied", passed.Load(), denied.Load(), s.runs.Load(), burst, sessions*perSession*callsEach-burst)
	}
}

func TestConcurrent(t *testing.T) {
	storeOpt, _ := memStore(t)
	testConcurrent(t, storeOpt)
}

// testCosts: a tool costing 5 drains the session's budget five times as
// fast as one costing 1, and waits five times as long.
func testCosts(t *testing.T, storeOpt typed.Option, clock *store.FakeClock) {
	// 20 per 10s: a token every 500ms.
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 20)))
	s := newServer(t, l, mcpsdk.WithCosts(map[string]int64{"expensive": 5}))
	cheap, expensive := connect(t, s, "cheap"), connect(t, s, "expensive")
	var steps []step
	for range 20 {
		steps = append(steps, step{tool: "cheap", pass: true})
	}
	steps = append(steps, step{tool: "cheap", retry: 500 * time.Millisecond})
	runTimeline(t, s, cheap, clock, steps)
	steps = steps[:0]
	for range 4 {
		steps = append(steps, step{tool: "expensive", pass: true})
	}
	steps = append(steps,
		step{tool: "expensive", retry: 2500 * time.Millisecond, text: "rate limit exceeded for tool expensive; retry after 2.5s"},
		step{advance: 500 * time.Millisecond, tool: "cheap", pass: true}, // cost 1 fits in one token
		step{advance: 2 * time.Second, tool: "expensive", retry: 500 * time.Millisecond, remaining: 4},
		step{advance: 500 * time.Millisecond, tool: "expensive", pass: true},
	)
	runTimeline(t, s, expensive, clock, steps)
	d := denialOf(t, call(t, expensive, "expensive"))
	if d.Cost != 5 {
		t.Fatalf("denial cost %d, want 5", d.Cost)
	}
}

func TestCosts(t *testing.T) {
	storeOpt, clock := memStore(t)
	testCosts(t, storeOpt, clock)
}

// TestToolQuota: the expensive tool has a quota of its own on top of the
// session's budget, through the limiter's quota function; the denial names
// it and carries each quota's state.
func TestToolQuota(t *testing.T) {
	storeOpt, clock := memStore(t)
	budget := algo.PerMin(100).WithName("session")
	own := algo.PerMin(2).WithName("expensive")
	quotas := typed.WithQuotaFunc(func(ctx context.Context, k mcpsdk.Key) ([]algo.Quota, error) {
		c, ok := mcpsdk.CallFromContext(ctx)
		if !ok {
			return nil, errors.New("no call in the context")
		}
		if c.Name == "expensive" {
			return []algo.Quota{budget, own}, nil
		}
		return []algo.Quota{budget}, nil
	})
	s := newServer(t, newLimiter(t, storeOpt, quotas))
	cs := connect(t, s, "client")
	runTimeline(t, s, cs, clock, []step{
		{tool: "expensive", pass: true},
		{tool: "expensive", pass: true},
		{tool: "expensive", retry: 30 * time.Second, text: `rate limit exceeded for tool expensive (quota "expensive" 2/m); retry after 30s`},
		{tool: "cheap", pass: true},
		{tool: "cheap", pass: true},
	})
	d := denialOf(t, call(t, cs, "expensive"))
	want := []mcpsdk.QuotaStatus{
		{Name: "session", Quota: "100/m", Remaining: 96, Limit: 100, RetryAfterSeconds: ptr(0.0), ResetAfterSeconds: 2.4},
		{Name: "expensive", Quota: "2/m", Limited: true, Remaining: 0, Limit: 2, RetryAfterSeconds: ptr(30.0), ResetAfterSeconds: 60},
	}
	if len(d.Quotas) != 2 {
		t.Fatalf("quotas %+v", d.Quotas)
	}
	for i, q := range d.Quotas {
		w := want[i]
		if q.Name != w.Name || q.Quota != w.Quota || q.Limited != w.Limited || q.Remaining != w.Remaining || q.Limit != w.Limit ||
			*q.RetryAfterSeconds != *w.RetryAfterSeconds || math.Abs(q.ResetAfterSeconds-w.ResetAfterSeconds) > 1e-9 {
			t.Fatalf("quota %d: %+v (retry %v), want %+v (retry %v)", i, q, *q.RetryAfterSeconds, w, *w.RetryAfterSeconds)
		}
	}
	// The combined figures are the binding quota's.
	if d.Remaining != 0 || d.Limit != 2 || *d.RetryAfterSeconds != 30 {
		t.Fatalf("denial %+v", d)
	}
}

func ptr[T any](v T) *T { return &v }

// TestToolKeyQuotas: keyed by tool, a quota function picks each tool's
// quota from the Key.
func TestToolKeyQuotas(t *testing.T) {
	storeOpt, clock := memStore(t)
	quotas := typed.WithQuotaFunc(func(ctx context.Context, k mcpsdk.Key) ([]algo.Quota, error) {
		if k.Tool == "expensive" {
			return []algo.Quota{algo.PerMin(1)}, nil
		}
		return []algo.Quota{algo.PerMin(3)}, nil
	})
	s := newServer(t, newLimiter(t, storeOpt, quotas), mcpsdk.WithKey(mcpsdk.Tool))
	a, b := connect(t, s, "a"), connect(t, s, "b")
	runTimeline(t, s, a, clock, []step{
		{tool: "expensive", pass: true},
		{tool: "cheap", pass: true},
	})
	runTimeline(t, s, b, clock, []step{ // the tool's budget, whatever the session
		{tool: "expensive", retry: time.Minute},
		{tool: "cheap", pass: true},
		{tool: "cheap", pass: true},
		{tool: "cheap", retry: 20 * time.Second},
	})
}

// testWait: with WithWait, a limited call whose retry-after fits the bound
// waits for it and then runs, not 1µs before; one whose retry-after is
// longer is denied at once.
func testWait(t *testing.T, storeOpt typed.Option, clock *store.FakeClock) {
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 4)))
	s := newServer(t, l, mcpsdk.WithWait(3*time.Second), mcpsdk.WithCosts(map[string]int64{"expensive": 2}))
	cs := connect(t, s, "client")
	for range 4 {
		call(t, cs, "echo")
	}
	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- call(t, cs, "echo") }()
	eventually(t, "the call to wait", func() bool { return clock.Sleepers() == 1 })
	clock.Advance(2500*time.Millisecond - time.Microsecond)
	select {
	case res := <-done:
		t.Fatalf("the call returned 1µs before its retry-after: %+v", res)
	case <-time.After(20 * time.Millisecond):
	}
	clock.Advance(time.Microsecond)
	select {
	case res := <-done:
		if res.IsError || s.runs.Load() != 5 {
			t.Fatalf("after waiting: %+v, %d runs", res, s.runs.Load())
		}
	case <-time.After(testTimeout):
		t.Fatal("the waiting call did not pass after its retry-after")
	}
	// Two tokens take 5s, more than the 3s bound: denied without waiting.
	d := denialOf(t, call(t, cs, "expensive"))
	if *d.RetryAfterSeconds != 5 || clock.Sleepers() != 0 || s.runs.Load() != 5 {
		t.Fatalf("denial %+v, %d sleepers, %d runs", d, clock.Sleepers(), s.runs.Load())
	}
}

func TestWait(t *testing.T) {
	storeOpt, clock := memStore(t)
	testWait(t, storeOpt, clock)
}

// TestWaitCancelled: a client cancelling a waiting call ends the wait; the
// tool does not run.
func TestWaitCancelled(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 1)))
	s := newServer(t, l, mcpsdk.WithWait(time.Minute))
	cs := connect(t, s, "client")
	call(t, cs, "echo")
	ctx, cancel := context.WithCancel(ctxFor(t))
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		done <- err
	}()
	eventually(t, "the call to wait", func() bool { return clock.Sleepers() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	eventually(t, "the server to stop waiting", func() bool { return clock.Sleepers() == 0 })
	if s.runs.Load() != 1 {
		t.Fatalf("%d runs: the cancelled call ran", s.runs.Load())
	}
}

// TestCancelledCallFails: the middleware's own answer (not what a client
// sees of its own cancellation) to a call whose context is done before
// the decision, or while it waits, is the context's error: no denial, no
// outage answer, and the tool does not run.
func TestCancelledCallFails(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 1)))
	mw, err := mcpsdk.Middleware(l, mcpsdk.WithKey(), mcpsdk.WithWait(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	h := mw(func(context.Context, string, mcp.Request) (mcp.Result, error) {
		runs.Add(1)
		return &mcp.CallToolResult{}, nil
	})
	req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: "echo"}}
	done, cancel := context.WithCancel(ctxFor(t))
	cancel()
	if res, err := h(done, "tools/call", req); res != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("a call with a done context: %+v, %v; want no result and context.Canceled", res, err)
	}
	if res, err := h(ctxFor(t), "tools/call", req); err != nil || res.(*mcp.CallToolResult).IsError || runs.Load() != 1 {
		t.Fatalf("first call: %+v, %v, %d runs; want it run", res, err, runs.Load())
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	type answer struct {
		res mcp.Result
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		res, err := h(ctx, "tools/call", req) // waits 10 s on the fake clock
		answers <- answer{res, err}
	}()
	eventually(t, "the call to wait", func() bool { return clock.Sleepers() == 1 })
	cancel()
	select {
	case a := <-answers:
		if a.res != nil || !errors.Is(a.err, context.Canceled) {
			t.Fatalf("a call cancelled while waiting: %+v, %v; want no result and context.Canceled", a.res, a.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("a call cancelled while waiting has not returned")
	}
	if runs.Load() != 1 {
		t.Fatalf("%d runs: a cancelled call ran", runs.Load())
	}
}

// TestWaitNever: a cost above the capacity is denied at once, with a null
// retry-after, even when waiting.
func TestWaitNever(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(3)))
	s := newServer(t, l, mcpsdk.WithWait(time.Hour), mcpsdk.WithCosts(map[string]int64{"expensive": 4}))
	cs := connect(t, s, "client")
	res := call(t, cs, "expensive")
	d := denialOf(t, res)
	if d.RetryAfterSeconds != nil || d.Remaining != 3 || d.Cost != 4 {
		t.Fatalf("denial %+v", d)
	}
	if got, want := textOf(t, res), "rate limit exceeded for tool expensive; a call costing 4 can never pass (limit 3)"; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
}

// TestRPCErrors: with WithRPCErrors a denial is a JSON-RPC error with code
// 429 whose data is the denial.
func TestRPCErrors(t *testing.T) {
	storeOpt, _ := memStore(t)
	for _, tc := range []struct {
		name string
		opts []mcpsdk.Option
		code int64
	}{
		{"default code", []mcpsdk.Option{mcpsdk.WithRPCErrors()}, 429},
		{"own code", []mcpsdk.Option{mcpsdk.WithRPCErrors(), mcpsdk.WithErrorCode(-31999)}, -31999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 1)))
			s := newServer(t, l, tc.opts...)
			cs := connect(t, s, "client")
			call(t, cs, "echo")
			_, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			we := rpcError(t, err)
			if we.Code != tc.code || we.Message != "rate limit exceeded for tool echo; retry after 10s" {
				t.Fatalf("error %d %q", we.Code, we.Message)
			}
			var d mcpsdk.Denial
			decode(t, we.Data, &d)
			if d.Error != "rate_limited" || *d.RetryAfterSeconds != 10 || d.Name != "echo" || d.Limit != 1 {
				t.Fatalf("data %s", we.Data)
			}
			if s.runs.Load() != 1 {
				t.Fatalf("%d runs", s.runs.Load())
			}
		})
	}
}

// TestOtherMethods: resources/read and prompts/get are limited by option,
// with JSON-RPC errors; the URI and prompt name are the Tool part.
func TestOtherMethods(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 1)))
	s := newServer(t, l, mcpsdk.WithMethods("resources/read", "prompts/get"), mcpsdk.WithKey(mcpsdk.Session, mcpsdk.Method, mcpsdk.Tool))
	cs := connect(t, s, "client")
	ctx := ctxFor(t)
	for range 3 { // tools/call is not limited now
		call(t, cs, "echo")
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"})
	if we := rpcError(t, err); we.Code != 429 || we.Message != "rate limit exceeded for resource file:///notes.txt; retry after 10s" {
		t.Fatalf("error %d %q", we.Code, we.Message)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"}); err != nil {
		t.Fatal(err) // its own key: method and name differ
	}
	_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"})
	if we := rpcError(t, err); we.Code != 429 || we.Message != "rate limit exceeded for prompt greet; retry after 10s" {
		t.Fatalf("error %d %q", we.Code, we.Message)
	}
}

// TestMissingPart: a key part a call lacks refuses the call with a JSON-RPC
// internal error, unless the part has a fallback.
func TestMissingPart(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)))
	s := newServer(t, l, mcpsdk.WithKey(mcpsdk.Subject)) // in-memory: no token
	cs := connect(t, s, "client")
	_, err := cs.CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	we := rpcError(t, err)
	if we.Code != jsonrpc.CodeInternalError || !strings.Contains(we.Message, "cannot rate-limit tools/call: no authenticated subject") {
		t.Fatalf("error %d %q", we.Code, we.Message)
	}
	if s.runs.Load() != 0 {
		t.Fatal("a refused call ran")
	}
	s = newServer(t, l, mcpsdk.WithKey(mcpsdk.Subject.Or("anonymous"), mcpsdk.Client))
	cs = connect(t, s, "client")
	runTimeline(t, s, cs, clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	// Another client name is another key.
	runTimeline(t, s, connect(t, s, "other"), clock, []step{{tool: "echo", pass: true}})
}

// TestKeyFuncErrors: a failing key, cost or quota func, and a negative
// cost, refuse the call with an internal error that says why.
func TestKeyFuncErrors(t *testing.T) {
	storeOpt, _ := memStore(t)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		lim  []typed.Option
		opts []mcpsdk.Option
		want string
	}{
		{"key func", nil, []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Func("tenant", func(context.Context, *mcpsdk.Call) (string, error) { return "", boom }))}, "throttled: key part func tenant: boom"},
		{"empty key func", nil, []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Func("tenant", func(context.Context, *mcpsdk.Call) (string, error) { return "", nil }))}, "no value for func tenant"},
		{"cost func", nil, []mcpsdk.Option{mcpsdk.WithCostFunc(func(context.Context, *mcpsdk.Call) (int64, error) { return 0, boom })}, "throttled: cost func: boom"},
		{"negative cost", nil, []mcpsdk.Option{mcpsdk.WithCostFunc(func(context.Context, *mcpsdk.Call) (int64, error) { return -1, nil })}, "cost"},
		{"quota func", []typed.Option{typed.WithQuotaFunc(func(context.Context, mcpsdk.Key) ([]algo.Quota, error) { return nil, boom })}, nil, "throttled: quota func: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, newLimiter(t, append([]typed.Option{storeOpt}, tc.lim...)...), tc.opts...)
			_, err := connect(t, s, "client").CallTool(ctxFor(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			we := rpcError(t, err)
			if we.Code != jsonrpc.CodeInternalError || !strings.Contains(we.Message, tc.want) {
				t.Fatalf("error %d %q, want -32603 with %q", we.Code, we.Message, tc.want)
			}
			if s.runs.Load() != 0 {
				t.Fatal("a refused call ran")
			}
		})
	}
}

// TestFuncKey: a Func part and SubjectFrom fill Key.Custom and Key.Subject.
func TestFuncKey(t *testing.T) {
	storeOpt, _ := memStore(t)
	var got atomic.Value
	l := newLimiter(t, storeOpt, typed.WithHooks(func(ctx context.Context, c *typed.Call[mcpsdk.Key], next typed.Next) (typed.Result, error) {
		got.Store(c.Key)
		return next(ctx)
	}))
	s := newServer(t, l, mcpsdk.WithKey(
		mcpsdk.Tool,
		mcpsdk.SubjectFrom(func(ctx context.Context, c *mcpsdk.Call) (string, error) { return "alice", nil }),
		mcpsdk.Func("tenant", func(ctx context.Context, c *mcpsdk.Call) (string, error) { return "acme,inc", nil }),
		mcpsdk.Func("plan", func(ctx context.Context, c *mcpsdk.Call) (string, error) { return "pro", nil }),
	))
	call(t, connect(t, s, "client"), "echo")
	want := mcpsdk.Key{Tool: "echo", Subject: "alice", Custom: "tenant=acme%2Cinc,plan=pro"}
	if k := got.Load().(mcpsdk.Key); k != want {
		t.Fatalf("key %+v, want %+v", k, want)
	}
	if s := want.String(); s != "mcp:tool=echo,subject=alice,custom=tenant%3Dacme%252Cinc%2Cplan%3Dpro" {
		t.Fatalf("String %q", s)
	}
}

// TestUnlimitedMethodsPass: methods not limited are never decided.
func TestUnlimitedMethodsPass(t *testing.T) {
	storeOpt, _ := memStore(t)
	var decisions atomic.Int64
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)), typed.WithHooks(func(ctx context.Context, c *typed.Call[mcpsdk.Key], next typed.Next) (typed.Result, error) {
		decisions.Add(1)
		return next(ctx)
	}))
	s := newServer(t, l)
	cs := connect(t, s, "client")
	ctx := ctxFor(t)
	for range 3 {
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := cs.Ping(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if decisions.Load() != 0 {
		t.Fatalf("%d decisions for unlimited methods", decisions.Load())
	}
	call(t, cs, "echo")
	if decisions.Load() != 1 {
		t.Fatalf("%d decisions after one call", decisions.Load())
	}
}

// TestCostZero: a free tool is never limited, even with the budget spent.
func TestCostZero(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)))
	s := newServer(t, l, mcpsdk.WithCosts(map[string]int64{"cheap": 0}))
	cs := connect(t, s, "client")
	runTimeline(t, s, cs, clock, []step{
		{tool: "echo", pass: true},
		{tool: "echo", retry: time.Minute},
		{tool: "cheap", pass: true},
		{tool: "cheap", pass: true},
	})
}

// TestDenialResult: WithDenialResult replaces the tool result of a denial.
func TestDenialResult(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)))
	s := newServer(t, l, mcpsdk.WithDenialResult(func(d *mcpsdk.Denial) *mcp.CallToolResult {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("slow down: %s, key %s, limited %v", d.Text(), d.Key, d.Result.Limited)}}}
	}))
	cs := connect(t, s, "client")
	call(t, cs, "echo")
	res := call(t, cs, "echo")
	if text := textOf(t, res); !res.IsError || !strings.HasPrefix(text, "slow down: rate limit exceeded for tool echo; retry after 1m0s, key mcp:session=conn:") || !strings.HasSuffix(text, ", limited true") || res.StructuredContent != nil {
		t.Fatalf("result %+v, text %q", res, text)
	}
	// A nil result stands for the default one: the call is still denied.
	s = newServer(t, l, mcpsdk.WithDenialResult(func(*mcpsdk.Denial) *mcp.CallToolResult { return nil }))
	cs = connect(t, s, "client")
	call(t, cs, "echo")
	if d := denialOf(t, call(t, cs, "echo")); *d.RetryAfterSeconds != 60 || s.runs.Load() != 1 {
		t.Fatalf("denial %+v, %d runs", d, s.runs.Load())
	}
}

// TestOptions: bad options are refused with ErrInvalid naming them.
func TestOptions(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt)
	f := func(context.Context, *mcpsdk.Call) (string, error) { return "x", nil }
	for _, tc := range []struct {
		name string
		opts []mcpsdk.Option
		want string
	}{
		{"nil option", []mcpsdk.Option{nil}, "option"},
		{"zero part", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Part{})}, "zero Part"},
		{"empty fallback", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Session.Or(""))}, "non-empty fallback"},
		{"same field", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Subject, mcpsdk.SubjectFrom(f))}, "same Key field"},
		{"same part", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Tool, mcpsdk.Tool)}, "same Key field"},
		{"unnamed func", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Func("", f))}, "needs a name"},
		{"bad func name", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Func("a=b", f))}, "needs a name"},
		{"nil func", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Func("a", nil))}, "needs a function"},
		{"nil subject func", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.SubjectFrom(nil))}, "needs a function"},
		{"empty header", []mcpsdk.Option{mcpsdk.WithKey(mcpsdk.Header(""))}, "needs a name"},
		{"no methods", []mcpsdk.Option{mcpsdk.WithMethods()}, "at least one"},
		{"notification", []mcpsdk.Option{mcpsdk.WithMethods("notifications/initialized")}, "notification"},
		{"negative cost", []mcpsdk.Option{mcpsdk.WithCosts(map[string]int64{"x": -1})}, "cost of x"},
		{"nil cost func", []mcpsdk.Option{mcpsdk.WithCostFunc(nil)}, "cost func"},
		{"negative wait", []mcpsdk.Option{mcpsdk.WithWait(-time.Second)}, "wait"},
		{"reserved code", []mcpsdk.Option{mcpsdk.WithErrorCode(-32029)}, "-32029"},
		{"reserved code low", []mcpsdk.Option{mcpsdk.WithErrorCode(-32768)}, "-32768"},
		{"nil denial result", []mcpsdk.Option{mcpsdk.WithDenialResult(nil)}, "denial result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := mcpsdk.Middleware(l, tc.opts...)
			if !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || mw != nil {
				t.Fatalf("Middleware: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := mcpsdk.Middleware(nil); !errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("nil limiter: %v", err)
	}
	for _, code := range []int64{-32769, -31999, 429, 0} {
		if _, err := mcpsdk.Middleware(l, mcpsdk.WithErrorCode(code)); err != nil {
			t.Fatalf("code %d: %v", code, err)
		}
	}
}

// TestKeyString: the encoding is injective over the separators, and the
// zero Key is "mcp:all".
func TestKeyString(t *testing.T) {
	for _, tc := range []struct {
		k    mcpsdk.Key
		want string
	}{
		{mcpsdk.Key{}, "mcp:all"},
		{mcpsdk.Key{Session: "abc"}, "mcp:session=abc"},
		{mcpsdk.Key{Method: "tools/call", Tool: "search", Session: "s", Subject: "u", Client: "c", Custom: "x=1"}, "mcp:method=tools/call,tool=search,session=s,subject=u,client=c,custom=x%3D1"},
		{mcpsdk.Key{Tool: "a,session=b"}, "mcp:tool=a%2Csession%3Db"},
		{mcpsdk.Key{Tool: "a", Session: "b"}, "mcp:tool=a,session=b"},
		{mcpsdk.Key{Tool: "100%"}, "mcp:tool=100%25"},
		{mcpsdk.Key{Tool: "all"}, "mcp:tool=all"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.k, got, tc.want)
		}
	}
}

// checkOutage checks the answer to a call the store could not decide.
func checkOutage(t *testing.T, res *mcp.CallToolResult, err error, rpc bool) {
	t.Helper()
	const text = "rate limiter unavailable: tool echo was not run; try again later"
	if rpc {
		we := rpcError(t, err)
		if we.Code != mcpsdk.CodeUnavailable || we.Message != text {
			t.Fatalf("error %d %q", we.Code, we.Message)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || textOf(t, res) != text {
		t.Fatalf("result %+v", res)
	}
	var sc map[string]string
	decode(t, res.Meta[mcpsdk.MetaKey], &sc)
	if sc["error"] != "rate_limiter_unavailable" || sc["name"] != "echo" || res.StructuredContent != nil {
		t.Fatalf("_meta %v, structured content %v", sc, res.StructuredContent)
	}
}

// TestStructuredContent: the denial is in _meta always, and is the
// structured content of a tool listed without an output schema only, as a
// client may check the structured content of a tool with one against it
// (the TypeScript SDK does, even in error results).
func TestStructuredContent(t *testing.T) {
	storeOpt, _ := memStore(t)
	s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1))), mcpsdk.WithKey(mcpsdk.Tool))
	cs := connect(t, s, "client")
	structured := func(tool string) any {
		t.Helper()
		res := call(t, cs, tool)
		if d := denialOf(t, res); d.Name != tool || *d.RetryAfterSeconds != 60 {
			t.Fatalf("denial %+v", d)
		}
		return res.StructuredContent
	}
	call(t, cs, "echo")
	call(t, cs, "plain")
	if sc := structured("plain"); sc != nil {
		t.Fatalf("a tool not listed yet got structured content %v", sc)
	}
	if _, err := cs.ListTools(ctxFor(t), nil); err != nil {
		t.Fatal(err)
	}
	var d mcpsdk.Denial
	decode(t, structured("plain"), &d)
	if d.Error != "rate_limited" || d.Name != "plain" || *d.RetryAfterSeconds != 60 || d.Remaining != 0 || d.Limit != 1 {
		t.Fatalf("structured content %+v", d)
	}
	if sc := structured("echo"); sc != nil {
		t.Fatalf("a tool with an output schema got structured content %v", sc)
	}
}

// TestWaitBoundRunsOut: a call waiting on a clock that does not move (a
// fake one here) is decided once more when WithWait's bound runs out in
// real time, and denied.
func TestWaitBoundRunsOut(t *testing.T) {
	storeOpt, clock := memStore(t)
	// A token every 10ms of the fake clock.
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(time.Second, 100)))
	s := newServer(t, l, mcpsdk.WithWait(50*time.Millisecond))
	cs := connect(t, s, "client")
	for range 100 {
		call(t, cs, "echo")
	}
	began := time.Now()
	d := denialOf(t, call(t, cs, "echo"))
	if waited := time.Since(began); waited < 50*time.Millisecond {
		t.Fatalf("denied after %v, before the 50ms bound", waited)
	}
	if *d.RetryAfterSeconds != 0.01 || clock.Sleepers() != 0 || s.runs.Load() != 100 {
		t.Fatalf("denial %+v, %d sleepers, %d runs", d, clock.Sleepers(), s.runs.Load())
	}
}

// TestListLimited: any request method can be limited, tools/list too.
func TestListLimited(t *testing.T) {
	storeOpt, _ := memStore(t)
	s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1))), mcpsdk.WithMethods("tools/list"))
	cs := connect(t, s, "client")
	if _, err := cs.ListTools(ctxFor(t), nil); err != nil {
		t.Fatal(err)
	}
	_, err := cs.ListTools(ctxFor(t), nil)
	if we := rpcError(t, err); we.Code != 429 || we.Message != "rate limit exceeded for tools/list; retry after 1m0s" {
		t.Fatalf("error %d %q", we.Code, we.Message)
	}
}
