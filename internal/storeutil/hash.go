package storeutil

import (
	"hash/maphash"
	"reflect"
	"unsafe"
)

// Hasher returns a hash of K's values under a random key of its own, for
// picking a shard: maphash.String for string kinds (a direct call),
// maphash.Comparable otherwise. Each call draws a new key, so keys an
// attacker chose cannot be aimed at one shard.
func Hasher[K comparable]() func(K) uint64 {
	k := maphash.MakeSeed()
	if reflect.TypeFor[K]().Kind() == reflect.String {
		return func(v K) uint64 { return maphash.String(k, *(*string)(unsafe.Pointer(&v))) }
	}
	return func(v K) uint64 { return maphash.Comparable(k, v) }
}
