package store

import (
	"strconv"
	"time"
	"unique"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/faststep"
)

// MaxPolicies is the most policies one decision may take: a limiter holds
// at most this many quotas.
const MaxPolicies = 8

// Policy is a quota compiled for the stores: an algorithm, a rate and a
// burst, checked and converted to the integer parameters of the step
// functions. A Policy is valid by construction (NewPolicy is the only way
// to build one), immutable and safe for concurrent use; the zero Policy is
// not usable.
//
// A key's state belongs to (policy identity, key): policies with the same
// algorithm, period, limit and burst (burst only for the bucket algorithms,
// which use it) share the state of a key, whatever their names, and any
// other two keep separate states.
type Policy struct {
	params algo.Params
	quota  algo.Quota
	id     PolicyID
	key    string
	fast   *faststep.Params // the step with reciprocals; never nil
}

// PolicyID is a policy's identity as a comparable value: equal for
// policies that share a key's state (see Policy). Its zero value is no
// policy's.
type PolicyID struct{ h unique.Handle[identity] }

// identity is what makes two policies share a key's state.
type identity struct {
	alg    algo.Algorithm
	period time.Duration
	limit  int64
	burst  int64 // 0 for the window algorithms, which ignore it
	// params are compiled from the fields above (so equal identities have
	// equal params): a store holding only a state's PolicyID can still run
	// its step.
	params algo.Params
}

// Params returns the step functions' parameters of the policies with this
// identity (for the window algorithms, which ignore the burst, those of the
// default burst). The memory store weighs a state for eviction with them.
func (id PolicyID) Params() algo.Params { return id.h.Value().params }

// NewPolicy compiles q, whose Algorithm must be set. A bad quota gives a
// *algo.DataError (errors.Is(err, algo.ErrInvalid)) naming the bad value.
func NewPolicy(q algo.Quota) (*Policy, error) {
	if q.Algorithm == 0 {
		return nil, &algo.DataError{Name: "algorithm", Value: "none", Reason: "a policy needs the quota's algorithm"}
	}
	p, err := algo.Compile(q.Algorithm, q)
	if err != nil {
		return nil, err
	}
	id := identity{alg: q.Algorithm, period: q.Period, limit: q.Limit, params: p}
	key := q.Algorithm.String() + ":" + q.Rate.String()
	if q.Algorithm.IsBucket() {
		id.burst = p.Burst
		key += ":b" + strconv.FormatInt(p.Burst, 10)
	} else if id.params, err = algo.Compile(q.Algorithm, algo.Quota{Rate: q.Rate}); err != nil {
		return nil, err // cannot happen: the burst is the only difference, and the windows ignore it
	}
	pol := &Policy{params: p, quota: q, id: PolicyID{unique.Make(id)}, key: key}
	pol.fast = faststep.New(&pol.params)
	return pol, nil
}

// Step runs p's step function on a key's stored state, as a store that
// decides in Go does (the memory store): st holds the state's fields (see
// the algorithm's State type, field by field), fresh means the key has no
// state, and the time now is in µs since the epoch, in [0, algo.MaxTime].
// It returns the decision and, when the request consumed something
// (allowed, cost above 0), stores the new state in *st and returns the
// time at which it expires, now + ResetAfter; otherwise keep is false and
// *st is unchanged. The steps divide by the quota's constants by
// multiplying with reciprocals computed by NewPolicy; their results equal
// the algo step functions' (property tests compare them).
func (p *Policy) Step(st *[3]int64, fresh bool, now, cost int64) (d algo.Decision, expireAt int64, keep bool) {
	return p.fast.Step(st, fresh, now, cost) // small enough to be inlined
}

// Params returns the step functions' parameters. The caller must not
// change them.
func (p *Policy) Params() *algo.Params { return &p.params }

// Quota returns the quota p was compiled from, its name included.
func (p *Policy) Quota() algo.Quota { return p.quota }

// Algorithm returns p's algorithm.
func (p *Policy) Algorithm() algo.Algorithm { return p.params.Algorithm }

// Name returns the quota's name ("" when it has none).
func (p *Policy) Name() string { return p.quota.Name }

// Key returns p's identity as text, such as "gcra:10/s:b20" or
// "fixed_window:10000/d": equal for policies that share state, different
// otherwise. The Redis store builds its keys from it.
func (p *Policy) Key() string { return p.key }

// Same reports whether p and o share a key's state.
func (p *Policy) Same(o *Policy) bool { return p.id == o.id }

// ID returns p's identity as a comparable value: stores use it to find a
// policy's state without comparing text.
func (p *Policy) ID() PolicyID { return p.id }

// Max returns the Limit a state reports: the burst for the bucket
// algorithms, the limit for the windows.
func (p *Policy) Max() int64 { return p.params.Max }

// String returns the quota and algorithm, with the name when there is one,
// such as `"daily" 10000/d fixed_window`.
func (p *Policy) String() string {
	q := p.quota
	if !q.Algorithm.IsBucket() {
		q.Burst = 0 // the windows ignore it
	}
	s := q.String() + " " + p.params.Algorithm.String()
	if p.quota.Name != "" {
		s = `"` + p.quota.Name + `" ` + s
	}
	return s
}
