package proptest

import (
	"flag"
	"sort"
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

// logStats turns counting on for t when -proptest.stats is set, and logs
// the counts when t ends.
func logStats(t *testing.T) {
	if !*statsFlag {
		return
	}
	debugStats = &stats{}
	t.Cleanup(func() { debugStats.log(t); debugStats = nil })
}
