// Package redistest is a test harness that runs real redis-server
// processes for the tests of this module.
//
// [Standalone] starts a single redis-server, [StandaloneUnix] one that
// listens on a Unix socket only, and [Cluster] starts a three-master Redis
// Cluster (no replicas), formed with raw RESP commands (CLUSTER
// ADDSLOTSRANGE and CLUSTER MEET) rather than redis-cli. [Server.Stop]
// kills a standalone server early, for tests of a server that goes away.
// Every TCP server listens on a free port on 127.0.0.1 only (a Unix
// socket server on a socket in a fresh temporary directory), keeps its
// files in a temporary directory, persists nothing (--save "",
// --appendonly no), and is killed and reaped by a testing.TB.Cleanup
// function, so no process outlives its test. The output of each server is
// captured and its tail is included in the failure message when startup
// fails.
//
// The harness speaks RESP over plain TCP (or the Unix socket) and needs no
// Redis client library. [Server.Do] and [ClusterServer.DoNode] send one
// command and return the reply rendered as a string, for assertions in
// tests.
//
// # Missing redis-server
//
// When redis-server is not on PATH the calling test is skipped with a loud
// message, so that `go test ./...` still works on machines without Redis.
// Set the environment variable THROTTLED_REQUIRE_REDIS=1 (as CI does, see
// .ci/run) to turn that skip into a test failure, so that the Redis tests
// can never be silently skipped where they are meant to run. To run them
// locally, install Redis 7 or later, for example with
//
//	apt-get install redis-server
package redistest
