package algo

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const usPeriod = time.Microsecond // a period of n µs is n * usPeriod

func TestCompileParams(t *testing.T) {
	tests := []struct {
		algo  Algorithm
		quota Quota
		want  Params
	}{
		// Unit/Rate is Period/Limit in lowest terms.
		{TokenBucket, PerSec(3), Params{TokenBucket, 1_000_000, 3, 3, 1_000_000, 3, 3_000_000, 3}},
		{TokenBucket, PerMin(60), Params{TokenBucket, 60_000_000, 60, 60, 1_000_000, 1, 60_000_000, 60}},
		{GCRA, PerMin(60).WithBurst(10), Params{GCRA, 60_000_000, 60, 10, 1_000_000, 1, 10_000_000, 10}},
		{LeakingBucket, PerHour(7).WithBurst(2), Params{LeakingBucket, 3_600_000_000, 7, 2, 3_600_000_000, 7, 7_200_000_000, 2}},
		{TokenBucket, PerDuration(time.Millisecond, 1000), Params{TokenBucket, 1000, 1000, 1000, 1, 1, 1000, 1000}},
		{TokenBucket, PerSec(2_000_000), Params{TokenBucket, 1_000_000, 2_000_000, 2_000_000, 1, 2, 2_000_000, 2_000_000}},
		// The windows' Limit is L whatever the burst; they have no capacity in units.
		{FixedWindow, PerSec(5).WithBurst(100), Params{FixedWindow, 1_000_000, 5, 100, 200_000, 1, 0, 5}},
		{SlidingWindow, PerMin(60), Params{SlidingWindow, 60_000_000, 60, 60, 1_000_000, 1, 0, 60}},
		// The bounds themselves are accepted.
		{FixedWindow, PerDuration(time.Duration(MaxSafe)*usPeriod, 1), Params{FixedWindow, MaxSafe, 1, 1, MaxSafe, 1, 0, 1}},
		{TokenBucket, PerDuration(time.Duration(MaxSafe)*usPeriod, 1), Params{TokenBucket, MaxSafe, 1, 1, MaxSafe, 1, MaxSafe, 1}},
		{SlidingWindow, PerDuration(1<<22*usPeriod, 1<<30), Params{SlidingWindow, 1 << 22, 1 << 30, 1 << 30, 1, 1 << 8, 0, 1 << 30}},
		{GCRA, PerDuration(1<<22*usPeriod, 1).WithBurst(1 << 30), Params{GCRA, 1 << 22, 1, 1 << 30, 1 << 22, 1, MaxSafe, 1 << 30}},
		{FixedWindow, PerSec(MaxSafe), Params{FixedWindow, 1_000_000, MaxSafe, MaxSafe, 15_625, 1 << 46, 0, MaxSafe}},
		{TokenBucket, PerDuration(time.Duration(century)*usPeriod, 3), Params{TokenBucket, century, 3, 3, century / 3, 1, century, 3}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("algo=%s/quota=%v", tt.algo, tt.quota), func(t *testing.T) {
			got, err := Compile(tt.algo, tt.quota)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got != tt.want {
				t.Errorf("Compile:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	huge := time.Duration(MaxSafe+1) * usPeriod
	tests := []struct {
		name  string
		algos []Algorithm // nil: every algorithm
		quota Quota
		field string // DataError.Name
		want  string
	}{
		{"limit=0", nil, PerSec(0), "limit",
			`throttled: invalid limit 0: must be at least 1`},
		{"limit<0", nil, PerSec(-5), "limit",
			`throttled: invalid limit -5: must be at least 1`},
		{"limit>2^52", nil, PerSec(MaxSafe + 1), "limit",
			`throttled: invalid limit 4503599627370497: must be at most 2^52`},
		{"burst<0", nil, PerSec(5).WithBurst(-1), "burst",
			`throttled: invalid burst -1: must be at least 1 (or 0 for the default, equal to limit)`},
		{"burst>2^52", nil, PerSec(5).WithBurst(MaxSafe + 1), "burst",
			`throttled: invalid burst 4503599627370497: must be at most 2^52`},
		{"period=0", nil, Quota{Rate: Rate{Limit: 1}}, "period",
			`throttled: invalid period "0s": must be at least 1ms`},
		{"period<0", nil, PerDuration(-time.Second, 1), "period",
			`throttled: invalid period "-1s": must be at least 1ms`},
		{"period<1ms", nil, PerDuration(999*time.Microsecond, 1), "period",
			`throttled: invalid period "999µs": must be at least 1ms`},
		{"period_not_whole_µs", nil, PerDuration(time.Millisecond+time.Nanosecond, 1), "period",
			`throttled: invalid period "1.000001ms": must be a whole number of microseconds`},
		{"period>2^52µs", nil, PerDuration(huge, 1), "period",
			`throttled: invalid period "1250999h53m47.370497s": must be at most 2^52µs (about 142 years)`},
		{"bucket_capacity_not_exact", []Algorithm{TokenBucket, LeakingBucket, GCRA}, PerWeek(1).WithBurst(10_000), "quota",
			`throttled: invalid quota "1/w burst 10000": not exact with %s: burst×(period/gcd(period,limit)) = 10000×604800000000 exceeds 2^52; lower the burst or pick a limit that divides the period in µs`},
		{"bucket_capacity_just_over", []Algorithm{TokenBucket, LeakingBucket, GCRA}, PerDuration(1<<22*usPeriod, 1).WithBurst(1<<30 + 1), "quota",
			`throttled: invalid quota "1/4.194304s burst 1073741825": not exact with %s: burst×(period/gcd(period,limit)) = 1073741825×4194304 exceeds 2^52; lower the burst or pick a limit that divides the period in µs`},
		{"limit_2^52_in_a_bucket", []Algorithm{TokenBucket, LeakingBucket, GCRA}, PerSec(MaxSafe), "quota",
			`throttled: invalid quota "4503599627370496/s": not exact with %s: burst×(period/gcd(period,limit)) = 4503599627370496×15625 exceeds 2^52; lower the burst or pick a limit that divides the period in µs`},
		{"sliding_limit×period>2^52", []Algorithm{SlidingWindow}, PerWeek(100_000), "quota",
			`throttled: invalid quota "100000/w": not exact with sliding_window: limit×period = 100000×604800000000µs exceeds 2^52; lower the limit or shorten the period (at most 7446/w)`},
		{"sliding_limit×period_just_over", []Algorithm{SlidingWindow}, PerDuration(1<<22*usPeriod, 1<<30+1), "quota",
			`throttled: invalid quota "1073741825/4.194304s": not exact with sliding_window: limit×period = 1073741825×4194304µs exceeds 2^52; lower the limit or shorten the period (at most 1073741824/4.194304s)`},
	}
	for _, tt := range tests {
		algos := tt.algos
		if algos == nil {
			algos = Algorithms
		}
		for _, a := range algos {
			t.Run(fmt.Sprintf("algo=%s/%s", a, tt.name), func(t *testing.T) {
				want := tt.want
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, a)
				}
				p, err := Compile(a, tt.quota)
				checkDataError(t, err, tt.field, want)
				if p != (Params{}) {
					t.Errorf("Compile returned %+v with its error, want the zero Params", p)
				}
			})
		}
	}

	// Quotas refused by one family are fine for the other.
	for _, tt := range []struct {
		algo  Algorithm
		quota Quota
	}{
		{SlidingWindow, PerWeek(1).WithBurst(10_000)},
		{FixedWindow, PerWeek(1).WithBurst(10_000)},
		{FixedWindow, PerWeek(100_000)},
		{TokenBucket, PerWeek(100_000)},
		{GCRA, PerWeek(7446)},
		{SlidingWindow, PerWeek(7446)},
	} {
		if _, err := Compile(tt.algo, tt.quota); err != nil {
			t.Errorf("Compile(%s, %v): %v", tt.algo, tt.quota, err)
		}
	}

	for _, a := range []Algorithm{0, GCRA + 1, 255} {
		_, err := Compile(a, PerSec(1))
		checkDataError(t, err, "algorithm", fmt.Sprintf(
			`throttled: invalid algorithm "Algorithm(%d)": not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra`, uint8(a)))
	}
}

// checkDataError checks that err is a *DataError about field with message
// want, that matches ErrInvalid.
func checkDataError(t *testing.T, err error, field, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if got := err.Error(); got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(err.Error(), "throttled: ") {
		t.Errorf("error %q does not start with \"throttled: \"", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
	var de *DataError
	if !errors.As(err, &de) {
		t.Fatalf("errors.As(%T, *DataError) = false", err)
	}
	if de.Name != field {
		t.Errorf("DataError.Name = %q, want %q", de.Name, field)
	}
	if wrapped := fmt.Errorf("limiter: %w", err); !errors.Is(wrapped, ErrInvalid) || !errors.As(wrapped, &de) {
		t.Errorf("a wrapped DataError no longer matches")
	}
}

func TestEffectiveBurst(t *testing.T) {
	for _, tt := range []struct {
		q    Quota
		want int64
	}{
		{PerSec(5), 5},
		{PerSec(5).WithBurst(0), 5},
		{PerSec(5).WithBurst(8), 8},
		{PerSec(5).WithBurst(2), 2},
	} {
		if got := tt.q.EffectiveBurst(); got != tt.want {
			t.Errorf("%+v.EffectiveBurst() = %d, want %d", tt.q, got, tt.want)
		}
	}
	if q := PerSec(5); q.WithBurst(8) == q || q.Burst != 0 {
		t.Errorf("WithBurst must return a modified copy")
	}
}

func TestQuotaHelpers(t *testing.T) {
	for _, tt := range []struct {
		got  Quota
		want Quota
	}{
		{PerSec(1), Quota{Rate: Rate{Period: time.Second, Limit: 1}}},
		{PerMin(2), Quota{Rate: Rate{Period: time.Minute, Limit: 2}}},
		{PerHour(3), Quota{Rate: Rate{Period: time.Hour, Limit: 3}}},
		{PerDay(4), Quota{Rate: Rate{Period: 24 * time.Hour, Limit: 4}}},
		{PerWeek(5), Quota{Rate: Rate{Period: 7 * 24 * time.Hour, Limit: 5}}},
		{PerDuration(2*time.Minute, 120).WithBurst(150), Quota{Rate: Rate{Period: 2 * time.Minute, Limit: 120}, Burst: 150}},
	} {
		if tt.got != tt.want {
			t.Errorf("got %+v, want %+v", tt.got, tt.want)
		}
	}
}

// TestQuotaString checks what String writes and that ParseQuota reads it
// back.
func TestQuotaString(t *testing.T) {
	for _, tt := range []struct {
		q    Quota
		want string
	}{
		{PerSec(100), "100/s"},
		{PerMin(60), "60/m"},
		{PerHour(1), "1/h"},
		{PerDay(5), "5/d"},
		{PerWeek(7), "7/w"},
		{PerDuration(2*time.Minute, 120), "120/2m"},
		{PerDuration(90*time.Second, 3), "3/90s"},
		{PerDuration(36*time.Hour, 1), "1/36h"},
		{PerDuration(14*24*time.Hour, 1), "1/2w"},
		{PerDuration(time.Duration(century)*usPeriod, 1), "1/36500d"},
		{PerDuration(1500*time.Millisecond, 1), "1/1.5s"},
		{PerDuration(250*time.Millisecond, 10), "10/250ms"},
		{PerDuration(time.Millisecond, 1), "1/1ms"},
		{PerDuration(1001*time.Microsecond, 7), "7/1.001ms"},
		{PerDuration(time.Hour+500*time.Millisecond, 2), "2/1h0m0.5s"},
		{PerSec(100).WithBurst(200), "100/s burst 200"},
		{PerSec(100).WithBurst(100), "100/s"},
		{PerMin(60).WithBurst(10), "60/m burst 10"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.q.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, err := ParseQuota(tt.q.String())
			if err != nil {
				t.Fatalf("ParseQuota(%q): %v", tt.q.String(), err)
			}
			if canonical(back) != canonical(tt.q) {
				t.Errorf("ParseQuota(%q) = %+v, want %+v", tt.q.String(), back, tt.q)
			}
		})
	}
}

// canonical writes a burst equal to the limit as 0, the default.
func canonical(q Quota) Quota {
	if q.Burst == q.Limit {
		q.Burst = 0
	}
	return q
}

func TestParseAlgorithm(t *testing.T) {
	good := map[string]Algorithm{
		"fixed_window":       FixedWindow,
		"sliding_window":     SlidingWindow,
		"token_bucket":       TokenBucket,
		"leaking_bucket":     LeakingBucket,
		"gcra":               GCRA,
		"leaky_bucket":       LeakingBucket, // accepted alias
		"  Token_Bucket\t":   TokenBucket,
		"GCRA":               GCRA,
		"LEAKY_BUCKET":       LeakingBucket,
		"\nSliding_Window  ": SlidingWindow,
	}
	for in, want := range good {
		got, err := ParseAlgorithm(in)
		if err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "token-bucket", "tokenbucket", "token bucket", "leaking-bucket", "fixed", "gcra2", "Algorithm(1)", "1"} {
		got, err := ParseAlgorithm(in)
		if got != 0 {
			t.Errorf("ParseAlgorithm(%q) = %v with an error, want 0", in, got)
		}
		checkDataError(t, err, "algorithm", fmt.Sprintf(
			"throttled: invalid algorithm %q: not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra", in))
	}
}

func TestAlgorithmStrings(t *testing.T) {
	names := []string{"fixed_window", "sliding_window", "token_bucket", "leaking_bucket", "gcra"}
	if len(Algorithms) != len(names) {
		t.Fatalf("Algorithms has %d entries, want %d", len(Algorithms), len(names))
	}
	for i, a := range Algorithms {
		if a.String() != names[i] || !a.Valid() {
			t.Errorf("Algorithms[%d] = %v (valid %v), want %s", i, a, a.Valid(), names[i])
		}
		if got, want := a.IsBucket(), a == TokenBucket || a == LeakingBucket || a == GCRA; got != want {
			t.Errorf("%v.IsBucket() = %v", a, got)
		}
		text, err := a.MarshalText()
		if err != nil || string(text) != names[i] {
			t.Errorf("%v.MarshalText() = %q, %v", a, text, err)
		}
		var back Algorithm
		if err := back.UnmarshalText(text); err != nil || back != a {
			t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
		}
		if back, err := ParseAlgorithm(a.String()); err != nil || back != a {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", a.String(), back, err)
		}
	}
	for _, a := range []Algorithm{0, GCRA + 1, 255} {
		if a.Valid() || a.IsBucket() {
			t.Errorf("%d: Valid or IsBucket", uint8(a))
		}
		if got, want := a.String(), fmt.Sprintf("Algorithm(%d)", uint8(a)); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		text, err := a.MarshalText()
		if text != nil {
			t.Errorf("%v.MarshalText() = %q with an error", a, text)
		}
		checkDataError(t, err, "algorithm", fmt.Sprintf(
			`throttled: invalid algorithm "Algorithm(%d)": not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra`, uint8(a)))
	}

	// A failed UnmarshalText leaves the value alone.
	a := GCRA
	err := a.UnmarshalText([]byte("fortnightly"))
	checkDataError(t, err, "algorithm", `throttled: invalid algorithm "fortnightly": not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra`)
	if a != GCRA {
		t.Errorf("failed UnmarshalText changed the value to %v", a)
	}
}

// TestAlgorithmJSON: encoding.TextMarshaler makes Algorithm a JSON string,
// also as a map key.
func TestAlgorithmJSON(t *testing.T) {
	type config struct {
		Using  Algorithm           `json:"using"`
		Others []Algorithm         `json:"others"`
		ByAlgo map[Algorithm]int64 `json:"by_algo"`
	}
	in := config{Using: LeakingBucket, Others: []Algorithm{GCRA, FixedWindow}, ByAlgo: map[Algorithm]int64{SlidingWindow: 1}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"using":"leaking_bucket","others":["gcra","fixed_window"],"by_algo":{"sliding_window":1}}`
	if string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	var out config
	if err := json.Unmarshal([]byte(`{"using":"Leaky_Bucket","others":["gcra","fixed_window"],"by_algo":{"sliding_window":1}}`), &out); err != nil {
		t.Fatal(err)
	}
	if out.Using != in.Using || fmt.Sprint(out.Others) != fmt.Sprint(in.Others) || out.ByAlgo[SlidingWindow] != 1 {
		t.Errorf("json.Unmarshal = %+v, want %+v", out, in)
	}
	err = json.Unmarshal([]byte(`{"using":"token-bucket"}`), &out)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("json.Unmarshal of a bad name: %v, want an error matching ErrInvalid", err)
	}
	if _, err := json.Marshal(config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("json.Marshal of the zero Algorithm: %v, want an error matching ErrInvalid", err)
	}
}
