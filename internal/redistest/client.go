package redistest

import (
	"testing"

	"github.com/redis/rueidis"
)

// Client returns a rueidis client of the servers at addrs (one address
// for a standalone server; a Cluster's nodes, of which rueidis needs
// one), without client-side caching, closed when tb's test ends. It fails
// tb if the client cannot connect.
func Client(tb testing.TB, addrs ...string) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		tb.Fatalf("connect to Redis at %v: %v", addrs, err)
	}
	tb.Cleanup(c.Close)
	return c
}
