package mcpgo_test

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

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpgo"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/typed"
)

// step is one moment of a timeline: the clock moves by advance, then tool
// is called; it passes, or is denied with exactly retry and remaining (and
// text, when set).
type step struct {
	advance   time.Duration
	tool      string
	pass      bool
	retry     time.Duration // of a denial
	remaining int64         // of a denial
	text      string        // of a denial
}

// runTimeline calls each step's tool on c, checking each outcome, and that
// exactly the passing calls ran the tool.
func runTimeline(t *testing.T, s *testServer, c *client.Client, clock *store.FakeClock, steps []step) {
	t.Helper()
	for i, st := range steps {
		clock.Advance(st.advance)
		before := s.runs.Load()
		res := call(t, c, st.tool)
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
	c := connect(t, s, "client", "")
	runTimeline(t, s, c, clock, []step{
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
	d := denialOf(t, call(t, c, "echo"))
	if d.Limit != 4 || d.ResetAfterSeconds != 10 || d.Cost != 1 || d.Quotas != nil {
		t.Fatalf("denial %+v: want limit 4, resetAfterSeconds 10 (four tokens), cost 1, no quotas", d)
	}
}

func TestLimitThenDeny(t *testing.T) {
	storeOpt, clock := memStore(t)
	testLimitThenDeny(t, storeOpt, clock)
}

// testSessionsIndependent: two sessions (two in-process clients, each with
// a session id of its own) have a budget each.
func testSessionsIndependent(t *testing.T, storeOpt typed.Option, clock *store.FakeClock) {
	hook, keys := recordKeys()
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 2)), hook)
	s := newServer(t, l)
	a, b := connect(t, s, "a", ""), connect(t, s, "b", "")
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
	runTimeline(t, s, b, clock, []step{{tool: "echo", pass: true}})
	seen := map[mcpgo.Key]int{}
	for _, k := range keys() {
		seen[k]++
	}
	if len(seen) != 2 {
		t.Fatalf("keys %v: want one per session", seen)
	}
	for k, n := range seen {
		if k.Session == "" || (k != mcpgo.Key{Session: k.Session}) || (n != 4 && n != 5) {
			t.Fatalf("key %+v decided %d times: want a session id only, 5 times for a and 4 for b", k, n)
		}
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
	s := newServer(t, l, mcpgo.WithKey(mcpgo.Tool))
	var passed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sessions*perSession)
	for i := range sessions {
		c := connect(t, s, fmt.Sprint("client-", i), "")
		for range perSession {
			wg.Go(func() {
				for range callsEach {
					res, err := callTool(ctxFor(t), c, "echo")
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
	s := newServer(t, l, mcpgo.WithCosts(map[string]int64{"expensive": 5}))
	cheap, expensive := connect(t, s, "cheap", ""), connect(t, s, "expensive", "")
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
	if d := denialOf(t, call(t, expensive, "expensive")); d.Cost != 5 {
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
	quotas := typed.WithQuotaFunc(func(ctx context.Context, k mcpgo.Key) ([]algo.Quota, error) {
		c, ok := mcpgo.CallFromContext(ctx)
		if !ok {
			return nil, errors.New("no call in the context")
		}
		if c.Name == "expensive" {
			return []algo.Quota{budget, own}, nil
		}
		return []algo.Quota{budget}, nil
	})
	s := newServer(t, newLimiter(t, storeOpt, quotas))
	c := connect(t, s, "client", "")
	runTimeline(t, s, c, clock, []step{
		{tool: "expensive", pass: true},
		{tool: "expensive", pass: true},
		{tool: "expensive", retry: 30 * time.Second, text: `rate limit exceeded for tool expensive (quota "expensive" 2/m); retry after 30s`},
		{tool: "cheap", pass: true},
		{tool: "cheap", pass: true},
	})
	d := denialOf(t, call(t, c, "expensive"))
	want := []mcpgo.QuotaStatus{
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
	if d.Remaining != 0 || d.Limit != 2 || *d.RetryAfterSeconds != 30 {
		t.Fatalf("denial %+v", d)
	}
}

func ptr[T any](v T) *T { return &v }

// TestToolKeyQuotas: keyed by tool, a quota function picks each tool's
// quota from the Key.
func TestToolKeyQuotas(t *testing.T) {
	storeOpt, clock := memStore(t)
	quotas := typed.WithQuotaFunc(func(ctx context.Context, k mcpgo.Key) ([]algo.Quota, error) {
		if k.Tool == "expensive" {
			return []algo.Quota{algo.PerMin(1)}, nil
		}
		return []algo.Quota{algo.PerMin(3)}, nil
	})
	s := newServer(t, newLimiter(t, storeOpt, quotas), mcpgo.WithKey(mcpgo.Tool))
	a, b := connect(t, s, "a", ""), connect(t, s, "b", "")
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
	s := newServer(t, l, mcpgo.WithWait(3*time.Second), mcpgo.WithCosts(map[string]int64{"expensive": 2}))
	c := connect(t, s, "client", "")
	for range 4 {
		call(t, c, "echo")
	}
	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- call(t, c, "echo") }()
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
	d := denialOf(t, call(t, c, "expensive"))
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
	s := newServer(t, l, mcpgo.WithWait(time.Minute))
	c := connect(t, s, "client", "")
	call(t, c, "echo")
	ctx, cancel := context.WithCancel(ctxFor(t))
	done := make(chan error, 1)
	go func() {
		_, err := callTool(ctx, c, "echo")
		done <- err
	}()
	eventually(t, "the call to wait", func() bool { return clock.Sleepers() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled call succeeded")
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
	mw, err := mcpgo.ToolMiddleware(l, mcpgo.WithKey(), mcpgo.WithWait(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	h := mw(func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.Add(1)
		return mcp.NewToolResultText("ran"), nil
	})
	var req mcp.CallToolRequest
	req.Params.Name = "echo"
	done, cancel := context.WithCancel(ctxFor(t))
	cancel()
	if res, err := h(done, req); res != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("a call with a done context: %+v, %v; want no result and context.Canceled", res, err)
	}
	if res, err := h(ctxFor(t), req); err != nil || res.IsError || runs.Load() != 1 {
		t.Fatalf("first call: %+v, %v, %d runs; want it run", res, err, runs.Load())
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	type answer struct {
		res *mcp.CallToolResult
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		res, err := h(ctx, req) // waits 10 s on the fake clock
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

// TestWaitBoundRunsOut: a call waiting on a clock that does not move (a
// fake one here) is decided once more when WithWait's bound runs out in
// real time, and denied.
func TestWaitBoundRunsOut(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(time.Second, 100))) // a token every 10ms
	s := newServer(t, l, mcpgo.WithWait(50*time.Millisecond))
	c := connect(t, s, "client", "")
	for range 100 {
		call(t, c, "echo")
	}
	began := time.Now()
	d := denialOf(t, call(t, c, "echo"))
	if waited := time.Since(began); waited < 50*time.Millisecond {
		t.Fatalf("denied after %v, before the 50ms bound", waited)
	}
	if *d.RetryAfterSeconds != 0.01 || clock.Sleepers() != 0 || s.runs.Load() != 100 {
		t.Fatalf("denial %+v, %d sleepers, %d runs", d, clock.Sleepers(), s.runs.Load())
	}
}

// TestWaitNever: a cost above the capacity is denied at once, with a null
// retry-after, even when waiting.
func TestWaitNever(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(3)))
	s := newServer(t, l, mcpgo.WithWait(time.Hour), mcpgo.WithCosts(map[string]int64{"expensive": 4}))
	res := call(t, connect(t, s, "client", ""), "expensive")
	d := denialOf(t, res)
	if d.RetryAfterSeconds != nil || d.Remaining != 3 || d.Cost != 4 {
		t.Fatalf("denial %+v", d)
	}
	if got, want := textOf(t, res), "rate limit exceeded for tool expensive; a call costing 4 can never pass (limit 3)"; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
}

// TestErrors: with WithErrors a denial is an error. In-process it is a
// *DenialError matching typed.ErrLimited; on the wire mcp-go sends it as a
// JSON-RPC internal error with the denial's text.
func TestErrors(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerDuration(10*time.Second, 1)))
	mw, err := mcpgo.ToolMiddleware(l, mcpgo.WithErrors())
	if err != nil {
		t.Fatal(err)
	}
	var seen error
	outer := func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := next(ctx, req)
			seen = err
			return res, err
		}
	}
	s := &testServer{MCPServer: server.NewMCPServer("s", "1")}
	s.Use(outer, mw)
	s.AddTool(mcp.NewTool("echo"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.runs.Add(1)
		return mcp.NewToolResultText("hi"), nil
	})
	c := connect(t, s, "client", "")
	call(t, c, "echo")
	_, err = callTool(ctxFor(t), c, "echo")
	if !errors.Is(err, mcp.ErrInternalError) || !strings.Contains(err.Error(), "rate limit exceeded for tool echo; retry after 10s") {
		t.Fatalf("client error %v", err)
	}
	var de *mcpgo.DenialError
	if !errors.As(seen, &de) || !errors.Is(seen, typed.ErrLimited) || *de.Denial.RetryAfterSeconds != 10 || !de.Denial.Result.Limited {
		t.Fatalf("the outer middleware saw %v", seen)
	}
	var le *typed.LimitedError
	if !errors.As(seen, &le) || le.Result.State.RetryAfter != 10*time.Second {
		t.Fatalf("unwrapped %+v", le)
	}
	if s.runs.Load() != 1 {
		t.Fatalf("%d runs", s.runs.Load())
	}
}

// TestMissingPart: a key part a call lacks refuses the call with an error,
// unless the part has a fallback.
func TestMissingPart(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)))
	subject := mcpgo.SubjectFrom(func(ctx context.Context, c *mcpgo.Call) (string, error) {
		s, _ := ctx.Value(userKey{}).(string)
		return s, nil
	})
	s := newServer(t, l, mcpgo.WithKey(subject))
	_, err := callTool(ctxFor(t), connect(t, s, "client", ""), "echo")
	if !errors.Is(err, mcp.ErrInternalError) || !strings.Contains(err.Error(), "cannot rate-limit tool echo: no subject") {
		t.Fatalf("error %v", err)
	}
	if s.runs.Load() != 0 {
		t.Fatal("a refused call ran")
	}
	hook, keys := recordKeys()
	l = newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(2)), hook)
	s = newServer(t, l, mcpgo.WithKey(subject.Or("anonymous"), mcpgo.Client))
	runTimeline(t, s, connect(t, s, "client", ""), clock, []step{{tool: "echo", pass: true}, {tool: "echo", pass: true}, {tool: "echo", retry: 30 * time.Second}})
	runTimeline(t, s, connect(t, s, "other", ""), clock, []step{{tool: "echo", pass: true}})
	if k := keys()[0]; (k != mcpgo.Key{Subject: "anonymous", Client: "client"}) {
		t.Fatalf("key %+v", k)
	}
}

type userKey struct{}

// TestKeyFuncErrors: a failing key, cost or quota func, and a negative
// cost, refuse the call with an error that says why.
func TestKeyFuncErrors(t *testing.T) {
	storeOpt, _ := memStore(t)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		lim  []typed.Option
		opts []mcpgo.Option
		want string
	}{
		{"key func", nil, []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("tenant", func(context.Context, *mcpgo.Call) (string, error) { return "", boom }))}, "throttled: key part func tenant: boom"},
		{"empty key func", nil, []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("tenant", func(context.Context, *mcpgo.Call) (string, error) { return "", nil }))}, "no value for func tenant"},
		{"cost func", nil, []mcpgo.Option{mcpgo.WithCostFunc(func(context.Context, *mcpgo.Call) (int64, error) { return 0, boom })}, "throttled: cost func: boom"},
		{"negative cost", nil, []mcpgo.Option{mcpgo.WithCostFunc(func(context.Context, *mcpgo.Call) (int64, error) { return -1, nil })}, "cost"},
		{"quota func", []typed.Option{typed.WithQuotaFunc(func(context.Context, mcpgo.Key) ([]algo.Quota, error) { return nil, boom })}, nil, "throttled: quota func: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, newLimiter(t, append([]typed.Option{storeOpt}, tc.lim...)...), tc.opts...)
			_, err := callTool(ctxFor(t), connect(t, s, "client", ""), "echo")
			if !errors.Is(err, mcp.ErrInternalError) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if s.runs.Load() != 0 {
				t.Fatal("a refused call ran")
			}
		})
	}
}

// TestFuncKey: Func parts fill Key.Custom, in order and escaped.
func TestFuncKey(t *testing.T) {
	storeOpt, _ := memStore(t)
	hook, keys := recordKeys()
	s := newServer(t, newLimiter(t, storeOpt, hook), mcpgo.WithKey(
		mcpgo.Tool,
		mcpgo.SubjectFrom(func(ctx context.Context, c *mcpgo.Call) (string, error) { return "alice", nil }),
		mcpgo.Func("tenant", func(ctx context.Context, c *mcpgo.Call) (string, error) { return "acme,inc", nil }),
		mcpgo.Func("plan", func(ctx context.Context, c *mcpgo.Call) (string, error) { return "pro", nil }),
	))
	call(t, connect(t, s, "client", ""), "echo")
	want := mcpgo.Key{Tool: "echo", Subject: "alice", Custom: "tenant=acme%2Cinc,plan=pro"}
	if k := keys()[0]; k != want {
		t.Fatalf("key %+v, want %+v", k, want)
	}
	if s := want.String(); s != "mcp:tool=echo,subject=alice,custom=tenant%3Dacme%252Cinc%2Cplan%3Dpro" {
		t.Fatalf("String %q", s)
	}
}

// TestCostZero: a free tool is never limited, even with the budget spent.
func TestCostZero(t *testing.T) {
	storeOpt, clock := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)))
	s := newServer(t, l, mcpgo.WithCosts(map[string]int64{"cheap": 0}))
	runTimeline(t, s, connect(t, s, "client", ""), clock, []step{
		{tool: "echo", pass: true},
		{tool: "echo", retry: time.Minute},
		{tool: "cheap", pass: true},
		{tool: "cheap", pass: true},
	})
}

// TestDenialResult: WithDenialResult replaces the tool result of a denial;
// a nil result stands for the default one.
func TestDenialResult(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)))
	s := newServer(t, l, mcpgo.WithDenialResult(func(d *mcpgo.Denial) *mcp.CallToolResult {
		return mcp.NewToolResultError(fmt.Sprintf("slow down: %s, key %s, limited %v", d.Text(), d.Key, d.Result.Limited))
	}))
	c := connect(t, s, "client", "")
	call(t, c, "echo")
	res := call(t, c, "echo")
	if text := textOf(t, res); !res.IsError || !strings.HasPrefix(text, "slow down: rate limit exceeded for tool echo; retry after 1m0s, key mcp:session=") || !strings.HasSuffix(text, ", limited true") || res.StructuredContent != nil {
		t.Fatalf("result %+v, text %q", res, text)
	}
	s = newServer(t, l, mcpgo.WithDenialResult(func(*mcpgo.Denial) *mcp.CallToolResult { return nil }))
	c = connect(t, s, "client", "")
	call(t, c, "echo")
	if d := denialOf(t, call(t, c, "echo")); *d.RetryAfterSeconds != 60 || s.runs.Load() != 1 {
		t.Fatalf("denial %+v, %d runs", d, s.runs.Load())
	}
}

// TestOptions: bad options are refused with ErrInvalid naming them.
func TestOptions(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt)
	f := func(context.Context, *mcpgo.Call) (string, error) { return "x", nil }
	for _, tc := range []struct {
		name string
		opts []mcpgo.Option
		want string
	}{
		{"nil option", []mcpgo.Option{nil}, "option"},
		{"zero part", []mcpgo.Option{mcpgo.WithKey(mcpgo.Part{})}, "zero Part"},
		{"empty fallback", []mcpgo.Option{mcpgo.WithKey(mcpgo.Session.Or(""))}, "non-empty fallback"},
		{"same field", []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("a", f), mcpgo.Func("a", f))}, "same Key field"},
		{"same part", []mcpgo.Option{mcpgo.WithKey(mcpgo.Tool, mcpgo.Tool)}, "same Key field"},
		{"unnamed func", []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("", f))}, "needs a name"},
		{"bad func name", []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("a,b", f))}, "needs a name"},
		{"nil func", []mcpgo.Option{mcpgo.WithKey(mcpgo.Func("a", nil))}, "needs a function"},
		{"nil subject func", []mcpgo.Option{mcpgo.WithKey(mcpgo.SubjectFrom(nil))}, "needs a function"},
		{"empty header", []mcpgo.Option{mcpgo.WithKey(mcpgo.Header(""))}, "needs a name"},
		{"negative cost", []mcpgo.Option{mcpgo.WithCosts(map[string]int64{"x": -1})}, "cost of x"},
		{"nil cost func", []mcpgo.Option{mcpgo.WithCostFunc(nil)}, "cost func"},
		{"negative wait", []mcpgo.Option{mcpgo.WithWait(-time.Second)}, "wait"},
		{"nil denial result", []mcpgo.Option{mcpgo.WithDenialResult(nil)}, "denial result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := mcpgo.ToolMiddleware(l, tc.opts...)
			if !errors.Is(err, algo.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || mw != nil {
				t.Fatalf("ToolMiddleware: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := mcpgo.ToolMiddleware(nil); !errors.Is(err, algo.ErrInvalid) {
		t.Fatalf("nil limiter: %v", err)
	}
}

// TestKeyString: the same encoding as contrib/mcpsdk's.
func TestKeyString(t *testing.T) {
	for _, tc := range []struct {
		k    mcpgo.Key
		want string
	}{
		{mcpgo.Key{}, "mcp:all"},
		{mcpgo.Key{Session: "abc"}, "mcp:session=abc"},
		{mcpgo.Key{Method: "tools/call", Tool: "search", Session: "s", Subject: "u", Client: "c", Custom: "x=1"}, "mcp:method=tools/call,tool=search,session=s,subject=u,client=c,custom=x%3D1"},
		{mcpgo.Key{Tool: "a,session=b"}, "mcp:tool=a%2Csession%3Db"},
		{mcpgo.Key{Tool: "a", Session: "b"}, "mcp:tool=a,session=b"},
		{mcpgo.Key{Tool: "100%"}, "mcp:tool=100%25"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.k, got, tc.want)
		}
	}
}

// TestProtocolVersions: an in-process session keeps its id on both
// protocol eras, and the Client part finds the client's name in the
// initialize request (2025-11-25) or in each request's _meta (2026-07-28).
func TestProtocolVersions(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			storeOpt, clock := memStore(t)
			hook, keys := recordKeys()
			s := newServer(t, newLimiter(t, storeOpt, hook, typed.WithQuota(algo.PerMin(1))), mcpgo.WithKey(mcpgo.Session, mcpgo.Client))
			c := connect(t, s, "claude-"+version, version)
			runTimeline(t, s, c, clock, []step{{tool: "echo", pass: true}, {tool: "echo", retry: time.Minute}})
			if k := keys()[0]; k.Client != "claude-"+version || k.Session == "" {
				t.Fatalf("key %+v", k)
			}
		})
	}
}

// TestStructuredContent: the denial is in _meta always, and is the
// structured content of a tool without an output schema only, as a client
// may check the structured content of a tool with one against it (the
// TypeScript SDK does, even in error results).
func TestStructuredContent(t *testing.T) {
	storeOpt, _ := memStore(t)
	s := newServer(t, newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1))), mcpgo.WithKey(mcpgo.Tool))
	c := connect(t, s, "client", "")
	call(t, c, "echo")
	call(t, c, "plain")
	res := call(t, c, "plain")
	var d mcpgo.Denial
	decode(t, res.StructuredContent, &d)
	if dm := denialOf(t, res); d.Error != "rate_limited" || d.Name != "plain" || *d.RetryAfterSeconds != 60 || d.Remaining != 0 || d.Limit != 1 || *dm.RetryAfterSeconds != 60 {
		t.Fatalf("structured content %+v", d)
	}
	res = call(t, c, "echo")
	if d := denialOf(t, res); d.Name != "echo" || res.StructuredContent != nil {
		t.Fatalf("a tool with an output schema got structured content %v", res.StructuredContent)
	}
}
