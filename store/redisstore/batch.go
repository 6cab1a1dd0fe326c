package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
)

var _ store.Batcher[string] = (*Store)(nil)

// maxKeysPerCall bounds how many keys one script call decides, so a big
// batch never holds the server for long.
const maxKeysPerCall = 256

// call is one script call of a batch.
type call struct {
	index []int    // the requests' positions in reqs
	keys  []string // their Redis keys
	args  []byte   // ARGV[1]: head, then one cost per key
}

// DecideBatch implements store.Batcher in one pipelined round trip. The
// generated scripts decide any number of keys per call, so the batch goes
// out as few script calls as possible: one per maxKeysPerCall keys on a
// standalone server, one per hash slot (and per maxKeysPerCall keys) on a
// Cluster, where rueidis sends each node's calls as one pipeline, in
// parallel. Only when the server lacks the script are the affected calls
// sent again, as EVAL. A script error (such as corrupt state under one key)
// fails every request of its call, some of which may have been decided.
func (s *Store) DecideBatch(ctx context.Context, p *algo.Params, reqs []store.Request[string], out []algo.Decision, errs []error) {
	if err := store.CheckParams(p); err != nil {
		store.FailAll(errs, err)
		return
	}
	head, err := s.argsHead(p)
	if err != nil {
		store.FailAll(errs, err)
		return
	}
	cluster := s.client.Mode() == rueidis.ClientModeCluster
	// The Redis keys are cut from one string: one allocation for the batch.
	var buf []byte
	ends := make([]int, len(reqs)) // where request i's key ends in buf
	for i, r := range reqs {
		if errs[i] = checkRequest(r.Key, r.Cost); errs[i] == nil {
			buf = s.appendKey(buf, r.Key, p.Algorithm)
			ends[i] = len(buf)
		}
	}
	all := string(buf)
	keys := make([]string, len(reqs))  // "" for a refused request
	slots := make([]uint16, len(reqs)) // all 0 on a standalone server
	left := map[uint16]int{}           // keys per slot not yet in a call
	start := 0
	for i := range reqs {
		if errs[i] != nil {
			continue
		}
		keys[i], start = all[start:ends[i]], ends[i]
		if cluster {
			slots[i] = keySlot(keys[i])
		}
		left[slots[i]]++
	}
	var calls []*call
	open := map[uint16]*call{} // the call being filled, per slot
	for i, r := range reqs {
		if errs[i] != nil {
			continue
		}
		slot := slots[i]
		c := open[slot]
		if c == nil || len(c.keys) == maxKeysPerCall {
			n := min(left[slot], maxKeysPerCall)
			c = &call{index: make([]int, 0, n), keys: make([]string, 0, n), args: append(make([]byte, 0, len(head)+8*n), head...)}
			open[slot] = c
			calls = append(calls, c)
		}
		left[slot]--
		c.index = append(c.index, i)
		c.keys = append(c.keys, keys[i])
		c.args = appendNumbers(c.args, r.Cost)
	}
	if len(calls) == 0 {
		return
	}
	sha := shas[p.Algorithm]
	cmds := make(rueidis.Commands, len(calls))
	for j, c := range calls {
		cmds[j] = s.client.B().Evalsha().Sha1(sha).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(string(c.args)).Build()
	}
	results := s.client.DoMulti(ctx, cmds...)
	var ds []algo.Decision // settle's buffer
	var retry []*call
	for j, res := range results {
		if re, ok := rueidis.IsRedisErr(res.Error()); ok && re.IsNoScript() {
			retry = append(retry, calls[j])
			continue
		}
		settle(res, calls[j], out, errs, &ds)
	}
	if len(retry) == 0 {
		return
	}
	src := scripts[p.Algorithm].source
	cmds = cmds[:0]
	for _, c := range retry {
		cmds = append(cmds, s.client.B().Eval().Script(src).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(string(c.args)).Build())
	}
	for j, res := range s.client.DoMulti(ctx, cmds...) {
		settle(res, retry[j], out, errs, &ds)
	}
}

// settle decodes one multi-key call's reply into the requests it carried,
// through the reusable buffer *ds.
func settle(res rueidis.RedisResult, c *call, out []algo.Decision, errs []error, ds *[]algo.Decision) {
	if cap(*ds) < len(c.index) {
		*ds = make([]algo.Decision, maxKeysPerCall)
	}
	d := (*ds)[:len(c.index)]
	err := decodeReply(res, c.keys, d)
	for j, i := range c.index {
		out[i], errs[i] = d[j], err
	}
}

// shas holds the SHA-1 of each generated script, as EVALSHA wants it.
var shas [len(scripts)]string

func init() {
	for i, sc := range scripts {
		if sc.source != "" {
			sum := sha1.Sum([]byte(sc.source))
			shas[i] = hex.EncodeToString(sum[:])
		}
	}
}

// keySlot is Redis Cluster's hash slot of key: CRC16 (XMODEM) of the key's
// hash tag (the text between the first '{' and the next '}', if not empty)
// or of the whole key, modulo 16384.
func keySlot(key string) uint16 {
	if start := strings.IndexByte(key, '{'); start >= 0 {
		if end := strings.IndexByte(key[start+1:], '}'); end > 0 {
			key = key[start+1 : start+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}
