package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/store"
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
		log.Fatal(err) // a bad option: an *algo.DataError
	}
	p, err := store.NewPolicy(algo.PerMin(60).WithBurst(10).WithAlgorithm(algo.TokenBucket))
	if err != nil {
		log.Fatal(err)
	}
	d, err := s.Decide(context.Background(), "user:42", []*store.Policy{p}, 1, nil)
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

	p, err := store.NewPolicy(algo.PerSec(100).WithAlgorithm(algo.GCRA))
	if err != nil {
		log.Fatal(err)
	}
	if d, err := s.Decide(context.Background(), "/ping", []*store.Policy{p}, 1, nil); err == nil && d.Limited {
		fmt.Printf("retry in %dµs\n", d.RetryAfter)
	}
}

// Several quotas on one key, decided in one script call: the request
// passes only if every quota admits it, and then every quota is charged.
func ExampleStore_Decide_policies() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	s, err := redisstore.New(client)
	if err != nil {
		log.Fatal(err)
	}
	perSec, _ := store.NewPolicy(algo.PerSec(10).WithAlgorithm(algo.GCRA))
	perDay, _ := store.NewPolicy(algo.PerDay(10_000).WithAlgorithm(algo.FixedWindow).WithName("daily"))
	ps := []*store.Policy{perSec, perDay}
	each := make([]algo.Decision, len(ps))
	d, err := s.Decide(context.Background(), "user:42", ps, 1, each)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("limited:", d.Limited, "per second left:", each[0].Remaining, "today left:", each[1].Remaining)
}
