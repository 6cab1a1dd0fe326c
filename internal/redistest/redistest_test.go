package redistest

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStandalone(t *testing.T) {
	t.Parallel()
	s := Standalone(t)

	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}

	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING = %q, want PONG", got)
	}
	if got := s.Do(t, "GET", "missing"); got != "(nil)" {
		t.Errorf("GET missing = %q, want (nil)", got)
	}
	if got := s.Do(t, "SET", "greeting", "hello world\r\n"); got != "OK" {
		t.Errorf("SET = %q, want OK", got)
	}
	if got := s.Do(t, "GET", "greeting"); got != "hello world\r\n" {
		t.Errorf("GET = %q, want %q", got, "hello world\r\n")
	}
	if got := s.Do(t, "INCRBY", "counter", "41"); got != "41" {
		t.Errorf("INCRBY = %q, want 41", got)
	}
	if got := s.Do(t, "RPUSH", "list", "a", "b", "c"); got != "3" {
		t.Errorf("RPUSH = %q, want 3", got)
	}
	if got := s.Do(t, "LRANGE", "list", "0", "-1"); got != "a\nb\nc" {
		t.Errorf("LRANGE = %q, want %q", got, "a\nb\nc")
	}
	if got := s.Do(t, "NOSUCHCOMMAND"); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("unknown command = %q, want an -ERR reply", got)
	}
	if got := s.Do(t, "CONFIG", "GET", "save"); got != "save\n" {
		t.Errorf("CONFIG GET save = %q, want persistence disabled", got)
	}
}

func TestTwoStandaloneServersAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := Standalone(t), Standalone(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers on %s", a.Addr())
	}
	a.Do(t, "SET", "k", "a")
	if got := b.Do(t, "GET", "k"); got != "(nil)" {
		t.Errorf("GET k on the second server = %q, want (nil)", got)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := Cluster(t)

	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs() = %v, want 3 addresses", addrs)
	}
	for i, addr := range addrs {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("Addrs()[%d] = %q, want 127.0.0.1:port", i, addr)
		}
		info := c.DoNode(t, i, "CLUSTER", "INFO")
		for _, want := range []string{
			"cluster_state:ok",
			"cluster_known_nodes:3",
			"cluster_size:3",
			"cluster_slots_assigned:16384",
			"cluster_slots_ok:16384",
		} {
			if !strings.Contains(info, want+"\r\n") {
				t.Errorf("CLUSTER INFO on node %d lacks %q:\n%s", i, want, info)
			}
		}
	}

	// The three nodes together own every slot, each exactly once.
	owned := 0
	for i := range addrs {
		myself := ""
		for _, line := range strings.Split(c.DoNode(t, i, "CLUSTER", "NODES"), "\n") {
			if strings.Contains(line, "myself") {
				myself = line
			}
		}
		fields := strings.Fields(myself)
		if len(fields) < 9 {
			t.Fatalf("node %d: no slots in CLUSTER NODES line %q", i, myself)
		}
		for _, r := range fields[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				t.Fatalf("node %d: bad slot range %q", i, r)
			}
			owned += h - l + 1
		}
	}
	if owned != 16384 {
		t.Errorf("nodes own %d slots in total, want 16384", owned)
	}

	// A key is served by the node owning its slot, and redirected elsewhere.
	// "foo" hashes to slot 12182, owned by node 2.
	if got := c.DoNode(t, 2, "SET", "foo", "bar"); got != "OK" {
		t.Errorf("SET foo on node 2 = %q, want OK", got)
	}
	if got := c.DoNode(t, 0, "GET", "foo"); got != "-MOVED 12182 "+addrs[2] {
		t.Errorf("GET foo on node 0 = %q, want -MOVED 12182 %s", got, addrs[2])
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+OK\r\n", "OK"},
		{"-ERR boom\r\n", "-ERR boom"},
		{":42\r\n", "42"},
		{"$5\r\nhello\r\n", "hello"},
		{"$0\r\n\r\n", ""},
		{"$-1\r\n", "(nil)"},
		{"*-1\r\n", "(nil)"},
		{"*0\r\n", ""},
		{"*3\r\n$1\r\na\r\n:2\r\n*2\r\n+x\r\n$1\r\ny\r\n", "a\n2\nx\ny"},
	} {
		got, err := readReply(bufioReader(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("readReply(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "\r\n", "$3\r\nab", "$x\r\n", "?what\r\n", "$2\r\nabcd"} {
		if got, err := readReply(bufioReader(bad)); err == nil {
			t.Errorf("readReply(%q) = %q, want an error", bad, got)
		}
	}
}

func TestEncodeCommand(t *testing.T) {
	got := string(encodeCommand([]string{"PING"}))
	if want := "*1\r\n$4\r\nPING\r\n"; got != want {
		t.Errorf("encodeCommand(PING) = %q, want %q", got, want)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestStandaloneUnix(t *testing.T) {
	t.Parallel()
	s := StandaloneUnix(t)

	if s.Addr() != "" {
		t.Errorf("Addr() = %q, want \"\" (no TCP listener)", s.Addr())
	}
	sock := s.Socket()
	if !strings.HasSuffix(sock, "/redis.sock") || len(sock) > 100 {
		t.Errorf("Socket() = %q, want a short path ending in /redis.sock", sock)
	}
	if want := "unix://" + sock + "?db=0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING = %q, want PONG", got)
	}
	if got := s.Do(t, "CONFIG", "GET", "port"); got != "port\n0" {
		t.Errorf("CONFIG GET port = %q, want port 0 (no TCP listener)", got)
	}
	if got := s.Do(t, "CONFIG", "GET", "unixsocket"); got != "unixsocket\n"+sock {
		t.Errorf("CONFIG GET unixsocket = %q, want %q", got, sock)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	addr := s.Addr()
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %q, want PONG", got)
	}
	if s.Socket() != "" {
		t.Errorf("Socket() of a TCP server = %q, want \"\"", s.Socket())
	}
	s.Stop()
	if !s.p.exited() {
		t.Fatal("the server is still running after Stop")
	}
	if _, err := s.p.roundTrip([]string{"PING"}); err == nil {
		t.Errorf("PING on %s answered after Stop", addr)
	}
	s.Stop() // idempotent
}

func TestSentinel(t *testing.T) {
	s := Sentinel(t)
	if !strings.HasSuffix(s.URL(), "?master_set="+SentinelMasterSet) || s.Addr() == s.Master.Addr() {
		t.Fatalf("URL %q, sentinel %s, master %s", s.URL(), s.Addr(), s.Master.Addr())
	}
	if got := s.Master.Do(t, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET on the master = %q", got)
	}
}

// TestPauseResumeKillRestart checks the fault injection: a paused server
// answers nothing until resumed, a killed one refuses connections, and a
// restarted one answers on the same address with an empty dataset.
func TestPauseResumeKillRestart(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	s.Do(t, "SET", "k", "v")

	s.Pause(t)
	if _, err := s.p.roundTripTimeout([]string{"PING"}, 200*time.Millisecond); err == nil {
		t.Fatal("a paused server answered PING")
	}
	s.Resume(t)
	if got := s.Do(t, "GET", "k"); got != "v" {
		t.Fatalf("after Resume, GET k = %q, want v", got)
	}

	s.Kill()
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("a killed server accepted a connection")
	}
	s.Restart(t)
	if got := s.Do(t, "GET", "k"); got != "(nil)" {
		t.Fatalf("after Restart, GET k = %q, want (nil): the dataset is not kept", got)
	}
}

// TestKillNode checks that the other nodes of a cluster keep serving their
// slots when one is killed.
func TestKillNode(t *testing.T) {
	t.Parallel()
	c := Cluster(t)
	c.KillNode(0)
	for i := 1; i < 3; i++ {
		if got := c.DoNode(t, i, "PING"); got != "PONG" {
			t.Fatalf("node %d after node 0 was killed: PING = %q", i, got)
		}
	}
}

// TestServerInheritsNoDescriptors: a descriptor this process holds open
// without close-on-exec, as a fuzzing worker holds its pipes to the
// coordinator, does not reach a server: once this process closes a pipe's
// write end, its reader sees the end though the server still runs.
func TestServerInheritsNoDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETFD, 0); errno != 0 {
		t.Fatalf("clearing close-on-exec: %v", errno)
	}
	s := Standalone(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("reading the pipe after closing its write end: %d bytes, %v; want EOF (the server at %s holds the write end)", n, err, s.Addr())
	}
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %q, want PONG", got)
	}
}

// TestClient: Client connects to a server, and fails its test, naming the
// address, when there is none to connect to.
func TestClient(t *testing.T) {
	srv := Standalone(t)
	c := Client(t, srv.Addr())
	if got, err := c.Do(context.Background(), c.B().Ping().Build()).ToString(); err != nil || got != "PONG" {
		t.Fatalf("PING through Client = %q, %v; want PONG", got, err)
	}
	addr := srv.Addr()
	srv.Stop()
	wantFatal(t, func(tb testing.TB) { Client(tb, addr) }, "connect to Redis at", addr)
}
