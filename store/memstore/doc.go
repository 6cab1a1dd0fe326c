// Package memstore is the in-process rate-limit store: sharded (no global
// lock), bounded, expiring, and keyed by any comparable type without turning
// keys into strings.
//
// It runs the step functions of package algo through store.Policy.Step:
// the bindings gen writes from algo, and for every algorithm but the
// sliding window the same step with its divisions by the quota's constants
// done as multiplications by reciprocals (a property test checks them
// equal to the generated steps on every input family), so its decisions
// are the Redis store's decisions.
//
// # Layout
//
// A table is 64 shards (WithShards), each an index of its keys and a lock
// that guards adding and removing keys. The index is open addressing over
// (hash, entry) slots, so a lookup reads the slot array and the entry it
// finds, two cache lines, and compares keys only when their 64-bit hashes
// match. A key's entry is 64 bytes (with a string key): its own lock and
// its state under its first policy, on one cache line. A decision on a key
// the index holds, under that policy, looks the key up without the shard's
// lock and takes only the entry's (the index's slots are atomic, and an
// entry removed meanwhile is empty, so the decision then takes the shard's
// lock and looks again); new keys, other policies' states, resets,
// sweeps and evictions take the shard's lock, then the entry's. So
// goroutines on one key pass one cache line between them, and goroutines
// on different keys share nothing but a shard's slot array. The shard is
// picked by a hash under a key drawn per table (wyhash mixing for string
// kinds), so keys an attacker chose cannot be aimed at one shard. Locks
// spin briefly before they block: a decision holds one for a few tens of
// nanoseconds, less than parking a goroutine costs.
//
// # Keys and policies
//
// A Store keeps string keys itself and keys of another type K in its
// table For[K]. Every policy's state of a key lives in the key's entry, in
// the shard its hash picks, so one lock decides a request under all of a
// limiter's quotas, and limiters with different quotas on one key keep
// separate states (see store.Policy).
//
// # Size, expiry and eviction
//
// Each table holds at most WithMaxSize keys (default DefaultMaxSize), split
// evenly across its shards. A key's state under a policy expires when it is
// back to the initial one (its ResetAfter), and expired state is equivalent
// to absent state, so dropping it changes no decision. There is no
// background goroutine: a shard that is full when a new key arrives first
// drops its expired state, and only when nothing has expired evicts a live
// key, counted by Stats().LiveEvictions. It evicts, of a sample of 8 keys,
// the one whose loss admits the least: the one that has used the least of
// its quota right now (Limit − Remaining, as a Peek reports, under its most
// used policy), and of keys that used as much, the one whose state expires
// soonest. A flood of keys, each used a little, thus evicts its own keys,
// and a key that has used its quota is the last to go, so an attacker
// cycling keys cannot reset a victim's limit (throttled-py's default of
// 1024 keys, evicted least recently used, lets one). Size the store for
// your key space; memory is bounded by it.
//
// Reads never drop anything. Once expired state is dropped, a clock that
// steps back before its expiry sees a fresh key; the same holds in Redis,
// whose TTLs run on the server's clock. The system and coarse clocks never
// step back.
package memstore
