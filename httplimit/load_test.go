package httplimit_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled"
)

const (
	loadClients  = 200
	loadDuration = 2 * time.Second
)

// loadQuotas are the load test's quotas: with the clock standing still, the
// hourly window binds at exactly 300 admissions.
var loadQuotas = throttled.WithQuotas(
	throttled.PerSec(100).WithBurst(500).WithAlgorithm(throttled.GCRA).WithName("burst"),
	throttled.PerHour(300).WithAlgorithm(throttled.FixedWindow).WithName("hourly"),
)

func TestLoadMemory(t *testing.T) {
	l, _ := memLimiter(t, loadQuotas)
	load(t, l, 300)
}

func TestLoadRedis(t *testing.T) {
	l, _, _, _ := redisLimiter(t, loadQuotas)
	load(t, l, 300)
}

// variant is a distinct 429 as the clients saw it.
type variant struct {
	retryAfter, limit, policy, contentType, body string
}

// load runs loadClients clients for loadDuration against one key (they all
// come from 127.0.0.1) and checks that exactly bound requests were
// admitted and every other response was a well-formed 429. The store's
// clock stands still, so every 429 is the same; the distinct ones are
// collected and checked.
func load(t *testing.T, l *throttled.Limiter, bound int) {
	if testing.Short() {
		t.Skip("a load test of 2 s")
	}
	var mu sync.Mutex
	served := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	url := serve(t, mustNew(t, l).Handler(h))
	tr := &http.Transport{MaxIdleConnsPerHost: loadClients, MaxIdleConns: loadClients}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	ctx := ctxTimeout(t, 60*time.Second)
	stop := time.Now().Add(loadDuration)
	var (
		wg       sync.WaitGroup
		admitted int
		total    int
		variants = map[variant]reply{}
		bad      []string
	)
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				resp, err := cl.Do(req)
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				total++
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				case resp.StatusCode == 200 && string(body) == "ok":
					admitted++
				case resp.StatusCode == 429:
					v := variant{resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit"), resp.Header.Get("RateLimit-Policy"), resp.Header.Get("Content-Type"), string(body)}
					if _, seen := variants[v]; !seen {
						variants[v] = reply{resp.StatusCode, resp.Header, string(body)}
					}
				default:
					bad = append(bad, resp.Status+" "+string(body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad responses, the first: %s", len(bad), bad[0])
	}
	t.Logf("%d clients, %v: %d requests, %d admitted, %d distinct 429s", loadClients, loadDuration, total, admitted, len(variants))
	if admitted != bound || served != bound {
		t.Errorf("admitted %d (handler ran %d times), want exactly %d", admitted, served, bound)
	}
	if total < 2*bound {
		t.Errorf("only %d requests: the load test did not exceed the quota much", total)
	}
	if len(variants) != 1 {
		t.Errorf("%d distinct 429s, want one (the clock stands still)", len(variants))
	}
	for _, rp := range variants {
		p := check429(t, rp)
		if len(p.ViolatedPolicies) != 1 || p.ViolatedPolicies[0] != "hourly" {
			t.Errorf("violated %q, want [hourly]", p.ViolatedPolicies)
		}
		if got, want := rp.Header.Get("RateLimit"), `"burst";r=200;t=3, "hourly";r=0;t=3600`; got != want {
			t.Errorf("RateLimit %q, want %q", got, want)
		}
	}
	if st, err := l.Peek(context.Background(), "ip:127.0.0.1"); err != nil || st.Remaining != 0 {
		t.Errorf("peek: %v, %v; want nothing left", st, err)
	}
}
