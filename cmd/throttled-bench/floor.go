package main

import (
	"context"
	"encoding/binary"
	"math"

	"github.com/redis/rueidis"
)

// rowFloor is the row of the floor script: the Redis cells of the one-key
// table and the server time every algorithm's is compared with.
const rowFloor = "floor"

// floorKey is the key the floor script reads and writes.
const floorKey = "throttled-bench:floor"

// floorScript is the least a rate-limit decision on Redis must do, as one
// script called the way the limiter's is (EVALSHA, one key, one ARGV
// string): read the key's state (GET), read the server's clock (TIME),
// write the state back with its TTL (SET PX). Any algorithm does at least
// this; the ratio of its server time per call to the floor's is what the
// script itself costs on top.
const floorScript = `local state = redis.call('GET', KEYS[1])
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'PX', '60000')
return state or ''
`

// floorState is what the floor script writes: the size of a stored state
// of two fields and its expiry (three float64s), as the limiter's script
// stores for most algorithms.
var floorState = func() string {
	var b []byte
	for _, v := range []float64{1.7e15, 12345, 1.7e12} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return string(b)
}()

// floorSubject returns the floor script's subject on a fresh key.
func (r *redisBench) floorSubject() (subject, error) {
	ctx := context.Background()
	if err := r.client.Do(ctx, r.client.B().Del().Key(floorKey).Build()).Error(); err != nil {
		return subject{}, err
	}
	keys, args := []string{floorKey}, []string{floorState}
	return subject{
		decide: func(ctx context.Context, _ string) (bool, error) {
			return false, r.floor.Exec(ctx, r.client, keys, args).Error()
		},
		close: func() {},
	}, nil
}

// newFloorScript is the floor as rueidis runs it: EVALSHA, and EVAL when
// the server does not have it yet (as for the limiter's script).
func newFloorScript() *rueidis.Lua { return rueidis.NewLuaScript(floorScript) }
