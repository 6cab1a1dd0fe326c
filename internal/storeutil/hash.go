package storeutil

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"unsafe"
)

// Hasher returns a hash of K's values under a random key of its own, for
// picking a shard: StringHash for string kinds, maphash.Comparable
// otherwise. Each call draws a new key, so keys an attacker chose cannot
// be aimed at one shard.
func Hasher[K comparable]() func(K) uint64 {
	if reflect.TypeFor[K]().Kind() == reflect.String {
		k := rand.Uint64() // math/rand/v2's generator: unpredictable
		return func(v K) uint64 { return StringHash(k, *(*string)(unsafe.Pointer(&v))) }
	}
	k := maphash.MakeSeed() // maphash's random key (Go's name for it)
	return func(v K) uint64 { return maphash.Comparable(k, v) }
}

// The multipliers of wyhash, the hash Go's runtime uses for maps on
// processors without AES instructions.
const (
	wy0 = 0xa0761d6478bd642f
	wy1 = 0xe7037ed1a0b428db
)

func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// StringHash hashes s under the random key k with wyhash's mixing, as
// Go's runtime does for maps without AES: a few multiplications for a short
// key, where maphash.String (AES rounds behind four calls) cost a tenth of
// a memory decision.
func StringHash(k uint64, s string) uint64 {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	n := len(b)
	k ^= wy0
	var x, y uint64
	switch {
	case n == 0:
	case n < 4:
		x = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	case n <= 8:
		x = uint64(binary.LittleEndian.Uint32(b))
		y = uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n <= 16:
		x = binary.LittleEndian.Uint64(b)
		y = binary.LittleEndian.Uint64(b[n-8:])
	default:
		for len(b) > 16 {
			k = wymix(binary.LittleEndian.Uint64(b)^wy1, binary.LittleEndian.Uint64(b[8:])^k)
			b = b[16:]
		}
		b = unsafe.Slice(unsafe.StringData(s), n)
		x = binary.LittleEndian.Uint64(b[n-16:])
		y = binary.LittleEndian.Uint64(b[n-8:])
	}
	return wymix(wy1^uint64(n), wymix(x^wy1, y^k))
}
