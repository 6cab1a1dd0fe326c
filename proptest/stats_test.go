package proptest

import (
	"flag"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// stats counts what the generated traces exercised, so a run can show (and
// a test can insist) that the generators reach the interesting branches.
type stats struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *stats) add(what string) {
	s.mu.Lock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[what]++
	s.mu.Unlock()
}

func (s *stats) get(what string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[what]
}

func (s *stats) log(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.n))
	for k := range s.n {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t.Logf("%-40s %d", k, s.n[k])
	}
}

var statsFlag = flag.Bool("proptest.stats", false, "log what the generated traces exercised")

// debugStats, when not nil, counts the decisions the machines check.
var debugStats *stats

// logStats turns counting on for t, and logs the counts when t ends if
// -proptest.stats is set. It returns the counts.
func logStats(t *testing.T) *stats {
	s := &stats{}
	debugStats = s
	t.Cleanup(func() {
		if *statsFlag {
			s.log(t)
		}
		debugStats = nil
	})
	return s
}

// What the generators must reach (DESIGN §3's edges and algo.Compile's
// bounds), counted over the decisions the machines check.
const (
	reachClockBehind   = "reach: clock behind the key's state"
	reachCost0         = "reach: cost 0"
	reachAboveCapacity = "reach: cost above capacity"
	reachTimeNearEnd   = "reach: time within 3 periods of 2^52"
	reachBucketBound   = "reach: bucket burst on the 2^52 bound"
	reachSlidingBound  = "reach: sliding window limit on the 2^52 bound"
)

// requireReached fails t unless every one of whats was counted, when the
// run made enough checks for that to be a fair demand (the default
// -rapid.checks of 100 or more).
func requireReached(t *testing.T, s *stats, whats ...string) {
	t.Helper()
	if f := flag.Lookup("rapid.checks"); f == nil || checksBelow(f.Value.String(), 100) {
		t.Logf("fewer than 100 rapid checks: not requiring %v", whats)
		return
	}
	for _, w := range whats {
		if s.get(w) == 0 {
			t.Errorf("the generated traces never reached %q (run with -proptest.stats to see what they reached)", w)
		}
	}
}

func checksBelow(s string, n int) bool {
	v, err := strconv.Atoi(s)
	return err != nil || v < n
}
