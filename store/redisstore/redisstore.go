package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

// DefaultPrefix is the default prefix of every key the store writes. Its
// version changes with the layout of keys and states; keys of an older
// layout are never read and simply expire.
const DefaultPrefix = "throttled:v3:"

// ttlHeadroom is how much longer than it must a key's TTL is set when the
// script, on the server's clock, has to lengthen it: later writes to the key
// within the headroom keep the TTL (SET KEEPTTL), which costs Redis about a
// third less than setting one (SET PX). A key therefore lives at least
// ⌈ResetAfter⌉ ms (plus the slack) after each write, and at most one
// headroom (and a millisecond of rounding) longer. With WithClock every
// write sets the TTL exactly, as the server cannot relate the caller's time
// to its own.
const ttlHeadroom = time.Second

// DefaultTimeout is how long a call waits for Redis by default (see
// WithTimeout).
const DefaultTimeout = 200 * time.Millisecond

// Store is a Redis store. Build it with New or FromURL; the zero Store is
// not usable. It is safe for concurrent use.
type Store struct {
	client  rueidis.Client
	owned   bool        // the client was made by FromURL and is closed by Close
	closed  atomic.Bool // Close closed the owned client
	prefix  string
	clock   store.Clock                      // nil: the server's TIME
	slack   int64                            // ms added to every TTL
	timeout time.Duration                    // bounds every call; 0: only the caller's ctx does
	script  *rueidis.Lua                     // lua/throttled.lua
	singles [len(singleScripts)]*rueidis.Lua // lua/<algorithm>.lua, by algorithm: a single decision

	coalesce int       // most decisions per coalesced call; 0: no coalescing
	co       coalescer // the groups of concurrent decisions (coalesce.go)
}

// Option configures a Store.
type Option func(*Store) error

// WithPrefix sets the prefix of every key (default DefaultPrefix): where in
// the keyspace the store writes, for instance to keep two applications
// apart on one server. It must not be empty nor hold '{' or '}', which
// would change the keys' Cluster hash tag.
func WithPrefix(p string) Option {
	return func(s *Store) error {
		if p == "" || strings.ContainsAny(p, "{}") {
			return &algo.DataError{Name: "prefix", Value: p, Reason: "must be non-empty and hold no '{' or '}'"}
		}
		s.prefix = p
		return nil
	}
}

// WithClock makes the store pass c's time to the script instead of using
// the server's TIME (the default, one clock for every host), for tests and
// for Redis-compatible servers without TIME in scripts. A limiter's Wait
// then sleeps on c too.
func WithClock(c store.Clock) Option {
	return func(s *Store) error {
		if storeutil.IsNil(c) {
			return &algo.DataError{Name: "clock", Value: "nil", Reason: "WithClock needs a clock (leave it out for the server's time)"}
		}
		s.clock = c
		return nil
	}
}

// WithTTLSlack adds d (rounded up to whole milliseconds, at most an hour)
// to every key's TTL (default 0). Useful with WithClock when the injected
// clock may run slower than the server's, so keys do not expire before
// their state resets.
func WithTTLSlack(d time.Duration) Option {
	return func(s *Store) error {
		if d < 0 || d > time.Hour {
			return &algo.DataError{Name: "TTL slack", Value: d, Reason: "must be 0 to 1h"}
		}
		s.slack = int64((d + time.Millisecond - 1) / time.Millisecond)
		return nil
	}
}

// WithTimeout bounds how long each call (a decision, a batch, a Reset)
// waits for Redis (default DefaultTimeout, 200 ms): past it the call fails
// with store.ErrUnavailable, so a hung server costs a caller at most d
// (rounded up to the millisecond: the calls whose deadlines fall in one
// millisecond share one timer). A caller's ctx deadline that comes sooner
// still wins. 0 leaves only the ctx to bound the call; d must not be
// negative or above a minute. A call that times out may still have been
// decided on the server.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) error {
		if d < 0 || d > time.Minute {
			return &algo.DataError{Name: "timeout", Value: d, Reason: "must be 0 to 1m"}
		}
		s.timeout = d
		return nil
	}
}

// New returns a Store on client (standalone, Sentinel or Cluster). The
// caller keeps ownership of client: Close does not close it. A bad option
// gives a *algo.DataError naming it.
func New(client rueidis.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, &algo.DataError{Name: "client", Value: "nil", Reason: "a rueidis.Client is required"}
	}
	s := &Store{client: client, prefix: DefaultPrefix, timeout: DefaultTimeout, coalesce: DefaultCoalescing, script: rueidis.NewLuaScript(scriptSource)}
	for a, sc := range singleScripts {
		if sc.source != "" {
			s.singles[a] = rueidis.NewLuaScript(sc.source)
		}
	}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// FromURL connects to Redis and returns a Store that owns the connection
// (Close closes it). The URL forms are rueidis's:
//
//	redis://[user:password@]host:port[/db]           standalone
//	rediss://...                                     TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N] Unix socket
//	redis://host1:port?addr=host2:port&addr=host3:port  Cluster (detected)
//	redis://sentinel:port?master_set=mymaster        Sentinel (the address of a Sentinel)
func FromURL(url string, opts ...Option) (*Store, error) {
	co, err := rueidis.ParseURL(url)
	if err != nil {
		// A *url.Error quotes the whole URL, password included: keep only
		// its cause, and name the URL with the password redacted.
		reason := err.Error()
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			reason = ue.Err.Error()
		}
		return nil, &algo.DataError{Name: "Redis URL", Value: redactURL(url), Reason: reason}
	}
	probe := &Store{timeout: DefaultTimeout}
	for _, o := range opts {
		if o != nil {
			if err := o(probe); err != nil {
				return nil, err
			}
		}
	}
	// A client of its own fails fast: connections are dialled and found
	// dead within about the call timeout, not rueidis's defaults of 5 s and
	// 10 s, and no command is retried behind the caller's back.
	if probe.timeout > 0 {
		co.Dialer.Timeout = max(probe.timeout, 100*time.Millisecond)
		co.ConnWriteTimeout = max(probe.timeout, time.Second)
	}
	co.DisableRetry = true
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", store.ErrUnavailable, redactURL(url), err)
	}
	s, err := New(client, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "***" + u[at:]
		}
	}
	return u
}

// Client returns the store's rueidis client.
func (s *Store) Client() rueidis.Client { return s.client }

// Close closes the client if FromURL made it; every later call then fails
// with store.ErrUnavailable. Close is idempotent.
func (s *Store) Close() error {
	if s.owned && s.closed.CompareAndSwap(false, true) {
		s.client.Close()
	}
	return nil
}

// errIfClosed fails calls on a store whose owned client was closed. It is
// needed, not just tidy: rueidis's cluster client (v1.0.79) closes its node
// connections in background goroutines and dials lazily, so a call made
// just after Close can reopen a connection to a node, which then stays open
// and keeps serving that node's keys for good.
func (s *Store) errIfClosed() error {
	if s.closed.Load() {
		return fmt.Errorf("%w: the store was closed: %w", store.ErrUnavailable, rueidis.ErrClosing)
	}
	return nil
}

// Name returns "redis", the store's name in hooks and metrics.
func (s *Store) Name() string { return "redis" }

// Clock returns the clock given by WithClock, or nil when the store
// decides on the server's time (store.Clocked).
func (s *Store) Clock() store.Clock { return s.clock }

// Key returns the Redis key holding key's state under policy p:
// prefix + p.Key() + ":{" + key + "}". The braces make the user key the
// Cluster hash tag, so all of a key's policies live in one slot. A key
// that starts with '}' would make an empty tag, which Redis ignores (each
// policy's key would hash whole, to slots of its own): it is written
// prefix + p.Key() + ":!{=" + key + "}" instead, whose tag is "=" for
// every such key. The two forms never name the same key.
func (s *Store) Key(key string, p *store.Policy) string {
	if strings.HasPrefix(key, "}") {
		return s.prefix + p.Key() + ":!{=" + key + "}"
	}
	return s.prefix + p.Key() + ":{" + key + "}" // one allocation, as appendKey would need two
}

// appendKey appends Key(key, p) to b, for a batch that builds all its keys
// in one buffer (TestKeyNames holds the two to one layout).
func (s *Store) appendKey(b []byte, key string, p *store.Policy) []byte {
	open := ":{"
	if strings.HasPrefix(key, "}") {
		open = ":!{="
	}
	return append(append(append(append(append(b, s.prefix...), p.Key()...), open...), key...), '}')
}

// Decide implements store.Store with one script call, which it shares
// with concurrent calls under the same policies unless coalescing is off
// (WithCoalescing(0)).
func (s *Store) Decide(ctx context.Context, key string, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	if err := check(ctx, ps, each); err != nil {
		return algo.Decision{}, err
	}
	if err := checkRequest(key, cost); err != nil {
		return algo.Decision{}, err
	}
	var keyArray [store.MaxPolicies]string
	keys := keyArray[:len(ps)]
	for j, p := range ps {
		keys[j] = s.Key(key, p)
	}
	var dsArray [store.MaxPolicies]algo.Decision
	ds := dsArray[:len(ps)]
	var err error
	if s.coalesce > 0 {
		err = s.decideCoalesced(ctx, keys, ps, cost, ds)
	} else {
		err = s.decideAlone(ctx, keys, ps, cost, ds)
	}
	if err != nil {
		return algo.Decision{}, err
	}
	if each != nil {
		copy(each, ds)
	}
	return storeutil.Combine(ds), nil
}

// decideAlone decides one request (keys: its Redis keys, one per policy of
// ps) into ds with a script call of its own, bounded by ctx and the
// store's timeout: under one policy its algorithm's script
// (lua/<algorithm>.lua), which costs Redis less, else throttled.lua.
func (s *Store) decideAlone(ctx context.Context, keys []string, ps []*store.Policy, cost int64, ds []algo.Decision) error {
	script, args, err := s.scriptCall(ps, cost)
	if err != nil {
		return err
	}
	ctx, b := s.bound(ctx)
	reply := script.Exec(ctx, s.client, keys, []string{string(args)})
	b.release()
	var errs [1]error
	if err := decodeReply(reply, keys, ps, ds, errs[:]); err != nil {
		return err
	}
	return errs[0]
}

// check validates the inputs a call shares, ctx first.
func check(ctx context.Context, ps []*store.Policy, each []algo.Decision) error {
	if err := storeutil.CheckContext(ctx); err != nil {
		return err
	}
	if err := storeutil.CheckPolicies(ps); err != nil {
		return err
	}
	return storeutil.CheckEach(each, len(ps))
}

// checkRequest validates one request's key and cost.
func checkRequest(key string, cost int64) error {
	if err := storeutil.CheckKey(key); err != nil {
		return err
	}
	return storeutil.CheckCost(cost)
}

// scriptCall returns the script that decides one request of cost under
// ps, and its ARGV[1].
func (s *Store) scriptCall(ps []*store.Policy, cost int64) (*rueidis.Lua, []byte, error) {
	if len(ps) > 1 {
		head, err := s.argsHead(ps)
		return s.script, appendNumbers(head, cost), err
	}
	now, err := s.scriptTime()
	if err != nil {
		return nil, nil, err
	}
	p := ps[0].Params()
	b := appendNumbers(make([]byte, 0, 8*(4+paramSlots)), now, s.slack, ttlHeadroom.Milliseconds())
	return s.singles[p.Algorithm], appendNumbers(appendParams(b, p), cost), nil
}

// scriptTime returns the time a script call passes: the store's clock's,
// or -1 for the server's TIME; and whether the store is closed, as every
// script call checks.
func (s *Store) scriptTime() (int64, error) {
	if err := s.errIfClosed(); err != nil {
		return 0, err
	}
	if s.clock == nil {
		return -1, nil
	}
	now := s.clock.Now()
	return now, storeutil.CheckTime(now)
}

// argsHead encodes the head of a script call's ARGV[1]: the time, the TTL
// slack and headroom, and the policies; the costs, one per request, follow.
func (s *Store) argsHead(ps []*store.Policy) ([]byte, error) {
	now, err := s.scriptTime()
	if err != nil {
		return nil, err
	}
	b := appendNumbers(make([]byte, 0, 8*(5+(1+paramSlots)*len(ps))), now, s.slack, ttlHeadroom.Milliseconds(), int64(len(ps)))
	for _, p := range ps {
		b = appendPolicy(b, p.Params())
	}
	return b, nil
}

// Reset implements store.Store: it deletes key's state under every policy
// of ps.
func (s *Store) Reset(ctx context.Context, key string, ps []*store.Policy) error {
	if err := check(ctx, ps, nil); err != nil {
		return err
	}
	if err := storeutil.CheckKey(key); err != nil {
		return err
	}
	if err := s.errIfClosed(); err != nil {
		return err
	}
	keys := make([]string, len(ps))
	for j, p := range ps {
		keys[j] = s.Key(key, p)
	}
	ctx, b := s.bound(ctx)
	defer b.release()
	if err := s.client.Do(ctx, s.client.B().Del().Key(keys...).Build()).Error(); err != nil {
		return classify(err, "DEL", callName(keys))
	}
	return nil
}

var (
	_ store.Store[string] = (*Store)(nil)
	_ store.Clocked       = (*Store)(nil)
)

// Reply statuses of a request, as the script reports them.
const (
	statusDecided = 0
	statusCorrupt = 1 // a key holds bytes that are not a state
	statusForeign = 2 // a key holds a value of another type
)

// decodeReply checks a script reply defensively and decodes it for a call
// of len(errs) requests under the policies ps each (keys in request
// order): the decisions into ds (len(ps) per request) and each request's
// own failure into errs. It returns the error of the call as a whole.
func decodeReply(reply rueidis.RedisResult, keys []string, ps []*store.Policy, ds []algo.Decision, errs []error) error {
	npol := len(ps)
	per := 2 + decisionFields*npol // float64s per request
	if err := reply.Error(); err != nil {
		if rueidis.IsRedisNil(err) { // a nil reply is malformed, not a failure to reach the store
			return fmt.Errorf("%w: %s: reply is nil, want a string of %d float64s", store.ErrScript, callName(keys), per*len(errs))
		}
		return classify(err, "EVALSHA", callName(keys))
	}
	msg, _ := reply.ToMessage() // no error: reply.Error() was nil
	if msg.IsInt64() {
		n, _ := msg.AsInt64()
		return decodeAllowed(n, keys, ps, ds, errs)
	}
	raw, err := msg.ToString()
	if err != nil || len(raw) != 8*per*len(errs) {
		return fmt.Errorf("%w: %s: reply is not a string of %d float64s: %v", store.ErrScript, callName(keys), per*len(errs), reply)
	}
	for i := range errs {
		at := i * per
		status, fault, err := integerAt(raw, at), integerAt(raw, at+1), error(nil)
		switch {
		case status == statusDecided && fault == 0:
		case (status == statusCorrupt || status == statusForeign) && fault >= 1 && fault <= int64(npol):
			key := storeutil.ShortKey(keys[i*npol+int(fault)-1])
			if status == statusCorrupt {
				errs[i] = fmt.Errorf("%w: corrupt state in %s", store.ErrScript, key)
			} else {
				errs[i] = fmt.Errorf("%w: WRONGTYPE %s holds a value that is not a rate-limit state", store.ErrScript, key)
			}
			continue
		default:
			return fmt.Errorf("%w: %s: reply has status %v of request %d (policy %v), want 0 to 2", store.ErrScript, callName(keys), float64At(raw, at), i, float64At(raw, at+1))
		}
		for j := range npol {
			var v [decisionFields]int64
			for k := range v {
				n := at + 2 + j*decisionFields + k
				if v[k], err = checkedInteger(raw, n); err != nil {
					return fmt.Errorf("%w: %s: %w", store.ErrScript, callName(keys), err)
				}
			}
			if v[0] != 0 && v[0] != 1 {
				return fmt.Errorf("%w: %s: reply field %d (limited) is %d, want 0 or 1", store.ErrScript, callName(keys), at+2+j*decisionFields, v[0])
			}
			ds[i*npol+j] = decisionFromReply(v)
		}
	}
	return nil
}

// decodeAllowed decodes the integer reply n of a call: a single-decision
// script's reply to one request under one policy that it allowed,
// ResetAfter·radix + Remaining (replyRadix). Any other call, or a value
// out of [0, 2^53), is a malformed reply.
func decodeAllowed(n int64, keys []string, ps []*store.Policy, ds []algo.Decision, errs []error) error {
	var radix int64
	if len(ps) == 1 && len(errs) == 1 {
		radix = replyRadix(ps[0].Params())
	}
	switch {
	case radix == 0:
		return fmt.Errorf("%w: %s: reply is the integer %d, which answers only a single decision under one policy of a bounded algorithm", store.ErrScript, callName(keys), n)
	case n < 0 || n >= 1<<53:
		return fmt.Errorf("%w: %s: reply is the integer %d, want one in [0, 2^53)", store.ErrScript, callName(keys), n)
	}
	ds[0] = algo.Decision{Remaining: n % radix, ResetAfter: n / radix}
	return nil
}

// checkedInteger decodes the n-th float64 of raw, which must be an integer
// within ±2^53.
func checkedInteger(raw string, n int) (int64, error) {
	f := float64At(raw, n)
	if !(f >= -1<<53 && f <= 1<<53 && f == math.Trunc(f)) {
		return 0, fmt.Errorf("reply field %d is %v, not an integer", n, f)
	}
	return int64(f), nil
}

// integerAt decodes the n-th float64 of raw as an integer, -1 when it is
// not a small whole number.
func integerAt(raw string, n int) int64 {
	f := float64At(raw, n)
	if f >= 0 && f <= 1<<20 && f == math.Trunc(f) {
		return int64(f)
	}
	return -1
}

// callName names a script call's keys in an error: the first, shortened,
// and how many more.
func callName(keys []string) string {
	if len(keys) > 1 {
		return storeutil.ShortKey(keys[0]) + " and " + strconv.Itoa(len(keys)-1) + " more"
	}
	return storeutil.ShortKey(keys[0])
}

// classify wraps a client error as unavailable or as a script error. A
// syntax error is what a server older than Redis 6.0 replies to the
// script's SET KEEPTTL; the error says so.
func classify(err error, op, key string) error {
	if re, ok := rueidis.IsRedisErr(err); ok && !re.IsNil() && !transient(re) {
		if strings.Contains(re.Error(), "syntax error") {
			return fmt.Errorf("%w: %s %s: %w (the script's SET KEEPTTL needs Redis 6.0 or later)", store.ErrScript, op, key, err)
		}
		return fmt.Errorf("%w: %s %s: %w", store.ErrScript, op, key, err)
	}
	return fmt.Errorf("%w: %s %s: %w", store.ErrUnavailable, op, key, err)
}

// transient reports Redis error replies that mean "not now" rather than "wrong".
func transient(re *rueidis.RedisError) bool {
	if re.IsClusterDown() || re.IsLoading() || re.IsTryAgain() {
		return true
	}
	msg := re.Error()
	for _, p := range []string{"MASTERDOWN", "READONLY", "NOREPLICAS", "BUSY ", "NOQUORUM", "UNBLOCKED", "OOM "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
