package storeutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// isInvalid checks that err is a *algo.DataError matching algo.ErrInvalid
// whose message is want exactly.
func isInvalid(t *testing.T, what string, err error, want string) {
	t.Helper()
	var de *algo.DataError
	if !errors.As(err, &de) || !errors.Is(err, algo.ErrInvalid) {
		t.Errorf("%s = %v (%T), want a *algo.DataError", what, err, err)
		return
	}
	if err.Error() != want {
		t.Errorf("%s = %q, want %q", what, err, want)
	}
}

func TestCheckKey(t *testing.T) {
	isInvalid(t, `CheckKey("")`, CheckKey(""), `throttled: invalid key "": must be a non-empty string`)
	for _, k := range []string{"a", " ", "\x00", strings.Repeat("k", 1000)} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
}

func TestCheckCost(t *testing.T) {
	isInvalid(t, "CheckCost(-1)", CheckCost(-1), "throttled: invalid cost -1: must be at least 0")
	isInvalid(t, "CheckCost(MinInt64)", CheckCost(-1<<63), "throttled: invalid cost -9223372036854775808: must be at least 0")
	for _, c := range []int64{0, 1, 1 << 62} {
		if err := CheckCost(c); err != nil {
			t.Errorf("CheckCost(%d) = %v, want nil", c, err)
		}
	}
}

func TestCheckPolicies(t *testing.T) {
	p, err := store.NewPolicy(algo.PerSec(1).WithAlgorithm(algo.GCRA))
	if err != nil {
		t.Fatal(err)
	}
	isInvalid(t, "CheckPolicies(nil)", CheckPolicies(nil), "throttled: invalid number of policies 0: must be 1 to 8")
	isInvalid(t, "CheckPolicies(9)", CheckPolicies(slices.Repeat([]*store.Policy{p}, 9)), "throttled: invalid number of policies 9: must be 1 to 8")
	isInvalid(t, "CheckPolicies(p, nil)", CheckPolicies([]*store.Policy{p, nil}), `throttled: invalid policy "#1: nil": must come from store.NewPolicy`)
	for n := 1; n <= store.MaxPolicies; n++ {
		if err := CheckPolicies(slices.Repeat([]*store.Policy{p}, n)); err != nil {
			t.Errorf("CheckPolicies(%d policies) = %v, want nil", n, err)
		}
	}
}

func TestCheckEach(t *testing.T) {
	isInvalid(t, "CheckEach(1 for 2)", CheckEach(make([]algo.Decision, 1), 2), "throttled: invalid length of each 1: must be 0 or 2 (one per policy)")
	isInvalid(t, "CheckEach(empty for 2)", CheckEach([]algo.Decision{}, 2), "throttled: invalid length of each 0: must be 0 or 2 (one per policy)")
	if err := CheckEach(nil, 2); err != nil {
		t.Errorf("CheckEach(nil, 2) = %v, want nil", err)
	}
	if err := CheckEach(make([]algo.Decision, 2), 2); err != nil {
		t.Errorf("CheckEach(2, 2) = %v, want nil", err)
	}
}

func TestCheckTime(t *testing.T) {
	isInvalid(t, "CheckTime(-1)", CheckTime(-1), "throttled: invalid time -1: must be in [0, 2^52] µs since the epoch (clock out of range)")
	isInvalid(t, "CheckTime(MaxTime+1)", CheckTime(algo.MaxTime+1), fmt.Sprintf("throttled: invalid time %d: must be in [0, 2^52] µs since the epoch (clock out of range)", algo.MaxTime+1))
	for _, now := range []int64{0, 1, algo.MaxTime} {
		if err := CheckTime(now); err != nil {
			t.Errorf("CheckTime(%d) = %v, want nil", now, err)
		}
	}
}

func TestCheckContext(t *testing.T) {
	if err := CheckContext(context.Background()); err != nil {
		t.Errorf("CheckContext(Background) = %v, want nil", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range []struct {
		ctx  context.Context
		want error
	}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		err := CheckContext(c.ctx)
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, c.want) || errors.Is(err, algo.ErrInvalid) {
			t.Errorf("CheckContext(done) = %v, want ErrUnavailable wrapping %v, not ErrInvalid", err, c.want)
		}
		if want := "throttled: store unavailable: " + c.want.Error(); err.Error() != want {
			t.Errorf("CheckContext(done) = %q, want %q", err, want)
		}
	}
}

// TestCombine checks each rule of the combined decision exactly, in every
// position: Limited if any, the least Remaining, the greatest ResetAfter,
// the greatest RetryAfter with -1 (never) winning over any other.
func TestCombine(t *testing.T) {
	type d = algo.Decision
	cases := []struct {
		name string
		in   []d
		want d
	}{
		{"one", []d{{Limited: true, Remaining: 3, RetryAfter: 5, ResetAfter: 7}}, d{Limited: true, Remaining: 3, RetryAfter: 5, ResetAfter: 7}},
		{"one_never", []d{{Limited: true, RetryAfter: -1}}, d{Limited: true, RetryAfter: -1}},
		{"all_allowed", []d{{Remaining: 4, ResetAfter: 10}, {Remaining: 9, ResetAfter: 3}}, d{Remaining: 4, ResetAfter: 10}},
		{"limited_second", []d{{Remaining: 4, ResetAfter: 10}, {Limited: true, Remaining: 0, RetryAfter: 2, ResetAfter: 30}}, d{Limited: true, Remaining: 0, RetryAfter: 2, ResetAfter: 30}},
		{"limited_first", []d{{Limited: true, Remaining: 1, RetryAfter: 2, ResetAfter: 3}, {Remaining: 0, ResetAfter: 1}}, d{Limited: true, Remaining: 0, RetryAfter: 2, ResetAfter: 3}},
		{"max_retry", []d{{Limited: true, RetryAfter: 7}, {Limited: true, RetryAfter: 9}, {Limited: true, RetryAfter: 8}}, d{Limited: true, RetryAfter: 9}},
		{"never_first", []d{{Limited: true, RetryAfter: -1}, {Limited: true, RetryAfter: 9}}, d{Limited: true, RetryAfter: -1}},
		{"never_last", []d{{Limited: true, RetryAfter: 9}, {Remaining: 5}, {Limited: true, RetryAfter: -1}}, d{Limited: true, RetryAfter: -1}},
		{"never_middle", []d{{Limited: true, RetryAfter: 1}, {Limited: true, RetryAfter: -1}, {Limited: true, RetryAfter: 1 << 50}}, d{Limited: true, RetryAfter: -1}},
		{"never_twice", []d{{Limited: true, RetryAfter: -1}, {Limited: true, RetryAfter: -1}}, d{Limited: true, RetryAfter: -1}},
		{"min_remaining_last", []d{{Remaining: 8}, {Remaining: 6}, {Remaining: 2}}, d{Remaining: 2}},
		{"max_reset_first", []d{{ResetAfter: 80}, {ResetAfter: 6}, {ResetAfter: 20}}, d{ResetAfter: 80}},
		{"eight", []d{{Remaining: 8}, {Remaining: 7}, {Remaining: 6}, {Remaining: 5}, {Remaining: 4}, {Remaining: 3}, {Remaining: 2, ResetAfter: 1}, {Remaining: 1}}, d{Remaining: 1, ResetAfter: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.in)
			if got := Combine(in); got != c.want {
				t.Errorf("Combine(%+v) = %+v, want %+v", c.in, got, c.want)
			}
			if !slices.Equal(in, c.in) {
				t.Errorf("Combine changed its input to %+v", in)
			}
		})
	}
}

// TestShortKey checks the exact text error messages quote for a key: whole
// up to 64 bytes, else its first 64 bytes or fewer (cut at a character
// boundary) and its length.
func TestShortKey(t *testing.T) {
	a63, a64 := strings.Repeat("a", 63), strings.Repeat("a", 64)
	cases := []struct {
		name, key, want string
	}{
		{"empty", "", ""},
		{"short", "user:42", "user:42"},
		{"64_bytes", a64, a64},
		{"64_bytes_ending_in_é", a63[1:] + "é", a63[1:] + "é"},
		{"65_bytes", a64 + "b", a64 + "… (65 bytes)"},
		{"1000_bytes", strings.Repeat("x", 1000), strings.Repeat("x", 64) + "… (1000 bytes)"},
		// é is 2 bytes, at 63-64: the cut at 64 would split it, so it moves
		// back to 63.
		{"cut_inside_2_byte_char", a63 + "é" + "tail", a63 + "… (69 bytes)"},
		// 😀 is 4 bytes, at 62-65: the cut moves back to 62.
		{"cut_inside_4_byte_char", a63[1:] + "😀" + "tail", a63[1:] + "… (70 bytes)"},
		// A character that ends exactly at 64 stays whole.
		{"char_ends_at_64", a63[3:] + "😀" + "z", a63[3:] + "😀" + "… (65 bytes)"},
		// Bytes that are all continuation bytes (not UTF-8) leave nothing.
		{"no_boundary", strings.Repeat("\x80", 70), "… (70 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ShortKey(c.key); got != c.want {
				t.Errorf("ShortKey(%q) =\n %q, want\n %q", c.key, got, c.want)
			}
		})
	}
}

func TestFailAll(t *testing.T) {
	errBoom := errors.New("boom")
	errs := []error{nil, errors.New("other"), nil}
	FailAll(errs, errBoom)
	for i, err := range errs {
		if err != errBoom {
			t.Errorf("errs[%d] = %v, want boom", i, err)
		}
	}
	FailAll(nil, errBoom) // no requests: nothing to do
}

// TestSubset checks that Subset runs the batch on exactly the requests
// check accepts, in order, and puts every decision, per-policy decision and
// error at its request's position, whichever requests are refused; and
// that when none is refused, run gets the caller's slices themselves.
func TestSubset(t *testing.T) {
	errRefused := errors.New("refused")
	errRun := errors.New("failed in run")
	const n = 2 // policies
	for _, refused := range [][]int{{}, {0}, {3}, {1, 2}, {0, 1, 2, 3}, {0, 3}} {
		for _, withEach := range []bool{true, false} {
			t.Run(fmt.Sprintf("refused=%v/each=%v", refused, withEach), func(t *testing.T) {
				reqs := make([]store.Request[string], 4)
				for i := range reqs {
					reqs[i] = store.Request[string]{Key: fmt.Sprint("k", i), Cost: int64(i)}
				}
				out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
				var each []algo.Decision
				if withEach {
					each = make([]algo.Decision, len(reqs)*n)
				}
				var ran []string
				var checked []int
				Subset(reqs, out, each, n, errs, func(i int) error {
					checked = append(checked, i)
					if slices.Contains(refused, i) {
						return errRefused
					}
					return nil
				}, func(rs []store.Request[string], rout, reach []algo.Decision, rerrs []error) {
					if len(rout) != len(rs) || len(rerrs) != len(rs) || withEach != (reach != nil) || withEach && len(reach) != len(rs)*n {
						t.Errorf("run got %d requests, %d decisions, %d errors, %d each", len(rs), len(rout), len(rerrs), len(reach))
						return
					}
					if len(refused) == 0 && (&rs[0] != &reqs[0] || &rout[0] != &out[0] || &rerrs[0] != &errs[0] || withEach && &reach[0] != &each[0]) {
						t.Error("run got copies though no request was refused")
					}
					for j, r := range rs {
						ran = append(ran, r.Key)
						rout[j] = algo.Decision{Remaining: r.Cost * 10}
						if reach != nil {
							reach[j*n] = algo.Decision{Remaining: r.Cost * 100}
							reach[j*n+1] = algo.Decision{Remaining: r.Cost*100 + 1}
						}
						if r.Cost == 2 {
							rerrs[j] = errRun
						}
					}
				})
				if !slices.Equal(checked, []int{0, 1, 2, 3}) {
					t.Errorf("check saw %v, want every request in order", checked)
				}
				var want []string
				for i, r := range reqs {
					if slices.Contains(refused, i) {
						if !errors.Is(errs[i], errRefused) || out[i] != (algo.Decision{}) {
							t.Errorf("refused request %d: %+v, %v; want no decision and the check's error", i, out[i], errs[i])
						}
						if withEach && (each[i*n] != algo.Decision{} || each[i*n+1] != algo.Decision{}) {
							t.Errorf("refused request %d: each %+v, want none", i, each[i*n:i*n+n])
						}
						continue
					}
					want = append(want, r.Key)
					if out[i].Remaining != r.Cost*10 {
						t.Errorf("request %d: decision %+v, want run's for it", i, out[i])
					}
					if withEach && (each[i*n].Remaining != r.Cost*100 || each[i*n+1].Remaining != r.Cost*100+1) {
						t.Errorf("request %d: each %+v, want run's for it", i, each[i*n:i*n+n])
					}
					if wantErr := i == 2; (errs[i] != nil) != wantErr || wantErr && !errors.Is(errs[i], errRun) {
						t.Errorf("request %d: error %v, want run's", i, errs[i])
					}
				}
				if !slices.Equal(ran, want) {
					t.Errorf("run saw %v, want %v", ran, want)
				}
			})
		}
	}
}

// TestIsNil checks that nil and every kind of typed nil are nil, and that
// non-nil values of those kinds and values of other kinds are not.
func TestIsNil(t *testing.T) {
	var (
		p  *int
		f  func()
		m  map[int]int
		c  chan int
		s  []int
		e  error
		up unsafe.Pointer
	)
	for i, v := range []any{nil, p, f, m, c, s, up, &e} {
		want := i < 7 // &e is a non-nil pointer to a nil interface
		if got := IsNil(v); got != want {
			t.Errorf("IsNil(%T %v) = %v, want %v", v, v, got, want)
		}
	}
	n := 1
	for _, v := range []any{&n, func() {}, map[int]int{}, make(chan int), []int{}, 0, "", struct{}{}, unsafe.Pointer(&n)} {
		if IsNil(v) {
			t.Errorf("IsNil(%T) = true for a non-nil value", v)
		}
	}
}
