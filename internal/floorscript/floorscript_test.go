package floorscript

import (
	"context"
	"testing"

	"github.com/throttled-go/throttled/internal/redistest"
)

// TestCall runs the floor on a real Redis: it writes State with a TTL of
// at most a minute, and returns what the key held before.
func TestCall(t *testing.T) {
	srv := redistest.Standalone(t)
	c := redistest.Client(t, srv.Addr())
	ctx := context.Background()
	if len(State) != 24 {
		t.Fatalf("State is %d bytes, want 24 (three float64s)", len(State))
	}
	for i := range 2 {
		got, err := Script.Exec(ctx, c, []string{"k"}, []string{State}).ToString()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"", State}[i]; got != want {
			t.Fatalf("call %d returned %q, want %q (the key's state before it)", i+1, got, want)
		}
	}
	if err := Call(ctx, c, "k"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToString(); err != nil || v != State {
		t.Fatalf("GET k = %q, %v; want State", v, err)
	}
	if ttl, err := c.Do(ctx, c.B().Pttl().Key("k").Build()).AsInt64(); err != nil || ttl <= 0 || ttl > 60000 {
		t.Fatalf("PTTL k = %d, %v; want 1 to 60000 ms", ttl, err)
	}
}
