package redisstore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/throttled-go/throttled/store"
)

// encodeState renders n state fields the way the scripts store them:
// decimal integers joined by ':'.
func encodeState(fields []int64) string {
	b := make([]byte, 0, 48)
	for i, f := range fields {
		if i > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendInt(b, f, 10)
	}
	return string(b)
}

// decodeState parses a stored state of n fields.
func decodeState(raw string, n int) ([]int64, error) {
	parts := strings.Split(raw, ":")
	if len(parts) != n {
		return nil, fmt.Errorf("%w: corrupt state %q: want %d fields", store.ErrScript, raw, n)
	}
	out := make([]int64, n)
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: corrupt state %q: %w", store.ErrScript, raw, err)
		}
		out[i] = v
	}
	return out, nil
}
