// Command prometheus serves a limiter's OpenTelemetry metrics to
// Prometheus, through the OTel Prometheus exporter.
//
// It builds an SDK meter provider whose reader is the exporter, gives the
// limiter the hook of github.com/throttled-go/throttled/contrib/otel,
// registers the memory store's gauges, makes a few requests so that the
// series exist, and serves /metrics (and /hello, a rate-limited endpoint
// to move them) until interrupted:
//
//	go run . -addr 127.0.0.1:9464
//	curl -s 127.0.0.1:9464/hello
//	curl -s 127.0.0.1:9464/metrics | grep throttled_
//
// The limiter allows 10 requests a minute (token bucket, burst 10) and 1000
// a day: of the first 15 requests, 10 pass and 5 are denied by the
// "minute" quota.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/throttled-go/throttled"
	throttledotel "github.com/throttled-go/throttled/contrib/otel"
	"github.com/throttled-go/throttled/store/memstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "address to serve /metrics and /hello on (port 0 picks a free one)")
	requests := flag.Int("requests", 15, "requests to make before serving, so that the series exist")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *requests, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run builds the app, makes requests, and serves on addr until ctx ends.
func run(ctx context.Context, addr string, requests int, out io.Writer) error {
	a, err := newApp()
	if err != nil {
		return err
	}
	defer a.close()
	allowed, denied, err := a.drive(ctx, requests)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d requests: %d allowed, %d denied\n", requests, allowed, denied)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "serving metrics on http://%s/metrics\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

// app is the example's limiter and the handler that serves its metrics.
type app struct {
	limiter *throttled.Limiter
	handler http.Handler // /metrics and /hello
	close   func()
}

// newApp wires the exporter, the meter provider, the hook and the store's
// gauges to a limiter, on a registry of its own.
func newApp() (*app, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Prometheus-style names: throttled_requests_total,
		// throttled_duration_seconds, ... (set explicitly: the
		// exporter's default is to change).
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	mem, err := memstore.New()
	if err != nil {
		return nil, err
	}
	in, err := throttledotel.New[string](throttledotel.WithMeterProvider(mp), throttledotel.WithLimiterName("api"))
	if err != nil {
		return nil, err
	}
	storeReg, err := throttledotel.ObserveMemoryStore("api", mem, throttledotel.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	limiter, err := throttled.New(
		throttled.WithStore(mem),
		throttled.WithQuotas(
			throttled.PerMin(10).WithName("minute"),
			throttled.PerDay(1000).WithAlgorithm(throttled.FixedWindow).WithName("daily"),
		),
		throttled.WithHooks(in.Hook),
	)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		res, err := limiter.Limit(r.Context(), "hello", 1)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case res.Limited:
			w.Header().Set("Retry-After", fmt.Sprint(int64(res.State.RetryAfter.Seconds()+0.999)))
			http.Error(w, "rate limited", http.StatusTooManyRequests)
		default:
			fmt.Fprintln(w, "hello")
		}
	})
	return &app{
		limiter: limiter,
		handler: mux,
		close: func() {
			_ = in.Close()
			_ = storeReg.Unregister()
			_ = mp.Shutdown(context.Background())
		},
	}, nil
}

// drive makes n requests for one key and counts the outcomes.
func (a *app) drive(ctx context.Context, n int) (allowed, denied int, err error) {
	for range n {
		res, err := a.limiter.Limit(ctx, "client-1", 1)
		if err != nil {
			return allowed, denied, err
		}
		if res.Limited {
			denied++
		} else {
			allowed++
		}
	}
	return allowed, denied, nil
}
