// Package storeutil holds what the stores share beyond the store contract:
// the checks every store makes before touching state, the rule that
// combines the decisions of several policies, and the scatter of a batch
// whose requests some checks refused.
package storeutil

import (
	"context"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// CheckKey refuses the empty string key.
func CheckKey(key string) error {
	if key == "" {
		return &algo.DataError{Name: "key", Value: key, Reason: "must be a non-empty string"}
	}
	return nil
}

// CheckCost refuses a negative cost.
func CheckCost(cost int64) error {
	if cost < 0 {
		return &algo.DataError{Name: "cost", Value: cost, Reason: "must be at least 0"}
	}
	return nil
}

// CheckPolicies refuses an empty or too long list of policies, or a nil one.
func CheckPolicies(ps []*store.Policy) error {
	if len(ps) == 0 || len(ps) > store.MaxPolicies {
		return &algo.DataError{Name: "number of policies", Value: len(ps), Reason: fmt.Sprintf("must be 1 to %d", store.MaxPolicies)}
	}
	for i, p := range ps {
		if p == nil || !p.Algorithm().Valid() {
			v := fmt.Sprintf("#%d: nil", i)
			if p != nil {
				v = fmt.Sprintf("#%d: zero", i)
			}
			return &algo.DataError{Name: "policy", Value: v, Reason: "must come from store.NewPolicy"}
		}
	}
	return nil
}

// CheckEach refuses a per-policy output of the wrong length.
func CheckEach(each []algo.Decision, want int) error {
	if each != nil && len(each) != want {
		return &algo.DataError{Name: "length of each", Value: len(each), Reason: fmt.Sprintf("must be 0 or %d (one per policy)", want)}
	}
	return nil
}

// CheckTime refuses a time outside [0, algo.MaxTime]: a clock out of range.
func CheckTime(now int64) error {
	if now < 0 || now > algo.MaxTime {
		return &algo.DataError{Name: "time", Value: now, Reason: "must be in [0, 2^52] µs since the epoch (clock out of range)"}
	}
	return nil
}

// CheckContext fails a call whose ctx is already done, before any state is
// read or written: every store charges nothing then.
func CheckContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// IsNil reports whether v is nil or a typed nil (a nil pointer, func, map,
// channel, slice or interface), which would panic when used.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// Combine returns the decision of a request under several policies from
// each policy's decision: Limited if any is, the least Remaining, the
// greatest ResetAfter, and the greatest RetryAfter, or -1 (never) if any
// policy can never pass it.
func Combine(each []algo.Decision) algo.Decision {
	c := each[0]
	for _, d := range each[1:] {
		c.Limited = c.Limited || d.Limited
		c.Remaining = min(c.Remaining, d.Remaining)
		c.ResetAfter = max(c.ResetAfter, d.ResetAfter)
		if c.RetryAfter >= 0 && (d.RetryAfter < 0 || d.RetryAfter > c.RetryAfter) {
			c.RetryAfter = d.RetryAfter
		}
	}
	return c
}

// maxKeyInMessage bounds how much of a key an error message quotes.
const maxKeyInMessage = 64

// ShortKey returns key for an error message: whole when short, else its
// first bytes (cut at a character boundary) and how long it was.
func ShortKey(key string) string {
	if len(key) <= maxKeyInMessage {
		return key
	}
	cut := maxKeyInMessage
	for cut > 0 && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", key[:cut], len(key))
}

// FailAll sets every element of errs to err: a batch whose shared inputs
// (policies, time) are bad fails as a whole.
func FailAll(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}

// Subset runs a batch on the requests that check accepts (check(i) judges
// reqs[i], in order): a refused request gets check's error, and the others
// get run's decisions and errors, all at their positions in reqs. each, when
// not nil, holds n decisions per request and is scattered the same way.
func Subset[K comparable](reqs []store.Request[K], out, each []algo.Decision, n int, errs []error, check func(i int) error,
	run func(reqs []store.Request[K], out, each []algo.Decision, errs []error)) {
	var valid []store.Request[K] // nil while every request so far passed
	var index []int
	for i, r := range reqs {
		errs[i] = check(i)
		switch {
		case errs[i] != nil && valid == nil:
			valid = append(make([]store.Request[K], 0, len(reqs)), reqs[:i]...)
			index = make([]int, i, len(reqs))
			for j := range index {
				index[j] = j
			}
		case errs[i] == nil && valid != nil:
			valid = append(valid, r)
			index = append(index, i)
		}
	}
	if valid == nil { // the common case: no copies
		run(reqs, out, each, errs)
		return
	}
	vout := make([]algo.Decision, len(valid))
	verrs := make([]error, len(valid))
	var veach []algo.Decision
	if each != nil {
		veach = make([]algo.Decision, len(valid)*n)
	}
	run(valid, vout, veach, verrs)
	for j, i := range index {
		out[i], errs[i] = vout[j], verrs[j]
		if each != nil {
			copy(each[i*n:(i+1)*n], veach[j*n:(j+1)*n])
		}
	}
}
