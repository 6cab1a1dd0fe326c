package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// peersSchema is the value of peersFile.Schema this tool reads.
const peersSchema = "throttled-peers/1"

// peersFile is the schema of docs/bench/peers.json: one run of bench/peers,
// written by its -json flag (cd bench/peers && go run . -redis URL -json
// ../../docs/bench/peers.json). Unknown fields are an error, so a typo
// cannot hide a value.
//
//	{
//	  "schema": "throttled-peers/1",
//	  "source": "where the numbers come from",
//	  "machine": "CPU, cores, Go and Redis versions, load",
//	  "scenario": "allow",
//	  "scenario_note": "what the scenario's quota makes every call do",
//	  "unit": "ns/op",
//	  "versions": "the peers' module versions",
//	  "tables": [{
//	    "title": "In-process memory",
//	    "command": "the command that measured this table",
//	    "columns": ["1 key, serial", …],
//	    "rows": [{
//	      "library": "throttled GCRA (memstore)",
//	      "kind": "ours",            // ours | throttled | peer | baseline
//	      "ns_per_op": [158.6, …],   // one per column; null: not measured
//	      "notes": [{"column": "…", "note": "…"}]  // optional footnotes
//	    }]
//	  }]
//	}
type peersFile struct {
	Schema       string       `json:"schema"`
	Source       string       `json:"source"`
	Machine      string       `json:"machine"`
	Scenario     string       `json:"scenario"`
	ScenarioNote string       `json:"scenario_note"`
	Unit         string       `json:"unit"`
	Versions     string       `json:"versions"`
	Tables       []peersTable `json:"tables"`
}

// peersTable is one table of a peersFile: the rows measured by one command.
type peersTable struct {
	Title   string     `json:"title"`
	Command string     `json:"command"`
	Columns []string   `json:"columns"`
	Rows    []peersRow `json:"rows"`
}

// peersRow is one library's cells; NsPerOp has one entry per column, nil
// where the library was not measured.
type peersRow struct {
	Library string      `json:"library"`
	Kind    string      `json:"kind"`
	NsPerOp []*float64  `json:"ns_per_op"`
	Notes   []peersNote `json:"notes,omitempty"`
}

// peersNote is a footnote on one cell, such as calls that failed.
type peersNote struct {
	Column string `json:"column"`
	Note   string `json:"note"`
}

// kindColors colors the bars by what the row is.
var kindColors = map[string]string{
	"ours":      "#0072B2",
	"throttled": "#56B4E9",
	"peer":      "#E69F00",
	"baseline":  "#999999",
}

// kindLegend places the legend's words for the kinds, left to right.
var kindLegend = []struct {
	x          float64
	kind, text string
}{
	{16, "ours", "throttled GCRA (the README's × denominator)"},
	{352, "throttled", "throttled, other algorithm"},
	{560, "peer", "Go peer"},
	{650, "baseline", "baseline (not a limiter)"},
}

// readPeers reads and validates a peersFile.
func readPeers(name string) (*peersFile, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f peersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &f, nil
}

// validate checks what the chart relies on.
func (f *peersFile) validate() error {
	if f.Schema != peersSchema {
		return fmt.Errorf("schema is %q, want %q", f.Schema, peersSchema)
	}
	if f.Machine == "" || f.Unit == "" || len(f.Tables) == 0 {
		return fmt.Errorf("machine, unit and tables are required")
	}
	for _, t := range f.Tables {
		if t.Command == "" || len(t.Columns) == 0 || len(t.Rows) == 0 {
			return fmt.Errorf("table %q: command, columns and rows are required", t.Title)
		}
		if len(t.Columns) > benchMaxCols {
			return fmt.Errorf("table %q: %d columns, the chart has room for %d", t.Title, len(t.Columns), benchMaxCols)
		}
		for _, r := range t.Rows {
			if _, ok := kindColors[r.Kind]; !ok {
				return fmt.Errorf("row %q: kind %q is not ours, throttled, peer or baseline", r.Library, r.Kind)
			}
			if len(r.NsPerOp) != len(t.Columns) {
				return fmt.Errorf("row %q: %d values for %d columns", r.Library, len(r.NsPerOp), len(t.Columns))
			}
			for i, v := range r.NsPerOp {
				if v != nil && !(*v > 0) {
					return fmt.Errorf("row %q, column %q: ns/op %v is not positive", r.Library, t.Columns[i], *v)
				}
			}
			for _, n := range r.Notes {
				if column(t, n.Column) < 0 {
					return fmt.Errorf("row %q: note on unknown column %q", r.Library, n.Column)
				}
			}
		}
	}
	return nil
}

// column returns the index of the column named name in t, or -1.
func column(t peersTable, name string) int {
	for i, c := range t.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// Layout of the bench chart, in pixels.
const (
	benchLabelX  = 16.0
	benchColsX   = 372.0
	benchMaxCols = 4
	benchColW    = (chartWidth - benchColsX - 16) / benchMaxCols
	benchBarMax  = benchColW - 56
	benchRowH    = 20.0
	benchBarH    = 12.0
	benchHeaderH = 108.0
	benchFootH   = 20.0
)

// benchChart draws f as horizontal bars: a row per library, a column per
// workload, each column on its own linear scale from 0 to its largest value.
func benchChart(f *peersFile) []byte {
	var foot []string
	for _, t := range f.Tables {
		foot = append(foot, t.Title+" rows: "+t.Command)
	}
	foot = append(foot, "Machine: "+f.Machine, "Versions: "+f.Versions, "Source: "+f.Source+".")
	for _, t := range f.Tables {
		for _, r := range t.Rows {
			for _, n := range r.Notes {
				foot = append(foot, fmt.Sprintf("* %s, %s: %s.", r.Library, n.Column, n.Note))
			}
		}
	}

	height := benchHeaderH
	for _, t := range f.Tables {
		height += tableHeight(t)
	}
	height += float64(len(foot))*16 + benchFootH
	title := fmt.Sprintf("Go rate limiters, scenario %q: %s (lower is faster)", f.Scenario, f.Unit)
	s := newSVG(chartWidth, int(height), title)
	s.text(benchLabelX, 26, titleFont, title)
	s.text(benchLabelX, 46, noteFont, fmt.Sprintf("Scenario %q: %s.", f.Scenario, f.ScenarioNote))
	s.text(benchLabelX, 62, noteFont, "One bar per library and workload; each column has its own scale, from 0 to its slowest bar.")
	for _, k := range kindLegend {
		s.rect(k.x, 76, 12, 10, `fill="`+kindColors[k.kind]+`"`)
		s.text(k.x+16, 85, legendFont, k.text)
	}

	y := benchHeaderH
	for _, t := range f.Tables {
		benchTable(s, t, y)
		y += tableHeight(t)
	}
	for i, line := range foot {
		s.text(benchLabelX, y+float64(i)*16, trackFont, line)
	}
	return s.bytes()
}

// tableHeight is the height of one table of bars.
func tableHeight(t peersTable) float64 { return 52 + float64(len(t.Rows))*benchRowH + 20 }

// benchTable draws one table with its top at y.
func benchTable(s *svg, t peersTable, y float64) {
	s.text(benchLabelX, y+14, headFont, t.Title)
	for i, c := range t.Columns {
		x := benchColsX + float64(i)*benchColW
		first, rest, _ := strings.Cut(c, ", ")
		s.text(x, y+32, legendFont, first)
		s.text(x, y+46, legendFont, rest)
	}
	peak := make([]float64, len(t.Columns))
	for _, r := range t.Rows {
		for i, v := range r.NsPerOp {
			if v != nil {
				peak[i] = max(peak[i], *v)
			}
		}
	}
	top := y + 52
	for j, r := range t.Rows {
		ry := top + float64(j)*benchRowH
		if j%2 == 0 {
			s.rect(benchLabelX-6, ry, chartWidth-2*benchLabelX+12, benchRowH, `fill="#f6f6f6"`)
		}
		weight := ""
		if r.Kind == "ours" {
			weight = ` font-weight="bold"`
		}
		s.printf(`<g data-library="%s" data-kind="%s">`+"\n", esc(r.Library), r.Kind)
		s.text(benchLabelX, ry+14, legendFont+weight, r.Library)
		for i, v := range r.NsPerOp {
			x := benchColsX + float64(i)*benchColW
			if v == nil {
				s.text(x, ry+14, tickFont, "— (not measured)")
				continue
			}
			w := *v / peak[i] * benchBarMax
			s.printf(`<rect data-column="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
				esc(t.Columns[i]), num(x), num(ry+(benchRowH-benchBarH)/2), num(w), num(benchBarH), kindColors[r.Kind])
			label := fmt.Sprintf("%.1f", *v)
			for _, n := range r.Notes {
				if n.Column == t.Columns[i] {
					label += " *"
				}
			}
			s.text(x+w+4, ry+14, tickFont+weight, label)
		}
		s.printf("</g>\n")
	}
}
