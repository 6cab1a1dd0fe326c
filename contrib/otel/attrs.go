package throttledotel

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/typed"
)

// result is throttled.result.
type result uint8

const (
	resultAllowed result = iota
	resultDenied
	resultError
)

func (r result) String() string {
	switch r {
	case resultDenied:
		return "denied"
	case resultError:
		return "error"
	}
	return "allowed"
}

// errorType is error.type.
type errorType uint8

const (
	errNone errorType = iota
	errInvalid
	errUnavailable
	errScript
	errCanceled
	errOther
)

func (e errorType) String() string {
	switch e {
	case errInvalid:
		return "invalid"
	case errUnavailable:
		return "unavailable"
	case errScript:
		return "script"
	case errCanceled:
		return "canceled"
	case errOther:
		return "_OTHER"
	}
	return ""
}

// class is what a decision's attributes depend on, besides its quota.
type class struct {
	store   string
	result  result
	source  typed.Source
	errType errorType
	peek    bool
}

// cacheKey identifies a decision's attribute set.
type cacheKey struct {
	class
	quota    algo.Quota // the binding quota, with its algorithm; zero if none
	hasQuota bool
	alg      algo.Algorithm
}

// entry is an attribute set ready to record with: the options are built
// once, because metric.WithAttributeSet allocates.
type entry struct {
	kvs []attribute.KeyValue // sorted, for spans and the key attribute
	add []metric.AddOption
	rec []metric.RecordOption
}

// maxCacheEntries bounds an attrCache. A limiter has a few dozen classes
// per quota; a quota function returning ever new quotas would pass it, and
// then each new set is built per decision rather than kept.
const maxCacheEntries = 1024

// attrCache maps decision classes to their attribute sets. Reads are lock
// free (a copy-on-write map behind an atomic pointer); a miss builds the
// set and publishes a new map.
type attrCache struct {
	base []attribute.KeyValue // constant attributes
	m    atomic.Pointer[map[cacheKey]*entry]
	mu   sync.Mutex // serializes publishers
}

// get returns the attribute set of a decision of class cl bound by qs[qi]
// (qi -1: by no quota).
func (a *attrCache) get(cl class, qs []algo.Quota, qi int) *entry {
	k := cacheKey{class: cl}
	switch {
	case qi >= 0:
		k.quota, k.hasQuota, k.alg = qs[qi], true, qs[qi].Algorithm
	case len(qs) > 0:
		k.alg = qs[0].Algorithm
	}
	if m := a.m.Load(); m != nil {
		if e, ok := (*m)[k]; ok {
			return e
		}
	}
	e := a.build(k)
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.m.Load()
	if old != nil {
		if e, ok := (*old)[k]; ok { // another goroutine was first
			return e
		}
		if len(*old) >= maxCacheEntries {
			return e
		}
	}
	m := make(map[cacheKey]*entry, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[k] = e
	a.m.Store(&m)
	return e
}

func lenOf(m *map[cacheKey]*entry) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// build makes k's attribute set.
func (a *attrCache) build(k cacheKey) *entry {
	kvs := append([]attribute.KeyValue(nil), a.base...)
	kvs = append(kvs,
		AttrStore.String(k.store),
		AttrResult.String(k.result.String()),
		AttrOperation.String(operation(k.peek)),
	)
	if k.alg.Valid() {
		kvs = append(kvs, AttrAlgorithm.String(k.alg.String()))
	}
	if k.result == resultError {
		kvs = append(kvs, AttrErrorType.String(k.errType.String()))
	} else {
		kvs = append(kvs, AttrSource.String(k.source.String()))
	}
	if k.hasQuota {
		kvs = append(kvs, AttrQuota.String(QuotaLabel(k.quota)))
	}
	set := attribute.NewSet(kvs...)
	opt := metric.WithAttributeSet(set)
	return &entry{kvs: set.ToSlice(), add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
}

func operation(peek bool) string {
	if peek {
		return "peek"
	}
	return "limit"
}

// QuotaLabel returns the value of throttled.quota for q: its Name, or,
// when it has none, its rate and burst as algo.Quota.String writes them
// ("10/s", "100/s burst 200").
func QuotaLabel(q algo.Quota) string {
	if q.Name != "" {
		return q.Name
	}
	return q.String()
}
