// Command gen translates the step functions of package algo into the Redis
// Lua scripts and the Go store bindings.
//
// Run it from the module root (make generate, or go generate ./...):
//
//	go run ./gen [-algo algo] [-root .]
//
// It reads the functions marked //throttled:init and //throttled:step, refuses
// any Go outside the accepted subset with "file:line: why", and writes:
//
//	store/redisstore/lua/throttled.lua  the Redis script: every algorithm, as Lua functions and written
//	                                    inline in the one-policy path, and the glue (script.lua.tmpl)
//	store/redisstore/lua/<algorithm>.lua  the script deciding one request under one policy of that
//	                                    algorithm, its functions written inline (single.lua.tmpl)
//	store/redisstore/script_gen.go      their embedding, argument encoding and reply decoding
//	internal/steps/<algorithm>_gen.go   the Go binding of each algorithm (memory store, Redis tests)
//	internal/steps/steps_gen.go         their dispatcher
//
// Output is deterministic; stale generated files in those folders are removed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	// A flag set of its own, so that main can run more than once in a
	// process (its test does, under go test -count).
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	algoDir := fs.String("algo", "algo", "directory of the step functions, relative to -root")
	root := fs.String("root", ".", "module root")
	fs.Parse(os.Args[1:]) // ExitOnError: exits on a bad flag
	if err := run(*root, *algoDir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run generates every output file into root.
func run(root, algoDir string) error {
	out, err := generate(root, algoDir)
	if err != nil {
		return err
	}
	return writeAll(root, out)
}

// generate returns every output file, keyed by its slash path under root.
func generate(root, algoDir string) (map[string][]byte, error) {
	prev, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if err := os.Chdir(root); err != nil {
		return nil, err
	}
	defer os.Chdir(prev)
	src, err := load(algoDir)
	if err != nil {
		return nil, err
	}
	algs, err := src.algorithms()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, a := range algs {
		if err := checkGlue(src, a); err != nil {
			return nil, err
		}
		if a.UsedParam, err = src.usedParams(a); err != nil {
			return nil, err
		}
		if out["internal/steps/"+a.Snake()+"_gen.go"], err = src.goSteps(a); err != nil {
			return nil, err
		}
	}
	if out["internal/steps/steps_gen.go"], err = src.goStepsDispatch(algs); err != nil {
		return nil, err
	}
	scripts, err := src.luaScripts(algs)
	if err != nil {
		return nil, err
	}
	for name, lua := range scripts {
		out["store/redisstore/lua/"+name] = []byte(lua)
	}
	if out["store/redisstore/script_gen.go"], err = src.goRedis(algs, paramSlots(algs)); err != nil {
		return nil, err
	}
	return out, nil
}

// generatedGlobs are the files gen owns; any of them it did not just write is stale.
var generatedGlobs = []string{
	"store/redisstore/lua/*.lua",
	"store/redisstore/*_gen.go",
	"store/redisstore/*_gen_test.go",
	"store/memstore/*_gen.go",
	"internal/steps/*_gen.go",
}

func writeAll(root string, out map[string][]byte) error {
	for _, g := range generatedGlobs {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		if err != nil {
			return err
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			if _, ok := out[filepath.ToSlash(rel)]; !ok {
				if err := os.Remove(m); err != nil {
					return err
				}
			}
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(root, filepath.FromSlash(n))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, out[n]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, out[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}
