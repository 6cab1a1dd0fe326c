package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store/redisstore"
)

// A Store on a rueidis client the caller owns (standalone, Sentinel or
// Cluster). The example needs a Redis server, so it is compiled but not run.
func ExampleNew() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // the Store never closes a client it was given

	s, err := redisstore.New(client, redisstore.WithPrefix("myapp:"))
	if err != nil {
		log.Fatal(err)
	}
	p, err := algo.Compile(algo.TokenBucket, algo.PerMin(60).WithBurst(10))
	if err != nil {
		log.Fatal(err)
	}
	d, err := s.Decide(context.Background(), "user:42", &p, 1)
	if err != nil {
		log.Fatal(err) // store.ErrUnavailable or store.ErrScript; a denial is not an error
	}
	fmt.Println("limited:", d.Limited, "remaining:", d.Remaining)
}

// A Store that owns its connection, from a URL: redis://, rediss://,
// unix://, or the Cluster form redis://host1:port?addr=host2:port.
func ExampleFromURL() {
	s, err := redisstore.FromURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err) // algo.ErrInvalid for a bad URL, store.ErrUnavailable when unreachable
	}
	defer s.Close() // closes the connection FromURL opened

	p, err := algo.Compile(algo.GCRA, algo.PerSec(100))
	if err != nil {
		log.Fatal(err)
	}
	if d, err := s.Decide(context.Background(), "/ping", &p, 1); err == nil && d.Limited {
		fmt.Printf("retry in %dµs\n", d.RetryAfter)
	}
}
