package redisstore

import (
	"encoding/binary"
	"math"
)

// appendNumbers appends vs as little-endian float64s, the form in which the
// scripts read their arguments (one struct.unpack instead of a tonumber per
// value). Every value is an integer below 2^53 in magnitude, exact in a
// float64; the callers check that first.
func appendNumbers(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
	}
	return b
}

// float64At decodes the i-th little-endian float64 of s.
func float64At(s string, i int) float64 {
	s = s[8*i : 8*i+8]
	return math.Float64frombits(uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56)
}
