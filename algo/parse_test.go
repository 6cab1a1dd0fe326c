package algo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var parseGood = []struct {
	in   string
	want Quota
}{
	{"100/s", PerSec(100)},
	{"100 / s", PerSec(100)},
	{"100/ s", PerSec(100)},
	{"100 /s", PerSec(100)},
	{"  100\t/\ns  ", PerSec(100)},
	{"100 per second", PerSec(100)},
	{"100 PER SECOND", PerSec(100)},
	{"100 Per Seconds", PerSec(100)},
	{"100/S", PerSec(100)},
	{"100/sec", PerSec(100)},
	{"100/secs", PerSec(100)},
	{"100/1s", PerSec(100)},
	{"60/m", PerMin(60)},
	{"60/min", PerMin(60)},
	{"60/mins", PerMin(60)},
	{"60/minute", PerMin(60)},
	{"60 per minutes", PerMin(60)},
	{"120/2m", PerDuration(2*time.Minute, 120)},
	{"120 / 2 m", PerDuration(2*time.Minute, 120)},
	{"5 per 10 minutes", PerDuration(10*time.Minute, 5)},
	{"5 per 10minutes", PerDuration(10*time.Minute, 5)},
	{"1/h", PerHour(1)},
	{"1/hr", PerHour(1)},
	{"1/hrs", PerHour(1)},
	{"1/hour", PerHour(1)},
	{"3 per 2 hours", PerDuration(2*time.Hour, 3)},
	{"7/d", PerDay(7)},
	{"7/day", PerDay(7)},
	{"7 per 30 days", PerDuration(30*24*time.Hour, 7)},
	{"1/w", PerWeek(1)},
	{"1/wk", PerWeek(1)},
	{"1/wks", PerWeek(1)},
	{"1/week", PerWeek(1)},
	{"2 per 2 weeks", PerDuration(14*24*time.Hour, 2)},
	{"100/s burst 200", PerSec(100).WithBurst(200)},
	{"100/s BURST 200", PerSec(100).WithBurst(200)},
	{"100 per second burst 200", PerSec(100).WithBurst(200)},
	{"60/m burst 10", PerMin(60).WithBurst(10)},
	{"100/s burst 100", PerSec(100).WithBurst(100)}, // as written; String omits it
	{"120 per 2 minutes burst 150", PerDuration(2*time.Minute, 120).WithBurst(150)},
	{"+5/s", PerSec(5)},
	{"007/s", PerSec(7)},
	// Go durations: how String writes periods that are not whole seconds.
	{"10/250ms", PerDuration(250*time.Millisecond, 10)},
	{"10/250 ms", PerDuration(250*time.Millisecond, 10)},
	{"10/250MS", PerDuration(250*time.Millisecond, 10)},
	{"1/1.5s", PerDuration(1500*time.Millisecond, 1)},
	{"1/0.5s", PerDuration(500*time.Millisecond, 1)},
	{"2/1h0m0.5s", PerDuration(time.Hour+500*time.Millisecond, 2)},
	{"2/1h30m", PerDuration(90*time.Minute, 2)},
	{"7/1.001ms", PerDuration(1001*time.Microsecond, 7)},
	{"1/1µs", PerDuration(time.Microsecond, 1)}, // syntax only: Compile refuses it
	{"1/36500d", PerDuration(time.Duration(century)*usPeriod, 1)},
	{"9223372036854775807/s", PerSec(1<<63 - 1)},
	// The longest period of whole seconds time.Duration holds: ⌊(2^63−1)/10^9⌋ s.
	{"1/9223372036s", PerDuration(9223372036*time.Second, 1)},
	{"1/153722867 minutes", PerDuration(153722867*time.Minute, 1)},
}

func TestParseQuota(t *testing.T) {
	for _, tt := range parseGood {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseQuota(tt.in)
			if err != nil {
				t.Fatalf("ParseQuota(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseQuota(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			back, err := ParseQuota(got.String())
			if err != nil || canonical(back) != canonical(got) {
				t.Errorf("ParseQuota(%q) = %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
}

var parseBad = []struct {
	in, reason string
}{
	{"", `empty; want <limit>/<period> such as "100/s" or "5 per 10 minutes"`},
	{" \t ", `empty; want <limit>/<period> such as "100/s" or "5 per 10 minutes"`},
	{"/s", `missing limit before "/"`},
	{" / s", `missing limit before "/"`},
	{"per second", `missing limit before "per"`},
	{"abc/s", `limit "abc" is not a number`},
	{"1.5/s", `limit "1.5" is not a number`},
	{"1e3/s", `limit "1e3" is not a number`},
	{"1_000/s", `limit "1_000" is not a number`},
	{"100per second", `limit "100per" is not a number`},
	{"0/s", `limit "0" must be at least 1`},
	{"-5/s", `limit "-5" must be at least 1`},
	{"99999999999999999999/s", `limit "99999999999999999999" overflows int64`},
	{"100", `missing "/" or "per" after the limit`},
	{"100 s", `want "/" or "per" after the limit, got "s"`},
	{"100 burst 5", `want "/" or "per" after the limit, got "burst"`},
	{"100 persecond", `want "/" or "per" after the limit, got "persecond"`},
	{"100/", `missing period after "/"`},
	{"100 per", `missing period after "per"`},
	{"100 PER ", `missing period after "PER"`},
	{"100/burst 5", `missing period after "/"`},
	{"100/fortnight", `unknown unit "fortnight" (want s, m, h, d or w)`},
	{"100/10fortnights", `unknown unit "fortnights" (want s, m, h, d or w)`},
	{"5 per 10 fortnights", `unknown unit "fortnights" (want s, m, h, d or w)`},
	{"100/y", `unknown unit "y" (want s, m, h, d or w)`},
	{"100/10", `missing unit after "10"`},
	{"100/10 burst 5", `missing unit after "10"`},
	{"100/10 1h", `missing unit after "10"`},
	{"100/0s", `period count "0" must be at least 1`},
	{"100/0 minutes", `period count "0" must be at least 1`},
	{"1/99999999999999999999s", `period count "99999999999999999999" overflows int64`},
	{"1/1000000w", `period "1000000w" overflows time.Duration (at most about 292 years)`},
	{"1/1000000 weeks", `period "1000000 weeks" overflows time.Duration (at most about 292 years)`},
	{"1/9223372037s", `period "9223372037s" overflows time.Duration (at most about 292 years)`},
	{"1/153722868 minutes", `period "153722868 minutes" overflows time.Duration (at most about 292 years)`},
	{"100/-1s", `period "-1s" must be positive`},
	{"100/0ms", `period "0ms" must be positive`},
	{"100/1.5", `bad period "1.5" (want [<n>] <unit> such as "10m" or "10 minutes", or a Go duration such as "1.5s")`},
	{"100//s", `bad period "/s" (want [<n>] <unit> such as "10m" or "10 minutes", or a Go duration such as "1.5s")`},
	{"100/s foo", `unexpected "foo" after the period`},
	{"100/2 m x", `unexpected "x" after the period`},
	{"100/s 200", `unexpected "200" after the period`},
	{"100/s burst", `missing number after "burst"`},
	{"100/s Burst", `missing number after "Burst"`},
	{"100/s burst x", `burst "x" is not a number`},
	{"100/s burst 0", `burst "0" must be at least 1`},
	{"100/s burst -3", `burst "-3" must be at least 1`},
	{"100/s burst 99999999999999999999", `burst "99999999999999999999" overflows int64`},
	{"100/s burst 200 extra", `unexpected "extra" after the burst`},
	{"100/s burst 5 burst 6", `unexpected "burst" after the burst`},
}

func TestParseQuotaErrors(t *testing.T) {
	for _, tt := range parseBad {
		t.Run(tt.in, func(t *testing.T) {
			q, err := ParseQuota(tt.in)
			if q != (Quota{}) {
				t.Errorf("ParseQuota(%q) = %+v with an error, want the zero Quota", tt.in, q)
			}
			checkDataError(t, err, "quota", `throttled: invalid quota "`+escape(tt.in)+`": `+tt.reason)
		})
	}
	// The example of the brief, word for word.
	_, err := ParseQuota("100/fortnight")
	if got, want := err.Error(), `throttled: invalid quota "100/fortnight": unknown unit "fortnight" (want s, m, h, d or w)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// escape is the inside of a %q quoting.
func escape(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(s)
}

// FuzzParseQuota: ParseQuota never panics; it fails with a *DataError about
// the input, or returns a quota whose String parses back to it.
func FuzzParseQuota(f *testing.F) {
	for _, tt := range parseGood {
		f.Add(tt.in)
	}
	for _, tt := range parseBad {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuota(s)
		if err != nil {
			var de *DataError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseQuota(%q): error %v (%T) is not a DataError matching ErrInvalid", s, err, err)
			}
			if de.Name != "quota" || de.Value != s || !strings.HasPrefix(err.Error(), "throttled: invalid quota ") {
				t.Fatalf("ParseQuota(%q): error %+v does not name the input", s, de)
			}
			if q != (Quota{}) {
				t.Fatalf("ParseQuota(%q) = %+v with an error", s, q)
			}
			return
		}
		if q.Limit < 1 || q.Period <= 0 || q.Burst < 0 {
			t.Fatalf("ParseQuota(%q) = %+v: out of range", s, q)
		}
		str := q.String()
		back, err := ParseQuota(str)
		if err != nil {
			t.Fatalf("ParseQuota(%q) = %+v, whose String %q does not parse: %v", s, q, str, err)
		}
		if canonical(back) != canonical(q) {
			t.Fatalf("ParseQuota(%q) = %+v, String %q, parsed back as %+v", s, q, str, back)
		}
		if back.String() != str {
			t.Fatalf("String is not stable: %q then %q", str, back.String())
		}
	})
}
