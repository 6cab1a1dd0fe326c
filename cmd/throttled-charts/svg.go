package main

import (
	"fmt"
	"strconv"
	"strings"
)

// svg accumulates one SVG document. Every number goes through num, so the
// output is byte-for-byte deterministic.
type svg struct {
	b strings.Builder
}

// newSVG starts a document of the given pixel size. Width, height and
// viewBox are explicit so GitHub's image view keeps the proportions, and the
// font is set once for every text.
func newSVG(width, height int, title string) *svg {
	s := &svg{}
	s.printf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	s.printf("<title>%s</title>\n", esc(title))
	s.printf(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	return s
}

// bytes closes the document and returns it.
func (s *svg) bytes() []byte {
	s.b.WriteString("</svg>\n")
	return []byte(s.b.String())
}

// printf appends formatted raw markup.
func (s *svg) printf(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a text element at (x, y); attrs are extra attributes, such as
// `text-anchor="end"`.
func (s *svg) text(x, y float64, attrs, content string) {
	s.printf(`<text x="%s" y="%s"%s>%s</text>`+"\n", num(x), num(y), space(attrs), esc(content))
}

// rect writes a rectangle.
func (s *svg) rect(x, y, w, h float64, attrs string) {
	s.printf(`<rect x="%s" y="%s" width="%s" height="%s"%s/>`+"\n", num(x), num(y), num(w), num(h), space(attrs))
}

// line writes a line segment.
func (s *svg) line(x1, y1, x2, y2 float64, attrs string) {
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>`+"\n", num(x1), num(y1), num(x2), num(y2), space(attrs))
}

// dots writes points as one path of zero-length segments with round caps:
// a dot of diameter size at each point, far smaller than one element each.
func (s *svg) dots(xs, ys []float64, size float64, color, attrs string) {
	if len(xs) == 0 {
		return
	}
	var d strings.Builder
	for i := range xs {
		fmt.Fprintf(&d, "M%s %sh0", num(xs[i]), num(ys[i]))
	}
	s.printf(`<path d="%s" stroke="%s" stroke-width="%s" stroke-linecap="round" fill="none"%s/>`+"\n",
		d.String(), color, num(size), space(attrs))
}

// space prefixes non-empty extra attributes with the space that separates them.
func space(attrs string) string {
	if attrs == "" {
		return ""
	}
	return " " + attrs
}

// num formats a coordinate with one decimal, dropping ".0", and never "-0".
func num(x float64) string {
	v := strconv.FormatFloat(x, 'f', 1, 64)
	v = strings.TrimSuffix(v, ".0")
	if v == "-0" {
		v = "0"
	}
	return v
}

// esc escapes text for an XML text node or attribute value.
var esc = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;", `'`, "&apos;").Replace

// niceMax returns the least of 1, 2 and 5 times a power of ten that is at
// or above v, so axis labels are short; 1 for v ≤ 1.
func niceMax(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
	}
}

// seconds formats µs as seconds with up to three decimals: "0.25", "1", "0.095".
func seconds(us int64) string {
	v := strconv.FormatFloat(float64(us)/float64(sec), 'f', 3, 64)
	v = strings.TrimRight(v, "0")
	return strings.TrimSuffix(v, ".")
}
