package redisstore

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/throttled-go/throttled/store"
)

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
		f := math.Float64frombits(binary.LittleEndian.Uint64([]byte(raw[8*i:])))
		if !(f >= 0 && f <= 1<<53 && f == math.Floor(f)) {
			return nil, fmt.Errorf("%w: corrupt state %q: field %d is %v", store.ErrScript, raw, i, f)
		}
		out[i] = int64(f)
	}
	return out, nil
}
