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
// once decides once and returns the same Result each time.
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
// A hook that panics does not lose the decision or make another: the panic
// is logged with slog.Default (ERROR, "throttled: hook panicked") and the
// caller gets next's Result and error, next being called then if the hook
// had not called it. An error a hook returns is returned to the caller with
// the Result the hook returned. With no hook a decision allocates nothing.
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

// once memoizes a decision, so that however often hooks call next, the
// store decides once.
type once struct {
	done bool
	res  Result
	err  error
	run  func(ctx context.Context) (Result, error)
}

func (o *once) next(ctx context.Context) (Result, error) {
	if !o.done {
		o.res, o.err = o.run(ctx)
		o.done = true
	}
	return o.res, o.err
}

// hooked runs decide through the limiter's hooks.
func (l *Limiter[K]) hooked(ctx context.Context, c *Call[K], decide func(context.Context) (Result, error)) (Result, error) {
	o := &once{run: decide}
	next := o.next
	for i := len(l.hooks) - 1; i >= 0; i-- {
		h, inner := l.hooks[i], next
		next = func(ctx context.Context) (Result, error) { return runHook(ctx, h, c, inner) }
	}
	return next(ctx)
}

// runHook runs one hook, recovering from its panic as Hook documents.
func runHook[K comparable](ctx context.Context, h Hook[K], c *Call[K], next Next) (res Result, err error) {
	o := &once{run: next}
	defer func() {
		if p := recover(); p != nil {
			slog.Default().Error("throttled: hook panicked", "panic", fmt.Sprint(p), "store", c.Store, "cost", c.Cost)
			res, err = o.next(ctx)
		}
	}()
	return h(ctx, c, o.next)
}

// storeName names a store for hooks: its Name method's answer, or its Go
// type.
func storeName(s any) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", s)
}
