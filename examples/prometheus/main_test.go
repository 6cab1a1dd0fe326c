package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs url over HTTP and parses the Prometheus text it returns.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the value of family name's series whose labels include
// labels ("k=v" pairs), failing unless exactly one series matches.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	var found []float64
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			found = append(found, m.GetCounter().GetValue())
		case m.Gauge != nil:
			found = append(found, m.GetGauge().GetValue())
		case m.Histogram != nil:
			found = append(found, float64(m.GetHistogram().GetSampleCount()))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s{%v}: %d series match, want 1", name, labels, len(found))
	}
	return found[0]
}

var api = []string{"throttled_limiter=api", "throttled_store=memory", "throttled_quota=minute", "throttled_algorithm=token_bucket", "throttled_source=store", "throttled_operation=limit"}

func with(kv ...string) []string { return append(append([]string(nil), api...), kv...) }

// TestHandler serves the app's handler over HTTP on loopback, makes 15
// requests and 12 more through /hello (10 per minute each key: the first
// 10 of each pass), and scrapes /metrics.
func TestHandler(t *testing.T) {
	a, err := newApp()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	allowed, denied, err := a.drive(ctx, 15)
	if err != nil || allowed != 10 || denied != 5 {
		t.Fatalf("drive: %d allowed, %d denied, %v; want 10 and 5", allowed, denied, err)
	}
	srv := httptest.NewServer(a.handler)
	defer srv.Close()
	var codes []int
	for range 12 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hello", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "6" {
			t.Errorf("Retry-After %q, want 6 (one token per 6 s)", resp.Header.Get("Retry-After"))
		}
	}
	for i, c := range codes {
		if want := map[bool]int{true: 200, false: 429}[i < 10]; c != want {
			t.Fatalf("/hello statuses %v, want 10 × 200 then 429s", codes)
		}
	}

	fams := scrape(t, srv.URL+"/metrics")
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"throttled_requests_total", with("throttled_result=allowed"), 20},
		{"throttled_requests_total", with("throttled_result=denied"), 7},
		{"throttled_duration_seconds", with("throttled_result=allowed"), 20},
		{"throttled_duration_seconds", with("throttled_result=denied"), 7},
		{"throttled_fallback_active", []string{"throttled_limiter=api"}, 0},
		{"throttled_memory_keys", []string{"throttled_store=memory", "throttled_store_name=api"}, 2}, // client-1 and hello
		{"throttled_memory_live_evictions_total", []string{"throttled_store_name=api"}, 0},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if f := fams["throttled_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM || f.GetUnit() != "" && f.GetUnit() != "seconds" {
		t.Errorf("throttled_duration_seconds: type %v unit %q", f.GetType(), f.GetUnit())
	}
}

// TestBinary builds the example, runs it on a free port, scrapes the
// address it prints, and stops it with SIGINT.
func TestBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "prometheus")
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-requests", "15")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := bufio.NewScanner(stdout)
	var url string
	var seen []string
	for url == "" && lines.Scan() {
		seen = append(seen, lines.Text())
		if u, ok := strings.CutPrefix(lines.Text(), "serving metrics on "); ok {
			url = u
		}
	}
	if url == "" || seen[0] != "15 requests: 10 allowed, 5 denied" {
		t.Fatalf("output %q: no address", seen)
	}
	fams := scrape(t, url)
	if got := value(t, fams, "throttled_requests_total", with("throttled_result=allowed")...); got != 10 {
		t.Errorf("allowed %v, want 10", got)
	}
	if got := value(t, fams, "throttled_requests_total", with("throttled_result=denied")...); got != 5 {
		t.Errorf("denied %v, want 5", got)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (output after serving: %q)", err, rest)
	}
	if len(rest) != 1 || rest[0] != "stopped" {
		t.Errorf("output after SIGINT %q, want stopped", rest)
	}
}

// TestRun runs the program's body in process on a free port, scrapes the
// address it prints, and stops it by cancelling its context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(runCtx, "127.0.0.1:0", 3, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	var url string
	for url == "" && lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "serving metrics on "); ok {
			url = u
		}
	}
	if url == "" {
		t.Fatalf("no address printed: %v", lines.Err())
	}
	if got := value(t, scrape(t, url), "throttled_requests_total", with("throttled_result=allowed")...); got != 3 {
		t.Errorf("allowed %v, want 3", got)
	}
	stop()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := run(ctx, "256.0.0.1:0", 0, io.Discard); err == nil {
		t.Error("run on a bad address: no error")
	}
}
