// Package examples_test builds every example program with `go build` and
// runs each one, checking that it exits with status 0 and prints what it
// should.
package examples_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttled-go/throttled/internal/redistest"
)

// examples lists every program under examples/ with the lines (regular
// expressions, matched against whole lines, in order) its output must
// contain. The redis example is run by TestRedisExample.
var examples = map[string][]string{
	"quickstart": {
		`Go go\S+, \S+/\S+, \d+ CPUs`,
		`✅ Total: 100000, 🕒 Latency: \d+\.\d{4} ms/op, 🚀 Throughput: \d+ req/s`,
		`❌ Denied: \d+ requests`,
	},
	"decorator": {
		`ping`,
		`second ping: throttled: rate limit exceeded: remaining=0, reset_after=\S+, retry_after=\S+`,
		`retry in about 1m0s`,
		`ping`,
		`pong: limited, the key is shared with ping`,
	},
	"scoped": {
		`allowed, remaining: 0`,
		`doing something\.\.\.`,
		`limited: true remaining: 0`,
	},
	"waitretry": {
		`✅ Total: 300, 🕒 Latency: \d+\.\d{4} ms/op, 🚀 Throughput: \d+ req/s`,
		`❌ Denied: \d+ requests`,
	},
	"quotas": {
		`request 10: allowed; burst 0/10 left daily 10/20 left`,
		`request 11: limited, retry after 200ms; burst 0/10 left \(bound\) daily 10/20 left`,
		`request 12: limited, retry after 200ms; burst 0/10 left \(bound\) daily 10/20 left`,
		`after 3s: limited, retry after 23h59m57s; burst 5/10 left daily 0/20 left \(bound\)`,
		`alice \(free\): 10 of 50 admitted, 0 of 10 left`,
		`bob \(pro\): 50 of 50 admitted, 950 of 1000 left`,
	},
	"typedkeys": {
		`user 42, request 1: limited=false remaining=2`,
		`user 42, request 2: limited=false remaining=1`,
		`user 42, request 3: limited=false remaining=0`,
		`user 42, request 4: limited=true remaining=0`,
		`user 7,  request 1: limited=false remaining=2`,
		`user 1 /a: 200 OK /a`,
		`user 2 /a: 200 OK /a`,
		`user 1 /b: 429 Too Many Requests`,
		`route \{1 /a\}: limited=false`,
		`route \{1 /b\}: limited=false`,
		`route \{1 /a\}: limited=true`,
	},
	"http": {
		`\$ curl -i http://127\.0\.0\.1:\d+/hello`,
		`HTTP/1\.1 200 OK`,
		`Ratelimit: "burst";r=2;t=1, "hourly";r=99;t=36`,
		`Ratelimit-Policy: "burst";q=1;w=1;throttled-burst=3, "hourly";q=100;w=3600`,
		`hello`,
		`Ratelimit: "burst";r=1;t=2, "hourly";r=98;t=72`,
		`Ratelimit: "burst";r=0;t=3, "hourly";r=97;t=108`,
		`HTTP/1\.1 429 Too Many Requests`,
		`Content-Type: application/problem\+json`,
		`Ratelimit: "burst";r=0;t=1, "hourly";r=97;t=108`,
		`Retry-After: 1`,
		`\{"type":"https://iana\.org/assignments/http-problem-types#quota-exceeded",.*"status":429,.*"violated-policies":\["burst"\],"retry-after":1\}`,
	},
	"redis": nil,
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

// build compiles every example into one directory, once per test binary.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH: %v", err)
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "throttled-examples-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command(goTool, "build", "-o", binDir+string(filepath.Separator), "./...")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./examples/...: %v\n%s", buildErr, buildOut)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestExampleList: every directory under examples/ is listed above, so a
// new example is run too.
func TestExampleList(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.Name(), "go.mod")); err == nil {
			continue // a module of its own (mcp, prometheus): make test runs its tests
		}
		if _, ok := examples[e.Name()]; !ok {
			t.Errorf("examples/%s is not listed in examples_test.go", e.Name())
		}
		if _, err := os.Stat(filepath.Join(e.Name(), "main.go")); err != nil {
			t.Errorf("examples/%s has no main.go: %v", e.Name(), err)
		}
	}
	for name := range examples {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("listed example %s: %v", name, err)
		}
	}
}

// TestBuild builds every example.
func TestBuild(t *testing.T) {
	dir := build(t)
	for name := range examples {
		if _, err := os.Stat(filepath.Join(dir, exe(name))); err != nil {
			t.Errorf("example %s was not built: %v", name, err)
		}
	}
}

func exe(name string) string {
	if filepath.Separator == '\\' {
		return name + ".exe"
	}
	return name
}

// run runs an example with a timeout and returns its output, failing the
// test unless it exits with status 0.
func run(t *testing.T, name string, env []string, args ...string) string {
	t.Helper()
	dir := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, exe(name)), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s ran in %v", name, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v (timed out: %v)\nstdout:\n%s\nstderr:\n%s", name, err, ctx.Err() != nil, &stdout, &stderr)
	}
	return stdout.String()
}

// wantLines checks that out has, in order, lines matching each pattern.
func wantLines(t *testing.T, name, out string, patterns []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	i := 0
	for _, p := range patterns {
		re := regexp.MustCompile(`^` + p + `$`)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: no line matching %q (in order) in its output:\n%s", name, p, out)
		}
		i++
	}
}

func TestRun(t *testing.T) {
	for name, patterns := range examples {
		if name == "redis" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := run(t, name, nil)
			wantLines(t, name, out, patterns)
			if name == "waitretry" {
				checkWaitRetry(t, out)
			}
		})
	}
}

// checkWaitRetry: with the default 300 calls, GCRA 100/s (burst 100) and a
// 1s timeout, each call after the burst waits for the next 10ms slot behind
// at most 3 other workers, so nearly all pass.
func checkWaitRetry(t *testing.T, out string) {
	m := regexp.MustCompile(`❌ Denied: (\d+) requests`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no denied count in:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n > 30 {
		t.Fatalf("%d of 300 calls denied, want nearly all to pass", n)
	}
}

// TestRedisExample: without a reachable Redis the example says so and
// exits 0; with one (a redis-server started by the harness) it runs.
func TestRedisExample(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		// A port that was free a moment ago: nothing listens there.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		out := run(t, "redis", []string{"REDIS_URL=redis://" + addr + "/0"})
		wantLines(t, "redis", out, []string{
			`Redis is not reachable, so the example did not run: throttled: store unavailable: .*` + regexp.QuoteMeta(addr) + `.*`,
			`Start redis-server or set REDIS_URL.*`,
		})
	})
	t.Run("server", func(t *testing.T) {
		srv := redistest.Standalone(t)
		out := run(t, "redis", []string{"REDIS_URL=" + srv.URL()})
		wantLines(t, "redis", out, []string{
			`first call: success: \[iPhone MacBook\]`,
			`second call: limited: throttled: rate limit exceeded: remaining=0, .*`,
		})
		// Again at once: the example resets its key first.
		wantLines(t, "redis (second run)", run(t, "redis", []string{"REDIS_URL=" + srv.URL()}), []string{
			`first call: success: \[iPhone MacBook\]`,
		})
	})
}
