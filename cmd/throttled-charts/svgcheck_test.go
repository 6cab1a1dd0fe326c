package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is a parsed XML element: enough of a DOM for the checks.
type node struct {
	name     string
	attrs    map[string]string
	text     string // character data directly inside, tspans included
	children []*node
}

// parseSVG parses data strictly with encoding/xml and returns the root.
func parseSVG(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, attrs: map[string]string{}}
			for _, a := range t.Attr {
				key := a.Name.Local
				if a.Name.Space != "" {
					key = a.Name.Space + ":" + key
				}
				n.attrs[key] = a.Value
			}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			} else if root != nil {
				return nil, fmt.Errorf("second root element <%s>", n.name)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for i := len(stack) - 1; i >= 0; i-- { // a tspan's text is its text's too
				stack[i].text += string(t)
				if stack[i].name == "text" {
					break
				}
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// walk calls f on n and every element under it, depth first.
func walk(n *node, f func(*node)) {
	f(n)
	for _, c := range n.children {
		walk(c, f)
	}
}

// forbidden are elements that GitHub's image view drops or that would make
// the picture depend on something outside the file.
var forbidden = []string{"foreignObject", "script", "style", "image", "use", "iframe"}

// checkSVG checks what every chart must be: well-formed XML, an <svg> root
// in the SVG namespace with explicit width, height and the matching viewBox,
// a sans-serif font, a title, no forbidden elements, no links or event
// handlers, and no text running past the right edge (estimated at 0.55 em
// per character, generous for sans-serif).
func checkSVG(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("not UTF-8")
	}
	root, err := parseSVG(data)
	if err != nil {
		return fmt.Errorf("not well-formed XML: %w", err)
	}
	if root.name != "svg" || root.attrs["xmlns"] != "http://www.w3.org/2000/svg" {
		return fmt.Errorf("root is <%s xmlns=%q>, want <svg> in the SVG namespace", root.name, root.attrs["xmlns"])
	}
	w, errW := strconv.Atoi(root.attrs["width"])
	h, errH := strconv.Atoi(root.attrs["height"])
	if errW != nil || errH != nil || w <= 0 || h <= 0 {
		return fmt.Errorf("width %q and height %q must be positive integers", root.attrs["width"], root.attrs["height"])
	}
	if vb := fmt.Sprintf("0 0 %d %d", w, h); root.attrs["viewBox"] != vb {
		return fmt.Errorf("viewBox is %q, want %q", root.attrs["viewBox"], vb)
	}
	if root.attrs["font-family"] != "sans-serif" {
		return fmt.Errorf("font-family is %q, want sans-serif", root.attrs["font-family"])
	}
	if len(root.children) == 0 || root.children[0].name != "title" || strings.TrimSpace(root.children[0].text) == "" {
		return errors.New("the first element must be a non-empty <title>")
	}
	var problems []string
	walk(root, func(n *node) {
		if slices.Contains(forbidden, n.name) {
			problems = append(problems, "forbidden element <"+n.name+">")
		}
		for k := range n.attrs {
			if strings.HasPrefix(k, "on") || strings.HasSuffix(k, "href") {
				problems = append(problems, fmt.Sprintf("<%s> has attribute %s", n.name, k))
			}
		}
		if n.name == "text" {
			if right := textRight(n); right > float64(w) {
				problems = append(problems, fmt.Sprintf("text %q runs to x≈%.0f, past the width %d", n.text, right, w))
			}
		}
	})
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// textRight estimates the right edge of a text element.
func textRight(n *node) float64 {
	x, _ := strconv.ParseFloat(n.attrs["x"], 64)
	size := 12.0
	if v, err := strconv.ParseFloat(n.attrs["font-size"], 64); err == nil {
		size = v
	}
	w := float64(utf8.RuneCountInString(n.text)) * size * 0.55
	for _, c := range n.children {
		dx, _ := strconv.ParseFloat(c.attrs["dx"], 64)
		w += dx
	}
	switch n.attrs["text-anchor"] {
	case "end":
		return x
	case "middle":
		return x + w/2
	}
	return x + w
}

// wantSeries are the series every algorithm panel holds.
var wantSeries = []string{"offered", "admitted", "remaining", "retry-after"}

// checkAlgorithmChart checks that data has one panel (an element with
// data-algorithm) for each of the five algorithms and nothing else, each
// with every series of wantSeries exactly once; and, when dots is not nil,
// that each panel's remaining and retry-after series draw as many dots as
// dots gives (decisions, denials) for that algorithm.
func checkAlgorithmChart(data []byte, dots map[string][2]int) error {
	root, err := parseSVG(data)
	if err != nil {
		return err
	}
	panels := map[string]int{}
	var problems []string
	walk(root, func(n *node) {
		name, ok := n.attrs["data-algorithm"]
		if !ok {
			return
		}
		panels[name]++
		series := map[string]int{}
		count := map[string]int{}
		walk(n, func(c *node) {
			if s, ok := c.attrs["data-series"]; ok {
				series[s]++
				walk(c, func(d *node) { count[s] += strings.Count(d.attrs["d"], "M") })
			}
		})
		for _, s := range wantSeries {
			if series[s] != 1 {
				problems = append(problems, fmt.Sprintf("%s: %d %q series, want 1", name, series[s], s))
			}
		}
		if want, ok := dots[name]; ok && (count["remaining"] != want[0] || count["retry-after"] != want[1]) {
			problems = append(problems, fmt.Sprintf("%s: %d remaining and %d retry-after dots, want %d and %d",
				name, count["remaining"], count["retry-after"], want[0], want[1]))
		}
	})
	for _, a := range allNames() {
		if panels[a] != 1 {
			problems = append(problems, fmt.Sprintf("%d panels for %s, want 1", panels[a], a))
		}
		delete(panels, a)
	}
	for a := range panels {
		problems = append(problems, "panel for unknown algorithm "+a)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// checkBenchChart checks that data has one row group (data-library) per row
// of f, in order, each with one bar (a rect with data-column) per measured
// cell of the row, in column order.
func checkBenchChart(data []byte, f *peersFile) error {
	root, err := parseSVG(data)
	if err != nil {
		return err
	}
	type row struct{ library, bars string }
	var got, want []row
	walk(root, func(n *node) {
		lib, ok := n.attrs["data-library"]
		if !ok {
			return
		}
		var cols []string
		walk(n, func(c *node) {
			if col, ok := c.attrs["data-column"]; ok && c.name == "rect" {
				cols = append(cols, col)
			}
		})
		got = append(got, row{lib, strings.Join(cols, " | ")})
	})
	for _, t := range f.Tables {
		for _, r := range t.Rows {
			var cols []string
			for i, v := range r.NsPerOp {
				if v != nil {
					cols = append(cols, t.Columns[i])
				}
			}
			want = append(want, row{r.Library, strings.Join(cols, " | ")})
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("rows and bars:\n got  %q\n want %q", got, want)
	}
	return nil
}
