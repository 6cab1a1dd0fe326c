// Command http is a small server limited by package httplimit, to see the
// RateLimit fields, Retry-After and the problem details of a 429 with curl.
//
// GET /hello is limited per client IP by two quotas: "burst", 3 at once
// refilling 1 a second, and "hourly", 100 an hour. GET /healthz is not
// limited.
//
//	go run ./examples/http -serve             # serves on 127.0.0.1:8080
//	curl -i http://127.0.0.1:8080/hello       # four times in a row
//
// Without -serve it starts the server on a free loopback port, sends itself
// four requests to /hello, prints them as curl -i shows them (the fields of
// interest), and exits.
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

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store/memstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve on with -serve")
	keep := flag.Bool("serve", false, "serve on -addr until interrupted, instead of showing four requests and exiting")
	flag.Parse()

	h, err := handler()
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		if err := serve(*addr, h); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := demo(h); err != nil {
		log.Fatal(err)
	}
}

// handler returns the example's routes.
func handler() (http.Handler, error) {
	mem, err := memstore.New()
	if err != nil {
		return nil, err
	}
	api, err := throttled.New(
		throttled.WithStore(mem),
		throttled.WithAlgorithm(throttled.GCRA),
		throttled.WithQuotas(
			throttled.PerSec(1).WithBurst(3).WithName("burst"),
			throttled.PerHour(100).WithName("hourly"),
		),
	)
	if err != nil {
		return nil, err
	}
	// Keyed by the peer's address. Behind a reverse proxy, trust it:
	//	key, _ := httplimit.KeyByIP(httplimit.TrustProxies("10.0.0.0/8"))
	//	httplimit.New(api, httplimit.WithKey(key))
	limit, err := httplimit.New(api)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", limit.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	return mux, nil
}

// serve serves h on addr until SIGINT or SIGTERM, then shuts down.
func serve(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	fmt.Printf("serving on http://%s; try: curl -i http://%s/hello\n", ln.Addr(), ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demo serves h on a free loopback port and shows four requests to /hello.
func demo(h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 4 {
		if i > 0 {
			fmt.Println()
		}
		fmt.Println("$ curl -i http://" + ln.Addr().String() + "/hello")
		resp, err := client.Get("http://" + ln.Addr().String() + "/hello")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Println(resp.Proto, resp.Status)
		for _, f := range []string{"Content-Type", "Ratelimit", "Ratelimit-Policy", "Retry-After"} {
			if v := resp.Header.Get(f); v != "" {
				fmt.Printf("%s: %s\n", f, v)
			}
		}
		fmt.Println()
		fmt.Print(string(body))
	}
	return nil
}
