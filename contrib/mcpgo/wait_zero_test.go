package mcpgo_test

import (
	"testing"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/contrib/mcpgo"
	"github.com/throttled-go/throttled/typed"
)

// TestWaitZeroAccepted: WithWait(0) is the documented "do not wait", not
// a bad value (only a negative wait is refused).
func TestWaitZeroAccepted(t *testing.T) {
	storeOpt, _ := memStore(t)
	l := newLimiter(t, storeOpt, typed.WithQuota(algo.PerMin(1)))
	if _, err := mcpgo.ToolMiddleware(l, mcpgo.WithWait(0)); err != nil {
		t.Fatalf("WithWait(0): %v", err)
	}
}
