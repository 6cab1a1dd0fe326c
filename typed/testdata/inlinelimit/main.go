// Command inlinelimit is a call site of Limit as user code writes one:
// TestLimitInlines builds it with -gcflags=-m and checks that Go inlines
// the call.
package main

import (
	"context"
	"fmt"

	"github.com/throttled-go/throttled/typed"
)

func main() {
	l, err := typed.New[string]()
	if err != nil {
		panic(err)
	}
	r, err := l.Limit(context.Background(), "k", 1)
	fmt.Println(r.Limited, err)
}
