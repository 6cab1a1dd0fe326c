package algo

// FixedWindowState is a fixed window's stored state.
type FixedWindowState struct {
	Last  int64 // time of the last admission, µs; its window is the counted one
	Count int64 // cost admitted in Last's window
}

// FixedWindowInit is the state of a key with no history: nothing counted.
//
//throttled:init
func FixedWindowInit(q Params, now int64) FixedWindowState {
	return FixedWindowState{Last: now, Count: 0}
}

// FixedWindowStep decides a request of cost at time now. Windows are aligned to
// multiples of Period since the epoch; a request passes iff the window's
// count plus cost is at most Limit.
//
//throttled:step
func FixedWindowStep(s FixedWindowState, q Params, now, cost int64) (FixedWindowState, Decision) {
	// A clock behind the state decides as at the state's time, and the
	// durations get the difference (lag) so they hold in the caller's time.
	var lag int64
	if now < s.Last {
		lag = s.Last - now
		now = s.Last
	}
	start := floorDiv(now, q.Period) * q.Period
	end := start + q.Period
	count := s.Count
	if s.Last < start {
		count = 0
	}
	var reset int64
	if count > 0 {
		reset = end - now
	}
	if cost > q.Limit {
		return s, Decision{Limited: true, Remaining: q.Limit - count, RetryAfter: never, ResetAfter: later(reset, lag)}
	}
	if cost > q.Limit-count {
		return s, Decision{Limited: true, Remaining: q.Limit - count, RetryAfter: end - now + lag, ResetAfter: later(reset, lag)}
	}
	count = count + cost
	if count > 0 {
		reset = end - now
	}
	return FixedWindowState{Last: now, Count: count}, Decision{Remaining: q.Limit - count, ResetAfter: later(reset, lag)}
}
