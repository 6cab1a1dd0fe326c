package main

import (
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/redis/rueidis"
)

var (
	//go:embed leastgcra.lua
	leastGCRASource string
	//go:embed leastgcrakeep.lua
	leastGCRAKeepSource string

	// leastGCRA and leastGCRAKeep are leastgcra.lua and leastgcrakeep.lua
	// as rueidis runs them (EVALSHA, as the limiter's script and the
	// floor).
	leastGCRA     = rueidis.NewLuaScript(leastGCRASource)
	leastGCRAKeep = rueidis.NewLuaScript(leastGCRAKeepSource)
)

// leastDecision is a reply of leastgcra.lua or leastgcrakeep.lua.
type leastDecision struct {
	Limited                    bool
	Remaining                  int64
	RetryAfterUs, ResetAfterUs int64
}

// callLeastGCRA decides a request of cost on key by script (leastGCRA or
// leastGCRAKeep), at a rate of one unit of cost every unitUs µs and a
// burst of burst units.
func callLeastGCRA(ctx context.Context, c rueidis.Client, script *rueidis.Lua, key string, cost, unitUs, burst int64) (leastDecision, error) {
	var arg []byte
	for _, v := range []int64{cost, unitUs, burst * unitUs} {
		arg = binary.LittleEndian.AppendUint64(arg, math.Float64bits(float64(v)))
	}
	s, err := script.Exec(ctx, c, []string{key}, []string{string(arg)}).ToString()
	if err != nil {
		return leastDecision{}, err
	}
	if len(s) != 32 {
		return leastDecision{}, fmt.Errorf("the script replied %d bytes, want 32", len(s))
	}
	var f [4]int64
	for i := range f {
		f[i] = int64(math.Float64frombits(binary.LittleEndian.Uint64([]byte(s[8*i:]))))
	}
	return leastDecision{Limited: f[0] == 1, Remaining: f[1], RetryAfterUs: f[2], ResetAfterUs: f[3]}, nil
}
