package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// peersJSON is the file -json writes: the schema cmd/throttled-charts reads
// (docs/bench/peers.json, "throttled-peers/1") for the chart of the
// README's benchmark section, one scenario of one run.
type peersJSON struct {
	Schema       string      `json:"schema"`
	Source       string      `json:"source"`
	Machine      string      `json:"machine"`
	Scenario     string      `json:"scenario"`
	ScenarioNote string      `json:"scenario_note"`
	Unit         string      `json:"unit"`
	Versions     string      `json:"versions"`
	Tables       []jsonTable `json:"tables"`
}

type jsonTable struct {
	Title   string    `json:"title"`
	Command string    `json:"command"`
	Columns []string  `json:"columns"`
	Rows    []jsonRow `json:"rows"`
}

type jsonRow struct {
	Library string     `json:"library"`
	Kind    string     `json:"kind"` // ours | throttled | peer | baseline
	NsPerOp []*float64 `json:"ns_per_op"`
	Notes   []jsonNote `json:"notes,omitempty"`
}

type jsonNote struct {
	Column string `json:"column"`
	Note   string `json:"note"`
}

// peerVersions names the peers' module versions, as go.mod pins them.
const peerVersions = "x/time v0.16.0, go-limiter v0.7.1, throttled/v2 v2.15.0, ulule/limiter v3.11.2, httprate v0.16.1, redis_rate v10.0.1 (go-redis v9.23.0)"

// writeJSON writes the scenario's results to path in the charts' schema.
// The Redis table has the proxied columns too when the run has them (a
// row's direct and proxied peers in one row, as in the markdown table),
// and proxyNote, what they measure, is appended to the machine line.
func writeJSON(path string, args []string, redisVersion, proxyNote string, sc scenario, peers []peer, cols []column, res map[[2]int]cellResult) error {
	machine := fmt.Sprintf("%d CPUs, %s, %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if redisVersion != "" {
		machine += ", Redis " + redisVersion + " on the same host"
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		machine += ", load " + strings.Join(strings.Fields(string(load))[:3], " ") + " at the end"
	}
	if proxyNote != "" {
		machine += ". " + strings.TrimSuffix(proxyNote, ".")
	}
	out := peersJSON{
		Schema:       "throttled-peers/1",
		Source:       "bench/peers -json, one run (median of the passes per cell)",
		Machine:      machine,
		Scenario:     sc.name,
		ScenarioNote: fmt.Sprintf("%s requests/s per key, burst %s", group(int64(sc.limit)), group(int64(sc.limit))),
		Unit:         "ns/op",
		Versions:     peerVersions,
	}
	command := "cd bench/peers && go run . " + strings.Join(args, " ")
	for _, remote := range []bool{false, true} {
		t := jsonTable{Title: "In-process memory", Command: command}
		if remote {
			t.Title = "Redis"
		}
		var cis []int
		for ci, c := range cols {
			if c.redis == remote {
				cis = append(cis, ci)
				t.Columns = append(t.Columns, c.title)
			}
		}
		if len(cis) == 0 {
			continue
		}
		for _, tr := range tableRows(peers, cols, cis, remote) {
			p := tr.peer
			row := jsonRow{Library: strings.ReplaceAll(p.name, "**", ""), Kind: kindOf(p)}
			for i, ci := range cis {
				r, ok := tr.cell(i, ci, res)
				if !ok {
					row.NsPerOp = append(row.NsPerOp, nil)
					continue
				}
				v := r.nsPerOp()
				row.NsPerOp = append(row.NsPerOp, &v)
				if r.errors > 0 {
					row.Notes = append(row.Notes, jsonNote{Column: cols[ci].title, Note: fmt.Sprintf("%d of %d calls failed (timed, not counted as denials)", r.errors, r.ops)})
				}
			}
			t.Rows = append(t.Rows, row)
		}
		out.Tables = append(out.Tables, t)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// kindOf is a row's kind in the charts' schema.
func kindOf(p peer) string {
	switch {
	case p.ref:
		return "baseline"
	case p.ours:
		return "ours"
	case strings.HasPrefix(strings.TrimPrefix(p.name, "**"), "throttled ") && !strings.Contains(p.name, "throttled/"):
		return "throttled"
	}
	return "peer"
}
