package async

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

func TestFutureAwaitDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := Go(context.Background(), func(context.Context) (int, error) {
			<-release
			return 42, nil
		})
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
		select {
		case <-f.Done():
		default:
			t.Fatal("Done not closed after the function returned")
		}
	})
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
	})
	if n := runtime.NumGoroutine(); n > 50 {
		t.Fatalf("%d goroutines after the bubble ended", n)
	}
}
