// Command scoped is throttled-py's context-manager example in Go. Where
// Python writes `with throttle: call_api()`, Go passes the block to Do,
// which runs it only when the request is allowed and otherwise returns a
// *throttled.LimitedError without running it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/throttled-go/throttled"
)

func callAPI(context.Context) error {
	fmt.Println("doing something...")
	return nil
}

func main() {
	ctx := context.Background()
	// Throttled(key="/api/v1/users/", quota=per_min(1))
	t, err := throttled.New(
		throttled.WithDefaultKey("/api/v1/users/"),
		throttled.WithQuota(throttled.PerMin(1)),
	)
	if err != nil {
		log.Fatal(err)
	}

	// with throttle as rate_limit_result: ...
	// The empty key stands for the WithDefaultKey key.
	err = t.Do(ctx, "", func(ctx context.Context) error {
		st, err := t.Peek(ctx, "")
		if err != nil {
			return err
		}
		fmt.Println("allowed, remaining:", st.Remaining)
		return callAPI(ctx)
	})
	if err != nil {
		log.Fatal(err)
	}

	// The second block within the minute is limited and does not run.
	err = t.Do(ctx, "", callAPI)
	var le *throttled.LimitedError
	if !errors.As(err, &le) {
		log.Fatalf("got %v, want a *throttled.LimitedError", err)
	}
	fmt.Println("limited:", le.Result.Limited, "remaining:", le.Result.State.Remaining)
}
