package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

// incrKey is the key of the Redis baseline's INCRBY.
const incrKey = "throttled-bench:incrby"

// redisBench holds the Redis store of a run and the client it owns, and
// the serial one: a second store, on a client of its own, for the cells
// and rounds that make one call at a time.
type redisBench struct {
	c       *config
	store   *redisstore.Store
	client  rueidis.Client
	version string
	nets    []*batchNet // the batch table's networks
	serial  *redisBench // nil in the serial one itself
}

// openRedis connects with redisstore.FromURL, twice: the parallel cells,
// the batches and the statistics commands use the first store, the serial
// cells and the paired floor rounds the second (its serial field). Each
// cell's INCRBY baseline uses the same store's client as its algorithms,
// so both sides of every ratio share one connection pool and one set of
// client options.
//
// The serial store's client never has two calls in flight, so every serial
// row gets the same path through rueidis: a connection that has once
// pipelined (as the parallel cells make it) sends every later call through
// two goroutines of its own, which on a host of few cores cost a serial
// call 10–50% (the baseline, measured first, had the direct path to
// itself when the cells shared one client).
func openRedis(c *config) (*redisBench, error) {
	r, err := openRedisOne(c)
	if err != nil {
		return nil, err
	}
	if r.serial, err = openRedisOne(c); err != nil {
		r.store.Close()
		return nil, err
	}
	return r, nil
}

// openRedisOne connects one store with redisstore.FromURL.
func openRedisOne(c *config) (*redisBench, error) {
	s, err := redisstore.FromURL(c.redisURL)
	if err != nil {
		return nil, err
	}
	r := &redisBench{c: c, store: s, client: s.Client()}
	info, err := r.info("server")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("INFO server: %w", err)
	}
	r.version = infoField(info, "redis_version")
	return r, nil
}

func (r *redisBench) info(section string) (string, error) {
	ctx := context.Background()
	return r.client.Do(ctx, r.client.B().Info().Section(section).Build()).ToString()
}

// infoField returns the value of field in an INFO reply, or "".
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// subject returns row's subject on a fresh key: the key's state is deleted
// first, so every cell starts from the same state.
func (r *redisBench) subject(row string) (subject, error) {
	ctx := context.Background()
	if row == rowBaseline {
		if err := r.client.Do(ctx, r.client.B().Del().Key(incrKey).Build()).Error(); err != nil {
			return subject{}, err
		}
		return subject{
			decide: func(ctx context.Context, _ string) (bool, error) {
				return false, r.client.Do(ctx, r.client.B().Incrby().Key(incrKey).Increment(1).Build()).Error()
			},
			close: func() {},
		}, nil
	}
	if row == rowFloor {
		return r.floorSubject()
	}
	a, err := throttled.ParseAlgorithm(row)
	if err != nil {
		return subject{}, err
	}
	p, err := store.NewPolicy(r.c.quota.WithAlgorithm(a))
	if err != nil {
		return subject{}, err
	}
	if err := r.store.Reset(ctx, oneKey[0], []*store.Policy{p}); err != nil {
		return subject{}, err
	}
	d, err := decider(r.c, row, r.store)
	if err != nil {
		return subject{}, err
	}
	return subject{decide: d, close: func() {}}, nil
}

// collectGarbage runs a full cycle of the server's Lua collector (an EVAL,
// which the statistics of EVALSHA do not count), so that no cell pays for
// the garbage of the cells before it: the coalesced calls of a parallel
// cell leave more than the serial calls of the next row make.
func (r *redisBench) collectGarbage() error {
	return r.client.Do(context.Background(), r.client.B().Eval().Script("collectgarbage('collect') return 0").Numkeys(0).Build()).Error()
}

// resetStats zeroes the server's command statistics.
func (r *redisBench) resetStats() error {
	return r.client.Do(context.Background(), r.client.B().ConfigResetstat().Build()).Error()
}

// stats reads the server time per call of row's command since resetStats:
// INCRBY for the baseline, EVALSHA for the floor and the algorithms.
func (r *redisBench) stats(row string) (serverStat, error) {
	info, err := r.info("commandstats")
	if err != nil {
		return serverStat{}, fmt.Errorf("INFO commandstats: %w", err)
	}
	st := serverStat{Row: row, Command: "evalsha"}
	if row == rowBaseline {
		st.Command = "incrby"
	}
	st.Calls, st.usec, st.USecPerCall = cmdstat(info, st.Command)
	if row != rowBaseline {
		// rueidis falls back to EVAL when the script is not cached yet.
		st.EvalCalls, _, _ = cmdstat(info, "eval")
	}
	return st, nil
}

// cmdstat parses "cmdstat_<cmd>:calls=N,usec=U,usec_per_call=F,..." out of
// an INFO commandstats reply; zeros when the command was not called.
func cmdstat(info, cmd string) (calls, usec int64, perCall float64) {
	v := infoField(info, "cmdstat_"+cmd)
	for kv := range strings.SplitSeq(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "calls":
			calls, _ = strconv.ParseInt(val, 10, 64)
		case "usec":
			usec, _ = strconv.ParseInt(val, 10, 64)
		case "usec_per_call":
			perCall, _ = strconv.ParseFloat(val, 64)
		}
	}
	return calls, usec, perCall
}

// close deletes the keys the run wrote and closes the client.
func (r *redisBench) close() {
	ctx := context.Background()
	keys := []string{incrKey, floorKey}
	for _, row := range rows()[1:] {
		if a, err := throttled.ParseAlgorithm(row); err == nil {
			if p, err := store.NewPolicy(r.c.quota.WithAlgorithm(a)); err == nil {
				keys = append(keys, r.store.Key(oneKey[0], p))
			}
		}
	}
	keys = append(keys, r.batchStoreKeys()...)
	dels := make(rueidis.Commands, len(keys))
	for i, k := range keys { // one DEL per key: keys may live in different cluster slots
		dels[i] = r.client.B().Del().Key(k).Build()
	}
	r.client.DoMulti(ctx, dels...)
	for _, n := range r.nets {
		n.close()
	}
	r.store.Close()
	if r.serial != nil {
		r.serial.store.Close()
	}
}
