// Command typedkeys limits by keys that are not strings: typed.New[UserID]
// gives each user their own quota, and the memory store keys its table by
// the UserID itself (no string is built per request). typed.WrapFunc turns
// a handler into a limited one, keyed by its request's user; a struct key
// limits each (user, endpoint) pair.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/typed"
)

// UserID identifies a user.
type UserID int64

// Request is what the handler receives.
type Request struct {
	User UserID
	Path string
}

// Route is a key made of two fields.
type Route struct {
	User UserID
	Path string
}

func main() {
	ctx := context.Background()

	// 3 requests a minute per user.
	perUser, err := typed.New[UserID](typed.WithQuota(throttled.PerMin(3)))
	if err != nil {
		log.Fatal(err)
	}
	for i := range 4 {
		res, err := perUser.Limit(ctx, 42, 1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("user 42, request %d: limited=%v remaining=%d\n", i+1, res.Limited, res.State.Remaining)
	}
	res, err := perUser.Limit(ctx, 7, 1) // another user has their own quota
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("user 7,  request 1: limited=%v remaining=%d\n", res.Limited, res.State.Remaining)

	// A handler limited per user: 1 request a minute. Its quota differs
	// from perUser's, so the two keep separate states for one user.
	perMinute, err := typed.New[UserID](typed.WithQuota(throttled.PerMin(1)))
	if err != nil {
		log.Fatal(err)
	}
	handle := typed.WrapFunc(perMinute,
		func(r Request) UserID { return r.User },
		func(_ context.Context, r Request) (string, error) { return "200 OK " + r.Path, nil },
	)
	for _, r := range []Request{{1, "/a"}, {2, "/a"}, {1, "/b"}} {
		body, err := handle(ctx, r)
		if errors.Is(err, typed.ErrLimited) {
			fmt.Printf("user %d %s: 429 Too Many Requests\n", r.User, r.Path)
			continue
		} else if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("user %d %s: %s\n", r.User, r.Path, body)
	}

	// A struct key: each (user, path) pair has its own quota.
	perRoute, err := typed.New[Route](typed.WithAlgorithm(throttled.FixedWindow), typed.WithQuota(throttled.PerMin(1)))
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []Route{{1, "/a"}, {1, "/b"}, {1, "/a"}} {
		res, err := perRoute.Limit(ctx, k, 1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("route %v: limited=%v\n", k, res.Limited)
	}
}
