// Package async holds a generic Future and batch helpers built on
// golang.org/x/sync/errgroup.
//
// A Future is the result of a function running in its own goroutine. The
// goroutine always ends when the function returns: Await with a done ctx
// stops waiting, not the work (cancel the ctx given to Go for that), so no
// goroutine outlives its function.
package async

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Future is a value of type T that becomes available later. It is safe for
// concurrent use; every reader sees the same value and error.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Go runs fn(ctx) in a new goroutine and returns its Future. Cancelling ctx
// is how to stop fn early; the goroutine ends when fn returns.
func Go[T any](ctx context.Context, fn func(context.Context) (T, error)) *Future[T] {
	f := &Future[T]{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.val, f.err = fn(ctx)
	}()
	return f
}

// Resolved returns a Future that is already done with v and err.
func Resolved[T any](v T, err error) *Future[T] {
	f := &Future[T]{done: make(chan struct{}), val: v, err: err}
	close(f.done)
	return f
}

// Done returns a channel closed when the value is available.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Await waits for the value, or for ctx to be done, in which case it returns
// ctx's error (the work goes on; see Go).
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	default:
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// TryGet returns the value and true when it is available, without waiting;
// otherwise the zero T, nil and false.
func (f *Future[T]) TryGet() (T, error, bool) {
	select {
	case <-f.done:
		return f.val, f.err, true
	default:
		var zero T
		return zero, nil, false
	}
}

// Map runs fn on every element of in with at most limit running at once
// (limit ≤ 0: no bound) and returns the outputs in input order. The first
// error cancels the ctx the others get and is returned; outputs of calls
// that did not finish are zero.
func Map[In, Out any](ctx context.Context, limit int, in []In, fn func(context.Context, In) (Out, error)) ([]Out, error) {
	out := make([]Out, len(in))
	g, gctx := errgroup.WithContext(ctx)
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i, v := range in {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			o, err := fn(gctx, v)
			out[i] = o
			return err
		})
	}
	return out, g.Wait()
}

// Settle runs fn on every element of in with at most limit running at once
// (limit ≤ 0: no bound) and returns every output and every error in input
// order: one call's error does not cancel the others.
func Settle[In, Out any](ctx context.Context, limit int, in []In, fn func(context.Context, In) (Out, error)) ([]Out, []error) {
	out := make([]Out, len(in))
	errs := make([]error, len(in))
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i, v := range in {
		g.Go(func() error {
			out[i], errs[i] = fn(ctx, v)
			return nil
		})
	}
	_ = g.Wait()
	return out, errs
}
