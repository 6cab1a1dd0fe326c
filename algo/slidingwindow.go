package algo

// SlidingWindowState is a sliding window's stored state.
type SlidingWindowState struct {
	Last int64 // time of the last admission, µs; its window is the current one
	Prev int64 // cost admitted in the window before Last's
	Curr int64 // cost admitted in Last's window
}

// SlidingWindowInit is the state of a key with no history: nothing counted.
//
//throttled:init
func SlidingWindowInit(q Params, now int64) SlidingWindowState {
	return SlidingWindowState{Last: now, Prev: 0, Curr: 0}
}

// SlidingWindowStep decides a request of cost at time now with the two-window
// counter: windows are aligned to multiples of Period since the epoch, e is
// the time into the current window, and the estimate of the cost in the
// last Period is ⌊prev·(Period−e)/Period⌋ + curr. A request passes iff the
// estimate plus cost is at most Limit.
//
//throttled:step
func SlidingWindowStep(s SlidingWindowState, q Params, now, cost int64) (SlidingWindowState, Decision) {
	// A clock behind the state decides as at the state's time, and the
	// durations get the difference (lag) so they hold in the caller's time.
	var lag int64
	if now < s.Last {
		lag = s.Last - now
		now = s.Last
	}
	start := floorDiv(now, q.Period) * q.Period
	prev := s.Prev
	curr := s.Curr
	if s.Last < start {
		if s.Last >= start-q.Period {
			prev = curr
		} else {
			prev = 0
		}
		curr = 0
	}
	e := now - start
	used := floorDiv(prev*(q.Period-e), q.Period) + curr
	limited := cost > q.Limit-used
	if !limited {
		curr = curr + cost
		used = used + cost
	}
	// Back to the initial state once the weighted prev term floors to zero:
	// ⌊n·(P−x)/P⌋ = 0 from offset x = P − ⌈P/n⌉ + 1 on.
	var reset int64
	if curr > 0 {
		reset = q.Period - e + q.Period - ceilDiv(q.Period, curr) + 1
	} else if used > 0 {
		reset = q.Period - ceilDiv(q.Period, prev) + 1 - e
	}
	remaining := max(0, q.Limit-used)
	if !limited {
		return SlidingWindowState{Last: now, Prev: prev, Curr: curr}, Decision{Remaining: remaining, ResetAfter: later(reset, lag)}
	}
	if cost > q.Limit {
		return s, Decision{Limited: true, Remaining: remaining, RetryAfter: never, ResetAfter: later(reset, lag)}
	}
	// The estimate first fits cost at offset P − ⌈(k+1)·P/n⌉ + 1 of the
	// window where n weighs, k being what the rest leaves for that term.
	var retry int64
	if q.Limit-cost-curr >= 0 {
		retry = q.Period - ceilDiv((q.Limit-cost-curr+1)*q.Period, prev) + 1 - e
	} else {
		retry = q.Period - e + max(0, q.Period-ceilDiv((q.Limit-cost+1)*q.Period, curr)+1)
	}
	return s, Decision{Limited: true, Remaining: remaining, RetryAfter: retry + lag, ResetAfter: later(reset, lag)}
}
