// Command throttled-charts draws the documentation's charts from the code
// they describe, so the pictures cannot drift from the behaviour:
//
//   - docs/algorithms/<pattern>.svg: every algorithm's real step function
//     (algo.XInit and algo.XStep) run on a deterministic traffic pattern
//     with a simulated clock and one quota (10/s, burst 10), one panel per
//     algorithm: requests offered and admitted per time bucket, Remaining
//     after each decision, and the RetryAfter told to each denied request;
//   - docs/bench/peers.svg: ns/op of throttled and its Go peers, one bar per
//     library and workload, from docs/bench/peers.json (schema: peersFile).
//
// Usage:
//
//	go run ./cmd/throttled-charts [-root dir] [-check]
//
// -root is the module root the docs/ paths are relative to; by default the
// directory of the go.mod of github.com/throttled-go/throttled at or above
// the working directory, so `go generate ./...` (which runs the directive
// below in this package's directory) finds it. -check writes nothing and
// exits with status 1 when a checked-in chart differs from what the current
// code draws, or when a chart exists that the code does not draw. The
// package's tests do the same check, so `go test ./...` fails on a stale chart.
//
// The tool depends on package algo and the standard library only; the SVG
// is written by hand (no plotting library) and is byte-for-byte deterministic.
package main

//go:generate go run .

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// main runs the command and exits with status 1 on any error.
func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "throttled-charts:", err)
		}
		os.Exit(1)
	}
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("throttled-charts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "module root to write docs/ under (default: the module root at or above the working directory)")
	check := fs.Bool("check", false, "write nothing; fail if a checked-in chart is stale or missing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if *root, err = findRoot(wd); err != nil {
			return err
		}
	}
	charts, err := render(*root)
	if err != nil {
		return err
	}
	if *check {
		stale, err := compare(*root, charts)
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			for _, s := range stale {
				fmt.Fprintln(stdout, s)
			}
			return fmt.Errorf("%d chart(s) stale; run go generate ./cmd/throttled-charts/", len(stale))
		}
		return nil
	}
	return write(*root, charts)
}
