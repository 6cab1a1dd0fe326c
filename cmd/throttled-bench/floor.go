package main

import (
	"context"

	"github.com/throttled-go/throttled/internal/floorscript"
)

// rowFloor is the row of the floor script (internal/floorscript): the
// Redis cells of the one-key table and the server time every algorithm's
// is compared with.
const rowFloor = "floor"

// floorKey is the key the floor script reads and writes.
const floorKey = "throttled-bench:floor"

// floorSubject returns the floor script's subject on a fresh key.
func (r *redisBench) floorSubject() (subject, error) {
	ctx := context.Background()
	if err := r.client.Do(ctx, r.client.B().Del().Key(floorKey).Build()).Error(); err != nil {
		return subject{}, err
	}
	return subject{
		decide: func(ctx context.Context, _ string) (bool, error) {
			return false, floorscript.Call(ctx, r.client, floorKey)
		},
		close: func() {},
	}, nil
}
