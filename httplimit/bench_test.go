package httplimit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store/memstore"
)

// discard is a ResponseWriter that keeps the fields and drops the rest, so
// a benchmark measures the handlers, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// nop is the bare handler: it writes nothing.
var nop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// BenchmarkMiddleware measures the middleware's cost over the bare handler
// on the memory store (system clock): keying by IP, one decision, the
// fields; and a denial with its problem body. decision-only is the limiter
// called directly, to tell the middleware's own cost from the store's.
func BenchmarkMiddleware(b *testing.B) {
	mem, err := memstore.New()
	if err != nil {
		b.Fatal(err)
	}
	lim := func(qs ...throttled.Quota) *throttled.Limiter {
		l, err := throttled.New(throttled.WithStore(mem), throttled.WithAlgorithm(throttled.GCRA), throttled.WithQuotas(qs...))
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	huge := throttled.PerSec(1e9).WithName("huge") // never denies
	direct := lim(huge)
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"bare", nop},
		// The limiter's decision alone, as a handler: the middleware's own
		// cost is allowed/quotas=1 minus this.
		{"decision-only", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := direct.Limit(r.Context(), "ip:203.0.113.7", 1); err != nil {
				b.Fatal(err)
			}
		})},
		{"allowed/quotas=1", mustNew(b, lim(huge)).Handler(nop)},
		{"allowed/quotas=3", mustNew(b, lim(huge, throttled.PerMin(60e9).WithName("minute"), throttled.PerDay(86400e9).WithName("day"))).Handler(nop)},
		{"allowed/legacy", mustNew(b, lim(huge), httplimit.WithLegacyHeaders()).Handler(nop)},
		{"denied", mustNew(b, lim(throttled.PerDay(1).WithName("day"))).Handler(nop)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "203.0.113.7:4711"
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.h.ServeHTTP(w, r)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "/", nil)
				r.RemoteAddr = "203.0.113.7:4711"
				w := &discard{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					c.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkKeys measures the key functions alone.
func BenchmarkKeys(b *testing.B) {
	trusted, err := httplimit.KeyByIP(httplimit.TrustProxies("10.0.0.0/8"))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		f      httplimit.KeyFunc
		remote string
		hdr    []string
	}{
		{"ip/v4", must(httplimit.KeyByIP()), "203.0.113.7:4711", nil},
		{"ip/v6", must(httplimit.KeyByIP()), "[2001:db8:1:2::7]:4711", nil},
		{"ip/xff", trusted, "10.0.0.1:4711", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.2"}},
		{"header", httplimit.KeyByHeader("X-Api-Key"), "203.0.113.7:4711", []string{"X-Api-Key", "0123456789abcdef0123456789abcdef"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := request(c.remote, c.hdr...)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.f(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func must(f httplimit.KeyFunc, err error) httplimit.KeyFunc {
	if err != nil {
		panic(err)
	}
	return f
}
