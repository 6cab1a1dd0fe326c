package httplimit_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
)

// A route limited per client IP under two named quotas: a burst of 3 at
// 1 a second, and 100 an hour. The memory store runs on a fake clock, so
// the output is the same every time.
func Example() {
	clock := store.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	mem, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	l, err := throttled.New(
		throttled.WithStore(mem),
		throttled.WithAlgorithm(throttled.GCRA),
		throttled.WithQuotas(
			throttled.PerSec(1).WithBurst(3).WithName("burst"),
			throttled.PerHour(100).WithName("hourly"),
		),
	)
	if err != nil {
		log.Fatal(err)
	}
	m, err := httplimit.New(l) // keyed by the client's IP
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})))

	var w *httptest.ResponseRecorder
	for range 4 {
		w = httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil)) // from 192.0.2.1
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	fmt.Println("RateLimit-Policy:", w.Header().Get("RateLimit-Policy"))
	fmt.Println("Retry-After:", w.Header().Get("Retry-After"))
	fmt.Print(w.Body)

	clock.Advance(time.Second) // as Retry-After says
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
	fmt.Println(w.Code, w.Header().Get("RateLimit"))
	// Output:
	// 200 "burst";r=2;t=1, "hourly";r=99;t=36
	// 200 "burst";r=1;t=2, "hourly";r=98;t=72
	// 200 "burst";r=0;t=3, "hourly";r=97;t=108
	// 429 "burst";r=0;t=1, "hourly";r=97;t=108
	// RateLimit-Policy: "burst";q=1;w=1;throttled-burst=3, "hourly";q=100;w=3600
	// Retry-After: 1
	// {"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded","status":429,"detail":"Quota \"burst\" exceeded: retry in 1 s.","violated-policies":["burst"],"retry-after":1}
	// 200 "burst";r=0;t=3, "hourly";r=96;t=143
}
