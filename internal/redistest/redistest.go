package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// RequireEnv is the environment variable that, when set to "1", makes
	// a missing redis-server binary a test failure instead of a skip.
	RequireEnv = "THROTTLED_REQUIRE_REDIS"

	binaryName = "redis-server"
	loopback   = "127.0.0.1"

	startAttempts  = 5                      // tries to start a server on a fresh port
	startTimeout   = 10 * time.Second       // time for one server to answer PING
	clusterTimeout = 20 * time.Second       // time for the cluster to reach cluster_state:ok
	pollInterval   = 25 * time.Millisecond  // delay between readiness probes
	ioTimeout      = 5 * time.Second        // deadline for one RESP round trip
	dialTimeout    = 500 * time.Millisecond // deadline to connect to a server
	tailBytes      = 4096                   // amount of server output quoted in failures
	numClusterNode = 3
	numSlots       = 16384
)

// Server is a running standalone redis-server started by [Standalone].
// It is killed when the test that started it finishes.
type Server struct {
	p *process
}

// ClusterServer is a running three-master Redis Cluster started by
// [Cluster]. Its nodes are killed when the test that started it finishes.
type ClusterServer struct {
	nodes []*process
}

// process is one redis-server process and its captured output.
type process struct {
	network string // "tcp", or "unix" for a server started by StandaloneUnix
	addr    string // "127.0.0.1:port", or the socket's path
	bin     string // what started it, for Restart
	dir     string
	args    []string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{} // closed once cmd.Wait has returned
	err     error         // result of cmd.Wait, valid after done is closed
	stopped atomic.Bool   // Stop killed it on purpose
}

// SentinelServer is a Redis master watched by one Sentinel, started by
// Sentinel.
type SentinelServer struct {
	Master   *Server
	sentinel *process
}

// SentinelMasterSet is the name under which Sentinel monitors the master.
const SentinelMasterSet = "mymaster"

// Sentinel starts a standalone master and a Sentinel monitoring it as
// SentinelMasterSet (quorum 1), both on free ports of 127.0.0.1, and waits
// until the Sentinel reports the master's address. Both are stopped by
// tb.Cleanup functions.
func Sentinel(tb testing.TB) *SentinelServer {
	tb.Helper()
	bin := lookBinary(tb)
	master := &Server{p: start(tb, bin, modeTCP)}
	host, port, _ := net.SplitHostPort(master.Addr())
	dir := tb.TempDir()
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 60000\n", SentinelMasterSet, host, port, SentinelMasterSet)
	if err := os.WriteFile(filepath.Join(dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := &SentinelServer{Master: master, sentinel: startIn(tb, bin, modeSentinel, dir)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.sentinel.roundTrip([]string{"SENTINEL", "get-master-addr-by-name", SentinelMasterSet})
		if err == nil && got == host+"\n"+port {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel does not report the master %s: %q, %v\n%s", master.Addr(), got, err, s.sentinel.out.tail(tailBytes))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr returns the Sentinel's "127.0.0.1:port".
func (s *SentinelServer) Addr() string { return s.sentinel.addr }

// URL returns the rueidis URL that reaches the master through the
// Sentinel: redis://127.0.0.1:port?master_set=mymaster.
func (s *SentinelServer) URL() string {
	return "redis://" + s.sentinel.addr + "?master_set=" + SentinelMasterSet
}

// Standalone starts a redis-server listening on a free port of 127.0.0.1
// and waits until it answers PING. The server persists nothing, keeps its
// files in a directory from tb.TempDir, and is killed (and waited for) by
// a tb.Cleanup function.
//
// If redis-server is not on PATH, Standalone skips the test, or fails it
// when the environment variable THROTTLED_REQUIRE_REDIS is "1".
func Standalone(tb testing.TB) *Server {
	tb.Helper()
	bin := lookBinary(tb)
	return &Server{p: start(tb, bin, modeTCP)}
}

// StandaloneUnix is [Standalone] for a redis-server that listens on a Unix
// domain socket only (--port 0 --unixsocket), in a fresh temporary
// directory with a short path (socket paths are limited to about 100
// bytes), removed by a tb.Cleanup function.
func StandaloneUnix(tb testing.TB) *Server {
	tb.Helper()
	bin := lookBinary(tb)
	return &Server{p: start(tb, bin, modeUnix)}
}

// Addr returns the server's address, "127.0.0.1:port", or "" for a server
// started by [StandaloneUnix], which has no TCP listener.
func (s *Server) Addr() string {
	if s.p.network != "tcp" {
		return ""
	}
	return s.p.addr
}

// Socket returns the path of the Unix socket of a server started by
// [StandaloneUnix], or "" for a server started by [Standalone].
func (s *Server) Socket() string {
	if s.p.network != "unix" {
		return ""
	}
	return s.p.addr
}

// URL returns a URL for database 0 of the server:
// "redis://127.0.0.1:port/0", or "unix:///path/to/redis.sock?db=0" for a
// server started by [StandaloneUnix].
func (s *Server) URL() string {
	if s.p.network == "unix" {
		return "unix://" + s.p.addr + "?db=0"
	}
	return "redis://" + s.p.addr + "/0"
}

// Stop kills the server and waits for it to exit, for tests of a server
// that goes away. The cleanup registered by Standalone then has nothing
// left to do. Stop may be called more than once.
func (s *Server) Stop() {
	s.p.stopped.Store(true)
	s.p.kill()
}

// Pause stops the server with SIGSTOP: it keeps its connections and port
// but answers nothing, like a hung server, until Resume.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	if err := s.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatalf("redistest: SIGSTOP: %v", err)
	}
}

// Resume continues a server stopped by Pause (SIGCONT).
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	if err := s.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatalf("redistest: SIGCONT: %v", err)
	}
}

// Kill kills the server with SIGKILL and waits for it to exit, as a crash
// would; Restart starts it again.
func (s *Server) Kill() {
	s.p.stopped.Store(true)
	s.p.kill()
}

// Restart starts the server again, after Kill or not, on the same address
// and directory, with an empty dataset (the servers keep no persistence),
// and waits until it answers.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if !s.p.exited() {
		s.Kill()
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.p.run()
		if err == nil {
			if err = s.p.waitReady(); err == nil {
				s.p.stopped.Store(false)
				return
			}
			s.p.kill()
		}
		if time.Now().After(deadline) { // the port may take a moment to be free again
			tb.Fatalf("redistest: restart on %s: %v", s.p.addr, err)
		}
		time.Sleep(pollInterval)
	}
}

// KillNode kills node i of the cluster (an index into Addrs) with SIGKILL,
// as a crash would: its slots fail while the other nodes keep serving
// theirs (the nodes run without cluster-require-full-coverage).
func (c *ClusterServer) KillNode(i int) {
	c.nodes[i].stopped.Store(true)
	c.nodes[i].kill()
}

// Do sends one command to the server on a new connection and returns the
// reply rendered by the rules of [ClusterServer.DoNode]. It fails the test
// on a network or protocol error. Like tb.Fatal, it must be called from
// the goroutine running the test.
func (s *Server) Do(tb testing.TB, args ...string) string {
	tb.Helper()
	return s.p.do(tb, args)
}

// Cluster starts a Redis Cluster of three masters without replicas, each
// listening on a free port of 127.0.0.1 with its own temporary directory.
// The slots 0-16383 are split into three ranges, one per node, and
// Cluster waits until every node reports cluster_state:ok and knows all
// three nodes, failing the test after about 20 seconds otherwise. The
// nodes are killed (and waited for) by a tb.Cleanup function.
//
// If redis-server is not on PATH, Cluster skips the test, or fails it when
// the environment variable THROTTLED_REQUIRE_REDIS is "1".
func Cluster(tb testing.TB) *ClusterServer {
	tb.Helper()
	bin := lookBinary(tb)

	c := &ClusterServer{}
	for range numClusterNode {
		c.nodes = append(c.nodes, start(tb, bin, modeCluster))
	}

	// Assign each node one contiguous third of the slots.
	for i, n := range c.nodes {
		lo := i * numSlots / numClusterNode
		hi := (i+1)*numSlots/numClusterNode - 1
		n.mustOK(tb, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}

	// Introduce every other node to the first one; gossip does the rest.
	first := c.nodes[0]
	host, port, _ := net.SplitHostPort(first.addr)
	busPort := first.busPort(tb)
	for _, n := range c.nodes[1:] {
		n.mustOK(tb, "CLUSTER", "MEET", host, port, busPort)
	}

	deadline := time.Now().Add(clusterTimeout)
	for {
		var pending []string
		for i, n := range c.nodes {
			info, err := n.roundTrip([]string{"CLUSTER", "INFO"})
			if err != nil {
				pending = append(pending, fmt.Sprintf("node %d (%s): %v", i, n.addr, err))
				continue
			}
			// Without cluster-require-full-coverage a node reports ok before
			// it knows every slot's owner: wait for all of them too.
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(numClusterNode)) ||
				!strings.Contains(info, "cluster_slots_ok:"+strconv.Itoa(numSlots)) {
				pending = append(pending, fmt.Sprintf("node %d (%s): %s", i, n.addr, summarizeInfo(info)))
			}
		}
		if len(pending) == 0 {
			return c
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, n := range c.nodes {
				fmt.Fprintf(&b, "\n--- output of node %d (%s) ---\n%s", i, n.addr, n.out.tail(tailBytes))
			}
			tb.Fatalf("redistest: Redis Cluster did not reach cluster_state:ok with %d known nodes within %v:\n%s%s",
				numClusterNode, clusterTimeout, strings.Join(pending, "\n"), b.String())
		}
		time.Sleep(pollInterval * 4)
	}
}

// Addrs returns the addresses ("127.0.0.1:port") of the cluster's nodes,
// in the order of their slot ranges: node 0 owns slots 0-5460, node 1
// owns 5461-10921 and node 2 owns 10922-16383.
func (c *ClusterServer) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// DoNode sends one command to node i (an index into [ClusterServer.Addrs])
// on a new connection and returns the reply rendered as a string: simple
// strings, bulk strings and integers as their text, a nil reply as
// "(nil)", an error reply as its text preceded by "-" (as on the wire, for
// example "-MOVED 3999 127.0.0.1:7000"), and the elements of an array
// each rendered by these rules and joined by "\n". Redirections are not
// followed. DoNode fails the test on a network or protocol error. Like
// tb.Fatal, it must be called from the goroutine running the test.
func (c *ClusterServer) DoNode(tb testing.TB, i int, args ...string) string {
	tb.Helper()
	if i < 0 || i >= len(c.nodes) {
		tb.Fatalf("redistest: DoNode: node index %d out of range [0,%d)", i, len(c.nodes))
	}
	return c.nodes[i].do(tb, args)
}

// lookBinary returns the path of redis-server, or skips or fails the test
// when it is missing.
func lookBinary(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath(binaryName)
	if err == nil {
		return bin
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("redistest: redis-server not found on PATH but THROTTLED_REQUIRE_REDIS=1")
	}
	tb.Skipf("redistest: *** REDIS TESTS SKIPPED ***: redis-server not found on PATH (%v). "+
		"Install Redis 7+ (e.g. `apt-get install redis-server`) to run them, and set %s=1 to make its absence a failure.",
		err, RequireEnv)
	return ""
}

// mode is how a server is started.
type mode int

const (
	modeTCP      mode = iota // standalone on a TCP port of 127.0.0.1
	modeUnix                 // standalone on a Unix socket, no TCP listener
	modeCluster              // cluster node on a TCP port of 127.0.0.1
	modeSentinel             // Sentinel on a TCP port of 127.0.0.1; dir holds sentinel.conf
)

// start starts one redis-server, retrying on a new port when the chosen
// one turns out to be taken, and registers its cleanup.
func start(tb testing.TB, bin string, m mode) *process {
	tb.Helper()
	return startIn(tb, bin, m, "")
}

// startIn is start with a chosen directory ("" picks one).
func startIn(tb testing.TB, bin string, m mode, dir string) *process {
	tb.Helper()
	switch {
	case dir != "":
	case m == modeUnix:
		// tb.TempDir embeds the test's name and can exceed the ~104-108
		// bytes a socket path may have.
		d, err := os.MkdirTemp("", "redistest")
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		tb.Cleanup(func() { _ = os.RemoveAll(d) })
		dir = d
	default:
		dir = tb.TempDir()
	}
	var failures []string
	for attempt := 1; attempt <= startAttempts; attempt++ {
		p, retry, err := tryStart(bin, dir, m)
		if err == nil {
			tb.Cleanup(p.stop(tb))
			return p
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v", attempt, err))
		if !retry {
			break
		}
	}
	tb.Fatalf("redistest: could not start redis-server:\n%s", strings.Join(failures, "\n"))
	return nil
}

// tryStart makes one attempt at starting redis-server on a free port. On
// failure the process has been killed and reaped, and retry reports whether
// the failure looks like a port conflict worth another attempt.
func tryStart(bin, dir string, m mode) (p *process, retry bool, err error) {
	network, addr := "tcp", ""
	var args []string
	if m == modeUnix {
		network, addr = "unix", filepath.Join(dir, "redis.sock")
		args = []string{"--port", "0", "--unixsocket", addr, "--unixsocketperm", "700"}
	} else {
		port, err := freePort()
		if err != nil {
			return nil, false, err
		}
		addr = net.JoinHostPort(loopback, strconv.Itoa(port))
		args = []string{"--bind", loopback, "--port", strconv.Itoa(port)}
	}
	if m == modeSentinel {
		// A sentinel reads (and rewrites) its config file; the monitor
		// line is already there, the port and address come from here.
		args = append([]string{filepath.Join(dir, "sentinel.conf"), "--sentinel"}, args...)
	} else {
		args = append(args, "--save", "", "--appendonly", "no")
	}
	args = append(args,
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	if m == modeCluster {
		// Choose the cluster bus port explicitly: the default, port+10000,
		// may be taken or beyond 65535. Without full coverage the other
		// nodes keep serving their slots while one node is down.
		busPort, err := freePort()
		if err != nil {
			return nil, false, err
		}
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(busPort),
			"--cluster-require-full-coverage", "no",
		)
	}

	p = &process{network: network, addr: addr, bin: bin, dir: dir, args: args}
	if err := p.run(); err != nil {
		return nil, false, err
	}

	err = p.waitReady()
	if err == nil {
		return p, false, nil
	}
	exited := p.exited()
	p.kill()
	output := p.out.tail(tailBytes)
	retry = errors.Is(err, errForeignServer) ||
		(exited && (strings.Contains(output, "in use") || strings.Contains(output, "listening")))
	return nil, retry, fmt.Errorf("redis-server on %s: %w\n--- redis-server output (tail) ---\n%s", p.addr, err, output)
}

// run starts the process's command and reaps it in the background.
func (p *process) run() error {
	closeInheritedOnExec()
	out := &syncBuffer{}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = procAttr()
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.out, p.done = cmd, out, done
	go func() {
		p.err = cmd.Wait()
		close(done)
	}()
	return nil
}

// closeInheritedOnExec marks every descriptor of this process above
// stderr close-on-exec, so that a server inherits only its stdin, stdout
// and stderr. Go opens its own descriptors so, but not those a process
// is handed open: a fuzzing worker gets its pipes to the coordinator as
// descriptors 3 to 5. A server holding them outlives a worker the
// coordinator kills (its cleanups do not run), keeps the pipes open, and
// the coordinator then waits for the dead worker forever. It runs before
// each server starts (marking a descriptor twice is harmless); where the
// process's descriptors cannot be listed (no /proc or /dev/fd), nothing
// changes.
func closeInheritedOnExec() {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
		return
	}
}

// errForeignServer reports that the port answered PING, but from a
// process other than the one started.
var errForeignServer = errors.New("another process answered on the port")

// waitReady waits until the process answers PING, and checks that the
// answer comes from this very process and not from another server that
// grabbed the port first.
func (p *process) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		if p.exited() {
			return fmt.Errorf("exited before answering PING: %v", p.err)
		}
		reply, err := p.roundTrip([]string{"PING"})
		switch {
		case err != nil:
			lastErr = err
		case reply != "PONG":
			lastErr = fmt.Errorf("PING answered %q", reply)
		default:
			info, err := p.roundTrip([]string{"INFO", "server"})
			if err != nil {
				return fmt.Errorf("INFO server: %w", err)
			}
			if !strings.Contains(info, "process_id:"+strconv.Itoa(p.cmd.Process.Pid)+"\r\n") {
				return errForeignServer
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last error: %v)", startTimeout, lastErr)
		}
		time.Sleep(pollInterval)
	}
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process and waits for it to be reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.done
}

// stop returns the cleanup function of the process.
func (p *process) stop(tb testing.TB) func() {
	return func() {
		if p.stopped.Load() {
			return
		}
		if p.exited() {
			tb.Logf("redistest: redis-server on %s exited before the end of the test: %v\n--- output (tail) ---\n%s",
				p.addr, p.err, p.out.tail(tailBytes))
			return
		}
		p.kill()
	}
}

// busPort returns the cluster bus port the process was started with.
func (p *process) busPort(tb testing.TB) string {
	tb.Helper()
	args := p.cmd.Args
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "--cluster-port" {
			return args[i+1]
		}
	}
	tb.Fatalf("redistest: redis-server on %s was not started in cluster mode", p.addr)
	return ""
}

// do runs one command for Do and DoNode.
func (p *process) do(tb testing.TB, args []string) string {
	tb.Helper()
	if len(args) == 0 {
		tb.Fatalf("redistest: Do: no command given")
	}
	reply, err := p.roundTrip(args)
	if err != nil {
		tb.Fatalf("redistest: %s on %s: %v\n--- redis-server output (tail) ---\n%s",
			strings.Join(args, " "), p.addr, err, p.out.tail(tailBytes))
	}
	return reply
}

// mustOK runs a command that must answer +OK.
func (p *process) mustOK(tb testing.TB, args ...string) {
	tb.Helper()
	if reply := p.do(tb, args); reply != "OK" {
		tb.Fatalf("redistest: %s on %s answered %q, want OK\n--- redis-server output (tail) ---\n%s",
			strings.Join(args, " "), p.addr, reply, p.out.tail(tailBytes))
	}
}

// roundTrip sends one command on a new connection and reads its reply.
func (p *process) roundTrip(args []string) (string, error) {
	return p.roundTripTimeout(args, ioTimeout)
}

// roundTripTimeout is roundTrip with a deadline of its own.
func (p *process) roundTripTimeout(args []string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout(p.network, p.addr, dialTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := conn.Write(encodeCommand(args)); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// encodeCommand encodes a command as a RESP array of bulk strings.
func encodeCommand(args []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// readReply reads one RESP2 reply and renders it as described on
// [ClusterServer.DoNode].
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("protocol error: empty line")
	}
	kind, body := line[0], line[1:]
	switch kind {
	case '+', ':':
		return body, nil
	case '-':
		return line, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", fmt.Errorf("protocol error: bad bulk length %q", body)
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		if !bytes.HasSuffix(buf, []byte("\r\n")) {
			return "", errors.New("protocol error: bulk string not terminated by CRLF")
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", fmt.Errorf("protocol error: bad array length %q", body)
		}
		if n < 0 {
			return "(nil)", nil
		}
		elems := make([]string, 0, n)
		for range n {
			e, err := readReply(r)
			if err != nil {
				return "", err
			}
			elems = append(elems, e)
		}
		return strings.Join(elems, "\n"), nil
	default:
		return "", fmt.Errorf("protocol error: unexpected reply %q", line)
	}
}

// summarizeInfo picks the interesting lines of a CLUSTER INFO reply.
func summarizeInfo(info string) string {
	var keep []string
	for _, l := range strings.Split(info, "\r\n") {
		if strings.HasPrefix(l, "cluster_state:") ||
			strings.HasPrefix(l, "cluster_known_nodes:") ||
			strings.HasPrefix(l, "cluster_slots_assigned:") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return strconv.Quote(info)
	}
	return strings.Join(keep, " ")
}

// syncBuffer is a bytes.Buffer safe for concurrent use, collecting the
// output of a process.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns at most the last n bytes written.
func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		return "[...]" + string(s[len(s)-n:])
	}
	return string(s)
}
