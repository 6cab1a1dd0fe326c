package ok

// MeterState is the meter's stored state.
type MeterState struct {
	Last  int64
	Level int64
	Debt  int64
}

// MeterInit leaves Debt out of its literal: it becomes 0.
//
//throttled:init
func MeterInit(q Params, now int64) MeterState {
	return MeterState{Last: now, Level: q.Burst * Scale}
}

// MeterStep uses every statement and operator the translator accepts.
//
//throttled:step
func MeterStep(s MeterState, q Params, now, cost int64) (MeterState, Decision) {
	if now < s.Last {
		now = s.Last
	}
	// A comment of its own line, carried over to Lua,
	// on two lines.
	elapsed := now - s.Last
	end := s.Last + q.Period // a trailing comment
	var local int64
	var repeat bool
	var (
		a, b  int64 = 1, Never
		fresh       = elapsed > q.Period
	)
	level := s.Level
	level += elapsed * q.Limit
	level -= s.Debt
	level *= 1
	level = min(level, q.Burst*Scale)
	level = max(level, 0, -s.Debt)
	a, b = b, a
	if elapsed >= q.Period && !(cost == 0) || cost != 0 && now > end {
		local = floorDiv(elapsed, q.Period)
	} else if elapsed <= 0 {
		local = -ceilDiv(-elapsed, q.Period)
	} else if !fresh {
		repeat = true
	} else {
		local = int64(Tick) + Scale/3 - (a + b)
		// a comment at the end of a block
	}
	// Parentheses stay only where Lua needs them.
	local = local - (a - b) - -(-elapsed) + a*(b+local)
	fresh = (a < b) == fresh
	if cost > q.Burst || cost < 0 {
		return s, Decision{Limited: true, RetryAfter: Never}
	}
	s.Debt = int64(local) + a*b - Big
	s.Debt -= -1
	limited := cost*Scale > level
	if repeat || Strict && !limited {
		s.Debt = 0
	}
	if limited {
		return s, Decision{Limited: limited, Remaining: floorDiv(level, Scale), RetryAfter: ceilDiv(cost*Scale-level, q.Limit), ResetAfter: -(-1)}
	}
	return MeterState{Last: now, Level: level - cost*Scale}, Decision{Remaining: floorDiv(level, Scale) - cost, ResetAfter: ceilDiv(q.Burst*Scale-level+cost*Scale, q.Limit)}
}
