package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB is a testing.TB that records Fatalf, Skipf and Logf instead of
// ending the real test, so the harness's failure paths can be tested.
// Fatalf and Skipf end the calling goroutine, as testing's do: run the code
// under test with runFake. Cleanup and TempDir go to the real test, so every
// process started is still stopped at its end.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	skip     string
	logs     []string
	tempDirs []string // TempDir returns these first, then real ones
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skip = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeTB) TempDir() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tempDirs) > 0 {
		d := f.tempDirs[0]
		f.tempDirs = f.tempDirs[1:]
		return d
	}
	return f.TB.TempDir()
}

// runFake runs fn with a fakeTB in a goroutine of its own and reports
// whether fn returned (rather than being ended by Fatalf or Skipf).
func runFake(t *testing.T, f *fakeTB, fn func(tb testing.TB)) (returned bool) {
	t.Helper()
	if f.TB == nil {
		f.TB = t
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the code under test is still running after a minute")
	}
	return returned
}

// wantFatal runs fn with a fakeTB and checks that it failed the test with
// a message containing every one of want.
func wantFatal(t *testing.T, fn func(tb testing.TB), want ...string) *fakeTB {
	t.Helper()
	f := &fakeTB{}
	if runFake(t, f, fn) {
		t.Fatalf("returned, want it to fail the test with %q", want)
	}
	if f.skip != "" {
		t.Fatalf("skipped (%s), want it to fail the test with %q", f.skip, want)
	}
	for _, w := range want {
		if !strings.Contains(f.fatal, w) {
			t.Fatalf("failed the test with:\n%s\nwant it to contain %q", f.fatal, w)
		}
	}
	return f
}

// TestRoundTrip checks the one RESP round trip everything is built on,
// against servers in this process: a reply, an error reply, no reply, and
// none in time (the round trip's own deadline ends it). It runs first and
// fails in milliseconds when the round trip is broken.
func TestRoundTrip(t *testing.T) {
	addr := respServer(t, func(cmd string) string {
		switch cmd {
		case "PING":
			return "+PONG\r\n"
		case "QUIT":
			return ""
		}
		return "-ERR unknown command '" + cmd + "'\r\n"
	})
	p := fakeProcess(t, addr)
	for _, tc := range []struct{ cmd, want string }{{"PING", "PONG"}, {"FOO", "-ERR unknown command 'FOO'"}} {
		if got, err := p.roundTrip([]string{tc.cmd}); got != tc.want || err != nil {
			t.Fatalf("%s: %q, %v; want %q", tc.cmd, got, err, tc.want)
		}
	}
	if got, err := p.roundTrip([]string{"QUIT"}); err == nil {
		t.Fatalf("a connection closed without a reply: %q, want an error", got)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	start := time.Now()
	got, err := fakeProcess(t, ln.Addr().String()).roundTripTimeout([]string{"PING"}, 100*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a silent server: %q, %v; want a timeout", got, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 4*time.Second {
		t.Fatalf("a silent server: the round trip gave up after %v, want its 100ms deadline", d)
	}
}

// TestMissingBinary runs every constructor with no redis-server on PATH:
// each skips the test, or fails it when THROTTLED_REQUIRE_REDIS is "1".
func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ctors := map[string]func(tb testing.TB){
		"Standalone":     func(tb testing.TB) { Standalone(tb) },
		"StandaloneUnix": func(tb testing.TB) { StandaloneUnix(tb) },
		"Cluster":        func(tb testing.TB) { Cluster(tb) },
		"Sentinel":       func(tb testing.TB) { Sentinel(tb) },
	}
	for _, env := range []string{"", "0", "true"} {
		t.Setenv(RequireEnv, env)
		for name, ctor := range ctors {
			f := &fakeTB{}
			if runFake(t, f, ctor) || f.fatal != "" {
				t.Fatalf("%s with %s=%q: returned or failed (%q), want a skip", name, RequireEnv, env, f.fatal)
			}
			for _, want := range []string{"*** REDIS TESTS SKIPPED ***", "redis-server not found on PATH", RequireEnv + "=1"} {
				if !strings.Contains(f.skip, want) {
					t.Errorf("%s with %s=%q: skipped with %q, want it to contain %q", name, RequireEnv, env, f.skip, want)
				}
			}
		}
	}
	t.Setenv(RequireEnv, "1")
	for name, ctor := range ctors {
		f := wantFatal(t, ctor, "redis-server not found on PATH but THROTTLED_REQUIRE_REDIS=1")
		if f.skip != "" {
			t.Errorf("%s: skipped too", name)
		}
	}
}

// fakeServer writes an executable script standing in for redis-server: it
// appends its arguments, one per line then "--", to the file args, prints
// output and exits with status 1.
func fakeServer(t *testing.T, output string) (bin, args string) {
	t.Helper()
	dir := t.TempDir()
	bin, args = filepath.Join(dir, "redis-server"), filepath.Join(dir, "args")
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\" >>%s; done\necho -- >>%s\necho %s\nexit 1\n",
		args, args, strconv.Quote(output))
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, args
}

// calls returns the argument lists the fake server was started with.
func calls(t *testing.T, args string) [][]string {
	t.Helper()
	b, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "--" {
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	return out
}

// TestStartRetries checks which failures to start are worth another try
// on a new port (the port was taken), that there are startAttempts tries,
// and that the failure quotes each attempt with the server's output.
func TestStartRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		output   string
		attempts int
	}{
		{"# Warning: Could not create server TCP listening socket 127.0.0.1:6379: bind: Address already in use", startAttempts},
		{"Failed listening on port 6379 (tcp), aborting.", startAttempts},
		{"# Fatal error: bad directive", 1},
	} {
		bin, args := fakeServer(t, tc.output)
		f := wantFatal(t, func(tb testing.TB) { start(tb, bin, modeTCP) },
			"redistest: could not start redis-server:\nattempt 1: redis-server on 127.0.0.1:",
			"exited before answering PING",
			"--- redis-server output (tail) ---\n"+tc.output,
			fmt.Sprintf("attempt %d: ", tc.attempts))
		if strings.Contains(f.fatal, fmt.Sprintf("attempt %d: ", tc.attempts+1)) {
			t.Errorf("%q: more than %d attempts:\n%s", tc.output, tc.attempts, f.fatal)
		}
		if got := len(calls(t, args)); got != tc.attempts {
			t.Errorf("%q: the server was started %d times, want %d", tc.output, got, tc.attempts)
		}
	}
}

// TestStartArgs checks the command line of each kind of server, on a fake
// redis-server that records it and fails (so each mode is tried once).
func TestStartArgs(t *testing.T) {
	t.Parallel()
	bin, args := fakeServer(t, "no")
	dir := t.TempDir()
	for _, m := range []mode{modeTCP, modeUnix, modeCluster, modeSentinel} {
		wantFatal(t, func(tb testing.TB) { startIn(tb, bin, m, dir) }, "attempt 1: ")
	}
	got := calls(t, args)
	if len(got) != 4 {
		t.Fatalf("the server was started %d times, want 4: %q", len(got), got)
	}
	port := func(a []string) string {
		t.Helper()
		for i, s := range a {
			if s == "--port" && i+1 < len(a) {
				if _, err := strconv.Atoi(a[i+1]); err != nil || a[i+1] == "0" {
					t.Errorf("--port %q in %q, want a free port", a[i+1], a)
				}
				return a[i+1]
			}
		}
		t.Errorf("no --port in %q", a)
		return ""
	}
	common := []string{"--dir", dir, "--daemonize", "no", "--logfile", ""}
	persistence := []string{"--save", "", "--appendonly", "no"}
	want := [][]string{
		append(append([]string{"--bind", "127.0.0.1", "--port", port(got[0])}, persistence...), common...),
		append(append([]string{"--port", "0", "--unixsocket", filepath.Join(dir, "redis.sock"), "--unixsocketperm", "700"}, persistence...), common...),
		nil, // cluster: below
		append([]string{filepath.Join(dir, "sentinel.conf"), "--sentinel", "--bind", "127.0.0.1", "--port", port(got[3])}, common...),
	}
	cl := got[2]
	if len(cl) != 22 || cl[18] != "--cluster-port" {
		t.Fatalf("cluster node args %q, want 22 ending with the cluster options", cl)
	}
	bus := cl[19]
	if bus == port(cl) {
		t.Errorf("cluster bus port %s is the node's port", bus)
	}
	want[2] = append(append(append([]string{"--bind", "127.0.0.1", "--port", port(cl)}, persistence...), common...),
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", bus, "--cluster-require-full-coverage", "no")
	for i, w := range want {
		if strings.Join(got[i], "\x00") != strings.Join(w, "\x00") {
			t.Errorf("start %d: args\n%q\nwant\n%q", i, got[i], w)
		}
	}
}

func TestStartFailsToRun(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "redis-server")
	f := wantFatal(t, func(tb testing.TB) { start(tb, missing, modeTCP) }, "attempt 1: start "+missing+": ")
	if strings.Contains(f.fatal, "attempt 2") {
		t.Errorf("retried a binary that does not run:\n%s", f.fatal)
	}
}

func TestUnixSocketDirFails(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	wantFatal(t, func(tb testing.TB) { start(tb, "redis-server", modeUnix) }, "redistest: ", "missing")
}

// respServer serves one connection at a time with answer, which gets the
// command's first word and returns the raw reply ("" closes the
// connection without one).
func respServer(t *testing.T, answer func(cmd string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			// A command is an array of bulk strings: *n, then $len and the word.
			var cmd string
			if _, err := r.ReadString('\n'); err == nil {
				if _, err := r.ReadString('\n'); err == nil {
					cmd, _ = r.ReadString('\n')
				}
			}
			if reply := answer(strings.TrimSpace(cmd)); reply != "" {
				c.Write([]byte(reply))
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// fakeProcess is a process at addr whose pid is this test's.
func fakeProcess(t *testing.T, addr string) *process {
	t.Helper()
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return &process{network: "tcp", addr: addr, cmd: &exec.Cmd{Process: self}, done: make(chan struct{}), out: &syncBuffer{}}
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// TestWaitReady checks that waitReady waits for PONG and then accepts only
// the process it started, by its process_id in INFO server.
func TestWaitReady(t *testing.T) {
	t.Parallel()
	pid := strconv.Itoa(os.Getpid())
	var mu sync.Mutex
	pings := 0
	for _, tc := range []struct {
		name string
		info string // the INFO reply
		want error  // nil, errForeignServer, or errOther (any other error)
	}{
		{"ours", bulk("# Server\r\nredis_version:7.0.0\r\nprocess_id:" + pid + "\r\ntcp_port:1\r\n"), nil},
		{"another pid", bulk("# Server\r\nprocess_id:1" + pid + "\r\n"), errForeignServer},
		{"a pid it starts with", bulk("# Server\r\nprocess_id:" + pid + "1\r\n"), errForeignServer},
		{"no pid", bulk("# Server\r\n"), errForeignServer},
		{"no INFO", "", errOther},
	} {
		mu.Lock()
		pings = 0
		mu.Unlock()
		addr := respServer(t, func(cmd string) string {
			switch cmd {
			case "PING":
				mu.Lock()
				defer mu.Unlock()
				if pings++; pings < 3 {
					return "-LOADING Redis is loading the dataset in memory\r\n"
				}
				return "+PONG\r\n"
			case "INFO":
				return tc.info
			}
			return "-ERR unexpected " + cmd + "\r\n"
		})
		err := fakeProcess(t, addr).waitReady()
		switch {
		case tc.want == errOther:
			if err == nil || errors.Is(err, errForeignServer) || !strings.HasPrefix(err.Error(), "INFO server: ") {
				t.Errorf("%s: waitReady = %v, want an INFO server error", tc.name, err)
			}
		case !errors.Is(err, tc.want) || (tc.want == nil && err != nil):
			t.Errorf("%s: waitReady = %v, want %v", tc.name, err, tc.want)
		}
		mu.Lock()
		if pings != 3 {
			t.Errorf("%s: %d PINGs, want 3 (it waits out LOADING)", tc.name, pings)
		}
		mu.Unlock()
	}
}

// errOther stands for any error but errForeignServer in TestWaitReady.
var errOther = errors.New("other")

func TestWaitReadyExited(t *testing.T) {
	t.Parallel()
	p := fakeProcess(t, "127.0.0.1:1")
	p.err = errors.New("exit status 1")
	close(p.done)
	if err := p.waitReady(); err == nil || err.Error() != "exited before answering PING: exit status 1" {
		t.Fatalf("waitReady of an exited process = %v", err)
	}
}

// TestFaultsOnDeadServer checks the failures of the fault injection and of
// Do on a server that is gone.
func TestFaultsOnDeadServer(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	s.p.out.Write([]byte("last words\n"))
	s.Kill()
	wantFatal(t, s.Pause, "redistest: SIGSTOP: ")
	wantFatal(t, s.Resume, "redistest: SIGCONT: ")
	wantFatal(t, func(tb testing.TB) { s.Do(tb, "PING") }, "redistest: PING on "+s.Addr()+": ", "--- redis-server output (tail) ---\n", "last words")
	s.Kill() // idempotent
}

func TestDoChecks(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	wantFatal(t, func(tb testing.TB) { s.Do(tb) }, "redistest: Do: no command given")
	wantFatal(t, func(tb testing.TB) { s.p.mustOK(tb, "PING") }, `redistest: PING on `+s.Addr()+` answered "PONG", want OK`)
	runFake(t, &fakeTB{}, func(tb testing.TB) { s.p.mustOK(tb, "SET", "k", "v") })
	if got := s.Do(t, "GET", "k"); got != "v" {
		t.Fatalf("GET k = %q after mustOK SET", got)
	}
	if got := s.Do(t, "SET", "", ""); got != "OK" {
		t.Fatalf("SET of the empty key = %q", got)
	}
	if got := s.Do(t, "GET", ""); got != "" {
		t.Fatalf("GET of the empty key = %q, want the empty string", got)
	}
}

func TestDoNodeIndex(t *testing.T) {
	t.Parallel()
	c := &ClusterServer{nodes: []*process{{network: "tcp", addr: "127.0.0.1:1", out: &syncBuffer{}}}}
	for _, i := range []int{-1, 1, 2} {
		wantFatal(t, func(tb testing.TB) { c.DoNode(tb, i, "PING") }, fmt.Sprintf("redistest: DoNode: node index %d out of range [0,1)", i))
	}
	// Index 0 is a node: its failure is the round trip's.
	wantFatal(t, func(tb testing.TB) { c.DoNode(tb, 0, "PING") }, "redistest: PING on 127.0.0.1:1: ")
}

func TestBusPort(t *testing.T) {
	t.Parallel()
	p := &process{addr: "127.0.0.1:7000"}
	for _, tc := range []struct {
		args []string
		want string // "" when it must fail
	}{
		{[]string{"redis-server", "--port", "7000", "--cluster-port", "17000"}, "17000"},
		{[]string{"redis-server", "--cluster-port", "17001", "--port", "7000"}, "17001"},
		{[]string{"redis-server", "--port", "7000"}, ""},
		{[]string{"redis-server", "--port", "7000", "--cluster-port"}, ""}, // no value
		{[]string{"--cluster-port", "1"}, ""},                              // the program's name
	} {
		p.cmd = &exec.Cmd{Args: tc.args}
		var got string
		f := &fakeTB{}
		runFake(t, f, func(tb testing.TB) { got = p.busPort(tb) })
		switch {
		case tc.want != "" && (got != tc.want || f.fatal != ""):
			t.Errorf("busPort of %q = %q (failure %q), want %q", tc.args, got, f.fatal, tc.want)
		case tc.want == "" && f.fatal != "redistest: redis-server on 127.0.0.1:7000 was not started in cluster mode":
			t.Errorf("busPort of %q = %q, failure %q, want it to fail", tc.args, got, f.fatal)
		}
	}
}

// TestStopAfterExit checks the cleanup of a server that exited on its own
// during the test: it logs the exit and the output, and does nothing for a
// server stopped on purpose.
func TestStopAfterExit(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	_, _ = s.p.roundTrip([]string{"SHUTDOWN", "NOSAVE"}) // no reply: the server exits
	select {
	case <-s.p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit within 10s of SHUTDOWN")
	}
	f := &fakeTB{}
	runFake(t, f, func(tb testing.TB) { s.p.stop(tb)() })
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], "redistest: redis-server on "+s.Addr()+" exited before the end of the test") ||
		!strings.Contains(f.logs[0], "--- output (tail) ---") {
		t.Fatalf("cleanup logged %q, want the exit reported", f.logs)
	}
	s.p.stopped.Store(true)
	f = &fakeTB{}
	runFake(t, f, func(tb testing.TB) { s.p.stop(tb)() })
	if len(f.logs) != 0 {
		t.Fatalf("cleanup of a server stopped on purpose logged %q", f.logs)
	}
}

// TestRestartRunning restarts a server that is still running, and one
// whose port is taken for a moment: Restart retries until it is free.
func TestRestartRunning(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	s.Do(t, "SET", "k", "v")
	oldPid := s.p.cmd.Process.Pid
	s.Restart(t)
	if s.p.cmd.Process.Pid == oldPid {
		t.Fatal("Restart of a running server kept its process")
	}
	if got := s.Do(t, "GET", "k"); got != "(nil)" {
		t.Fatalf("after Restart, GET k = %q, want (nil)", got)
	}

	s.Kill()
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Skipf("cannot take the port of the killed server: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln.Close()
	}()
	s.Restart(t)
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("after Restart, PING = %q", got)
	}
	if s.p.stopped.Load() {
		t.Error("a restarted server is still marked stopped: its cleanup would not kill it")
	}
}

// TestSentinelConfigFails gives Sentinel a directory it cannot write its
// configuration to.
func TestSentinelConfigFails(t *testing.T) {
	t.Parallel()
	lookBinary(t)
	missing := filepath.Join(t.TempDir(), "missing")
	f := &fakeTB{tempDirs: []string{t.TempDir(), missing}} // the master's, then the sentinel's
	if runFake(t, f, func(tb testing.TB) { Sentinel(tb) }) || !strings.HasPrefix(f.fatal, "redistest: ") || !strings.Contains(f.fatal, "sentinel.conf") {
		t.Fatalf("Sentinel with an unwritable directory failed with %q", f.fatal)
	}
}

func TestSummarizeInfo(t *testing.T) {
	info := "# Cluster\r\ncluster_enabled:1\r\ncluster_state:fail\r\ncluster_slots_assigned:5461\r\ncluster_slots_ok:5461\r\ncluster_known_nodes:1\r\ncluster_size:1\r\n"
	if got, want := summarizeInfo(info), "cluster_state:fail cluster_slots_assigned:5461 cluster_known_nodes:1"; got != want {
		t.Errorf("summarizeInfo = %q, want %q", got, want)
	}
	if got, want := summarizeInfo("-ERR This instance has cluster support disabled"), `"-ERR This instance has cluster support disabled"`; got != want {
		t.Errorf("summarizeInfo = %q, want %q", got, want)
	}
}

func TestSyncBufferTail(t *testing.T) {
	var b syncBuffer
	if got := b.tail(4); got != "" {
		t.Errorf("tail of nothing = %q", got)
	}
	b.Write([]byte("0123"))
	b.Write([]byte("456789"))
	for _, tc := range []struct {
		n    int
		want string
	}{
		{4, "[...]6789"},
		{9, "[...]123456789"},
		{10, "0123456789"},
		{11, "0123456789"},
	} {
		if got := b.tail(tc.n); got != tc.want {
			t.Errorf("tail(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestReadReplyErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"*x\r\n", `protocol error: bad array length "x"`},
		{"$x\r\n", `protocol error: bad bulk length "x"`},
		{"*2\r\n+a\r\n", "EOF"},
		{"*1\r\n?\r\n", `protocol error: unexpected reply "?"`},
		{"$2\r\nabcd", "protocol error: bulk string not terminated by CRLF"},
		{"\r\n", "protocol error: empty line"},
	} {
		got, err := readReply(bufioReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("readReply(%q) = %q, %v; want the error %q", tc.in, got, err, tc.want)
		}
	}
}

func TestEncodeCommandArgs(t *testing.T) {
	got := string(encodeCommand([]string{"SET", "", "héllo"}))
	if want := "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$6\r\nhéllo\r\n"; got != want {
		t.Errorf("encodeCommand = %q, want %q", got, want)
	}
}

// TestWaitReadyDeadline: a server that never answers PONG is given up on
// after startTimeout, with the last answer in the error.
func TestWaitReadyDeadline(t *testing.T) {
	t.Parallel()
	addr := respServer(t, func(string) string { return "-LOADING Redis is loading\r\n" })
	start := time.Now()
	err := fakeProcess(t, addr).waitReady()
	if want := `no PONG within 10s (last error: PING answered "-LOADING Redis is loading")`; err == nil || err.Error() != want {
		t.Fatalf("waitReady = %v, want %q", err, want)
	}
	if d := time.Since(start); d < startTimeout {
		t.Fatalf("waitReady gave up after %v, want %v", d, startTimeout)
	}
}

// TestRestartPortTaken: Restart retries for startTimeout while the port is
// taken, then fails the test.
func TestRestartPortTaken(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	s.Kill()
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Skipf("cannot take the port of the killed server: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	start := time.Now()
	wantFatal(t, s.Restart, "redistest: restart on "+s.Addr()+": ")
	if d := time.Since(start); d < startTimeout {
		t.Fatalf("Restart gave up after %v, want %v", d, startTimeout)
	}
	if !s.p.exited() {
		t.Fatal("the last attempt's process is still running")
	}
}
