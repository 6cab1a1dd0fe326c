package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

var _ store.Batcher[string] = (*Store)(nil)

// DecideBatch implements store.Batcher: it decides reqs at one time (one
// clock read), taking each shard's lock once, in input order within a
// shard (so requests for one key are decided in input order).
func (t *Table[K]) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[K], out, each []algo.Decision, errs []error) {
	if err := check(ctx, ps, 0, nil); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	n := len(ps)
	if err := storeutil.CheckEach(each, len(reqs)*n); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	now := t.store.now()
	if err := storeutil.CheckTime(now); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	type item struct {
		shard uint64
		hash  uint64
		index int
	}
	order := make([]item, 0, len(reqs))
	for i, r := range reqs {
		if errs[i] = storeutil.CheckCost(r.Cost); errs[i] == nil {
			h := t.hash(r.Key)
			order = append(order, item{h & t.mask, h, i})
		}
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
		sh.lock()
		for _, it := range order[start:end] {
			var e []algo.Decision
			if each != nil {
				e = each[it.index*n : (it.index+1)*n]
			}
			out[it.index] = sh.decide(t.store, reqs[it.index].Key, it.hash, ps, reqs[it.index].Cost, now, e)
		}
		sh.mu.Unlock()
		start = end
	}
}

// DecideBatch implements store.Batcher for the store's string keys; an
// empty key fails its request.
func (s *Store) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[string], out, each []algo.Decision, errs []error) {
	// What the requests share first: a done ctx, bad policies or a bad each
	// fail them all, before Subset sizes each for the requests it keeps.
	if err := check(ctx, ps, 0, nil); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	if err := storeutil.CheckEach(each, len(reqs)*len(ps)); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	storeutil.Subset(reqs, out, each, len(ps), errs, func(i int) error { return storeutil.CheckKey(reqs[i].Key) },
		func(reqs []store.Request[string], out, each []algo.Decision, errs []error) {
			s.strings.DecideBatch(ctx, ps, reqs, out, each, errs)
		})
}
