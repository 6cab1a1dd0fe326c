package algo

import (
	"fmt"
	"time"
)

// Rate is a limit of requests per period.
type Rate struct {
	Period time.Duration // length of one period; at least 1ms and a whole number of microseconds
	Limit  int64         // requests allowed per period; at least 1
}

// Quota is a Rate plus a burst (the capacity of the bucket algorithms: token
// bucket, leaky bucket, GCRA; the window algorithms ignore it), and
// optionally the algorithm that enforces it and a name.
//
// A Quota is a plain, comparable value. Its zero Burst means "equal to
// Limit" (throttled-py's default), its zero Algorithm "the limiter's
// algorithm", and its Name is a label (for HTTP RateLimit-Policy fields and
// metrics) that is not part of its identity: two quotas that differ only in
// Name keep one state per key. It is validated by Compile (and so by every
// limiter constructor), not when it is built.
type Quota struct {
	Rate
	Burst     int64
	Algorithm Algorithm // 0: the limiter's algorithm
	Name      string    // a label; "" lets users of the name pick a default
}

// PerDuration returns a quota of limit requests per period, with burst equal
// to limit.
func PerDuration(period time.Duration, limit int64) Quota {
	return Quota{Rate: Rate{Period: period, Limit: limit}}
}

// PerSec returns a quota of limit requests per second.
func PerSec(limit int64) Quota { return PerDuration(time.Second, limit) }

// PerMin returns a quota of limit requests per minute.
func PerMin(limit int64) Quota { return PerDuration(time.Minute, limit) }

// PerHour returns a quota of limit requests per hour.
func PerHour(limit int64) Quota { return PerDuration(time.Hour, limit) }

// PerDay returns a quota of limit requests per day (24 hours).
func PerDay(limit int64) Quota { return PerDuration(24*time.Hour, limit) }

// PerWeek returns a quota of limit requests per week (7 days).
func PerWeek(limit int64) Quota { return PerDuration(7*24*time.Hour, limit) }

// WithBurst returns a copy of q whose burst (bucket capacity) is n.
func (q Quota) WithBurst(n int64) Quota {
	q.Burst = n
	return q
}

// WithAlgorithm returns a copy of q enforced by algorithm a, whatever the
// limiter's algorithm.
func (q Quota) WithAlgorithm(a Algorithm) Quota {
	q.Algorithm = a
	return q
}

// WithName returns a copy of q named name, a label for HTTP RateLimit-Policy
// fields and metrics. The name does not change which state q keeps.
func (q Quota) WithName(name string) Quota {
	q.Name = name
	return q
}

// EffectiveBurst returns the burst the algorithms use: Burst, or Limit when
// Burst is zero.
func (q Quota) EffectiveBurst() int64 {
	if q.Burst == 0 {
		return q.Limit
	}
	return q.Burst
}

// String formats r in the grammar ParseQuota reads, such as "100/s" or
// "120/2m". Different rates format differently.
func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Limit, periodString(r.Period)) }

// String formats q's rate and burst in the grammar ParseQuota reads, such as
// "100/s burst 200" or "120/2m"; the burst is shown only when it differs
// from the limit. The algorithm and name are not shown.
func (q Quota) String() string {
	s := q.Rate.String()
	if b := q.EffectiveBurst(); b != q.Limit {
		s += fmt.Sprintf(" burst %d", b)
	}
	return s
}

func periodString(d time.Duration) string {
	units := []struct {
		d    time.Duration
		name string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			if d == u.d {
				return u.name
			}
			return fmt.Sprintf("%d%s", d/u.d, u.name)
		}
	}
	return d.String()
}

// Bounds of the exact integer arithmetic (see the package comment).
const (
	// MaxSafe is the largest value any stored number or product may take.
	// Sums of two such values stay at or below 2^53, exact in float64 Lua.
	MaxSafe = int64(1) << 52
	// MaxTime is the largest time, in microseconds since the epoch, the
	// step functions accept (about year 2112).
	MaxTime = MaxSafe
	// MinPeriod is the shortest period a quota may have.
	MinPeriod = time.Millisecond
)

// never is the RetryAfter, in microseconds, of a request that can never
// pass because its cost exceeds the capacity (see Decision.RetryAfter).
const never = int64(-1)

// Params is a quota compiled for one algorithm: validated, converted to
// integer microseconds, and reduced so the step functions can work in exact
// integers. Build it with Compile; a zero Params is not usable.
//
// The bucket algorithms count in units: one token is Unit units, and Rate
// units drain or refill per microsecond, which is exactly Limit tokens per
// Period because Unit/Rate is Period/Limit in lowest terms.
type Params struct {
	Algorithm Algorithm
	Period    int64 // P, microseconds
	Limit     int64 // L, requests per period
	Burst     int64 // B, bucket capacity in tokens
	Unit      int64 // P / gcd(P, L): units per token
	Rate      int64 // L / gcd(P, L): units per microsecond
	Capacity  int64 // B·Unit: bucket capacity in units
	Max       int64 // the Limit reported in a state: B for buckets, L for windows
}

// Compile validates q for algorithm a and returns its Params. Invalid quotas
// get a *DataError (matching ErrInvalid) that names the bad value; that
// includes quotas that are valid in principle but whose arithmetic would not
// be exact within MaxSafe, for example a sliding window whose Limit×Period
// exceeds 2^52 µs.
func Compile(a Algorithm, q Quota) (Params, error) {
	if !a.Valid() {
		return Params{}, invalid("algorithm", a, "not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra")
	}
	if q.Period < MinPeriod {
		return Params{}, invalid("period", q.Period, "must be at least %s", MinPeriod)
	}
	if q.Period%time.Microsecond != 0 {
		return Params{}, invalid("period", q.Period, "must be a whole number of microseconds")
	}
	period := int64(q.Period / time.Microsecond)
	if period > MaxSafe {
		return Params{}, invalid("period", q.Period, "must be at most 2^52µs (about 142 years)")
	}
	if q.Limit < 1 {
		return Params{}, invalid("limit", q.Limit, "must be at least 1")
	}
	if q.Limit > MaxSafe {
		return Params{}, invalid("limit", q.Limit, "must be at most 2^52")
	}
	if q.Burst < 0 {
		return Params{}, invalid("burst", q.Burst, "must be at least 1 (or 0 for the default, equal to limit)")
	}
	burst := q.EffectiveBurst()
	if burst > MaxSafe {
		return Params{}, invalid("burst", burst, "must be at most 2^52")
	}
	g := gcd(period, q.Limit)
	p := Params{
		Algorithm: a,
		Period:    period,
		Limit:     q.Limit,
		Burst:     burst,
		Unit:      period / g,
		Rate:      q.Limit / g,
	}
	switch {
	case a.IsBucket():
		if p.Unit > MaxSafe/burst {
			return Params{}, invalid("quota", q, "not exact with %s: burst×(period/gcd(period,limit)) = %d×%d exceeds 2^52; lower the burst or pick a limit that divides the period in µs", a, burst, p.Unit)
		}
		p.Capacity = burst * p.Unit
		p.Max = burst
	case a == SlidingWindow:
		if q.Limit > MaxSafe/period {
			return Params{}, invalid("quota", q, "not exact with sliding_window: limit×period = %d×%dµs exceeds 2^52; lower the limit or shorten the period (at most %d/%s)", q.Limit, period, MaxSafe/period, periodString(q.Period))
		}
		// Its durations reach 2·period − ⌈period/limit⌉ + 1, to which a
		// clock's lag (up to MaxTime) may be added: keep the sum within 2^53.
		if 2*period-ceilDiv(period, q.Limit)+1 > MaxSafe {
			return Params{}, invalid("quota", q, "not exact with sliding_window: its longest wait, 2×period − period/limit, exceeds 2^52µs; shorten the period")
		}
		p.Max = q.Limit
	default:
		p.Max = q.Limit
	}
	return p, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
