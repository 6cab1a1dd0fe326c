package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/latencyproxy"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

// batchAlgorithm is the algorithm of the batch table's limiter:
// throttled-py's default.
const batchAlgorithm = algo.TokenBucket

// Batch table network names, shared by the rows and the JSON.
const (
	netLoopback = "loopback"
	netProxy    = "proxy"
)

// pings is how many PINGs measure a network's round trip.
const pings = 50

// batchNet is one network of the batch table: a limiter on a Redis store
// reached directly or through the latency proxy.
type batchNet struct {
	name  string
	rtt   time.Duration // the round trip the proxy adds; 0 on loopback
	store *redisstore.Store
	owned bool // store was opened for this network (closed by close)
	lim   *throttled.Limiter
	proxy *latencyproxy.Proxy
}

// batchRuns are a network's measurements, one per pass.
type batchRuns struct {
	net      *batchNet
	ping     []time.Duration
	limit    []time.Duration
	limitAll []time.Duration
}

// openBatch prepares the batch table's networks: loopback on the run's
// store, and with -rtt a proxy adding that round trip in front of the same
// server, with a store of its own. A URL the proxy cannot stand in for
// (TLS, Unix socket, Cluster, Sentinel) leaves the proxy row out, and the
// reason is returned as a note.
func (r *redisBench) openBatch() (note string, err error) {
	lo, err := newBatchNet(r.c, netLoopback, 0, r.store, false)
	if err != nil {
		return "", err
	}
	r.nets = append(r.nets, lo)
	if r.c.rtt == 0 {
		return "no proxy row: -rtt 0", nil
	}
	network, target, err := latencyproxy.RedisTarget(r.c.redisURL)
	if err != nil {
		return "no proxy row: " + err.Error(), nil
	}
	p, err := latencyproxy.Start(network, target, r.c.rtt/2)
	if err != nil {
		return "", fmt.Errorf("proxy: %w", err)
	}
	url, err := latencyproxy.ProxiedURL(r.c.redisURL, p.Addr())
	if err != nil {
		p.Close()
		return "", err
	}
	s, err := redisstore.FromURL(url, redisstore.WithTimeout(time.Minute))
	if err != nil {
		p.Close()
		return "", err
	}
	pn, err := newBatchNet(r.c, netProxy, r.c.rtt, s, true)
	if err != nil {
		s.Close()
		p.Close()
		return "", err
	}
	pn.proxy = p
	r.nets = append(r.nets, pn)
	return "", nil
}

func newBatchNet(c *config, name string, rtt time.Duration, s *redisstore.Store, owned bool) (*batchNet, error) {
	lim, err := throttled.New(throttled.WithAlgorithm(batchAlgorithm), throttled.WithQuota(c.quota), throttled.WithStore(s))
	if err != nil {
		return nil, err
	}
	return &batchNet{name: name, rtt: rtt, store: s, owned: owned, lim: lim}, nil
}

func (n *batchNet) close() {
	if n.owned {
		n.store.Close()
	}
	if n.proxy != nil {
		n.proxy.Close()
	}
}

// batchKeys returns the batch table's keys.
func batchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("batch:%d", i)
	}
	return keys
}

// batchPass measures every network once: its PING round trip, -batch
// sequential Limit calls and one LimitAll of -batch keys, after a warm-up
// LimitAll (which loads the script and writes every key's state, so both
// timed runs decide on existing keys).
func (b *bench) batchPass(rs *redisBench) error {
	ctx := context.Background()
	keys := batchKeys(b.c.batch)
	reqs := make([]throttled.Request, len(keys))
	for i, k := range keys {
		reqs[i] = throttled.Request{Key: k, Cost: 1}
	}
	for _, n := range rs.nets {
		runs := b.batch[n.name]
		if runs == nil {
			runs = &batchRuns{net: n}
			b.batch[n.name] = runs
			b.batchOrder = append(b.batchOrder, n.name)
		}
		if _, err := n.lim.LimitAll(ctx, reqs); err != nil {
			return fmt.Errorf("batch %s: warm-up: %w", n.name, err)
		}
		ping, err := pingRTT(ctx, n.store, pings)
		if err != nil {
			return fmt.Errorf("batch %s: PING: %w", n.name, err)
		}
		runs.ping = append(runs.ping, ping)

		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] pass %d/%d: batch %s (PING %s) %d × Limit ... ", b.done, b.total, b.pass, b.c.count, n.name, ping.Round(time.Microsecond), len(keys))
		start := time.Now()
		for _, k := range keys {
			if _, err := n.lim.Limit(ctx, k, 1); err != nil {
				fmt.Fprintln(b.progress, "error")
				return fmt.Errorf("batch %s: Limit: %w", n.name, err)
			}
		}
		d := time.Since(start)
		runs.limit = append(runs.limit, d)
		fmt.Fprintf(b.progress, "%s\n", d.Round(time.Microsecond))

		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] pass %d/%d: batch %s LimitAll of %d ... ", b.done, b.total, b.pass, b.c.count, n.name, len(keys))
		start = time.Now()
		if _, err := n.lim.LimitAll(ctx, reqs); err != nil {
			fmt.Fprintln(b.progress, "error")
			return fmt.Errorf("batch %s: LimitAll: %w", n.name, err)
		}
		d = time.Since(start)
		runs.limitAll = append(runs.limitAll, d)
		fmt.Fprintf(b.progress, "%s\n", d.Round(time.Microsecond))
	}
	return nil
}

// pingRTT returns the median round trip of n PINGs on s's client.
func pingRTT(ctx context.Context, s *redisstore.Store, n int) (time.Duration, error) {
	c := s.Client()
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	return medianDuration(ds), nil
}

// medianDuration returns the median of ds (the lower middle one for an
// even count), leaving ds in order.
func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// batchRow builds the report's row of a network's runs.
func (br *batchRuns) row(keys int) batchRow {
	ms := func(ds []time.Duration) []float64 {
		out := make([]float64, len(ds))
		for i, d := range ds {
			out[i] = float64(d) / 1e6
		}
		return out
	}
	lim, all := medianDuration(br.limit), medianDuration(br.limitAll)
	r := batchRow{
		Network: br.net.name, AddedRTTUS: float64(br.net.rtt) / 1e3, PingRTTUS: float64(medianDuration(br.ping)) / 1e3,
		Keys: keys, Algorithm: batchAlgorithm.String(),
		LimitMS: float64(lim) / 1e6, LimitAllMS: float64(all) / 1e6,
		LimitRuns: ms(br.limit), LimitAllRuns: ms(br.limitAll),
	}
	if all > 0 {
		r.Ratio = r.LimitMS / r.LimitAllMS
	}
	return r
}

// batchStoreKeys returns the Redis keys the batch table writes.
func (r *redisBench) batchStoreKeys() []string {
	p, err := store.NewPolicy(r.c.quota.WithAlgorithm(batchAlgorithm))
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range batchKeys(r.c.batch) {
		out = append(out, r.store.Key(k, p))
	}
	return out
}
