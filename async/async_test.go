package async

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestFutureAwaitTryGetDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := Go(context.Background(), func(context.Context) (int, error) {
			<-release
			return 42, nil
		})
		if _, _, ok := f.TryGet(); ok {
			t.Fatal("TryGet reported a value before the function returned")
		}
		select {
		case <-f.Done():
			t.Fatal("Done closed early")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := f.Await(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Await past the deadline: %v, want DeadlineExceeded", err)
		}
		close(release)
		v, err := f.Await(context.Background())
		if v != 42 || err != nil {
			t.Fatalf("Await = %d, %v", v, err)
		}
		if v, err, ok := f.TryGet(); !ok || v != 42 || err != nil {
			t.Fatalf("TryGet = %d, %v, %v", v, err, ok)
		}
		<-f.Done()
	})
}

func TestResolved(t *testing.T) {
	boom := errors.New("boom")
	f := Resolved(7, boom)
	if v, err, ok := f.TryGet(); !ok || v != 7 || err != boom {
		t.Fatalf("TryGet = %d, %v, %v", v, err, ok)
	}
}

// TestNoGoroutineLeaks checks that every goroutine ends, after completion
// and after cancellation: synctest.Test fails if any goroutine started in
// the bubble is still running (or blocked) when the function returns.
func TestNoGoroutineLeaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var fs []*Future[int]
		for i := range 50 {
			fs = append(fs, Go(ctx, func(ctx context.Context) (int, error) {
				if i%2 == 0 {
					return i, nil
				}
				<-ctx.Done() // half of them run until cancelled
				return 0, ctx.Err()
			}))
		}
		synctest.Wait()
		cancel()
		for i, f := range fs {
			v, err := f.Await(context.Background())
			if i%2 == 0 && (v != i || err != nil) {
				t.Fatalf("future %d = %d, %v", i, v, err)
			}
			if i%2 == 1 && !errors.Is(err, context.Canceled) {
				t.Fatalf("future %d: %v, want Canceled", i, err)
			}
		}
		// Map and Settle too: a failing Map cancels the rest and returns.
		_, err := Map(context.Background(), 3, []int{1, 2, 3, 4, 5, 6}, func(ctx context.Context, v int) (int, error) {
			if v == 2 {
				return 0, errors.New("two")
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Hour):
				return v, nil
			}
		})
		if err == nil || err.Error() != "two" {
			t.Fatalf("Map error = %v, want the first error", err)
		}
	})
	if n := runtime.NumGoroutine(); n > 50 {
		t.Fatalf("%d goroutines after the bubble ended", n)
	}
}

func TestMapOrderAndLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var running, peak atomic.Int64
		in := []int{5, 4, 3, 2, 1, 0}
		out, err := Map(context.Background(), 2, in, func(ctx context.Context, v int) (int, error) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Duration(v) * time.Millisecond)
			running.Add(-1)
			return v * 10, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range in {
			if out[i] != v*10 {
				t.Fatalf("out[%d] = %d, want %d (input order)", i, out[i], v*10)
			}
		}
		if peak.Load() > 2 {
			t.Fatalf("%d ran at once, limit 2", peak.Load())
		}
	})
}

func TestSettleKeepsGoing(t *testing.T) {
	out, errs := Settle(context.Background(), 0, []int{1, 2, 3}, func(_ context.Context, v int) (int, error) {
		if v == 2 {
			return 0, errors.New("two")
		}
		return v, nil
	})
	if out[0] != 1 || out[2] != 3 || errs[1] == nil || errs[0] != nil || errs[2] != nil {
		t.Fatalf("Settle = %v, %v", out, errs)
	}
}
