package typed

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// policySet is the compiled form of a key's quotas: the store's policies
// and, with FallBack, the local store's (scaled) ones.
type policySet struct {
	ps          []*store.Policy
	local       []*store.Policy // nil without FallBack
	quotas      []algo.Quota    // the ps' quotas, for hooks and Results
	localQuotas []algo.Quota    // the local ones'
}

// compile turns quotas into policies, giving the ones without an algorithm
// alg. It refuses an empty or too long list, a bad quota (naming it), and
// two quotas that would keep the same state.
func compile(alg algo.Algorithm, qs []algo.Quota, outage OutagePolicy) (*policySet, error) {
	if len(qs) == 0 || len(qs) > store.MaxPolicies {
		return nil, &algo.DataError{Name: "number of quotas", Value: len(qs), Reason: fmt.Sprintf("must be 1 to %d", store.MaxPolicies)}
	}
	set := &policySet{ps: make([]*store.Policy, len(qs)), quotas: make([]algo.Quota, len(qs))}
	if outage.mode == fallBack {
		set.local, set.localQuotas = make([]*store.Policy, len(qs)), make([]algo.Quota, len(qs))
	}
	for i, q := range qs {
		if q.Algorithm == 0 {
			q.Algorithm = alg
		}
		p, err := store.NewPolicy(q)
		if err != nil {
			return nil, quotaError(err, i, qs, q)
		}
		for _, o := range set.ps[:i] {
			if o.Same(p) {
				return nil, &algo.DataError{Name: "quota", Value: p.String(), Reason: fmt.Sprintf("keeps the same state as %v: give it once", o)}
			}
		}
		set.ps[i], set.quotas[i] = p, p.Quota()
		if set.local != nil {
			if set.local[i], err = store.NewPolicy(outage.scaled(q)); err != nil {
				return nil, quotaError(err, i, qs, outage.scaled(q))
			}
			set.localQuotas[i] = set.local[i].Quota()
		}
	}
	return set, nil
}

// quotaError says which of several quotas err is about, keeping the
// message's "throttled: invalid ..." form.
func quotaError(err error, i int, qs []algo.Quota, q algo.Quota) error {
	var de *algo.DataError
	if len(qs) == 1 || !errors.As(err, &de) {
		return err
	}
	return &algo.DataError{Name: de.Name, Value: de.Value, Reason: fmt.Sprintf("%s (quota %d of %d: %v)", de.Reason, i+1, len(qs), q)}
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
	alg    algo.Algorithm
	outage OutagePolicy
	mu     sync.RWMutex
	m      map[quotaSet]*policySet
}

// policies returns the policies of qs, compiled once.
func (c *policyCache) policies(qs []algo.Quota) (*policySet, error) {
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
	ps, err := compile(c.alg, qs, c.outage)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSets {
		c.m = map[quotaSet]*policySet{}
	}
	c.m[k] = ps
	c.mu.Unlock()
	return ps, nil
}

// policiesFor returns key's policies: the limiter's, or its quota
// function's.
func (l *Limiter[K]) policiesFor(ctx context.Context, key K) (*policySet, error) {
	if l.quotaFunc == nil {
		return l.set, nil
	}
	qs, err := l.quotaFunc(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("throttled: quota func: %w", err)
	}
	return l.cache.policies(qs)
}
