package typed_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/typed"
)

// TestFallBackKeepsStateAcrossOutages: FallBack's local state is kept until
// it expires (typed.FallBack), so a key exhausted on the local store during
// one outage is still exhausted in the next one, even when the store
// answered in between: a store going down and up again does not hand every
// client a fresh local allowance.
func TestFallBackKeepsStateAcrossOutages(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		fs := newFlakyStore(t, bubbleClock{})
		l := must(typed.New[string](typed.WithStore(fs), typed.WithQuota(algo.PerHour(2)), typed.WithOutagePolicy(typed.FallBack(1)))).of(t)
		fs.setFail(errDown)
		for i, want := range []bool{false, false, true} {
			if r := must(l.Limit(ctx, "k", 1)).of(t); r.Source != typed.FromFallback || r.Limited != want {
				t.Fatalf("first outage, call %d: %+v from %v, want limited=%v from the fallback", i, r, r.Source, want)
			}
		}
		synctest.Wait()
		// The store answers a probe: the circuit closes.
		fs.setFail(nil)
		time.Sleep(50 * time.Millisecond)
		must(l.Limit(ctx, "other", 0)).of(t)
		synctest.Wait()
		if r := must(l.Limit(ctx, "other", 0)).of(t); r.Source != typed.FromStore {
			t.Fatalf("after a probe succeeded: %+v from %v, want the store", r, r.Source)
		}
		// The second outage finds the key as the first one left it.
		fs.setFail(errDown)
		r := must(l.Limit(ctx, "k", 1)).of(t)
		if r.Source != typed.FromFallback || !r.Limited || r.State.Remaining != 0 {
			t.Errorf("second outage: %v from %v; want limited with Remaining 0, the local state kept", r, r.Source)
		}
		synctest.Wait()
	})
}
