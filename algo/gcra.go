package algo

// GCRAState is GCRA's stored state: the theoretical arrival time (TAT),
// kept relative to the last admission so it needs no fractions of a
// microsecond and no large products.
type GCRAState struct {
	Last int64 // time of the last admission, µs
	// Ahead is TAT − Last scaled by Rate (so one emission interval
	// Period/Limit is Unit); never negative.
	Ahead int64
}

// GCRAInit is the state of a key with no history: TAT at now.
//
//throttled:init
func GCRAInit(q Params, now int64) GCRAState {
	return GCRAState{Last: now, Ahead: 0}
}

// GCRAStep decides a request of cost at time now with the virtual scheduling
// form of the generic cell rate algorithm: emission interval T = Period/Limit,
// tolerance τ = (Burst−1)·T. The request passes iff
// max(TAT, now) + cost·T − now ≤ τ + T, and then TAT moves to
// max(TAT, now) + cost·T. Its decisions equal the token bucket's.
//
//throttled:step
func GCRAStep(s GCRAState, q Params, now, cost int64) (GCRAState, Decision) {
	// A clock behind the state decides as at the state's time, and the
	// durations get the difference (lag) so they hold in the caller's time.
	var lag int64
	if now < s.Last {
		lag = s.Last - now
		now = s.Last
	}
	// tat is max(TAT, now) − now, scaled by Rate.
	var tat int64
	// Compare before multiplying so elapsed·Rate stays below Ahead.
	if ceilDiv(s.Ahead, q.Rate) > now-s.Last {
		tat = s.Ahead - (now-s.Last)*q.Rate
	}
	if cost > q.Burst {
		return s, Decision{Limited: true, Remaining: floorDiv(q.Capacity-tat, q.Unit), RetryAfter: never, ResetAfter: later(ceilDiv(tat, q.Rate), lag)}
	}
	newTAT := tat + cost*q.Unit
	if newTAT > q.Capacity {
		return s, Decision{Limited: true, Remaining: floorDiv(q.Capacity-tat, q.Unit), RetryAfter: ceilDiv(newTAT-q.Capacity, q.Rate) + lag, ResetAfter: later(ceilDiv(tat, q.Rate), lag)}
	}
	return GCRAState{Last: now, Ahead: newTAT}, Decision{Remaining: floorDiv(q.Capacity-newTAT, q.Unit), ResetAfter: later(ceilDiv(newTAT, q.Rate), lag)}
}
