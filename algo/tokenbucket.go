package algo

// TokenBucketState is a token bucket's stored state.
type TokenBucketState struct {
	Last  int64 // time of the last admission, µs
	Level int64 // tokens in the bucket at Last, in units (Params.Unit per token)
}

// TokenBucketInit is the state of a key with no history: a full bucket.
//
//throttled:init
func TokenBucketInit(q Params, now int64) TokenBucketState {
	return TokenBucketState{Last: now, Level: q.Capacity}
}

// TokenBucketStep decides a request of cost tokens at time now. The bucket holds
// at most Burst tokens and refills continuously at Limit tokens per Period;
// the request passes iff cost tokens are in the bucket, and then takes them.
// Fractional refill is kept in the units.
//
//throttled:step
func TokenBucketStep(s TokenBucketState, q Params, now, cost int64) (TokenBucketState, Decision) {
	// A clock behind the state decides as at the state's time, and the
	// durations get the difference (lag) so they hold in the caller's time.
	var lag int64
	if now < s.Last {
		lag = s.Last - now
		now = s.Last
	}
	level := s.Level
	if level < q.Capacity {
		// Clamp before multiplying so elapsed·Rate stays within MaxSafe+Rate.
		untilFull := ceilDiv(q.Capacity-level, q.Rate)
		if now-s.Last >= untilFull {
			level = q.Capacity
		} else {
			level = level + (now-s.Last)*q.Rate
		}
	}
	if cost > q.Burst {
		return s, Decision{Limited: true, Remaining: floorDiv(level, q.Unit), RetryAfter: never, ResetAfter: later(ceilDiv(q.Capacity-level, q.Rate), lag)}
	}
	need := cost * q.Unit
	if need > level {
		return s, Decision{Limited: true, Remaining: floorDiv(level, q.Unit), RetryAfter: ceilDiv(need-level, q.Rate) + lag, ResetAfter: later(ceilDiv(q.Capacity-level, q.Rate), lag)}
	}
	level = level - need
	return TokenBucketState{Last: now, Level: level}, Decision{Remaining: floorDiv(level, q.Unit), ResetAfter: later(ceilDiv(q.Capacity-level, q.Rate), lag)}
}
