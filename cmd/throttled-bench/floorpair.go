package main

import (
	"context"
	"fmt"
	"slices"
)

// pairedCalls is how many serial calls each script makes in each round of
// the paired floor measurement.
const pairedCalls = 1000

// floorPairs measures each script's server time against the floor's in
// rounds: in every round each script (the floor, then each algorithm's,
// the order rotating from round to round) makes pairedCalls serial
// calls, its server time read from INFO commandstats after CONFIG
// RESETSTAT, so the scripts of a round run within a second of each other;
// an algorithm's ratio to the floor is the median, over the rounds, of its
// time per call over the floor's in the same round. The ratio of the
// tables' cells compares scripts measured minutes apart, on a server
// whose speed drifts by more than the margin the target leaves.
func (b *bench) floorPairs(rs *redisBench) error {
	ctx := context.Background()
	scripts := redisRows()[1:] // the floor and the algorithms; not INCRBY
	perCall := map[string][]float64{}
	rounds := 2*b.c.count + 1
	for round := range rounds {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] floor round %d/%d: %d calls of each script ... ", b.done, b.total, round+1, rounds, pairedCalls)
		for i := range scripts {
			row := scripts[(i+round)%len(scripts)]
			s, err := rs.subject(row)
			if err != nil {
				return err
			}
			for range pairedCalls / 10 { // warm-up: the script cached, the key written
				if _, err := s.decide(ctx, oneKey[0]); err != nil {
					return fmt.Errorf("floor round %s: %w", row, err)
				}
			}
			if err := rs.resetStats(); err != nil {
				return err
			}
			for range pairedCalls {
				if _, err := s.decide(ctx, oneKey[0]); err != nil {
					return fmt.Errorf("floor round %s: %w", row, err)
				}
			}
			st, err := rs.stats(row)
			s.close()
			if err != nil {
				return err
			}
			if st.Calls == 0 {
				return fmt.Errorf("floor round %s: the server counted no EVALSHA", row)
			}
			perCall[row] = append(perCall[row], float64(st.usec)/float64(st.Calls))
		}
		fmt.Fprintf(b.progress, "floor %.2f µs/call\n", perCall[rowFloor][round])
	}
	for _, row := range scripts {
		st := b.server[row]
		if st == nil {
			continue
		}
		st.PairedFloorRatios = pairedRatios(perCall[row], perCall[rowFloor])
		st.PairedFloorRatio = medianFloat(st.PairedFloorRatios)
	}
	return nil
}

// pairedRatios returns xs[i] / floor[i] for every round i.
func pairedRatios(xs, floor []float64) []float64 {
	out := make([]float64, len(xs))
	for i := range xs {
		out[i] = xs[i] / floor[i]
	}
	return out
}

// medianFloat returns the median of xs (the lower middle one for an even
// count); 0 for none.
func medianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
