package storeutil

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// hashSeeds are the seeds the StringHash tests use: the trivial ones and
// a few random ones, fixed so that every run checks the same hashes. (The
// one seed wy0, which StringHash turns into 0, makes every string of 0 to
// 3 bytes hash alike, as in the runtime's wyhash; a random seed is it once
// in 2^64.)
var hashSeeds = func() []uint64 {
	seeds := []uint64{0, 1, 0xa0761d6478bd642e, ^uint64(0)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		seeds = append(seeds, r.Uint64())
	}
	return seeds
}()

// hashInput returns n pseudo-random bytes, the same for the same n and v.
func hashInput(n int, v uint64) []byte {
	r := rand.New(rand.NewPCG(uint64(n), v))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestStringHashDeterministic: a string hashes alike under one seed,
// whatever memory holds it (a copy, or the front of a longer string, so
// no byte past its end counts), for every length through every branch:
// 0, 1–3, 4–8, 9–16, and longer with and without a partial last block.
func TestStringHashDeterministic(t *testing.T) {
	for _, seed := range hashSeeds {
		for n := 0; n <= 64; n++ {
			b := hashInput(n, seed)
			s := string(b)
			h := StringHash(seed, s)
			if h2 := StringHash(seed, string(append([]byte(nil), b...))); h2 != h {
				t.Fatalf("seed %#x, length %d: %#x then %#x for a copy", seed, n, h, h2)
			}
			for _, tail := range []string{"\x00", "x", strings.Repeat("\xff", 17)} {
				long := s + tail
				if h2 := StringHash(seed, long[:n]); h2 != h {
					t.Fatalf("seed %#x, length %d: %#x, but %#x for the front of %q", seed, n, h, h2, long)
				}
			}
		}
	}
}

// TestStringHashSeeds: different seeds give different hashes for almost
// every input, and scatter keys across shards independently.
func TestStringHashSeeds(t *testing.T) {
	same, total := 0, 0
	for i, s1 := range hashSeeds {
		for _, s2 := range hashSeeds[i+1:] {
			for n := 0; n <= 64; n++ {
				for v := range uint64(4) {
					x := string(hashInput(n, v))
					total++
					if StringHash(s1, x) == StringHash(s2, x) {
						same++
					}
				}
			}
		}
	}
	if same > total/100 {
		t.Fatalf("%d of %d inputs hash alike under two seeds", same, total)
	}

	const keys = 100_000
	sameShard := 0
	for i := range keys {
		k := fmt.Sprintf("user:%d", i)
		if StringHash(hashSeeds[4], k)&63 == StringHash(hashSeeds[5], k)&63 {
			sameShard++
		}
	}
	// Independent shards agree for 1 key in 64: about 1,560 of 100,000.
	if sameShard > 2*keys/64 {
		t.Fatalf("%d of %d keys fall in the same shard under two seeds, want about %d", sameShard, keys, keys/64)
	}
}

// TestStringHashLength: strings that differ only in length hash apart,
// the empty one included.
func TestStringHashLength(t *testing.T) {
	for _, seed := range hashSeeds {
		for _, fill := range []byte{0, 'a', 0xff} {
			seen := map[uint64]int{}
			for n := 0; n <= 64; n++ {
				h := StringHash(seed, strings.Repeat(string([]byte{fill}), n))
				if m, ok := seen[h]; ok {
					t.Fatalf("seed %#x: %d and %d bytes of %#x hash alike", seed, m, n, fill)
				}
				seen[h] = n
			}
		}
	}
}

// TestStringHashEveryByte: changing any one byte of a string of any
// length 1 to 64 (its low bit, its high bit, or all of it) changes its
// hash: every byte counts, in every branch.
func TestStringHashEveryByte(t *testing.T) {
	for _, seed := range hashSeeds {
		for n := 1; n <= 64; n++ {
			for _, v := range []uint64{0, 1} {
				b := hashInput(n, v)
				h := StringHash(seed, string(b))
				for i := range b {
					for _, flip := range []byte{0x01, 0x80, 0xff} {
						c := append([]byte(nil), b...)
						c[i] ^= flip
						if h2 := StringHash(seed, string(c)); h2 == h {
							t.Fatalf("seed %#x, length %d: flipping %#x of byte %d leaves the hash %#x", seed, n, flip, i, h)
						}
					}
				}
			}
		}
	}
}

// checkShards fails t unless the keys fall evenly in 64 shards by
// h & 63: each within 25% of the mean.
func checkShards(t *testing.T, what string, seed uint64, n int, key func(i int) string) {
	t.Helper()
	// ± 35% is more than 5 standard deviations of a uniform hash for the
	// sizes below (binomial, n/64 per shard).
	var count [64]int
	for i := range n {
		count[StringHash(seed, key(i))&63]++
	}
	mean := float64(n) / 64
	for s, c := range count {
		if float64(c) < 0.65*mean || float64(c) > 1.35*mean {
			t.Fatalf("%s, seed %#x: shard %d holds %d of %d keys, want %.0f ± 35%% (counts %v)", what, seed, s, c, n, mean, count)
		}
	}
}

// TestStringHashShards: keys as users make them fall evenly in a memory
// store's 64 shards, under a few seeds: numbered keys, keys that differ only in their first
// bytes (before a long common tail, and in short keys), and keys that
// differ only in length.
func TestStringHashShards(t *testing.T) {
	const n = 25_000
	tail := strings.Repeat("/api/v1/resource", 3)
	for _, seed := range hashSeeds[:4] {
		checkShards(t, "user:%d", seed, n, func(i int) string { return fmt.Sprintf("user:%d", i) })
		// Keys that differ only in their first 4 bytes, of every branch's
		// lengths: 4, 7, 14, 20 and 52 (a partial last block), and 32
		// (whole blocks); then in their first 5 and only 3 bytes.
		for _, tail := range []string{"", ":ab", ":same-tail", ":a-fixed-suffix!", "/tail/of/twenty-eight/bytes.", tail} {
			checkShards(t, fmt.Sprintf("first bytes, %d in all", 4+len(tail)), seed, n, func(i int) string {
				var b [4]byte
				binary.LittleEndian.PutUint32(b[:], uint32(i))
				return string(b[:]) + tail
			})
		}
		checkShards(t, "5 digits, 21 in all", seed, n, func(i int) string { return fmt.Sprintf("%05d", i) + ":a-fixed-suffix!" })
		checkShards(t, "3 bytes", seed, n, func(i int) string { return string([]byte{byte(i), byte(i >> 8), byte(i >> 16)}) })
	}
	// Only the length differs: 0 to 16,383 bytes of one long string, an
	// eighth of a gigabyte to hash, so under one seed only.
	long := strings.Repeat("k", 1<<14)
	checkShards(t, "length", hashSeeds[4], 1<<14, func(i int) string { return long[:i] })
}
