package redistest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes TestServerChild start a server instead of skipping.
const childEnv = "REDISTEST_SERVER_CHILD"

// TestServerChild is TestServerDiesWithItsProcess's child process: it
// starts a server, prints the server's pid and waits to be killed.
func TestServerChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("run by TestServerDiesWithItsProcess")
	}
	s := Standalone(t)
	fmt.Printf("server pid %d\n", s.p.cmd.Process.Pid)
	time.Sleep(time.Minute)
}

// TestServerDiesWithItsProcess: a server does not outlive a test process
// killed before its cleanups run (a -timeout, a fuzzing worker the
// coordinator kills).
func TestServerDiesWithItsProcess(t *testing.T) {
	lookBinary(t) // skips, or fails, as the servers' tests do without redis-server
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	lines := bufio.NewScanner(out)
	for pid == 0 && lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "server pid "); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if pid == 0 {
		t.Fatal("the child printed no server pid")
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("server %d still runs 10s after its test process was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// spaces.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
