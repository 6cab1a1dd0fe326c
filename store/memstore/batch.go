package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

var _ store.Batcher[string] = (*Table[string])(nil)

// DecideBatch implements store.Batcher: it decides reqs at one time (one
// clock read), taking each shard's lock once, in input order within a
// shard (so requests for one key are decided in input order).
func (t *Table[K]) DecideBatch(ctx context.Context, p *algo.Params, reqs []store.Request[K], out []algo.Decision, errs []error) {
	if err := store.CheckParams(p); err != nil {
		store.FailAll(errs, err)
		return
	}
	now := t.store.clock.Now()
	if err := store.CheckTime(now); err != nil {
		store.FailAll(errs, err)
		return
	}
	type item struct {
		shard uint64
		index int
	}
	order := make([]item, 0, len(reqs))
	for i, r := range reqs {
		if err := store.CheckCost(r.Cost); err != nil {
			errs[i] = err
			continue
		}
		order = append(order, item{t.shardIndex(r.Key), i})
	}
	slices.SortStableFunc(order, func(a, b item) int { return int(a.shard) - int(b.shard) })
	for start := 0; start < len(order); {
		end := start
		for end < len(order) && order[end].shard == order[start].shard {
			end++
		}
		if err := ctx.Err(); err != nil {
			for _, it := range order[start:] {
				errs[it.index] = fmt.Errorf("%w: batch cancelled before this request: %w", store.ErrUnavailable, err)
			}
			return
		}
		sh := &t.shards[order[start].shard]
		sh.mu.Lock()
		for _, it := range order[start:end] {
			out[it.index] = t.decideLocked(sh, reqs[it.index].Key, p, reqs[it.index].Cost, now)
		}
		sh.mu.Unlock()
		start = end
	}
}

// DecideBatch implements store.Batcher for the store's string keys; an
// empty key fails its request.
func (s *Store) DecideBatch(ctx context.Context, p *algo.Params, reqs []store.Request[string], out []algo.Decision, errs []error) {
	store.Subset(reqs, out, errs, func(i int) error { return store.CheckKey(reqs[i].Key) },
		func(reqs []store.Request[string], out []algo.Decision, errs []error) {
			s.strings.DecideBatch(ctx, p, reqs, out, errs)
		})
}
