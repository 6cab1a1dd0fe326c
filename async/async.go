// Package async holds Future, the result of a function running in its own
// goroutine: the future-style calls of typed.Limiter (LimitAsync,
// PeekAsync) return one.
//
// The goroutine always ends when the function returns: Await with a done
// ctx stops waiting, not the work (cancel the ctx given to Go for that), so
// no goroutine outlives its function.
package async

import "context"

// Future is a value of type T that becomes available later: wait for it
// with Await, or select on Done and then Await, which returns at once. It
// is safe for concurrent use; every reader sees the same value and error.
// Build it with Go; the zero Future is not usable.
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
