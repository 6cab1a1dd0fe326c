package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// pairedRounds is how many rounds the paired floor measurement makes for
// -count passes: 15 by default (a round measures each script in the 50 ms
// of its calls, and the host's state changes from one to the next; the
// median of 7 rounds moved by a tenth from run to run).
func pairedRounds(count int) int { return 4*count + 3 }

// pairedCalls is how many serial calls each row makes in a round of
// the paired floor measurement with redisN calls per Redis cell: 1000 by
// default. Shorter runs between the statistics commands (CONFIG RESETSTAT,
// INFO), which disturb the server's caches, tilted the ratios toward 1
// (blocks of 100 calls, interleaved: 0.99–1.04× on a fresh server where
// the instructions counted give 1.17–1.24×).
func pairedCalls(redisN int64) int { return int(max(100, redisN/10)) }

// floorPairs measures each row's serial server time, one decision a call,
// and each script's against the floor's, in rounds: in every round each
// row (INCRBY, the floor, each algorithm's script; the order rotating from
// round to round) makes pairedCalls serial calls, its server time read
// from INFO commandstats after CONFIG RESETSTAT, so the rows of a round run
// within a second of each other; a row's time per call is the median over
// the rounds, its ratio to the floor the median of its time per call over
// the floor's in the same round: a server whose speed drifts during the
// run (by more than the margin the target leaves) does not tilt it.
//
// The rounds run on rs, the run's serial store, whose client never has two
// calls in flight: rueidis then makes each call on the caller's goroutine,
// while on a connection that once pipelined every call goes through two
// goroutines of rueidis's, whose CPU a host of few cores takes from the
// server mid-call, in the server time measured.
func (b *bench) floorPairs(rs *redisBench) error {
	ctx := context.Background()
	all := redisRows() // INCRBY, the floor and the algorithms' scripts
	perCall := map[string][]float64{}
	rounds, calls := pairedRounds(b.c.count), pairedCalls(b.c.redisN)
	for round := range rounds {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] floor round %d/%d: %d calls of each row ... ", b.done, b.total, round+1, rounds, calls)
		for i := range all {
			row := all[(i+round)%len(all)]
			s, err := rs.subject(row)
			if err != nil {
				return err
			}
			for range calls / 10 { // warm-up: the script cached, the key written
				if _, err := s.decide(ctx, oneKey[0]); err != nil {
					return fmt.Errorf("floor round %s: %w", row, err)
				}
			}
			if err := rs.resetStats(); err != nil {
				return err
			}
			for range calls {
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
				return fmt.Errorf("floor round %s: the server counted no %s", row, strings.ToUpper(st.Command))
			}
			perCall[row] = append(perCall[row], float64(st.usec)/float64(st.Calls))
		}
		fmt.Fprintf(b.progress, "floor %.2f µs/call\n", perCall[rowFloor][round])
	}
	for _, row := range all {
		st := b.server[row]
		if st == nil {
			continue
		}
		st.PairedUSecPerCall = medianFloat(perCall[row])
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
