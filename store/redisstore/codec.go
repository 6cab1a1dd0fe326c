package redisstore

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/throttled-go/throttled/store"
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

// encodeState renders state fields the way the scripts store them: one
// little-endian float64 per field (Lua's struct.pack('<d...')), exact for
// the integers below 2^53 the step functions use.
func encodeState(fields []int64) string {
	b := make([]byte, 8*len(fields))
	for i, f := range fields {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(f)))
	}
	return string(b)
}

// decodeState parses a stored state of n fields, refusing what the scripts
// refuse: a wrong length, or a field that is not an integer in [0, 2^53].
func decodeState(raw string, n int) ([]int64, error) {
	if len(raw) != 8*n {
		return nil, fmt.Errorf("%w: corrupt state %q: %d bytes, want %d", store.ErrScript, raw, len(raw), 8*n)
	}
	out := make([]int64, n)
	for i := range out {
		f := float64At(raw, i)
		if !(f >= 0 && f <= 1<<53 && f == math.Floor(f)) {
			return nil, fmt.Errorf("%w: corrupt state %q: field %d is %v", store.ErrScript, raw, i, f)
		}
		out[i] = int64(f)
	}
	return out, nil
}
