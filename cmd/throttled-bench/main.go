// Command throttled-bench reproduces throttled-py's benchmark table for the
// Go port: throughput (req/s) and latency (µs/op) of every algorithm against
// a baseline, on the in-process memory store and, with -redis, on Redis.
//
// Usage:
//
//	go run ./cmd/throttled-bench [flags]
//	go run ./cmd/throttled-bench -redis redis://127.0.0.1:6379/0
//
// It prints, as markdown tables:
//
//   - One key (throttled-py's table): rows are the baseline and the five
//     algorithms; columns are memory serial, memory with -goroutines
//     goroutines, and with -redis also Redis serial, Redis with -goroutines
//     goroutines and the Redis server's µs per call (from INFO
//     commandstats). Every cell is "throughput / latency", followed by a ×
//     column: the cell's time per op divided by the baseline's in the same
//     column (lower is better; the throughput ratio is its inverse).
//   - Memory, -keys keys: the same rows, cycling through -keys distinct keys,
//     serial and with -goroutines goroutines (each on its own run of keys).
//   - Memory, coarse clock: the memory store deciding with a 1ms coarse clock
//     (one atomic load per clock read), one key and -keys keys.
//   - With -redis, Redis server time against the floor: each algorithm's
//     server µs per call in the serial column (one decision a call) next to
//     that of the floor script, the least any decision must do as one
//     script (GET the state, TIME, SET the state PX ttl), called the same
//     way (EVALSHA, one key, one ARGV string), and their ratio; the issue's
//     target is at most 1.25×. A second ratio is paired: after the passes,
//     4·-count+3 rounds in which every script makes -redis-n/10 serial
//     calls (1000 by default) one after the other (the order rotating),
//     on a client of their own that never pipelines, each round's ratio
//     taken within the round and the median reported, so that a server
//     whose speed drifts over the run does not tilt it.
//   - With -redis, batches: -batch sequential throttled.Limiter.Limit calls
//     against one LimitAll of -batch keys, on loopback and through an
//     in-process TCP proxy that adds -rtt of round trip (half each way, each
//     chunk forwarded rtt/2 after it arrived, in order, chunks in flight
//     overlapping), with the round trip achieved as measured by PING, and
//     the ratio of the two times (the target: at least 20× at 200µs).
//
// The baselines are those of throttled-py's: for memory a mutex-guarded
// map[string]int64 doing m[key]++, for Redis an INCRBY on the same rueidis
// client the Redis store uses. Latency is the mean time one call takes as
// seen by its goroutine: elapsed/ops serially, elapsed×goroutines/ops in
// parallel (throttled-py's convention).
//
// Before each Redis cell the command sends CONFIG RESETSTAT, and after it
// reads INFO commandstats: the time per call of EVALSHA (the limiter's
// script calls, or the floor's) or of INCRBY (the baseline), added up per
// row over the cells and passes, and for the serial cells alone (the store
// may coalesce the parallel cell's concurrent decisions into fewer, larger
// calls). The server's µs per decision is independent of the network and
// of the client. The Redis server should be
// a standalone one used by nobody else during the run; the command resets
// its statistics and writes keys under the store's prefix and
// "throttled-bench:", deleting them at the end.
//
// Flags:
//
//	-n N            operations per memory cell and pass (default 500000)
//	-redis-n N      operations per Redis cell and pass (default 10000)
//	-count N        passes over every cell (default 3); each cell reports
//	                the pass with the median time per op, and -json lists
//	                every pass's ns/op. Whole passes, rather than repeats of
//	                one cell, spread each cell's runs over the whole run, so
//	                a burst of load from other processes hits the baseline
//	                and the algorithms alike.
//	-duration D     run each cell for about D instead of a fixed count
//	                (a short probe calibrates the count); 0 uses -n/-redis-n
//	-goroutines N   goroutines of the parallel columns (default 16)
//	-keys N         distinct keys of the many-key rows (default 100000)
//	-quota Q        the limiters' quota, in ParseQuota syntax (default
//	                "1000000000/s": nearly every request is allowed, so the
//	                write path is measured; "1000/s" is throttled-py's quota,
//	                under which nearly every request is denied)
//	-redis URL      also measure Redis at URL (redisstore.FromURL syntax)
//	-api A          what is called: "limiter" (default), throttled.Limiter.Limit
//	                as an application would; or "store", the store's Decide
//	                with precompiled params, without the limiter's checks
//	-json           print one JSON object with every cell instead of tables
//	-batch N        keys of the batch table (default 1000; 0: no batch table)
//	-rtt D          round trip the batch table's proxy adds (default 200µs;
//	                0: no proxy row); the proxy needs a redis:// URL of a
//	                standalone server
//
// Progress goes to stderr, one line per cell and pass; results go to
// stdout. With the defaults the memory tables take about 25 seconds on two
// cores; -redis adds about 30 seconds on a local server.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "throttled-bench:", err)
		os.Exit(1)
	}
}
