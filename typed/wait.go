package typed

import (
	"context"
	"time"

	"github.com/throttled-go/throttled/algo"
)

// Wait decides a request of cost for key, waiting and retrying while it is
// limited. It keeps one deadline, the earlier of ctx's and now+WithTimeout
// (when set). While limited, if RetryAfter goes past the deadline it
// returns at once with the last Result and a *LimitedError; otherwise it
// sleeps exactly RetryAfter and tries again. A cost that can never pass
// (RetryAfter Never) returns at once. If ctx is done while sleeping, or a
// retry fails, it returns the last denial's Result and the error. With neither a timeout nor a ctx
// deadline it waits until allowed.
//
// Wait sleeps on the store's clock when that clock is a store.Sleeper (a
// store.FakeClock in tests): the timeout then runs on that clock, and ctx's
// deadline only through ctx.Done. Otherwise it sleeps on timers.
func (l *Limiter[K]) Wait(ctx context.Context, key K, cost int64) (Result, error) {
	return l.wait(ctx, key, cost, l.timeout)
}

func (l *Limiter[K]) wait(ctx context.Context, key K, cost int64, timeout time.Duration) (Result, error) {
	deadline, hasDeadline := time.Time{}, false
	if l.sleeper == nil {
		deadline, hasDeadline = ctx.Deadline()
	}
	if timeout > 0 {
		if d := l.now().Add(timeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline = d, true
		}
	}
	var timer *time.Timer
	var last Result // the last denial, kept when a retry fails
	for {
		res, err := l.Limit(ctx, key, cost)
		if err != nil {
			return last, err
		}
		if !res.Limited {
			return res, nil
		}
		last = res
		retry := res.State.RetryAfter
		if retry == Never || (hasDeadline && deadline.Sub(l.now()) < retry) {
			return res, &LimitedError{Result: res}
		}
		if l.sleeper != nil {
			err = l.sleeper.Sleep(ctx, retry)
		} else {
			err = sleep(ctx, &timer, retry)
		}
		if err != nil {
			return res, err
		}
	}
}

// now is the time Wait measures its timeout on.
func (l *Limiter[K]) now() time.Time {
	if l.sleeper != nil {
		return time.UnixMicro(l.clock.Now())
	}
	return time.Now()
}

// sleep waits d on *timer (made on first use), or until ctx is done.
func sleep(ctx context.Context, timer **time.Timer, d time.Duration) error {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	select {
	case <-ctx.Done():
		(*timer).Stop()
		return ctx.Err()
	case <-(*timer).C:
		return nil
	}
}

// Do runs fn when a request of the limiter's cost (WithCost, default 1) for
// key is allowed: throttled-py's context manager. With WithTimeout it waits
// and retries as Wait does, else it decides at once. When limited it
// returns a *LimitedError and does not run fn; other errors are the
// limiter's or fn's.
func (l *Limiter[K]) Do(ctx context.Context, key K, fn func(context.Context) error) error {
	if fn == nil {
		return &algo.DataError{Name: "function", Value: "nil", Reason: "Do needs a function to run"}
	}
	if err := l.acquire(ctx, key); err != nil {
		return err
	}
	return fn(ctx)
}

// acquire decides one request of the limiter's cost as Do does.
func (l *Limiter[K]) acquire(ctx context.Context, key K) error {
	if l.timeout > 0 {
		_, err := l.wait(ctx, key, l.cost, l.timeout)
		return err
	}
	res, err := l.Limit(ctx, key, l.cost)
	if err != nil {
		return err
	}
	if res.Limited {
		return &LimitedError{Result: res}
	}
	return nil
}

// Wrap returns fn guarded by l on key, throttled-py's decorator: each call
// first acquires as Do does and returns a *LimitedError without calling fn
// when limited.
func Wrap[K comparable](l *Limiter[K], key K, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return l.Do(ctx, key, fn) }
}

// WrapFunc returns fn guarded by l, keyed by its argument through keyOf:
// each call first acquires for keyOf(arg) as Do does and returns the zero R
// and a *LimitedError without calling fn when limited.
func WrapFunc[K comparable, A, R any](l *Limiter[K], keyOf func(A) K, fn func(context.Context, A) (R, error)) func(context.Context, A) (R, error) {
	return func(ctx context.Context, arg A) (R, error) {
		var zero R
		// As Do: a nil function is invalid input, refused before a token
		// is taken.
		if keyOf == nil {
			return zero, &algo.DataError{Name: "key function", Value: "nil", Reason: "WrapFunc needs a function from argument to key"}
		}
		if fn == nil {
			return zero, &algo.DataError{Name: "function", Value: "nil", Reason: "WrapFunc needs a function to run"}
		}
		if err := l.acquire(ctx, keyOf(arg)); err != nil {
			return zero, err
		}
		return fn(ctx, arg)
	}
}
