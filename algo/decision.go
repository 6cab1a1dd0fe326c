package algo

// Decision is what one step decides for one request.
type Decision struct {
	// Limited reports that the request was denied; a denied request
	// consumes nothing.
	Limited bool
	// Remaining is how much cost could still pass now, after this
	// decision (floored, never negative).
	Remaining int64
	// RetryAfter is 0 when allowed; otherwise the exact number of
	// microseconds (rounded up) after which the same request would pass
	// with no other traffic, or -1 when it never can (its cost exceeds the
	// capacity).
	RetryAfter int64
	// ResetAfter is the number of microseconds (rounded up) until the key
	// is back to its initial state with no other traffic; 0 when it
	// already is. Stores use it as the key's time to live.
	ResetAfter int64
}

// later returns d + lag when d > 0, else d: a duration measured from the
// state's time, made to hold in the time of a caller whose clock is lag
// behind it. 0 (nothing to wait for) and -1 (never) stay as they are.
func later(d, lag int64) int64 {
	if d > 0 {
		return d + lag
	}
	return d
}

// floorDiv returns ⌊a/b⌋ for b > 0. Its Lua twin is exact for |a|+b ≤ 2^53.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a < 0 && a%b != 0 { // sign first: the common case needs one division
		q--
	}
	return q
}

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
