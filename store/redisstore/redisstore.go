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
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
)

// DefaultPrefix is the default prefix of every key the store writes.
const DefaultPrefix = "throttled:v2:"

// ttlHeadroom is how much longer than it must a key's TTL is set when the
// script, on the server's clock, has to lengthen it: later writes to the key
// within the headroom keep the TTL (SET KEEPTTL), which costs Redis about a
// third less than setting one (SET PX). A key therefore lives at least
// ⌈ResetAfter⌉ ms (plus the slack) after each write, and at most one
// headroom (and a millisecond of rounding) longer. With WithClock every write sets the TTL exactly, as the
// server cannot relate the caller's time to its own.
const ttlHeadroom = time.Second

// script is one algorithm's generated script (see scripts_gen.go).
type script struct {
	name   string
	source string
	args   func(b []byte, p *algo.Params, now, slack, headroom int64) []byte
	fields int // the state's fields; a key stores them and then its expiry
}

// Store is a Redis store. It is safe for concurrent use.
type Store struct {
	client rueidis.Client
	owned  bool        // the client was made by FromURL and is closed by Close
	closed atomic.Bool // Close closed the owned client
	prefix string
	clock  clock.Clock
	slack  int64         // ms added to every TTL
	slackD time.Duration // WithTTLSlack's argument, checked and rounded by New
	lua    [len(scripts)]*rueidis.Lua
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key (default DefaultPrefix).
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithClock makes the store pass c's time to the scripts instead of using
// the server's TIME (the default, one clock for every host).
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// WithTTLSlack adds d (rounded up to whole milliseconds) to every key's TTL
// (default 0). Useful with WithClock when the injected clock may run slower
// than the server's, so keys do not expire before their state resets.
func WithTTLSlack(d time.Duration) Option {
	return func(s *Store) { s.slackD = d }
}

// New returns a Store on client (standalone, Sentinel or Cluster). The
// caller keeps ownership of client: Close does not close it.
func New(client rueidis.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, &algo.DataError{Name: "client", Value: "nil", Reason: "a rueidis.Client is required"}
	}
	s := &Store{client: client, prefix: DefaultPrefix}
	for _, o := range opts {
		o(s)
	}
	if s.slackD < 0 {
		return nil, &algo.DataError{Name: "TTL slack", Value: s.slackD, Reason: "must not be negative"}
	}
	// Round up to whole ms without overflowing near math.MaxInt64.
	s.slack = int64(s.slackD / time.Millisecond)
	if s.slackD%time.Millisecond != 0 {
		s.slack++
	}
	for a, sc := range scripts {
		if sc.source != "" {
			s.lua[a] = rueidis.NewLuaScript(sc.source)
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

// Key returns the Redis key holding key's state for algorithm a.
func (s *Store) Key(key string, a algo.Algorithm) string {
	return s.prefix + a.String() + ":{" + key + "}" // one allocation, as appendKey would need two
}

// appendKey appends Key(key, a) to b, for a batch that builds all its keys
// in one buffer (TestKeyNames holds the two to one layout).
func (s *Store) appendKey(b []byte, key string, a algo.Algorithm) []byte {
	return append(append(append(append(append(b, s.prefix...), a.String()...), ":{"...), key...), '}')
}

// Decide implements store.Store with one script call.
func (s *Store) Decide(ctx context.Context, key string, p *algo.Params, cost int64) (algo.Decision, error) {
	if err := store.CheckParams(p); err != nil {
		return algo.Decision{}, err
	}
	if err := checkRequest(key, cost); err != nil {
		return algo.Decision{}, err
	}
	args, err := s.argsHead(p)
	if err != nil {
		return algo.Decision{}, err
	}
	keys := []string{s.Key(key, p.Algorithm)}
	reply := s.lua[p.Algorithm].Exec(ctx, s.client, keys, []string{string(appendNumbers(args, cost))})
	var d [1]algo.Decision
	if err := decodeReply(reply, keys, d[:]); err != nil {
		return algo.Decision{}, err
	}
	return d[0], nil
}

// checkRequest validates one request's key and cost (the params are
// checked once per call).
func checkRequest(key string, cost int64) error {
	if err := store.CheckKey(key); err != nil {
		return err
	}
	return store.CheckCost(cost)
}

// argsHead encodes the head of a script call's ARGV[1] (the time, the TTL
// slack and headroom, and the params); the costs, one per key, follow.
func (s *Store) argsHead(p *algo.Params) ([]byte, error) {
	if err := s.errIfClosed(); err != nil { // here so that every script call checks it
		return nil, err
	}
	now := int64(-1) // the script reads the server's TIME
	if s.clock != nil {
		now = s.clock.Now()
		if err := store.CheckTime(now); err != nil {
			return nil, err
		}
	}
	return scripts[p.Algorithm].args(make([]byte, 0, 8*8), p, now, s.slack, ttlHeadroom.Milliseconds()), nil
}

// Reset implements store.Store: it deletes key's state for alg.
func (s *Store) Reset(ctx context.Context, key string, alg algo.Algorithm) error {
	if err := store.CheckKey(key); err != nil {
		return err
	}
	if !alg.Valid() {
		return &algo.DataError{Name: "algorithm", Value: alg, Reason: "not one of the five algorithms"}
	}
	if err := s.errIfClosed(); err != nil {
		return err
	}
	k := s.Key(key, alg)
	if err := s.client.Do(ctx, s.client.B().Del().Key(k).Build()).Error(); err != nil {
		return classify(err, "DEL", k)
	}
	return nil
}

var _ store.Store = (*Store)(nil)

// decodeReply checks a script reply defensively and decodes one decision
// per element of out.
func decodeReply(reply rueidis.RedisResult, keys []string, out []algo.Decision) error {
	if err := reply.Error(); err != nil {
		if rueidis.IsRedisNil(err) { // a nil reply is malformed, not a failure to reach the store
			return fmt.Errorf("%w: %s: reply is nil, want a string of %d float64s", store.ErrScript, callName(keys), replyFields*len(out))
		}
		return classify(err, "EVALSHA", callName(keys))
	}
	raw, err := reply.ToString()
	if err != nil || len(raw) != 8*replyFields*len(out) {
		return fmt.Errorf("%w: %s: reply is not a string of %d float64s: %v", store.ErrScript, callName(keys), replyFields*len(out), reply)
	}
	for i := range out {
		var v [replyFields]int64
		for j := range v {
			k := i*replyFields + j
			f := float64At(raw, k)
			if !(f >= -1<<53 && f <= 1<<53 && f == math.Trunc(f)) {
				return fmt.Errorf("%w: %s: reply field %d is %v, not an integer", store.ErrScript, callName(keys), k, f)
			}
			v[j] = int64(f)
		}
		if v[0] != 0 && v[0] != 1 {
			return fmt.Errorf("%w: %s: reply field %d (limited) is %d, want 0 or 1", store.ErrScript, callName(keys), i*replyFields, v[0])
		}
		out[i] = decisionFromReply(v)
	}
	return nil
}

// callName names a script call's keys in an error: the first, and how many
// more.
func callName(keys []string) string {
	if len(keys) > 1 {
		return keys[0] + " and " + strconv.Itoa(len(keys)-1) + " more"
	}
	return keys[0]
}

// classify wraps a client error as unavailable or as a script error.
func classify(err error, op, key string) error {
	if re, ok := rueidis.IsRedisErr(err); ok && !re.IsNil() && !transient(re) {
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
