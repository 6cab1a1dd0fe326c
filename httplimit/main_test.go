package httplimit_test

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/httplimit"
)

// logs captures what the middleware logs (slog.Default), so tests can check
// it and the output stays readable.
var logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	logs.mu.Lock()
	defer logs.mu.Unlock()
	return logs.buf.Write(p)
}

// logged returns what was logged since the last call.
func logged() string {
	logs.mu.Lock()
	defer logs.mu.Unlock()
	s := logs.buf.String()
	logs.buf.Reset()
	return s
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(logWriter{}, nil)))
	os.Exit(m.Run())
}

// TestLogging: the default error handler logs a 500 with its cause, and
// neither a 400 (the client's fault) nor a 429.
func TestLogging(t *testing.T) {
	l, _ := memLimiter(t, throttled.WithQuota(throttled.PerMin(1)))
	url := serve(t, mustNew(t, l, httplimit.WithCost(costHeader)).Handler(ok))
	logged()
	get(t, url)
	get(t, url)
	if s := logged(); s != "" {
		t.Errorf("a 200 and a 429 logged %q", s)
	}
	get(t, url, "X-Cost", "-5")
	s := logged()
	for _, want := range []string{"level=ERROR", `msg="httplimit: cannot decide a request"`, "op=limit", "method=GET", "path=/", `err="throttled: invalid cost -5: must be at least 0"`} {
		if !strings.Contains(s, want) {
			t.Errorf("log %q lacks %q", s, want)
		}
	}
	l2, _ := memLimiter(t)
	url2 := serve(t, mustNew(t, l2, httplimit.WithKey(httplimit.KeyByHeader("X-Api-Key"))).Handler(ok))
	if rp := get(t, url2); rp.Status != 400 {
		t.Fatalf("status %d", rp.Status)
	}
	if s := logged(); s != "" {
		t.Errorf("a 400 logged %q", s)
	}
}
