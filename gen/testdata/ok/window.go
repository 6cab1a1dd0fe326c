package ok

// WindowState has only the field the glue needs and a counter.
type WindowState struct {
	Last  int64
	Count int64
}

// WindowInit names its parameters differently from MeterInit.
//
//throttled:init
func WindowInit(p Params, t int64) WindowState {
	return WindowState{Last: t}
}

// WindowStep names its parameters after Lua keywords: they are renamed.
//
//throttled:step
func WindowStep(until WindowState, p Params, then, cost int64) (WindowState, Decision) {
	span := Micros(p.Period)
	start := floorDiv(then, int64(span)) * p.Period
	var count int64 = until.Count
	if until.Last < start {
		count = 0
	}
	if count+cost > p.Limit {
		return until, Decision{Limited: true, Remaining: p.Limit - count, RetryAfter: start + p.Period - then, ResetAfter: start + p.Period - then}
	}
	if cost == 0 {
		return until, Decision{Remaining: p.Limit - count}
	}
	until.Count = count + cost
	until.Last = then
	return until, Decision{Remaining: p.Limit - until.Count, ResetAfter: start + p.Period - then}
}
