package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
)

var _ store.Batcher[string] = (*Store)(nil)

// maxKeysPerCall bounds how many keys one script call decides, so a big
// batch never holds the server for long.
const maxKeysPerCall = 256

// call is one script call of a batch.
type call struct {
	index []int    // the requests' positions in reqs
	keys  []string // their Redis keys, npol per request
	args  []byte   // ARGV[1]: head, then one cost per request
}

// DecideBatch implements store.Batcher in one pipelined round trip. The
// script decides any number of requests per call, so the batch goes out as
// few script calls as possible: one per maxKeysPerCall keys on a standalone
// server, one per hash slot (and per maxKeysPerCall keys) on a Cluster,
// where rueidis sends each node's calls as one pipeline, in parallel. Only
// when the server lacks the script are the affected calls sent again, as
// EVAL. A request whose key holds something else than its state fails
// alone, charging nothing; a failure of a call as a whole (unreachable
// server, script error) fails its requests.
func (s *Store) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[string], out, each []algo.Decision, errs []error) {
	if err := check(ctx, ps, nil); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	npol := len(ps)
	if err := storeutil.CheckEach(each, len(reqs)*npol); err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	head, err := s.argsHead(ps)
	if err != nil {
		storeutil.FailAll(errs, err)
		return
	}
	cluster := s.client.Mode() == rueidis.ClientModeCluster
	// The Redis keys are cut from one string: one allocation for the batch.
	var buf []byte
	ends := make([]int, len(reqs)*npol) // where each key ends in buf
	for i, r := range reqs {
		if errs[i] = checkRequest(r.Key, r.Cost); errs[i] == nil {
			for j, p := range ps {
				buf = s.appendKey(buf, r.Key, p)
				ends[i*npol+j] = len(buf)
			}
		}
	}
	all := string(buf)
	keys := make([]string, len(reqs)*npol) // "" for a refused request
	slots := make([]uint16, len(reqs))     // all 0 on a standalone server
	left := map[uint16]int{}               // requests per slot not yet in a call
	start := 0
	for i := range reqs {
		if errs[i] != nil {
			continue
		}
		for j := range npol {
			k := i*npol + j
			keys[k], start = all[start:ends[k]], ends[k]
		}
		if cluster {
			slots[i] = keySlot(keys[i*npol]) // a request's keys share their hash tag
		}
		left[slots[i]]++
	}
	perCall := max(1, maxKeysPerCall/npol) // requests per call
	var calls []*call
	open := map[uint16]*call{} // the call being filled, per slot
	for i, r := range reqs {
		if errs[i] != nil {
			continue
		}
		slot := slots[i]
		c := open[slot]
		if c == nil || len(c.index) == perCall {
			n := min(left[slot], perCall)
			c = &call{index: make([]int, 0, n), keys: make([]string, 0, n*npol), args: append(make([]byte, 0, len(head)+8*n), head...)}
			open[slot] = c
			calls = append(calls, c)
		}
		left[slot]--
		c.index = append(c.index, i)
		c.keys = append(c.keys, keys[i*npol:(i+1)*npol]...)
		c.args = appendNumbers(c.args, r.Cost)
	}
	if len(calls) == 0 {
		return
	}
	cmds := make(rueidis.Commands, len(calls))
	for j, c := range calls {
		cmds[j] = s.client.B().Evalsha().Sha1(scriptSHA).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(string(c.args)).Build()
	}
	ctx, b := s.bound(ctx)
	defer b.release()
	results := s.client.DoMulti(ctx, cmds...)
	var sc scratch
	var retry []*call
	for j, res := range results {
		if re, ok := rueidis.IsRedisErr(res.Error()); ok && re.IsNoScript() {
			retry = append(retry, calls[j])
			continue
		}
		sc.settle(res, calls[j], ps, out, each, errs)
	}
	if len(retry) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, c := range retry {
		cmds = append(cmds, s.client.B().Eval().Script(scriptSource).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(string(c.args)).Build())
	}
	for j, res := range s.client.DoMulti(ctx, cmds...) {
		sc.settle(res, retry[j], ps, out, each, errs)
	}
}

// scratch holds the buffers settle reuses from call to call.
type scratch struct {
	ds   []algo.Decision
	errs []error
}

// settle decodes one call's reply into the requests it carried.
func (sc *scratch) settle(res rueidis.RedisResult, c *call, ps []*store.Policy, out, each []algo.Decision, errs []error) {
	n, npol := len(c.index), len(ps)
	if cap(sc.errs) < n {
		sc.ds, sc.errs = make([]algo.Decision, maxKeysPerCall*npol), make([]error, maxKeysPerCall)
	}
	ds, cerrs := sc.ds[:n*npol], sc.errs[:n]
	clear(cerrs)
	err := decodeReply(res, c.keys, ps, ds, cerrs)
	for k, i := range c.index {
		if err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = cerrs[k]; errs[i] != nil {
			continue
		}
		mine := ds[k*npol : (k+1)*npol]
		out[i] = storeutil.Combine(mine)
		if each != nil {
			copy(each[i*npol:(i+1)*npol], mine)
		}
	}
}

// scriptSHA is the SHA-1 of the script, as EVALSHA names it.
var scriptSHA = func() string {
	sum := sha1.Sum([]byte(scriptSource))
	return hex.EncodeToString(sum[:])
}()

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
