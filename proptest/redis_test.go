package proptest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"pgregory.net/rapid"

	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

var prefixSeq atomic.Int64

// redisTimeout bounds each call of the tests' Redis stores.
const redisTimeout = 10 * time.Second

// newRedisStore returns a Redis store on c that takes its time from clk and
// writes under a prefix no other store of the process uses, so the checks
// of a rapid run never see each other's keys. The hour of TTL slack keeps
// keys from expiring in real time: only the fake clock says when a key's
// state has run out. Calls may take redisTimeout, far more than the
// store's default, so a loaded machine running the race detector is not
// taken for a hung server; the tests' own deadlines still bound them.
func newRedisStore(t fataler, c rueidis.Client, clk store.Clock) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.WithClock(clk), redisstore.WithTTLSlack(time.Hour), redisstore.WithTimeout(redisTimeout),
		redisstore.WithPrefix("pt:"+strconv.FormatInt(prefixSeq.Add(1), 10)+":"))
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	return s
}

// differential runs the state machine on the memory store and a Redis store
// on one fake clock: every request goes to both, and they must answer
// alike and as the model does. kind is a quota family, or "" for any.
func differential(kind string, c rueidis.Client) func(*testing.T) {
	return rapid.MakeCheck(func(t *rapid.T) {
		m := newMachine(t, drawQuota(t, kind))
		m.backends = append(m.backends, newBackend(t, "redis", newRedisStore(t, c, m.clk), m.qc))
		t.Repeat(m.actions())
	})
}

// TestMemoryRedisStandalone: one random op sequence (Limit, Peek,
// typed.Limiter.LimitAll, Reset, invalid input; the clock stepping
// anywhere, backwards too) applied to the memory store and to the Redis
// store on a real redis-server gives identical results, equal to the exact
// model's, with every invariant of TestMemoryMatchesModel checked. One
// subtest per quota family.
func TestMemoryRedisStandalone(t *testing.T) {
	c := redistest.Client(t, redistest.Standalone(t).Addr())
	for _, kind := range quotaKinds {
		t.Run("quota="+kind, differential(kind, c))
	}
}

// TestMemoryRedisCluster is TestMemoryRedisStandalone on a three-node Redis
// Cluster, the client knowing every node, on quotas of every family.
func TestMemoryRedisCluster(t *testing.T) {
	differential("", redistest.Client(t, redistest.Cluster(t).Addrs()...))(t)
}
