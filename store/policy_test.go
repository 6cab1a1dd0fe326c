package store

import (
	"errors"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
)

func mustPolicy(t *testing.T, q algo.Quota) *Policy {
	t.Helper()
	p, err := NewPolicy(q)
	if err != nil {
		t.Fatalf("NewPolicy(%+v): %v", q, err)
	}
	return p
}

func TestNewPolicyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    algo.Quota
		bad  string // the DataError's Name
	}{
		{"no algorithm", algo.PerSec(10), "algorithm"},
		{"unknown algorithm", algo.PerSec(10).WithAlgorithm(9), "algorithm"},
		{"limit 0", algo.PerSec(0).WithAlgorithm(algo.GCRA), "limit"},
		{"negative burst", algo.PerSec(10).WithBurst(-1).WithAlgorithm(algo.TokenBucket), "burst"},
		{"period under 1ms", algo.PerDuration(time.Microsecond, 1).WithAlgorithm(algo.FixedWindow), "period"},
		{"not exact", algo.PerDuration(7*24*time.Hour, 1<<30).WithAlgorithm(algo.SlidingWindow), "quota"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPolicy(tc.q)
			if p != nil {
				t.Errorf("NewPolicy returned a policy %v with error %v", p, err)
			}
			if !errors.Is(err, algo.ErrInvalid) {
				t.Fatalf("NewPolicy(%+v) = %v, want an error matching algo.ErrInvalid", tc.q, err)
			}
			var de *algo.DataError
			if !errors.As(err, &de) || de.Name != tc.bad {
				t.Fatalf("NewPolicy(%+v) = %v, want a *algo.DataError naming %q", tc.q, err, tc.bad)
			}
		})
	}
}

func TestNewPolicyNoAlgorithmMessage(t *testing.T) {
	_, err := NewPolicy(algo.PerMin(5))
	const want = `throttled: invalid algorithm "none": a policy needs the quota's algorithm`
	if err == nil || err.Error() != want {
		t.Fatalf("NewPolicy without an algorithm: %v, want %q", err, want)
	}
}

// TestPolicyAccessors checks what a policy reports of its quota, for every
// algorithm: the parameters are Compile's, Max is the burst for the buckets
// and the limit for the windows.
func TestPolicyAccessors(t *testing.T) {
	for _, a := range algo.Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			q := algo.PerDuration(3*time.Second, 12).WithBurst(20).WithAlgorithm(a).WithName("api")
			p := mustPolicy(t, q)
			want, err := algo.Compile(a, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := *p.Params(); got != want {
				t.Errorf("Params() = %+v, want Compile's %+v", got, want)
			}
			if p.Params() != &p.params {
				t.Error("Params() returns a copy, want a pointer to the policy's own")
			}
			if got := p.Quota(); got != q {
				t.Errorf("Quota() = %+v, want %+v", got, q)
			}
			if got := p.Algorithm(); got != a {
				t.Errorf("Algorithm() = %v, want %v", got, a)
			}
			if got := p.Name(); got != "api" {
				t.Errorf("Name() = %q, want %q", got, "api")
			}
			wantMax := int64(12)
			if a.IsBucket() {
				wantMax = 20
			}
			if got := p.Max(); got != wantMax {
				t.Errorf("Max() = %d, want %d", got, wantMax)
			}
		})
	}
}

func TestPolicyKeyAndString(t *testing.T) {
	for _, tc := range []struct {
		q        algo.Quota
		key, str string
	}{
		{algo.PerSec(10).WithBurst(20).WithAlgorithm(algo.GCRA), "gcra:10/s:b20", "10/s burst 20 gcra"},
		{algo.PerSec(10).WithAlgorithm(algo.TokenBucket), "token_bucket:10/s:b10", "10/s token_bucket"},
		{algo.PerSec(10).WithBurst(10).WithAlgorithm(algo.LeakingBucket), "leaking_bucket:10/s:b10", "10/s leaking_bucket"},
		{algo.PerDay(10000).WithAlgorithm(algo.FixedWindow).WithName("daily"), "fixed_window:10000/d", `"daily" 10000/d fixed_window`},
		// The windows ignore the burst: neither the key nor the text shows it.
		{algo.PerDuration(2*time.Minute, 120).WithBurst(150).WithAlgorithm(algo.SlidingWindow), "sliding_window:120/2m", "120/2m sliding_window"},
		{algo.PerDuration(2*time.Minute, 120).WithBurst(150).WithAlgorithm(algo.FixedWindow).WithName("x y"), "fixed_window:120/2m", `"x y" 120/2m fixed_window`},
		{algo.PerDuration(1500*time.Millisecond, 3).WithBurst(1).WithAlgorithm(algo.TokenBucket).WithName("n"), "token_bucket:3/1.5s:b1", `"n" 3/1.5s burst 1 token_bucket`},
	} {
		p := mustPolicy(t, tc.q)
		if got := p.Key(); got != tc.key {
			t.Errorf("%+v: Key() = %q, want %q", tc.q, got, tc.key)
		}
		if got := p.String(); got != tc.str {
			t.Errorf("%+v: String() = %q, want %q", tc.q, got, tc.str)
		}
		if got := p.Quota(); got != tc.q {
			t.Errorf("%+v: String changed the quota to %+v", tc.q, got)
		}
	}
}

// TestPolicyIdentity checks which policies share a key's state: those with
// the same algorithm, period, limit and (for the buckets only) burst,
// whatever their names; Same, ID and Key agree.
func TestPolicyIdentity(t *testing.T) {
	same := func(a, b algo.Quota) bool {
		t.Helper()
		p, o := mustPolicy(t, a), mustPolicy(t, b)
		s := p.Same(o)
		if s != o.Same(p) {
			t.Errorf("Same is not symmetric for %+v and %+v", a, b)
		}
		if (p.ID() == o.ID()) != s {
			t.Errorf("%+v and %+v: ID() equal = %v, Same = %v", a, b, p.ID() == o.ID(), s)
		}
		if (p.Key() == o.Key()) != s {
			t.Errorf("%+v and %+v: keys %q and %q, Same = %v", a, b, p.Key(), o.Key(), s)
		}
		return s
	}
	gcra := algo.PerSec(10).WithAlgorithm(algo.GCRA)
	fixed := algo.PerSec(10).WithAlgorithm(algo.FixedWindow)
	for _, tc := range []struct {
		name string
		a, b algo.Quota
		want bool
	}{
		{"identical", gcra, gcra, true},
		{"names differ", gcra.WithName("a"), gcra.WithName("b"), true},
		{"burst 0 is burst = limit", gcra, gcra.WithBurst(10), true},
		{"bucket bursts differ", gcra, gcra.WithBurst(11), false},
		{"window bursts differ", fixed.WithBurst(3), fixed.WithBurst(30), true},
		{"algorithms differ", gcra, gcra.WithAlgorithm(algo.TokenBucket), false},
		{"windows differ", fixed, fixed.WithAlgorithm(algo.SlidingWindow), false},
		{"periods differ", gcra, algo.PerMin(10).WithAlgorithm(algo.GCRA), false},
		{"limits differ", fixed, algo.PerSec(11).WithAlgorithm(algo.FixedWindow), false},
		// Same rate, different period and limit: not the same quota's state.
		{"same rate, other period", fixed, algo.PerDuration(2*time.Second, 20).WithAlgorithm(algo.FixedWindow), false},
	} {
		if got := same(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Same(%+v, %+v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
	if (PolicyID{}) == mustPolicy(t, gcra).ID() {
		t.Error("a policy's ID equals the zero PolicyID")
	}
}
