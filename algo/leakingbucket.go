package algo

// LeakingBucketState is a leaky bucket's stored state.
type LeakingBucketState struct {
	Last  int64 // time of the last admission, µs
	Water int64 // water in the bucket at Last, in units (Params.Unit per request)
}

// LeakingBucketInit is the state of a key with no history: an empty bucket.
//
//throttled:init
func LeakingBucketInit(q Params, now int64) LeakingBucketState {
	return LeakingBucketState{Last: now, Water: 0}
}

// LeakingBucketStep decides a request of cost at time now, in the meter form (the
// leaking_bucket of throttled-py): each request pours cost into a bucket of capacity
// Burst that drains continuously at Limit per Period; the request passes iff
// it does not overflow the bucket. Its decisions equal the token bucket's.
//
//throttled:step
func LeakingBucketStep(s LeakingBucketState, q Params, now, cost int64) (LeakingBucketState, Decision) {
	// A clock behind the state decides as at the state's time, and the
	// durations get the difference (lag) so they hold in the caller's time.
	var lag int64
	if now < s.Last {
		lag = s.Last - now
		now = s.Last
	}
	water := s.Water
	if water > 0 {
		// Clamp before multiplying so elapsed·Rate stays within MaxSafe+Rate.
		untilEmpty := ceilDiv(water, q.Rate)
		if now-s.Last >= untilEmpty {
			water = 0
		} else {
			water = water - (now-s.Last)*q.Rate
		}
	}
	room := q.Capacity - water
	if cost > q.Burst {
		return s, Decision{Limited: true, Remaining: floorDiv(room, q.Unit), RetryAfter: never, ResetAfter: later(ceilDiv(water, q.Rate), lag)}
	}
	pour := cost * q.Unit
	if pour > room {
		return s, Decision{Limited: true, Remaining: floorDiv(room, q.Unit), RetryAfter: ceilDiv(pour-room, q.Rate) + lag, ResetAfter: later(ceilDiv(water, q.Rate), lag)}
	}
	water = water + pour
	return LeakingBucketState{Last: now, Water: water}, Decision{Remaining: floorDiv(q.Capacity-water, q.Unit), ResetAfter: later(ceilDiv(water, q.Rate), lag)}
}
