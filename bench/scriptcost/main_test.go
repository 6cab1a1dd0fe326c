package main

import "testing"

func TestTotals(t *testing.T) {
	const dump = "version: 1\ncreator: callgrind-3.19.0\npid: 7\ncmd:  redis-server\npart: 3\n\n\ndesc: I1 cache: \ndesc: Trigger: dump gcra-1\n\npositions: line\nevents: Ir\nsummary: 106158000\ntotals: 106158000\n"
	for _, c := range []struct {
		dump, name string
		total      int64
		ok, err    bool
	}{
		{dump, "gcra-1", 106158000, true, false},
		{dump, "gcra-10", 0, false, false}, // another subject's dump
		{dump, "gcra", 0, false, false},
		{"\ndesc: Trigger: dump floor-0\nevents: Ir\n", "floor-0", 0, true, true}, // cut short
		{"\ndesc: Trigger: dump floor-0\ntotals: \n", "floor-0", 0, true, true},
		{"\ndesc: Trigger: dump floor-0\ntotals: 12x\n", "floor-0", 0, true, true},
	} {
		total, ok, err := totals(c.dump, c.name)
		if total != c.total || ok != c.ok || (err != nil) != c.err {
			t.Errorf("totals(%q, %q) = %d, %v, %v; want %d, %v, error %v", c.dump, c.name, total, ok, err, c.total, c.ok, c.err)
		}
	}
}
