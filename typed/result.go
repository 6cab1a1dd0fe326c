package typed

import (
	"fmt"
	"math"
	"time"

	"github.com/throttled-go/throttled/algo"
)

// Never is the RetryAfter of a request that can never pass: its cost is
// above the limiter's capacity.
const Never = time.Duration(math.MaxInt64)

// State is a key's rate-limit state as a decision left it.
type State struct {
	// Limit is the most a fresh key can pass at once: the burst for the
	// bucket algorithms and GCRA, the limit for the window algorithms.
	Limit int64
	// Remaining is how much cost could still pass now (never negative).
	Remaining int64
	// ResetAfter is how long until the key is back to its initial state
	// (Remaining == Limit) with no other traffic; 0 when it already is.
	ResetAfter time.Duration
	// RetryAfter is 0 when the request was allowed; otherwise how long
	// until the same request would pass with no other traffic, or Never.
	RetryAfter time.Duration
}

// Result is the outcome of one request.
type Result struct {
	Limited bool  // the request was denied and consumed nothing
	State   State // the key's state after the decision
}

// String renders r like the seed's repr.
func (r Result) String() string {
	return fmt.Sprintf("Result{Limited: %v, State: %v}", r.Limited, r.State)
}

// String renders s with its durations.
func (s State) String() string {
	return fmt.Sprintf("State{Limit: %d, Remaining: %d, ResetAfter: %s, RetryAfter: %s}", s.Limit, s.Remaining, s.ResetAfter, retryString(s.RetryAfter))
}

func retryString(d time.Duration) string {
	if d == Never {
		return "never"
	}
	return d.String()
}

func micros(us int64) time.Duration {
	if us == algo.Never {
		return Never
	}
	return time.Duration(us) * time.Microsecond
}

func resultOf(p *algo.Params, d algo.Decision) Result {
	return Result{Limited: d.Limited, State: State{
		Limit:      p.Max,
		Remaining:  d.Remaining,
		ResetAfter: micros(d.ResetAfter),
		RetryAfter: micros(d.RetryAfter),
	}}
}

// LimitedError reports a denied request; Do, Wrap and Wait return it.
// Match it with errors.As, or with errors.Is(err, ErrLimited).
type LimitedError struct {
	Result Result
}

// ErrLimited is matched by errors.Is for every *LimitedError.
var ErrLimited = &LimitedError{}

// Error returns a message like the seed's:
// "throttled: rate limit exceeded: remaining=0, reset_after=1s, retry_after=1s".
func (e *LimitedError) Error() string {
	s := e.Result.State
	return fmt.Sprintf("throttled: rate limit exceeded: remaining=%d, reset_after=%s, retry_after=%s", s.Remaining, s.ResetAfter, retryString(s.RetryAfter))
}

// Is reports whether target is a *LimitedError, so errors.Is(err,
// ErrLimited) matches any denial.
func (e *LimitedError) Is(target error) bool {
	_, ok := target.(*LimitedError)
	return ok
}
