package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStdio builds the example and talks to it over stdio as the README's
// transcript does: initialize, notifications/initialized, tools/list, then
// four calls of search, of which the fourth is denied.
func TestStdio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "mcp-example")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("the server exited with %v", err)
		}
	}()
	lines := bufio.NewScanner(stdout)
	// send writes one JSON-RPC line and, for a request, returns the reply.
	send := func(line string, reply bool) map[string]any {
		t.Helper()
		if _, err := stdin.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		if !reply {
			return nil
		}
		if !lines.Scan() {
			t.Fatalf("no reply to %s: %v", line, lines.Err())
		}
		var msg map[string]any
		if err := json.Unmarshal(lines.Bytes(), &msg); err != nil {
			t.Fatalf("reply %s: %v", lines.Bytes(), err)
		}
		if msg["error"] != nil {
			t.Fatalf("error reply to %s: %s", line, lines.Bytes())
		}
		return msg["result"].(map[string]any)
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1.0"}}}`, true)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, false)
	tools := send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, true)["tools"].([]any)
	if len(tools) != 1 || tools[0].(map[string]any)["name"] != "search" {
		t.Fatalf("tools %v", tools)
	}
	for i, q := range []string{"rate limiting", "token bucket", "GCRA", "leaky bucket"} {
		res := send(`{"jsonrpc":"2.0","id":`+strconv.Itoa(3+i)+`,"method":"tools/call","params":{"name":"search","arguments":{"query":"`+q+`"}}}`, true)
		text := res["content"].([]any)[0].(map[string]any)["text"].(string)
		if i < 3 {
			if res["isError"] == true || !strings.HasPrefix(text, "1. "+q) {
				t.Fatalf("call %d: %v", i+1, res)
			}
			continue
		}
		// A token comes back every 20s: the 4th call, made within a second or
		// so of the 1st, waits a little less than that.
		sc, _ := res["structuredContent"].(map[string]any)
		retry, _ := sc["retryAfterSeconds"].(float64)
		if res["isError"] != true || !strings.HasPrefix(text, "rate limit exceeded for tool search; retry after ") ||
			retry <= 10 || retry > 20 || sc["remaining"] != 0.0 || sc["limit"] != 3.0 {
			t.Fatalf("call %d: %v", i+1, res)
		}
	}
}
