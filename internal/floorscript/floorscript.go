// Package floorscript is the least a rate-limit decision on Redis must do,
// as one script called the way the limiter's is (EVALSHA, one key, one
// ARGV string): read the key's state (GET), read the server's clock
// (TIME), write the state back with its TTL (SET PX). Any algorithm does
// at least this; the limiter's server time a call over the floor's is what
// its script costs on top. cmd/throttled-bench, bench/scriptcost and
// store/redisstore's benchmarks measure against it.
package floorscript

import (
	"context"
	"encoding/binary"
	"math"

	"github.com/redis/rueidis"
)

// Source is the floor script.
const Source = `local state = redis.call('GET', KEYS[1])
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'PX', '60000')
return state or ''
`

// State is what the floor script writes: the size of a stored state of
// two fields and its expiry (three float64s), as the limiter's script
// stores for most algorithms.
var State = func() string {
	var b []byte
	for _, v := range []float64{1.7e15, 12345, 1.7e12} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return string(b)
}()

// Script is the floor as rueidis runs it: EVALSHA, and EVAL when the
// server does not have it yet (as for the limiter's script).
var Script = rueidis.NewLuaScript(Source)

// Call makes one call of the floor script on key through c.
func Call(ctx context.Context, c rueidis.Client, key string) error {
	return Script.Exec(ctx, c, []string{key}, []string{State}).Error()
}
