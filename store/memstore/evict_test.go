package memstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

// Tests that eviction, which a full store cannot avoid, cannot be used by
// an attacker to reset a victim's limit, looks at a bounded sample, and
// that expired state is dropped exactly at its expiry.

// TestEvictionAttack: a victim key that used its quota (60 an hour) stays
// limited while an attacker sends twice the store's capacity of fresh keys
// through another policy of the same store, which must evict live keys.
// The flood is one instant (the clock frozen), so none of its keys expires
// and every key past the capacity costs a live eviction.
func TestEvictionAttack(t *testing.T) {
	const capacity = 1000
	for _, shards := range []int{DefaultShards, 1} {
		for _, a := range algo.Algorithms {
			for _, at := range []struct {
				name   string
				offset int64 // µs into the victim's hour when it used its quota
			}{{"window_start", 0}, {"window_middle", 30 * minute}, {"window_end", 59 * minute}} {
				for _, flood := range []struct {
					name     string
					q        algo.Quota
					requests int // per fresh key, of cost 1
				}{
					{"per_sec(10)/requests=1", algo.PerSec(10), 1},
					{"per_min(100)/requests=1", algo.PerMin(100), 1},
					// Each fresh key uses its whole quota, as an attacker
					// sending 10 requests per key does.
					{"per_sec(10)/requests=10", algo.PerSec(10), 10},
				} {
					name := fmt.Sprintf("shards=%d/algo=%s/victim_at=%s/flood=%s", shards, a, at.name, flood.name)
					t.Run(name, func(t *testing.T) {
						s, clk := newTestStore(t, t2025+at.offset, WithMaxSize(capacity), WithShards(shards))
						victimPolicy := policy(t, a, algo.PerHour(60))
						if d := decide(t, s, "victim", victimPolicy, 60); d.Limited {
							t.Fatalf("victim's 60: %+v, want allowed", d)
						}
						clk.Advance(time.Second)
						if d := decide(t, s, "victim", victimPolicy, 1); !d.Limited || d.Remaining != 0 {
							t.Fatalf("victim's 61st: %+v, want Limited", d)
						}
						attacker := policy(t, a, flood.q)
						for i := range 2 * capacity {
							k := fmt.Sprint("flood-", i)
							for range flood.requests {
								decide(t, s, k, attacker, 1)
							}
						}
						st := s.Stats()
						if st.LiveEvictions == 0 {
							t.Fatalf("Stats = %+v: the flood evicted no live key (the test needs it to)", st)
						}
						if d := decide(t, s, "victim", victimPolicy, 1); !d.Limited || d.Remaining != 0 {
							t.Fatalf("victim after %d live evictions: %+v, want still Limited with Remaining 0", st.LiveEvictions, d)
						}
					})
				}
			}
		}
	}
}

// TestEvictionSampleBounded: a full shard evicts by looking at a bounded
// sample of its keys (8), not at all of them, and evicts the lightest of
// the sample. The shard holds 64 keys of known, distinct weights (key i
// used i+2 of 66 tokens of an hourly bucket, the clock frozen: by quota
// used, or by time left to reset, key i is lighter than key i+1), and
// each trial adds one key. The evicted key is then never one of the 7 heaviest
// (a sample of 8 holds a lighter one), is usually among the lightest
// (the expected rank of the least of 8 of 64 is about 6), and is not always
// the lightest (a full scan would always take it).
func TestEvictionSampleBounded(t *testing.T) {
	const keys, trials = 64, 300
	p := policy(t, algo.TokenBucket, algo.PerHour(66))
	newcomer := policy(t, algo.TokenBucket, algo.PerHour(1000))
	lightest, rankSum := 0, 0
	for trial := range trials {
		s, _ := newTestStore(t, t2025, WithMaxSize(keys), WithShards(1))
		for i := range keys {
			decide(t, s, fmt.Sprint("k", i), p, int64(i+2))
		}
		if trial == 0 { // the crafted weights: key i used i+2
			for i := range keys {
				if d := peek(t, s, fmt.Sprint("k", i), p); d.Remaining != int64(66-i-2) {
					t.Fatalf("k%d: %+v, want Remaining %d", i, d, 66-i-2)
				}
			}
		}
		decide(t, s, "new", newcomer, 1) // weight 1/1000: lighter than all, but not in the shard yet
		if st := s.Stats(); st != (Stats{Keys: keys, LiveEvictions: 1}) {
			t.Fatalf("trial %d: Stats = %+v, want %d keys and 1 live eviction", trial, st, keys)
		}
		evicted := -1
		for i := range keys {
			if s.strings.held(fmt.Sprint("k", i)) == nil {
				if evicted >= 0 {
					t.Fatalf("trial %d: k%d and k%d both evicted", trial, evicted, i)
				}
				evicted = i
			}
		}
		if evicted < 0 {
			t.Fatalf("trial %d: no k evicted (the newcomer was?)", trial)
		}
		if evicted > keys-evictionSample {
			t.Fatalf("trial %d: evicted k%d, one of the %d heaviest: not the lightest of a sample of %d", trial, evicted, evictionSample-1, evictionSample)
		}
		if evicted == 0 {
			lightest++
		}
		rankSum += evicted
	}
	// A sample of 8 of 64 holds the lightest key 1 time in 8: about 38 of
	// 300 trials. A full scan would evict it in all 300.
	if lightest > trials/2 {
		t.Errorf("the lightest key was evicted in %d of %d trials: the sample is not bounded", lightest, trials)
	}
	// Evicting at random would give a mean rank of 31.5; the least of 8
	// about 6.
	if mean := float64(rankSum) / trials; mean > 16 {
		t.Errorf("mean rank of the evicted key %.1f, want about 6 (the least of a sample of 8)", mean)
	}
}

// TestSweepAtExpiry: a state whose expireAt is now has expired. A full
// shard whose soonest expiry is exactly now sweeps (now >= nextExp) and
// drops it instead of evicting a live key; one microsecond earlier it
// must evict a live key.
func TestSweepAtExpiry(t *testing.T) {
	for _, early := range []int64{1, 0} {
		t.Run(fmt.Sprintf("new_key_at=expiry-%dµs", early), func(t *testing.T) {
			s, clk := newTestStore(t, t2025, WithMaxSize(2), WithShards(1))
			long := policy(t, algo.TokenBucket, algo.PerHour(10))
			short := policy(t, algo.TokenBucket, algo.PerSec(10))
			decide(t, s, "a", long, 1)
			decide(t, s, "b", long, 2)
			decide(t, s, "c", long, 3) // full: a sweep makes nextExp exact, then a is evicted
			if st := s.Stats(); st != (Stats{Keys: 2, LiveEvictions: 1}) {
				t.Fatalf("Stats = %+v, want 2 keys, 1 live eviction", st)
			}
			if err := s.Reset(ctx, "b", pols(long)); err != nil {
				t.Fatal(err)
			}
			d := decide(t, s, "short", short, 1) // expires first: nextExp is its expiry
			expiry := clk.Now() + d.ResetAfter
			if sh := &s.strings.shards[0]; sh.nextExp.Load() != expiry {
				t.Fatalf("nextExp = %d, want the short key's expiry %d", sh.nextExp.Load(), expiry)
			}
			clk.Set(expiry - early)
			decide(t, s, "new", long, 1)
			wantEvictions, wantShort := int64(1), "dropped"
			if early > 0 {
				wantEvictions = 2 // nothing has expired: a live key goes
			}
			if st := s.Stats(); st != (Stats{Keys: 2, LiveEvictions: wantEvictions}) {
				t.Fatalf("Stats = %+v, want 2 keys, %d live evictions", st, wantEvictions)
			}
			shortHeld := s.strings.held("short") != nil
			if early == 0 && shortHeld {
				t.Fatalf("the short key, expired at now, is still held: want it %s", wantShort)
			}
			if d := peek(t, s, "c", long); early == 0 && d.Remaining != 7 {
				t.Fatalf("c = %+v, want it kept (Remaining 7)", d)
			}
		})
	}
}

// TestEvictionMultiPolicyKey: a key weighs what it used under the policy
// where it used the most, so a key exhausted under one of its policies is
// kept over keys that used little under theirs.
func TestEvictionMultiPolicyKey(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithMaxSize(16), WithShards(1))
	light := policy(t, algo.GCRA, algo.PerSec(1000))
	heavy := policy(t, algo.GCRA, algo.PerHour(5))
	decideAll(t, s, "victim", pols(light, heavy), 5)
	for i := range 100 {
		decide(t, s, fmt.Sprint("flood-", i), light, 1)
	}
	if st := s.Stats(); st.LiveEvictions != 100-15 {
		t.Fatalf("Stats = %+v, want %d live evictions", st, 100-15)
	}
	if d, _ := decideAll(t, s, "victim", pols(light, heavy), 1); !d.Limited {
		t.Fatalf("victim = %+v, want Limited by its hourly policy", d)
	}
}

// TestEvictionWithPolicies: eviction on a shard of keys with several
// policies each leaves the bound and the counters right.
func TestEvictionWithPolicies(t *testing.T) {
	s, _ := newTestStore(t, t2025, WithMaxSize(8), WithShards(1))
	ps := []*store.Policy{policy(t, algo.FixedWindow, algo.PerHour(10)), policy(t, algo.TokenBucket, algo.PerMin(10))}
	for i := range 20 {
		decideAll(t, s, fmt.Sprint(i), ps, 1)
	}
	if st := s.Stats(); st != (Stats{Keys: 8, LiveEvictions: 12}) {
		t.Fatalf("Stats = %+v, want 8 keys, 12 live evictions", st)
	}
}

// TestEvictionWeightBeforeExpiry: of the sample, the key that used the
// least is evicted even when heavier keys expire sooner; expiry only
// breaks ties of weight, for the key that expires soonest. The shard holds
// exactly a sample's keys, so every key is in the sample, and each case
// runs many times, map order being random.
func TestEvictionWeightBeforeExpiry(t *testing.T) {
	sec := policy(t, algo.TokenBucket, algo.PerSec(10))    // a token every 100ms
	hour := policy(t, algo.TokenBucket, algo.PerHour(100)) // a token every 36s
	for _, tc := range []struct {
		name   string
		want   string // the key evicted
		victim func(s *Store)
		others func(s *Store, k string)
	}{
		{"lightest_expires_last", "light",
			func(s *Store) { decide(t, s, "light", hour, 1) },      // used 1, back in 36s
			func(s *Store, k string) { decide(t, s, k, sec, 10) }}, // used 10, back in 1s
		{"tie_soonest_goes", "soon",
			func(s *Store) { decide(t, s, "soon", sec, 2) },        // used 2, back in 200ms
			func(s *Store, k string) { decide(t, s, k, hour, 2) }}, // used 2, back in 72s
	} {
		t.Run(tc.name, func(t *testing.T) {
			for trial := range 40 {
				s, _ := newTestStore(t, t2025, WithMaxSize(evictionSample), WithShards(1))
				for i := range evictionSample - 1 {
					tc.others(s, fmt.Sprint("other", i))
				}
				tc.victim(s)
				decide(t, s, "new", hour, 1)
				if st := s.Stats(); st != (Stats{Keys: evictionSample, LiveEvictions: 1}) {
					t.Fatalf("trial %d: Stats = %+v, want %d keys and 1 live eviction", trial, st, evictionSample)
				}
				if s.strings.held(tc.want) != nil {
					kept := s.strings.keys()
					t.Fatalf("trial %d: %s kept (the shard holds %v), want it evicted", trial, tc.want, kept)
				}
			}
		})
	}
}
