package clock_test

import (
	"fmt"
	"time"

	"github.com/throttled-go/throttled/internal/clock"
)

func ExampleFake() {
	c := clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	show := func() {
		fmt.Println(time.UnixMicro(c.Now()).UTC().Format(time.RFC3339Nano))
	}

	show()
	c.Advance(1500 * time.Millisecond)
	show()
	c.AdvanceMicros(250)
	show()
	c.Advance(-time.Second) // fake clocks may step back
	show()
	c.Set(0)
	show()

	// Output:
	// 2024-01-01T00:00:00Z
	// 2024-01-01T00:00:01.5Z
	// 2024-01-01T00:00:01.50025Z
	// 2024-01-01T00:00:00.50025Z
	// 1970-01-01T00:00:00Z
}
