package typed

import (
	"context"
	"fmt"
	"sync"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// compile turns quotas into policies, giving the ones without an algorithm
// alg. It refuses an empty or too long list, a bad quota (naming it), and
// two quotas that would keep the same state.
func compile(alg algo.Algorithm, qs []algo.Quota) ([]*store.Policy, error) {
	if len(qs) == 0 || len(qs) > store.MaxPolicies {
		return nil, &algo.DataError{Name: "number of quotas", Value: len(qs), Reason: fmt.Sprintf("must be 1 to %d", store.MaxPolicies)}
	}
	ps := make([]*store.Policy, len(qs))
	for i, q := range qs {
		if q.Algorithm == 0 {
			q.Algorithm = alg
		}
		p, err := store.NewPolicy(q)
		if err != nil {
			if len(qs) > 1 {
				return nil, fmt.Errorf("quota %d (%v): %w", i, q, err)
			}
			return nil, err
		}
		for _, o := range ps[:i] {
			if o.Same(p) {
				return nil, &algo.DataError{Name: "quota", Value: p.String(), Reason: fmt.Sprintf("keeps the same state as %v: give it once", o)}
			}
		}
		ps[i] = p
	}
	return ps, nil
}

// maxCachedSets bounds the quota sets a quota function's cache holds; past
// it the cache starts afresh, so a function returning ever new quotas costs
// compiling, not memory.
const maxCachedSets = 4096

// quotaSet is a quota function's answer as a map key.
type quotaSet struct {
	n  int
	qs [store.MaxPolicies]algo.Quota
}

// policyCache maps the quota sets a quota function returns to their
// policies.
type policyCache struct {
	alg algo.Algorithm
	mu  sync.RWMutex
	m   map[quotaSet][]*store.Policy
}

// policies returns the policies of qs, compiled once.
func (c *policyCache) policies(qs []algo.Quota) ([]*store.Policy, error) {
	if len(qs) == 0 || len(qs) > store.MaxPolicies {
		return nil, &algo.DataError{Name: "number of quotas", Value: len(qs), Reason: fmt.Sprintf("the quota func must return 1 to %d", store.MaxPolicies)}
	}
	k := quotaSet{n: len(qs)}
	copy(k.qs[:], qs)
	c.mu.RLock()
	ps, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return ps, nil
	}
	ps, err := compile(c.alg, qs)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSets {
		c.m = map[quotaSet][]*store.Policy{}
	}
	c.m[k] = ps
	c.mu.Unlock()
	return ps, nil
}

// policiesFor returns key's policies: the limiter's, or its quota
// function's.
func (l *Limiter[K]) policiesFor(ctx context.Context, key K) ([]*store.Policy, error) {
	if l.quotaFunc == nil {
		return l.policies, nil
	}
	qs, err := l.quotaFunc(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("throttled: quota func: %w", err)
	}
	return l.cache.policies(qs)
}
