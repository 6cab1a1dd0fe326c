package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// TestSubset checks that Subset runs the batch on exactly the requests
// check accepts, in order, and puts every decision and error at its
// request's position, whichever requests are refused.
func TestSubset(t *testing.T) {
	errRefused := errors.New("refused")
	errRun := errors.New("failed in run")
	for _, refused := range [][]int{{}, {0}, {3}, {1, 2}, {0, 1, 2, 3}, {0, 3}} {
		t.Run(fmt.Sprint(refused), func(t *testing.T) {
			reqs := make([]store.Request[string], 4)
			for i := range reqs {
				reqs[i] = store.Request[string]{Key: fmt.Sprint("k", i), Cost: int64(i)}
			}
			out, errs := make([]algo.Decision, len(reqs)), make([]error, len(reqs))
			var ran []string
			store.Subset(reqs, out, errs, func(i int) error {
				if slices.Contains(refused, i) {
					return errRefused
				}
				return nil
			}, func(rs []store.Request[string], out []algo.Decision, errs []error) {
				for j, r := range rs {
					ran = append(ran, r.Key)
					out[j] = algo.Decision{Remaining: r.Cost * 10}
					if r.Cost == 2 {
						errs[j] = errRun
					}
				}
			})
			var want []string
			for i, r := range reqs {
				if slices.Contains(refused, i) {
					if !errors.Is(errs[i], errRefused) || out[i] != (algo.Decision{}) {
						t.Errorf("refused request %d: %+v, %v; want no decision and the check's error", i, out[i], errs[i])
					}
					continue
				}
				want = append(want, r.Key)
				if out[i].Remaining != r.Cost*10 {
					t.Errorf("request %d: decision %+v, want run's for it", i, out[i])
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
