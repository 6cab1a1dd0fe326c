// Command scriptcost counts the instructions redis-server executes per
// call of the limiter's script, for each algorithm, and of the floor
// script (internal/floorscript), under valgrind's callgrind: a count that
// repeats from run to run whatever else the machine is doing (within 0.2%
// for the algorithms, 1.5% for the floor), where server timings on a
// shared host vary by a tenth. It starts its own redis-server under
// callgrind on a free loopback port and makes each subject's calls
// serially: one decision a call, coalescing off, a quota of 10^9/s so that
// every call is allowed and writes its key; then GCRA on the caller's
// clock (redisstore.WithClock), whose script reads no TIME; last,
// leastgcra.lua, GCRA's decision written by hand in the least a script
// can do (no validation, one quota, the TTL set on every write), and
// leastgcrakeep.lua, the same keeping the TTL as the limiter's script
// does: how near the floor a script deciding GCRA can come. Each subject's
// count is read from a callgrind dump, zeroed by callgrind_control -z just
// before its calls and dumped by -d after them. Rounds alternate the
// subjects, so that a change of the server's state over the run weighs on
// all alike.
//
//	go run ./bench/scriptcost [-n 2000] [-rounds 2] [-keep DIR]
//
// It needs valgrind (with callgrind_control) and redis-server on PATH.
// opcount.lua, beside it, counts the Lua virtual machine's instructions of
// one decision instead (see its header).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/floorscript"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/redisstore"
)

func main() {
	n := flag.Int("n", 2000, "calls a subject a round")
	rounds := flag.Int("rounds", 2, "rounds over the subjects")
	server := flag.String("redis-server", "redis-server", "the redis-server binary")
	keep := flag.String("keep", "", "a directory to keep the callgrind dumps in, for callgrind_annotate (named cg.PID.N; each holds its subject's name after \"dump \")")
	flag.Parse()
	if *n < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "scriptcost: -n and -rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(os.Stdout, *server, *keep, *n, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "scriptcost:", err)
		os.Exit(1)
	}
}

// subject is one kind of call measured.
type subject struct {
	name string
	call func(context.Context) error
}

// run measures n calls of each subject in each of rounds rounds on a
// redis-server started from the binary server, and writes the table to w;
// the dumps go to keep, or to a temporary directory when keep is "".
func run(w io.Writer, server, keep string, n, rounds int) error {
	for _, tool := range []string{"valgrind", "callgrind_control", server} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}
	dir := keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "scriptcost")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	srv, addr, err := startServer(server, dir)
	if err != nil {
		return err
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
	}()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := redisstore.New(c, redisstore.WithCoalescing(0), redisstore.WithTimeout(10*time.Second))
	if err != nil {
		return err
	}
	clocked, err := redisstore.New(c, redisstore.WithCoalescing(0), redisstore.WithTimeout(10*time.Second), redisstore.WithClock(store.SystemClock()))
	if err != nil {
		return err
	}
	subjects, err := subjectsOf(c, s, clocked)
	if err != nil {
		return err
	}
	ctx := context.Background()
	pid := strconv.Itoa(srv.Process.Pid)
	perCall := make([][]float64, len(subjects)) // [subject][round]
	// Every script loaded and every key written before the first count, so
	// that no count includes a first call's work.
	for _, sub := range subjects {
		for range 5 {
			if err := sub.call(ctx); err != nil {
				return fmt.Errorf("%s: %w", sub.name, err)
			}
		}
	}
	for r := range rounds {
		for i, sub := range subjects {
			// Lua's collector frees the garbage of the calls before the count,
			// so that no subject pays for another's.
			if err := c.Do(ctx, c.B().Eval().Script("collectgarbage('collect') return 0").Numkeys(0).Build()).Error(); err != nil {
				return fmt.Errorf("collectgarbage: %w", err)
			}
			if err := exec.Command("callgrind_control", "-z", pid).Run(); err != nil {
				return fmt.Errorf("callgrind_control -z: %w", err)
			}
			for range n {
				if err := sub.call(ctx); err != nil {
					return fmt.Errorf("%s: %w", sub.name, err)
				}
			}
			total, err := dump(dir, pid, fmt.Sprintf("%s-%d", sub.name, r), keep == "")
			if err != nil {
				return err
			}
			perCall[i] = append(perCall[i], float64(total)/float64(n))
		}
	}
	fmt.Fprintf(w, "redis-server instructions a call (callgrind), %d serial calls a subject a round, one decision a call\n\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "subject\t"
	for r := range rounds {
		head += fmt.Sprintf("round %d\t× floor\t", r+1)
	}
	fmt.Fprintln(tw, head)
	for i, sub := range subjects {
		line := sub.name + "\t"
		for r := range rounds {
			line += fmt.Sprintf("%.1fk\t%.2f\t", perCall[i][r]/1000, perCall[i][r]/perCall[0][r])
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// subjectsOf returns the floor, a serial decision of each algorithm on s,
// then one of GCRA on clocked, a store passing the client's clock (no TIME
// in the script), and last one of leastgcra.lua and of leastgcrakeep.lua:
// GCRA's decision in the least a script can do, with the TTL set on every
// write and kept as the limiter's script keeps it.
func subjectsOf(c rueidis.Client, s, clocked *redisstore.Store) ([]subject, error) {
	// decide is a decision of cost 1 under algorithm a at 10^9/s, on key of st.
	decide := func(name string, st *redisstore.Store, key string, a algo.Algorithm) (subject, error) {
		p, err := store.NewPolicy(algo.PerSec(1_000_000_000).WithAlgorithm(a))
		if err != nil {
			return subject{}, err
		}
		ps := []*store.Policy{p}
		return subject{name, func(ctx context.Context) error {
			_, err := st.Decide(ctx, key, ps, 1, nil)
			return err
		}}, nil
	}
	subjects := []subject{{"floor", func(ctx context.Context) error {
		return floorscript.Call(ctx, c, "scriptcost:floor")
	}}}
	for _, a := range []algo.Algorithm{algo.FixedWindow, algo.SlidingWindow, algo.TokenBucket, algo.LeakingBucket, algo.GCRA} {
		sub, err := decide(a.String(), s, "k", a) // the store's prefix makes it throttled:v3:<policy>:{k}
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, sub)
	}
	sub, err := decide("gcra, WithClock", clocked, "kc", algo.GCRA)
	if err != nil {
		return nil, err
	}
	// leastSubject is a decision by a least script, as the algorithms'.
	leastSubject := func(name string, script *rueidis.Lua, key string) subject {
		return subject{name, func(ctx context.Context) error {
			_, err := callLeastGCRA(ctx, c, script, key, 1, 1, 1_000_000_000)
			return err
		}}
	}
	return append(subjects, sub,
		leastSubject("gcra, least script", leastGCRA, "scriptcost:least"),
		leastSubject("gcra, least, KEEPTTL", leastGCRAKeep, "scriptcost:leastkeep")), nil
}

// startServer starts redis-server under callgrind on a free loopback port,
// its dumps going to dir, and waits until it answers. Its periodic tasks
// run once a second (hz 1) instead of ten times: they run by the clock,
// so under callgrind's slowdown they would add to a round's count by
// however long the round took.
func startServer(server, dir string) (*exec.Cmd, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file="+filepath.Join(dir, "cg.%p"),
		server, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--hz", "1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte("PING\r\n"))
		buf := make([]byte, 7)
		if err == nil {
			_, err = io.ReadFull(conn, buf)
		}
		conn.Close()
		if err == nil && string(buf) == "+PONG\r\n" {
			return cmd, addr, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", errors.New("redis-server under callgrind did not answer PING within 60 s")
}

// dump has callgrind write its counts since the last zeroing, tagged
// name, and returns their total instructions; remove removes the dump once
// read.
func dump(dir, pid, name string, remove bool) (int64, error) {
	if out, err := exec.Command("callgrind_control", "-d", name, pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control -d: %w: %s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "cg."+pid+".*"))
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		total, ok, err := totals(string(b), name)
		if !ok {
			continue
		}
		if remove {
			os.Remove(f)
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		return total, nil
	}
	return 0, fmt.Errorf("no callgrind dump tagged %q in %s", name, dir)
}

// totals returns the instructions counted in a callgrind dump (its
// "totals:" line) if the dump is the one tagged name.
func totals(dump, name string) (total int64, ok bool, err error) {
	if !strings.Contains(dump, "\ndesc: Trigger: dump "+name+"\n") {
		return 0, false, nil
	}
	for _, line := range strings.Split(dump, "\n") {
		if v, found := strings.CutPrefix(line, "totals: "); found {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, true, errors.New("an empty totals line")
			}
			total, err = strconv.ParseInt(f[0], 10, 64)
			return total, true, err
		}
	}
	return 0, true, errors.New("no totals line")
}
