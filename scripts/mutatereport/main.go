// Command mutatereport summarizes a make mutate run: one row per package
// with its mutants killed, lived, judged equivalent, timed out and not
// covered, its efficacy (killed over killed and lived, equivalent mutants
// excluded) and its test coverage, then the survivors that are real gaps.
//
//	go run ./scripts/mutatereport -dir mutate.out -equivalent scripts/mutants-equivalent.txt
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	dir := flag.String("dir", "mutate.out", "directory of the per-package gremlins logs (<name>.log), JSON (<name>.json) and coverage (<name>.cover)")
	equiv := flag.String("equivalent", "scripts/mutants-equivalent.txt", "the equivalent mutants, with reasons")
	flag.Parse()
	if err := run(*dir, *equiv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mutatereport:", err)
		os.Exit(1)
	}
}

// result is gremlins' JSON output, the fields used here.
type result struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// row is one package's line of the table.
type row struct {
	name                                         string
	killed, lived, equivalent, timedOut, notCovd int
	coverage                                     string
	gaps                                         []string
}

func run(dir, equivFile string, w io.Writer) error {
	equiv, err := readEquivalent(equivFile)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return err
	}
	if len(logs) == 0 {
		return fmt.Errorf("no gremlins run in %s", dir)
	}
	var rows []row
	for _, l := range logs {
		name := strings.TrimSuffix(filepath.Base(l), ".log")
		var res result // no JSON: gremlins found no mutant to run
		if data, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil {
			if err := json.Unmarshal(data, &res); err != nil {
				return fmt.Errorf("%s.json: %w", name, err)
			}
		}
		r := row{name: name, coverage: coverage(filepath.Join(dir, name+".cover"))}
		for _, file := range res.Files {
			for _, m := range file.Mutations {
				id := fmt.Sprintf("%s/%s:%d:%d %s", name, filepath.ToSlash(file.FileName), m.Line, m.Column, m.Type)
				switch m.Status {
				case "KILLED":
					r.killed++
				case "LIVED":
					if _, ok := equiv[id]; ok {
						r.equivalent++
						used[id] = true
					} else {
						r.lived++
						r.gaps = append(r.gaps, id)
					}
				case "TIMED OUT":
					r.timedOut++
				case "NOT COVERED":
					r.notCovd++
				}
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	fmt.Fprintln(w, "| package | killed | lived | equivalent | timed out | not covered | efficacy | coverage |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		eff := "—"
		if n := r.killed + r.lived; n > 0 {
			eff = fmt.Sprintf("%.1f %%", 100*float64(r.killed)/float64(n))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %s | %s |\n", r.name, r.killed, r.lived, r.equivalent, r.timedOut, r.notCovd, eff, r.coverage)
	}
	for _, r := range rows {
		for _, g := range r.gaps {
			fmt.Fprintf(w, "\nsurvivor (a real gap, or add it to %s with a reason): %s", equivFile, g)
		}
	}
	var stale []string
	for id := range equiv {
		if !used[id] {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		fmt.Fprintf(w, "\nequivalent entry that matched no survivor this run (fixed, moved, or its package not run): %s", id)
	}
	fmt.Fprintln(w)
	return nil
}

// readEquivalent reads "<package>/<file>:<line>:<col> <MUTATOR> <reason>"
// lines (package as the table names it); a line without a reason is
// refused.
func readEquivalent(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || !regexp.MustCompile(`^[^:]+:\d+:\d+$`).MatchString(fields[0]) {
			return nil, fmt.Errorf("%s:%d: want <path>:<line>:<column> <MUTATOR> <reason>", path, n)
		}
		out[fields[0]+" "+fields[1]] = strings.Join(fields[2:], " ")
	}
	return out, sc.Err()
}

// coverage reads "coverage: N% of statements" from a go test -cover line.
func coverage(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	if m := regexp.MustCompile(`coverage: ([0-9.]+%)`).FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return "?"
}
