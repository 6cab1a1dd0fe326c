package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/internal/redistest"
	"github.com/throttled-go/throttled/store"
)

// clusterNodeOf returns the index of the harness node owning key's slot.
func clusterNodeOf(t testing.TB, cl *redistest.ClusterServer, key string) (slot, node int) {
	t.Helper()
	slot, err := strconv.Atoi(cl.DoNode(t, 0, "CLUSTER", "KEYSLOT", key))
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
	}
	// Node i owns [i·16384/3, (i+1)·16384/3) (see redistest.Cluster).
	return slot, slot * 3 / 16384
}

// pair is a standalone store and a cluster store on one fake clock, which
// must decide alike.
type pair struct {
	fake       *clock.Fake
	standalone *Store
	cluster    *Store
	srv        *redistest.Server
	cl         *redistest.ClusterServer
}

func newPair(t *testing.T) *pair {
	t.Helper()
	srv := redistest.Standalone(t)
	cl := redistest.Cluster(t)
	fake := clock.NewFake(t0 + 7_654_321)
	// The slack keeps keys from expiring (in real time) while the fake
	// clock stands still.
	opts := []Option{WithClock(fake), WithTTLSlack(time.Hour)}
	return &pair{
		fake:       fake,
		standalone: mustNew(t, newClient(t, srv.Addr()), opts...),
		cluster:    mustNew(t, newClient(t, cl.Addrs()...), opts...),
		srv:        srv,
		cl:         cl,
	}
}

// decide decides on both stores and fails the test when they differ.
func (pr *pair) decide(t testing.TB, key string, p *algo.Params, cost int64) algo.Decision {
	t.Helper()
	want := decide(t, pr.standalone, key, p, cost)
	got := decide(t, pr.cluster, key, p, cost)
	if got != want {
		t.Fatalf("%s key %q cost %d at t0+%dµs: cluster %+v, standalone %+v",
			p.Algorithm, abbrev(key), cost, pr.fake.Now()-t0, got, want)
	}
	return got
}

func abbrev(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s…(%d bytes)", s[:20], len(s))
	}
	return s
}

// TestClusterMatchesStandalone runs one random sequence of decisions on many
// keys, for every algorithm, on a real three-node cluster and on a
// standalone server with the same fake clock, and checks that every
// decision is the same and that the keys are spread over all three nodes.
func TestClusterMatchesStandalone(t *testing.T) {
	t.Parallel()
	pr := newPair(t)
	const users = 300
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))

	params := map[algo.Algorithm]*algo.Params{}
	for _, a := range algo.Algorithms {
		params[a] = compile(t, a, algo.PerMin(3).WithBurst(5))
	}
	key := func(i int) string { return "user:" + strconv.Itoa(i) }

	// Every user key once, for every algorithm: all of them are stored.
	for _, a := range algo.Algorithms {
		for i := range users {
			if d := pr.decide(t, key(i), params[a], 1); d.Limited {
				t.Fatalf("%s first request of %s: %+v", a, key(i), d)
			}
		}
	}
	total := 0
	for node := range 3 {
		n, err := strconv.Atoi(pr.cl.DoNode(t, node, "DBSIZE"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d holds %d keys", node, n)
		// 300 user keys spread over three nodes: far from empty.
		if n < users*len(algo.Algorithms)/10 {
			t.Errorf("node %d holds %d of %d keys: the keys are not spread over the cluster", node, n, users*len(algo.Algorithms))
		}
		total += n
	}
	if want := users * len(algo.Algorithms); total != want {
		t.Errorf("the cluster holds %d keys, want %d", total, want)
	}
	if got := pr.srv.Do(t, "DBSIZE"); got != strconv.Itoa(users*len(algo.Algorithms)) {
		t.Errorf("the standalone server holds %s keys, want %d", got, users*len(algo.Algorithms))
	}

	// Each key lives on the node owning its slot, and every key of one user
	// key shares the slot of the user key (the hash tag).
	for i := 0; i < users; i += 29 {
		userSlot, _ := clusterNodeOf(t, pr.cl, key(i))
		for _, a := range algo.Algorithms {
			rk := pr.cluster.Key(key(i), a)
			slot, node := clusterNodeOf(t, pr.cl, rk)
			if slot != userSlot {
				t.Errorf("%q is in slot %d, its user key %q in slot %d", rk, slot, key(i), userSlot)
			}
			if got := pr.cl.DoNode(t, node, "EXISTS", rk); got != "1" {
				t.Errorf("%q is not on node %d, owner of slot %d: EXISTS = %q", rk, node, slot, got)
			}
			if got := pr.cl.DoNode(t, (node+1)%3, "EXISTS", rk); !strings.HasPrefix(got, "-MOVED") {
				t.Errorf("node %d answered EXISTS %q with %q, want a MOVED redirection", (node+1)%3, rk, got)
			}
		}
	}

	// Then a random timeline, hot keys more often than cold ones.
	stats := map[algo.Algorithm][2]int{}
	for range 2000 {
		a := algo.Algorithms[r.IntN(len(algo.Algorithms))]
		i := r.IntN(users)
		if r.IntN(4) != 0 {
			i = r.IntN(5)
		}
		switch r.IntN(10) {
		case 0:
			pr.fake.AdvanceMicros(r.Int64N(30_000_000))
		case 1:
			pr.fake.AdvanceMicros(r.Int64N(1000))
		}
		if r.IntN(100) == 0 {
			for _, s := range []*Store{pr.standalone, pr.cluster} {
				if err := s.Reset(context.Background(), key(i), a); err != nil {
					t.Fatalf("Reset: %v", err)
				}
			}
		}
		cost := []int64{0, 1, 1, 1, 2, 3, 6}[r.IntN(7)]
		d := pr.decide(t, key(i), params[a], cost)
		st := stats[a]
		if d.Limited {
			st[1]++
		} else {
			st[0]++
		}
		stats[a] = st
	}
	for _, a := range algo.Algorithms {
		t.Logf("%s: %d allowed, %d limited", a, stats[a][0], stats[a][1])
		if stats[a][0] == 0 || stats[a][1] == 0 {
			t.Errorf("%s: the timeline missed a branch: %d allowed, %d limited", a, stats[a][0], stats[a][1])
		}
	}
}

// TestClusterServerTime decides 300 keys for every algorithm on the cluster
// with the servers' TIME (the default clock).
func TestClusterServerTime(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	c := newClient(t, cl.Addrs()...)
	s := mustNew(t, c)
	const users = 300
	for _, a := range algo.Algorithms {
		p := compile(t, a, algo.PerDay(2))
		inOneWindow(t, c, p.Period, func(prefix string) error {
			for i := range users {
				k := prefix + "/user:" + strconv.Itoa(i)
				for j, want := range []algo.Decision{
					{Remaining: 1}, {Remaining: 0}, {Limited: true},
				} {
					d := decide(t, s, k, p, 1)
					if d.Limited != want.Limited || d.Remaining != want.Remaining ||
						(d.Limited && d.RetryAfter <= 0) || (!d.Limited && d.RetryAfter != 0) || d.ResetAfter <= 0 {
						return fmt.Errorf("%s key %q request %d: %+v", a, k, j, d)
					}
				}
			}
			return nil
		})
	}
	for node := range 3 {
		n, err := strconv.Atoi(cl.DoNode(t, node, "DBSIZE"))
		if err != nil || n < users*len(algo.Algorithms)/10 {
			t.Errorf("node %d holds %d keys (%v): not spread", node, n, err)
		}
	}
}

// awkwardKeys are user keys that stress the key layout: braces (which
// decide Redis Cluster's hash tag), colons, NUL bytes, invalid UTF-8 and
// a 10kB key.
var awkwardKeys = []string{
	"{", "}", "{}", "}{", "{{", "}}", "{a}", "a{b}c", "{a}{b}", "{{x}}", "a}b{c",
	":", "::", "a:b:c", "{:}",
	"\x00", "a\x00b", "{\x00}", "\x00}\x00{",
	"ключ", "\xff\xfe\xfd", " ", "\r\n", "*1\r\n$4\r\nPING\r\n",
	strings.Repeat("k", 10_000),
	strings.Repeat("{}", 5_000),
}

// TestAwkwardKeys checks that any non-empty string is a key, on a
// standalone server and on a cluster alike.
func TestAwkwardKeys(t *testing.T) {
	t.Parallel()
	pr := newPair(t)
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		p := compile(t, a, algo.PerMin(2))
		for _, k := range awkwardKeys {
			for i, cost := range []int64{1, 0, 1, 1} {
				d := pr.decide(t, k, p, cost)
				if wantLimited := i == 3; d.Limited != wantLimited {
					t.Fatalf("%s key %q request %d: %+v, want Limited %v", a, abbrev(k), i, d, wantLimited)
				}
			}
			// The state is under exactly the documented name.
			rk := DefaultPrefix + a.String() + ":{" + k + "}"
			if got := pr.srv.Do(t, "EXISTS", rk); got != "1" {
				t.Errorf("%s key %q: no %q on the standalone server", a, abbrev(k), abbrev(rk))
			}
			_, node := clusterNodeOf(t, pr.cl, rk)
			if got := pr.cl.DoNode(t, node, "EXISTS", rk); got != "1" {
				t.Errorf("%s key %q: %q is not on its cluster node %d", a, abbrev(k), abbrev(rk), node)
			}
			// Keys differing only in a NUL byte or a brace are distinct.
			for _, s := range []*Store{pr.standalone, pr.cluster} {
				if err := s.Reset(ctx, k, a); err != nil {
					t.Fatalf("%s Reset(%q): %v", a, abbrev(k), err)
				}
			}
			if got := pr.srv.Do(t, "EXISTS", rk); got != "0" {
				t.Errorf("%s key %q: Reset left the key", a, abbrev(k))
			}
			if d := pr.decide(t, k, p, 1); d.Limited || d.Remaining != 1 {
				t.Errorf("%s key %q after Reset: %+v, want a fresh key", a, abbrev(k), d)
			}
		}
	}
	// A batch of all of them (grouped by hash slot on the cluster) decides
	// alike too, and each key's slot is the one Redis computes.
	for _, a := range algo.Algorithms {
		p := compile(t, a, algo.PerMin(2))
		reqs := make([]store.Request[string], 0, 2*len(awkwardKeys))
		for _, k := range awkwardKeys {
			reqs = append(reqs, store.Request[string]{Key: k, Cost: 1}, store.Request[string]{Key: k, Cost: 1})
			rk := pr.cluster.Key(k, a)
			if slot, _ := clusterNodeOf(t, pr.cl, rk); uint16(slot) != keySlot(rk) {
				t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", abbrev(rk), keySlot(rk), slot)
			}
		}
		var outs [2][]algo.Decision
		for i, s := range []*Store{pr.standalone, pr.cluster} {
			outs[i] = make([]algo.Decision, len(reqs))
			errs := make([]error, len(reqs))
			s.DecideBatch(ctx, p, reqs, outs[i], errs)
			for j, err := range errs {
				if err != nil {
					t.Fatalf("%s DecideBatch request %d (%q): %v", a, j, abbrev(reqs[j].Key), err)
				}
			}
		}
		for j := range reqs {
			if outs[0][j] != outs[1][j] {
				t.Errorf("%s DecideBatch request %d (%q): cluster %+v, standalone %+v", a, j, abbrev(reqs[j].Key), outs[1][j], outs[0][j])
			}
			// Each key had one request left (see above): the first passes.
			if want := j%2 == 1; outs[1][j].Limited != want {
				t.Errorf("%s DecideBatch request %d (%q): %+v, want Limited %v", a, j, abbrev(reqs[j].Key), outs[1][j], want)
			}
		}
	}

	// Every (algorithm, key) pair has its own state on the standalone server.
	if got, want := pr.srv.Do(t, "DBSIZE"), strconv.Itoa(len(algo.Algorithms)*len(awkwardKeys)); got != want {
		t.Errorf("the standalone server holds %s keys, want %s", got, want)
	}
}

// TestClusterFromURL connects to the cluster with rueidis's cluster URL
// form and checks that decisions reach all three nodes.
func TestClusterFromURL(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	addrs := cl.Addrs()
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	s, err := FromURL(url, WithPrefix("url:"))
	if err != nil {
		t.Fatalf("FromURL(%q): %v", url, err)
	}
	if _, ok := s.Client().Nodes()[addrs[2]]; !ok || len(s.Client().Nodes()) != 3 {
		t.Errorf("the client knows nodes %v, want the three of the cluster", keysOf(s.Client().Nodes()))
	}
	p := compile(t, algo.SlidingWindow, algo.PerHour(1))
	for i := range 60 {
		if d := decide(t, s, "u"+strconv.Itoa(i), p, 1); d.Limited {
			t.Fatalf("first request of u%d: %+v", i, d)
		}
	}
	for i := range 60 {
		if d := decide(t, s, "u"+strconv.Itoa(i), p, 1); !d.Limited {
			t.Fatalf("second request of u%d: %+v, want Limited", i, d)
		}
	}
	for node := range 3 {
		if n := len(strings.Fields(cl.DoNode(t, node, "KEYS", "url:*"))); n == 0 {
			t.Errorf("node %d holds none of the 60 keys", node)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Every call fails at once, and none opens a connection again: rueidis's
	// cluster client closes its node connections in background goroutines
	// and dials lazily, so a call racing with Close could reopen one for good.
	for i := range 100 {
		_, err = s.Decide(context.Background(), "u"+strconv.Itoa(i%60), p, 1)
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, rueidis.ErrClosing) || errors.Is(err, store.ErrScript) {
			t.Fatalf("Decide #%d after Close: %v, want store.ErrUnavailable", i, err)
		}
	}
	err = s.Reset(context.Background(), "u0", algo.SlidingWindow)
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
		t.Fatalf("Reset after Close: %v, want store.ErrUnavailable", err)
	}
	waitNoClients(t, func(i int) string { return cl.DoNode(t, i, "CLIENT", "LIST") }, 3)

	// The same for stores closed before their first decision. Without the
	// store's own closed check, about every other round left a connection
	// to one node open, serving a third of the decisions for good.
	for round := range 5 {
		s, err := FromURL(url)
		if err != nil {
			t.Fatalf("FromURL(%q): %v", url, err)
		}
		s.Close()
		for i := range 100 {
			_, err = s.Decide(context.Background(), "v"+strconv.Itoa(i), p, 1)
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
				t.Fatalf("round %d: Decide #%d after an early Close: %v, want store.ErrUnavailable", round, i, err)
			}
		}
		waitNoClients(t, func(i int) string { return cl.DoNode(t, i, "CLIENT", "LIST") }, 3)
	}
}

// waitNoClients waits until each of n servers lists only the connection
// asking (CLIENT LIST), and fails the test after 5s.
func waitNoClients(t *testing.T, clientList func(i int) string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for i := range n {
		for {
			list := strings.TrimSpace(clientList(i))
			if !strings.Contains(list, "\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %d still has connections after Close:\n%s", i, list)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func keysOf(m map[string]rueidis.Client) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
