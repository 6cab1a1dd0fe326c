package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// TestKeySlot checks keySlot against the slots a Redis 7 Cluster node
// gives (CLUSTER KEYSLOT) for the hash-tag cases of the Cluster
// specification: a tag is the text between the first '{' and the next '}'
// when it is not empty, wherever the '{' is; otherwise the whole key is
// hashed. TestAwkwardKeys compares keySlot with a live cluster on the keys
// the store writes, which always begin with the prefix.
func TestKeySlot(t *testing.T) {
	for _, c := range []struct {
		key  string
		slot uint16
	}{
		{"", 0},
		{"123456789", 12739}, // CRC16/XMODEM of "123456789" is 0x31C3
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},    // empty first tag: the whole key
		{"{}", 15257},           // likewise
		{"x{}", 2608},           // likewise
		{"{}x{y}", 2166},        // only the first '{' counts
		{"foo{{bar}}zap", 4015}, // the tag is "{bar"
		{"foo{bar}{zap}", 5061}, // the tag is "bar"
		{"a{b}", 3300},
		{"{{}}", 4092}, // the tag is "{"
		{"{", 4092},    // no '}': the whole key
		{"}", 12090},
		{"{a", 10276},
	} {
		if got := keySlot(c.key); got != c.slot {
			t.Errorf("keySlot(%q) = %d, want %d", c.key, got, c.slot)
		}
	}
}

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

// newPair starts a standalone server and a cluster, and a store on each
// with one fake clock.
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
		standalone: mustNew(t, redistest.Client(t, srv.Addr()), opts...),
		cluster:    mustNew(t, redistest.Client(t, cl.Addrs()...), opts...),
		srv:        srv,
		cl:         cl,
	}
}

// decide decides on both stores under the policies ps and fails the test
// when they differ, in the combined decision or in any policy's own.
func (pr *pair) decide(t testing.TB, key string, ps []*store.Policy, cost int64) algo.Decision {
	t.Helper()
	want, wantEach := decideAll(t, pr.standalone, key, ps, cost)
	got, gotEach := decideAll(t, pr.cluster, key, ps, cost)
	if got != want || !slices.Equal(gotEach, wantEach) {
		t.Fatalf("%v key %q cost %d at t0+%dµs: cluster %+v %+v, standalone %+v %+v",
			ps, abbrev(key), cost, pr.fake.Now()-t0, got, gotEach, want, wantEach)
	}
	return got
}

// one is a list of the one policy p.
func one(p *store.Policy) []*store.Policy { return []*store.Policy{p} }

// abbrev shortens a long key for a message.
func abbrev(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s…(%d bytes)", s[:20], len(s))
	}
	return s
}

// TestClusterMatchesStandalone runs one random sequence of decisions on many
// keys, for every algorithm and for sets of policies of mixed algorithms,
// on a real three-node cluster and on a standalone server with the same
// fake clock, and checks that every decision is the same and that the keys
// are spread over all three nodes.
func TestClusterMatchesStandalone(t *testing.T) {
	t.Parallel()
	pr := newPair(t)
	const users = 300
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))

	policies := map[algo.Algorithm]*store.Policy{}
	for _, a := range algo.Algorithms {
		policies[a] = pol(t, a, algo.PerMin(3).WithBurst(5))
	}
	sets := [][]*store.Policy{
		{policies[algo.FixedWindow], policies[algo.TokenBucket]},
		{policies[algo.GCRA], policies[algo.SlidingWindow], pol(t, algo.LeakingBucket, algo.PerSec(2))},
		{pol(t, algo.FixedWindow, algo.PerSec(1)), policies[algo.LeakingBucket]},
	}
	for _, a := range algo.Algorithms {
		sets = append(sets, one(policies[a]))
	}
	key := func(i int) string { return "user:" + strconv.Itoa(i) }

	// Every user key once, for every algorithm: all of them are stored.
	for _, a := range algo.Algorithms {
		for i := range users {
			if d := pr.decide(t, key(i), one(policies[a]), 1); d.Limited {
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
			rk := pr.cluster.Key(key(i), policies[a])
			slot, node := clusterNodeOf(t, pr.cl, rk)
			if slot != userSlot || uint16(slot) != keySlot(rk) {
				t.Errorf("%q is in slot %d (keySlot %d), its user key %q in slot %d", rk, slot, keySlot(rk), key(i), userSlot)
			}
			if got := pr.cl.DoNode(t, node, "EXISTS", rk); got != "1" {
				t.Errorf("%q is not on node %d, owner of slot %d: EXISTS = %q", rk, node, slot, got)
			}
			if got := pr.cl.DoNode(t, (node+1)%3, "EXISTS", rk); !strings.HasPrefix(got, "-MOVED") {
				t.Errorf("node %d answered EXISTS %q with %q, want a MOVED redirection", (node+1)%3, rk, got)
			}
		}
	}

	// Then a random timeline, hot keys more often than cold ones, single
	// decisions and batches.
	stats := make([][2]int, len(sets))
	ctx := context.Background()
	for range 2000 {
		si := r.IntN(len(sets))
		ps := sets[si]
		i := r.IntN(users)
		if r.IntN(4) != 0 {
			i = r.IntN(5)
		}
		switch r.IntN(10) {
		case 0:
			pr.fake.AdvanceMicros(r.Int64N(30_000_000))
		case 1:
			pr.fake.AdvanceMicros(r.Int64N(1000))
		case 2:
			pr.fake.AdvanceMicros(-r.Int64N(1000)) // a clock step back
		}
		if r.IntN(100) == 0 {
			for _, s := range []*Store{pr.standalone, pr.cluster} {
				if err := s.Reset(ctx, key(i), ps); err != nil {
					t.Fatalf("Reset: %v", err)
				}
			}
		}
		costs := []int64{0, 1, 1, 1, 2, 3, 6}
		var ds []algo.Decision
		if r.IntN(5) != 0 {
			ds = append(ds, pr.decide(t, key(i), ps, costs[r.IntN(len(costs))]))
		} else {
			reqs := make([]store.Request[string], 1+r.IntN(20))
			for k := range reqs {
				reqs[k] = store.Request[string]{Key: key(r.IntN(users)), Cost: costs[r.IntN(len(costs))]}
				if r.IntN(2) == 0 {
					reqs[k].Key = key(r.IntN(5))
				}
			}
			var outs [2][]algo.Decision
			var eachs [2][]algo.Decision
			for n, s := range []*Store{pr.standalone, pr.cluster} {
				outs[n], eachs[n] = make([]algo.Decision, len(reqs)), make([]algo.Decision, len(reqs)*len(ps))
				errs := make([]error, len(reqs))
				s.DecideBatch(ctx, ps, reqs, outs[n], eachs[n], errs)
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("DecideBatch: %v", err)
				}
			}
			if !slices.Equal(outs[0], outs[1]) || !slices.Equal(eachs[0], eachs[1]) {
				t.Fatalf("%v batch %v at t0+%dµs: cluster %+v %+v, standalone %+v %+v", ps, reqs, pr.fake.Now()-t0, outs[1], eachs[1], outs[0], eachs[0])
			}
			ds = outs[0]
		}
		for _, d := range ds {
			if d.Limited {
				stats[si][1]++
			} else {
				stats[si][0]++
			}
		}
	}
	for si, ps := range sets {
		t.Logf("%v: %d allowed, %d limited", ps, stats[si][0], stats[si][1])
		if stats[si][0] == 0 || stats[si][1] == 0 {
			t.Errorf("%v: the timeline missed a branch: %d allowed, %d limited", ps, stats[si][0], stats[si][1])
		}
	}
}

// TestClusterServerTime decides 300 keys for every algorithm on the cluster
// with the servers' TIME (the default clock).
func TestClusterServerTime(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	c := redistest.Client(t, cl.Addrs()...)
	s := mustNew(t, c)
	const users = 300
	for _, a := range algo.Algorithms {
		p := pol(t, a, algo.PerDay(2))
		inOneWindow(t, c, p.Params().Period, func(prefix string) error {
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
// standalone server and on a cluster alike, under one policy and under
// two.
func TestAwkwardKeys(t *testing.T) {
	t.Parallel()
	pr := newPair(t)
	ctx := context.Background()
	for _, a := range algo.Algorithms {
		p := pol(t, a, algo.PerMin(2))
		for _, k := range awkwardKeys {
			for i, cost := range []int64{1, 0, 1, 1} {
				d := pr.decide(t, k, one(p), cost)
				if wantLimited := i == 3; d.Limited != wantLimited {
					t.Fatalf("%s key %q request %d: %+v, want Limited %v", a, abbrev(k), i, d, wantLimited)
				}
			}
			// The state is under exactly the documented name.
			rk := DefaultPrefix + p.Key() + ":{" + k + "}"
			if strings.HasPrefix(k, "}") {
				rk = DefaultPrefix + p.Key() + ":!{=" + k + "}"
			}
			if got := pr.srv.Do(t, "EXISTS", rk); got != "1" {
				t.Errorf("%s key %q: no %q on the standalone server", a, abbrev(k), abbrev(rk))
			}
			_, node := clusterNodeOf(t, pr.cl, rk)
			if got := pr.cl.DoNode(t, node, "EXISTS", rk); got != "1" {
				t.Errorf("%s key %q: %q is not on its cluster node %d", a, abbrev(k), abbrev(rk), node)
			}
			// Keys differing only in a NUL byte or a brace are distinct.
			for _, s := range []*Store{pr.standalone, pr.cluster} {
				if err := s.Reset(ctx, k, one(p)); err != nil {
					t.Fatalf("%s Reset(%q): %v", a, abbrev(k), err)
				}
			}
			if got := pr.srv.Do(t, "EXISTS", rk); got != "0" {
				t.Errorf("%s key %q: Reset left the key", a, abbrev(k))
			}
			if d := pr.decide(t, k, one(p), 1); d.Limited || d.Remaining != 1 {
				t.Errorf("%s key %q after Reset: %+v, want a fresh key", a, abbrev(k), d)
			}
		}
	}
	// Two policies per request: the keys of one user key share a slot.
	two := []*store.Policy{pol(t, algo.GCRA, algo.PerHour(2)), pol(t, algo.FixedWindow, algo.PerHour(3))}
	for _, k := range awkwardKeys {
		for i, cost := range []int64{1, 0, 1, 1} {
			if d := pr.decide(t, k, two, cost); d.Limited != (i == 3) {
				t.Fatalf("two policies, key %q request %d: %+v, want Limited %v", abbrev(k), i, d, i == 3)
			}
		}
		if keySlot(pr.cluster.Key(k, two[0])) != keySlot(pr.cluster.Key(k, two[1])) {
			t.Errorf("key %q: its two policies' keys are in different slots", abbrev(k))
		}
	}
	// A batch of all of them (grouped by hash slot on the cluster) decides
	// alike too, and each key's slot is the one Redis computes.
	for _, a := range algo.Algorithms {
		p := pol(t, a, algo.PerMin(2))
		reqs := make([]store.Request[string], 0, 2*len(awkwardKeys))
		for _, k := range awkwardKeys {
			reqs = append(reqs, store.Request[string]{Key: k, Cost: 1}, store.Request[string]{Key: k, Cost: 1})
			rk := pr.cluster.Key(k, p)
			if slot, _ := clusterNodeOf(t, pr.cl, rk); uint16(slot) != keySlot(rk) {
				t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", abbrev(rk), keySlot(rk), slot)
			}
		}
		var outs [2][]algo.Decision
		for i, s := range []*Store{pr.standalone, pr.cluster} {
			outs[i] = make([]algo.Decision, len(reqs))
			errs := make([]error, len(reqs))
			s.DecideBatch(ctx, one(p), reqs, outs[i], nil, errs)
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

	// Every (policy, key) pair has its own state on the standalone server:
	// one per algorithm, and two for the keys decided under two policies.
	if got, want := pr.srv.Do(t, "DBSIZE"), strconv.Itoa((len(algo.Algorithms)+2)*len(awkwardKeys)); got != want {
		t.Errorf("the standalone server holds %s keys, want %s", got, want)
	}
}

// TestClusterKeyStartingWithBrace decides a user key that starts with '}'
// under two policies on a cluster. The layout prefix + policy + ":{" + key
// + "}" would have an empty hash tag ("{}"), so Redis would hash each whole
// key and the policies' keys would land in different slots, where rueidis
// panics ("multi key command with different key slots are not allowed") in
// Decide, DecideBatch and Reset; such keys get the tag "=" instead.
func TestClusterKeyStartingWithBrace(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	s := mustNew(t, redistest.Client(t, cl.Addrs()...), WithClock(clock.NewFake(t0)))
	ps := []*store.Policy{pol(t, algo.GCRA, algo.PerMin(2)), pol(t, algo.FixedWindow, algo.PerHour(3))}
	ctx := context.Background()
	for _, k := range []string{"}", "}{", "}}", "}x", "}{a}"} {
		if a, b := keySlot(s.Key(k, ps[0])), keySlot(s.Key(k, ps[1])); a != b {
			t.Errorf("key %q: the keys of its two policies are in slots %d and %d", k, a, b)
		}
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Decide", func() error { _, err := s.Decide(ctx, k, ps, 1, nil); return err }},
			{"DecideBatch", func() error {
				errs := make([]error, 1)
				s.DecideBatch(ctx, ps, []store.Request[string]{{Key: k, Cost: 1}}, make([]algo.Decision, 1), nil, errs)
				return errs[0]
			}},
			{"Reset", func() error { return s.Reset(ctx, k, ps) }},
		} {
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("%s of key %q under two policies on a cluster panics: %v", tc.name, k, v)
					}
				}()
				if err := tc.call(); err != nil {
					t.Errorf("%s of key %q under two policies on a cluster: %v", tc.name, k, err)
				}
			}()
		}
	}
}

// TestClusterFromURL connects to the cluster with rueidis's cluster URL
// form and checks that decisions reach all three nodes.
func TestClusterFromURL(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	addrs := cl.Addrs()
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	s, err := FromURL(url, WithPrefix("url:"), WithTimeout(testTimeout))
	if err != nil {
		t.Fatalf("FromURL(%q): %v", url, err)
	}
	p := pol(t, algo.SlidingWindow, algo.PerHour(1))
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
	// rueidis learns the topology in the background (and on MOVED): give it
	// a few seconds to list the three nodes.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		nodes := s.Client().Nodes()
		if _, ok := nodes[addrs[2]]; ok && len(nodes) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the client knows nodes %v, want the three of the cluster", keysOf(nodes))
			break
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Every call fails at once, and none opens a connection again: rueidis's
	// cluster client closes its node connections in background goroutines
	// and dials lazily, so a call racing with Close could reopen one for good.
	for i := range 100 {
		_, err = s.Decide(context.Background(), "u"+strconv.Itoa(i%60), one(p), 1, nil)
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, rueidis.ErrClosing) || errors.Is(err, store.ErrScript) {
			t.Fatalf("Decide #%d after Close: %v, want store.ErrUnavailable", i, err)
		}
	}
	err = s.Reset(context.Background(), "u0", one(p))
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrScript) {
		t.Fatalf("Reset after Close: %v, want store.ErrUnavailable", err)
	}
	waitNoClients(t, func(i int) string { return cl.DoNode(t, i, "CLIENT", "LIST") }, 3)

	// The same for stores closed before their first decision. Without the
	// store's own closed check, about every other round left a connection
	// to one node open, serving a third of the decisions for good.
	for round := range 5 {
		s, err := FromURL(url, WithTimeout(testTimeout))
		if err != nil {
			t.Fatalf("FromURL(%q): %v", url, err)
		}
		s.Close()
		for i := range 100 {
			_, err = s.Decide(context.Background(), "v"+strconv.Itoa(i), one(p), 1, nil)
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

// keysOf lists the addresses of a client's nodes.
func keysOf(m map[string]rueidis.Client) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestClusterSlotNotServed checks that a key whose hash slot no node
// serves (CLUSTERDOWN) is a store failure, on its own: the keys of the
// other slots are decided, in a batch too, and the key is decided again
// once its slot is served.
func TestClusterSlotNotServed(t *testing.T) {
	t.Parallel()
	cl := redistest.Cluster(t)
	s := mustNew(t, redistest.Client(t, cl.Addrs()...), WithClock(clock.NewFake(t0)), WithTimeout(time.Second))
	p := pol(t, algo.GCRA, algo.PerMin(5))
	ps := one(p)
	ctx := context.Background()
	slot, node := clusterNodeOf(t, cl, s.Key("lost", p))
	other := "kept"
	if _, n := clusterNodeOf(t, cl, s.Key(other, p)); n == node {
		other = "kept2"
	}
	cl.DoNode(t, node, "CLUSTER", "DELSLOTS", strconv.Itoa(slot))
	start := time.Now()
	_, err := s.Decide(ctx, "lost", ps, 1, nil)
	t.Logf("after %v: %v", time.Since(start), err)
	wantUnavailable(t, "a key of an unserved slot", err)
	errs := make([]error, 2)
	out := make([]algo.Decision, 2)
	s.DecideBatch(ctx, ps, []store.Request[string]{{Key: "lost", Cost: 1}, {Key: other, Cost: 1}}, out, nil, errs)
	wantUnavailable(t, "a key of an unserved slot in a batch", errs[0])
	if errs[1] != nil || out[1] != freshDecision(p, t0, 1) {
		t.Errorf("a key of a served slot in the same batch: %+v, %v", out[1], errs[1])
	}
	cl.DoNode(t, node, "CLUSTER", "ADDSLOTS", strconv.Itoa(slot))
	if d := decide(t, s, "lost", p, 1); d != freshDecision(p, t0, 1) {
		t.Errorf("once the slot is served again: %+v", d)
	}
}
