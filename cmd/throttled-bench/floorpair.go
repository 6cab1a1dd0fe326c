package main

import (
	"context"
	"fmt"
	"slices"
)

// pairedBlockCalls is how many serial calls a block of the paired floor
// measurement makes.
const pairedBlockCalls = 100

// pairedBlocks is how many blocks each script makes in a round of the
// paired floor measurement with redisN calls per Redis cell: 30 at the
// default 10,000 (3,000 calls a script a round), at least 1.
func pairedBlocks(redisN int64) int { return int(max(1, 3*redisN/1000)) }

// floorPairs measures each script's server time against the floor's in
// rounds: in every round each script (the floor and each algorithm's)
// makes pairedBlocks blocks of pairedBlockCalls serial calls, one block of
// each script after the other, the order rotating from block to block and
// round to round; a block's server time is read from INFO commandstats
// after CONFIG RESETSTAT. A round's ratio for an algorithm is its time per
// call over the floor's, both summed over the round's blocks; the ratio
// reported is the median over the rounds. The tables' cells compare
// scripts measured minutes apart, on a server whose speed drifts by more
// than the margin the target leaves; a round of one long run per script
// (a thousand calls, 50 ms) still compares scripts under whatever the
// host did in their 50 ms (the rounds' ratios spread from 1.0 to 1.7 for
// a script of 1.2); blocks of 5 ms, interleaved, share the host's states.
func (b *bench) floorPairs(rs *redisBench) error {
	ctx := context.Background()
	scripts := redisRows()[1:] // the floor and the algorithms; not INCRBY
	subjects := make([]subject, len(scripts))
	for i, row := range scripts {
		s, err := rs.subject(row)
		if err != nil {
			return err
		}
		defer s.close()
		for range pairedBlockCalls { // warm-up: the script cached, the key written
			if _, err := s.decide(ctx, oneKey[0]); err != nil {
				return fmt.Errorf("floor rounds %s: %w", row, err)
			}
		}
		subjects[i] = s
	}
	perCall := map[string][]float64{}
	rounds, blocks := 2*b.c.count+1, pairedBlocks(b.c.redisN)
	for round := range rounds {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] floor round %d/%d: %d blocks of %d calls of each script ... ", b.done, b.total, round+1, rounds, blocks, pairedBlockCalls)
		usec, calls := make([]int64, len(scripts)), make([]int64, len(scripts))
		for block := range blocks {
			for k := range scripts {
				i := (k + block + round) % len(scripts)
				if err := rs.resetStats(); err != nil {
					return err
				}
				for range pairedBlockCalls {
					if _, err := subjects[i].decide(ctx, oneKey[0]); err != nil {
						return fmt.Errorf("floor round %s: %w", scripts[i], err)
					}
				}
				st, err := rs.stats(scripts[i])
				if err != nil {
					return err
				}
				if st.Calls == 0 {
					return fmt.Errorf("floor round %s: the server counted no EVALSHA", scripts[i])
				}
				usec[i] += st.usec
				calls[i] += st.Calls
			}
		}
		for i, row := range scripts {
			perCall[row] = append(perCall[row], float64(usec[i])/float64(calls[i]))
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
