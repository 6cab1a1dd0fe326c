package proptest

import (
	"fmt"
	"math"
	"time"

	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/algo"
)

const maxSafe = int64(1) << 52 // algo.MaxSafe and algo.MaxTime, restated

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func quotaOf(periodMicros, limit, burst int64) algo.Quota {
	return algo.Quota{Rate: algo.Rate{Period: time.Duration(periodMicros) * time.Microsecond, Limit: limit}, Burst: burst}
}

// drawPeriod draws a period in µs: the shortest (1ms), round units, odd
// sizes, and the longest Compile accepts (2^52µs, about 142 years).
func drawPeriod(t *rapid.T, label string) int64 {
	switch rapid.IntRange(0, 5).Draw(t, label+"Kind") {
	case 0:
		return 1000
	case 1:
		return rapid.SampledFrom([]int64{1001, 7000, 13000, 1e6, 60e6, 3600e6, 86400e6, 604800e6}).Draw(t, label)
	case 2:
		return rapid.Int64Range(1000, 1e7).Draw(t, label)
	case 3:
		return rapid.Int64Range(1000, 1e12).Draw(t, label)
	case 4:
		return maxSafe - rapid.Int64Range(0, 3).Draw(t, label)
	default:
		return rapid.Int64Range(1000, maxSafe).Draw(t, label)
	}
}

func drawLimit(t *rapid.T, label string) int64 {
	switch rapid.IntRange(0, 4).Draw(t, label+"Kind") {
	case 0:
		return rapid.Int64Range(1, 3).Draw(t, label)
	case 1:
		return rapid.Int64Range(1, 100).Draw(t, label)
	case 2:
		return rapid.Int64Range(1, 1e6).Draw(t, label)
	case 3:
		return maxSafe - rapid.Int64Range(0, 3).Draw(t, label)
	default:
		return rapid.Int64Range(1, maxSafe).Draw(t, label)
	}
}

// quotaCase is a drawn quota and the algorithms it compiles for.
type quotaCase struct {
	q      algo.Quota
	params map[algo.Algorithm]*algo.Params
	algs   []algo.Algorithm // those of algo.Algorithms that compiled, in order
}

func (qc quotaCase) String() string {
	return fmt.Sprintf("quota %v (period %dµs limit %d burst %d) for %v", qc.q, qc.q.Period/time.Microsecond, qc.q.Limit, qc.q.Burst, qc.algs)
}

// quotaKinds name the families drawQuota draws from; the state machines
// run one subtest per family so that each gets its share of checks.
var quotaKinds = []string{"everyday", "small", "bucket-bound", "sliding-bound", "fast", "extreme", "any"}

// drawQuota draws a quota of the named family, often at the edge of what
// Compile accepts, and compiles it for every algorithm it is valid for.
// Quotas drawn to sit exactly on a representability bound must compile
// (and one step past the bound must not): that is algo.Compile's contract,
// checked here because these tests lean on it.
func drawQuota(t *rapid.T, kind string) quotaCase {
	var q algo.Quota
	switch kind {
	case "everyday":
		// Everyday quotas with awkward ratios.
		p := rapid.SampledFrom([]int64{1000, 1001, 7000, 13000, 1e6, 60e6, 3600e6}).Draw(t, "period")
		l := rapid.SampledFrom([]int64{1, 2, 3, 7, 10, 60, 1000, 5000}).Draw(t, "limit")
		b := rapid.SampledFrom([]int64{0, 1, 2, 3, 5, 10}).Draw(t, "burst")
		q = quotaOf(p, l, b)
	case "small":
		// A few requests per period: traces run into the limit most often.
		p := rapid.Int64Range(1000, 1e7).Draw(t, "period")
		l := rapid.Int64Range(1, 50).Draw(t, "limit")
		b := rapid.Int64Range(0, 50).Draw(t, "burst")
		q = quotaOf(p, l, b)
	case "bucket-bound":
		// The buckets' bound: capacity burst·(P/gcd(P,L)) = 2^52 or just below.
		p, l := drawPeriod(t, "period"), drawLimit(t, "limit")
		unit := p / gcd(p, l)
		b := maxSafe/unit - rapid.Int64Range(0, 1).Draw(t, "belowBound")
		if b < 1 {
			t.Skip("no burst fits") // rapid draws another case
		}
		q = quotaOf(p, l, b)
		mustCompile(t, algo.TokenBucket, q)
		if b == maxSafe/unit {
			mustNotCompile(t, algo.TokenBucket, q.WithBurst(b+1))
		}
	case "sliding-bound":
		// The sliding window's bound: limit·period = 2^52 or just below.
		p := drawPeriod(t, "period")
		l := maxSafe/p - rapid.Int64Range(0, 1).Draw(t, "belowBound")
		if l < 1 {
			t.Skip("no limit fits")
		}
		b := rapid.SampledFrom([]int64{0, 1, 3}).Draw(t, "burst")
		q = quotaOf(p, l, b)
		if 2*p-(p+l-1)/l+1 > maxSafe { // 1 per 2^52 µs: its longest wait, plus a lag, could pass 2^53
			mustNotCompile(t, algo.SlidingWindow, q)
			t.Skip("the longest wait passes 2^52")
		}
		mustCompile(t, algo.SlidingWindow, q)
		if l == maxSafe/p {
			mustNotCompile(t, algo.SlidingWindow, quotaOf(p, l+1, b))
		}
	case "fast":
		// More than one request per µs, with a small burst.
		p := rapid.Int64Range(1000, 1e4).Draw(t, "period")
		l := rapid.Int64Range(p, maxSafe).Draw(t, "limit")
		b := rapid.Int64Range(1, 5).Draw(t, "burst")
		q = quotaOf(p, l, b)
	case "extreme":
		// The longest periods, the largest limits and bursts.
		q = quotaOf(drawPeriod(t, "period"), drawLimit(t, "limit"), rapid.SampledFrom([]int64{0, 1, 2, maxSafe}).Draw(t, "burst"))
	case "any":
		q = quotaOf(drawPeriod(t, "period"), drawLimit(t, "limit"), rapid.Int64Range(0, maxSafe).Draw(t, "burst"))
	default:
		// Any family.
		return drawQuota(t, rapid.SampledFrom(quotaKinds).Draw(t, "quotaKind"))
	}
	qc := quotaCase{q: q, params: map[algo.Algorithm]*algo.Params{}}
	for _, a := range algo.Algorithms {
		if p, err := algo.Compile(a, q); err == nil {
			qc.params[a] = &p
			qc.algs = append(qc.algs, a)
		}
	}
	if len(qc.algs) == 0 {
		t.Skip("quota valid for no algorithm")
	}
	return qc
}

func mustCompile(t *rapid.T, a algo.Algorithm, q algo.Quota) {
	t.Helper()
	if _, err := algo.Compile(a, q); err != nil {
		t.Fatalf("Compile(%v, period %v limit %d burst %d) on the representability bound: %v", a, q.Period, q.Limit, q.Burst, err)
	}
}

func mustNotCompile(t *rapid.T, a algo.Algorithm, q algo.Quota) {
	t.Helper()
	if _, err := algo.Compile(a, q); err == nil {
		t.Fatalf("Compile(%v, period %v limit %d burst %d) one past the representability bound: no error", a, q.Period, q.Limit, q.Burst)
	}
}

// drawStart draws the clock's first reading: the epoch, a window edge, the
// end of the representable range, or anywhere.
func drawStart(t *rapid.T, period int64) int64 {
	switch rapid.IntRange(0, 4).Draw(t, "startKind") {
	case 0:
		return rapid.Int64Range(0, 3).Draw(t, "start")
	case 1:
		k := rapid.Int64Range(0, maxSafe/period).Draw(t, "startWindow")
		return clampTime(k*period + rapid.Int64Range(-2, 2).Draw(t, "startEdge"))
	case 2:
		return clampTime(maxSafe - rapid.Int64Range(0, 3*period).Draw(t, "startFromEnd"))
	default:
		return rapid.Int64Range(0, maxSafe).Draw(t, "start")
	}
}

func clampTime(t int64) int64 { return min(max(t, 0), maxSafe) }

// drawDelta draws a clock step: none, a µs, around the emission interval
// P/L and the period, far ahead, and backwards by a little or a lot.
func drawDelta(t *rapid.T, period, limit int64) int64 {
	interval := max(1, period/limit)
	switch rapid.IntRange(0, 11).Draw(t, "deltaKind") {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return rapid.Int64Range(0, 3*interval).Draw(t, "delta")
	case 3:
		return interval + rapid.Int64Range(-1, 1).Draw(t, "delta")
	case 4:
		return rapid.Int64Range(0, period).Draw(t, "delta")
	case 5:
		return period + rapid.Int64Range(-1, 1).Draw(t, "delta")
	case 6:
		return rapid.Int64Range(0, 3*period).Draw(t, "delta")
	case 7:
		return rapid.Int64Range(0, maxSafe).Draw(t, "delta") // far ahead (clamped)
	case 8:
		return -rapid.Int64Range(1, 3).Draw(t, "delta")
	case 9:
		return -rapid.Int64Range(0, 2*period).Draw(t, "delta")
	case 10:
		return -rapid.Int64Range(0, maxSafe).Draw(t, "delta") // far back (clamped)
	default:
		return rapid.Int64Range(0, 1000).Draw(t, "delta")
	}
}

// drawCost draws a cost: 0, 1, up to the capacity, the capacity and just
// above, far above, and the largest int64.
func drawCost(t *rapid.T, capacity int64, label string) int64 {
	switch rapid.IntRange(0, 9).Draw(t, label+"Kind") {
	case 0:
		return 0
	case 1, 2:
		return 1
	case 3:
		return rapid.Int64Range(1, min(capacity, 5)).Draw(t, label)
	case 4:
		return rapid.Int64Range(1, capacity).Draw(t, label)
	case 5:
		return capacity
	case 6:
		return capacity + rapid.Int64Range(1, 2).Draw(t, label)
	case 7:
		return rapid.Int64Range(capacity, math.MaxInt64).Draw(t, label)
	case 8:
		return math.MaxInt64
	default:
		return capacity - rapid.Int64Range(0, min(capacity, 2)).Draw(t, label)
	}
}
