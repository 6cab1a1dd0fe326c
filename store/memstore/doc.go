// Package memstore is the in-process rate-limit store: sharded (no global
// lock), bounded, expiring, and keyed by any comparable type without turning
// keys into strings.
//
// It runs the step functions of package algo through generated bindings
// (the *_gen.go files, written by gen from algo), so its decisions are the
// Redis store's decisions.
//
// # Size and eviction
//
// Each table of a Store (one per key type and namespace; the facade uses one)
// holds at most WithMaxSize entries (default DefaultMaxSize), split evenly
// across its shards. A key's entry expires when its state is back to
// the initial one (its ResetAfter), and an expired entry is equivalent to an
// absent one, so dropping it changes no decision. When a shard is full, a new
// key first makes the shard drop its expired entries; only when none has
// expired is a live entry evicted: the one among a small sample that expires
// soonest. Evicting a live key forgets its history (the key starts fresh),
// so it is a last resort, counted by Stats().LiveEvictions; size the store
// for your key space. The seed's default of 1024 entries let an attacker
// cycling keys reset a victim's limit; the default here is 2^20.
//
// A background janitor drops expired entries every WithSweepInterval
// (default one minute); Close stops it. Reads never drop anything. Once an
// expired entry is dropped, a clock that steps back before its expiry sees
// a fresh key; the same holds in Redis, whose TTLs run on the server's
// clock. The real and coarse clocks never step back.
package memstore
