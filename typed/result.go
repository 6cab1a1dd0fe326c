package typed

import (
	"fmt"
	"math"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
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

// Result is the outcome of one request. The zero Result is an allowed
// request with no state.
type Result struct {
	// Limited reports that the request was denied; it consumed nothing.
	Limited bool
	// State is the key's state after the decision, over every quota: the
	// least Remaining (with its quota's Limit), the greatest ResetAfter, and
	// the greatest RetryAfter, the time at which every quota admits the
	// same request.
	State State
	// Quota is the quota whose Limit and Remaining State shows: the key's
	// one quota, or of several the one with the least Remaining (the first
	// in the limiter's order of those that tie; with FallBack's local
	// store, its scaled copy), with its algorithm and
	// name, so a caller can name the limit without Quotas. It points into
	// the limiter, which never changes it: do not change it either. It is
	// nil only in a Result that decided nothing.
	Quota *algo.Quota
	// Quotas holds each quota's own state, in the limiter's order, when the
	// limiter has more than one quota for the key; nil otherwise (State is
	// then the one quota's).
	Quotas []QuotaState
	// Source says what decided: the store (the zero value), the outage
	// policy while the store was unavailable (see WithOutagePolicy), or
	// the deny cache repeating an earlier denial of the store's
	// (FromDenyCache; see WithDenyCache).
	Source Source
}

// FromDenyCache: the limiter's deny cache denied the request from an
// earlier denial of the store's, without asking the store (see
// WithDenyCache). Its String is "deny_cache".
const FromDenyCache Source = FromFailOpen + 1

// QuotaState is one quota's part in a decision.
type QuotaState struct {
	Quota   algo.Quota // the quota, with its algorithm and name
	Limited bool       // this quota denied the request
	// State is the key's state under this quota. When another quota denied
	// the request, a quota that would have admitted it shows what a Peek
	// shows.
	State State
}

// String renders r like throttled-py's repr.
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
	if us < 0 {
		return Never
	}
	return time.Duration(us) * time.Microsecond
}

func stateOf(p *store.Policy, d algo.Decision) State {
	return State{Limit: p.Max(), Remaining: d.Remaining, ResetAfter: micros(d.ResetAfter), RetryAfter: micros(d.RetryAfter)}
}

// resultOf writes to r the Result of the combined decision d and, with
// several policies, each policy's, decided by src under set.
// With FromFailOpen the decisions are zero: State holds only the Limit.
func resultOf(set *policySet, d algo.Decision, each []algo.Decision, src Source, r *Result) {
	ps, qs := set.ps, set.quotas
	if src == FromFallback {
		ps, qs = set.local, set.localQuotas
	}
	r.Limited, r.State, r.Source = d.Limited, stateOf(ps[0], d), src
	if len(ps) == 1 {
		r.Quota, r.Quotas = &qs[0], nil
		return
	}
	r.Quotas = make([]QuotaState, len(ps))
	least := -1
	for i, p := range ps {
		r.Quotas[i] = QuotaState{Quota: qs[i], Limited: each[i].Limited, State: stateOf(p, each[i])}
		if least < 0 || each[i].Remaining < each[least].Remaining {
			least = i
		}
	}
	r.State.Limit, r.Quota = ps[least].Max(), &qs[least]
}

// LimitedError reports a denied request; Do, Wrap and Wait return it.
// Match it with errors.As, or with errors.Is(err, ErrLimited).
type LimitedError struct {
	Result Result
}

// ErrLimited is matched by errors.Is for every *LimitedError.
var ErrLimited = &LimitedError{}

// Error returns a message like throttled-py's:
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
