package redisstore

import (
	"fmt"
	"math"

	"github.com/throttled-go/throttled/store"
)

// The tests' view of a stored state; the scripts themselves encode and
// check it (see lua/).

// encodeState renders state fields the way the scripts store them: one
// little-endian float64 per field (Lua's struct.pack('<d...')), exact for
// the integers below 2^53 the step functions use.
func encodeState(fields []int64) string {
	return string(appendNumbers(nil, fields...))
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
