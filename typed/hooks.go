package typed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/throttled-go/throttled/algo"
)

// Call is one decision as a hook sees it. A hook must not keep it after
// returning, nor change it.
type Call[K comparable] struct {
	Key    K
	Cost   int64        // 0 for a Peek
	Quotas []algo.Quota // the key's quotas, each with its algorithm and name
	Store  string       // the store's name: "memory", "redis", or its Go type
	Batch  bool         // part of a LimitAll: the store decided already (see Hook)
}

// Next decides the call: the next hook, or the store. Calling it more than
// once decides once and returns the same Result each time; call it from
// the hook's goroutine, before the hook returns.
type Next func(ctx context.Context) (Result, error)

// Hook observes, and may wrap, every decision of a limiter: Limit, Peek
// and the calls Wait, Do, Wrap and WrapFunc make, and each request of a
// LimitAll. It gets the call and next, and returns what the caller gets:
// usually next's Result and error, after timing or logging them. A hook
// may also decide by itself without calling next (custom policy), or
// change the Result.
//
// Hooks given to WithHooks run in order, the first outermost: it sees the
// call first and the Result last. The Result says what decided it
// (Result.Source: the store, or the outage policy's fallback or fail-open).
// In a LimitAll the store decides the whole batch first; each hook then
// sees each request (Call.Batch set) with a next that returns its
// decision, so it can observe or replace the Result but not skip the
// store; the time it measures is that of the batch.
//
// A hook must not keep the call or next after it returns (they are
// reused). A hook that panics does not lose the decision or make another: the panic
// is logged with slog.Default (ERROR, "throttled: hook panicked") and the
// caller gets next's Result and error, next being called then if the hook
// had not called it. An error a hook returns is returned to the caller with
// the Result the hook returned. With no hook a decision allocates nothing,
// and hooks add no allocation of the limiter's own.
type Hook[K comparable] func(ctx context.Context, c *Call[K], next Next) (Result, error)

// WithHooks adds hooks to the limiter, in order (see Hook).
func WithHooks[K comparable](hooks ...Hook[K]) Option {
	return func(c *config) {
		for _, h := range hooks {
			if h == nil {
				c.errs = append(c.errs, &algo.DataError{Name: "hook", Value: "nil", Reason: "WithHooks needs functions"})
				return
			}
		}
		prev, _ := c.hooks.([]Hook[K])
		c.hooks = append(append([]Hook[K](nil), prev...), hooks...)
	}
}

// hookRun is one decision on its way through a limiter's hooks: the call,
// what decides it, and each level's memoized answer (level i runs hook i,
// level len(hooks) decides). Runs are pooled per limiter, with their next
// functions made once, so a hooked decision allocates nothing of its own;
// hence hooks must not keep the call or next after returning.
type hookRun[K comparable] struct {
	l     *Limiter[K]
	call  Call[K]
	set   *policySet
	nexts []Next // nexts[i] runs level i
	done  []bool
	res   []Result
	errs  []error
}

func (l *Limiter[K]) newHookRun() *hookRun[K] {
	n := len(l.hooks) + 1
	r := &hookRun[K]{l: l, nexts: make([]Next, n), done: make([]bool, n), res: make([]Result, n), errs: make([]error, n)}
	for i := range n {
		r.nexts[i] = func(ctx context.Context) (Result, error) { return r.level(ctx, i) }
	}
	return r
}

// level runs level i once and returns its answer ever after.
func (r *hookRun[K]) level(ctx context.Context, i int) (Result, error) {
	if r.done[i] {
		return r.res[i], r.errs[i]
	}
	var res Result
	var err error
	if i == len(r.l.hooks) {
		err = r.l.limit(ctx, r.call.Key, r.set, r.call.Cost, &res)
	} else {
		res, err = r.runHook(ctx, i)
	}
	r.done[i], r.res[i], r.errs[i] = true, res, err
	return res, err
}

// runHook runs hook i, recovering from its panic as Hook documents.
func (r *hookRun[K]) runHook(ctx context.Context, i int) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.Default().Error("throttled: hook panicked", "panic", fmt.Sprint(p), "store", r.call.Store, "cost", r.call.Cost)
			res, err = r.nexts[i+1](ctx)
		}
	}()
	return r.l.hooks[i](ctx, &r.call, r.nexts[i+1])
}

// hooked decides a checked request through the limiter's hooks. For a
// request of a batch, decided is its decision and err its error.
func (l *Limiter[K]) hooked(ctx context.Context, c Call[K], set *policySet, decided *Result, err error) (Result, error) {
	r := l.hookRuns.Get().(*hookRun[K])
	r.call, r.set = c, set
	clear(r.done)
	last := len(l.hooks)
	if decided != nil {
		r.done[last], r.res[last], r.errs[last] = true, *decided, err
	}
	res, err := r.nexts[0](ctx)
	r.call, r.set = Call[K]{}, nil
	clear(r.res)
	clear(r.errs)
	l.hookRuns.Put(r)
	return res, err
}

// storeName names a store for hooks: its Name method's answer, or its Go
// type.
func storeName(s any) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", s)
}
