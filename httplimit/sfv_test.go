package httplimit_test

// A strict parser of RFC 9651 (Structured Field Values) Lists, written for
// these tests rather than taken as a dependency: the tests need only
// List parsing, and a parser whose every rejection we can read and test
// below is a better judge of the middleware's fields than one we take on
// trust. It follows the parsing algorithms of RFC 9651 §4.2 step by step.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// sfToken is a Token bare item.
type sfToken string

// sfDate is a Date bare item (seconds since the epoch).
type sfDate int64

// sfDisplay is a Display String bare item.
type sfDisplay string

// sfDecimal is a Decimal bare item.
type sfDecimal float64

// sfParam is one parameter; Value is a bare item.
type sfParam struct {
	Key   string
	Value any
}

// sfItem is an Item: a bare item (int64, sfDecimal, string, sfToken,
// []byte, bool, sfDate or sfDisplay) and its parameters in order.
type sfItem struct {
	Value  any
	Params []sfParam
}

// sfInner is an Inner List.
type sfInner struct {
	Items  []sfItem
	Params []sfParam
}

// param returns the value of parameter key, and whether it is there.
func (it sfItem) param(key string) (any, bool) {
	for _, p := range it.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// sfParser holds the input still to parse.
type sfParser struct{ s string }

var errSF = errors.New("structured field")

func (p *sfParser) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s at %q", errSF, fmt.Sprintf(format, args...), p.s)
}

// parseSFList parses a List field value (RFC 9651 §4.2, with §4.2.1); each
// member is an sfItem or an sfInner. The field lines of one field are
// combined with ", " first, as §4.2 says.
func parseSFList(lines ...string) ([]any, error) {
	p := &sfParser{s: strings.Join(lines, ", ")}
	p.s = strings.TrimLeft(p.s, " ")
	var members []any
	for p.s != "" {
		m, err := p.itemOrInnerList()
		if err != nil {
			return nil, err
		}
		members = append(members, m)
		p.s = strings.TrimLeft(p.s, " \t")
		if p.s == "" {
			return members, nil
		}
		if p.s[0] != ',' {
			return nil, p.fail("members not separated by a comma")
		}
		p.s = strings.TrimLeft(p.s[1:], " \t")
		if p.s == "" {
			return nil, p.fail("trailing comma")
		}
	}
	return members, nil
}

func (p *sfParser) itemOrInnerList() (any, error) {
	if strings.HasPrefix(p.s, "(") {
		return p.innerList()
	}
	return p.item()
}

// innerList is §4.2.1.2.
func (p *sfParser) innerList() (sfInner, error) {
	p.s = p.s[1:]
	var in sfInner
	for p.s != "" {
		p.s = strings.TrimLeft(p.s, " ")
		if strings.HasPrefix(p.s, ")") {
			p.s = p.s[1:]
			params, err := p.params()
			in.Params = params
			return in, err
		}
		it, err := p.item()
		if err != nil {
			return in, err
		}
		in.Items = append(in.Items, it)
		if p.s == "" || (p.s[0] != ' ' && p.s[0] != ')') {
			return in, p.fail("inner list items not separated by a space")
		}
	}
	return in, p.fail("unterminated inner list")
}

// item is §4.2.3.
func (p *sfParser) item() (sfItem, error) {
	v, err := p.bareItem()
	if err != nil {
		return sfItem{}, err
	}
	params, err := p.params()
	return sfItem{Value: v, Params: params}, err
}

// params is §4.2.3.2; a repeated key overwrites the value, in place.
func (p *sfParser) params() ([]sfParam, error) {
	var ps []sfParam
	for strings.HasPrefix(p.s, ";") {
		p.s = strings.TrimLeft(p.s[1:], " ")
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		var v any = true
		if strings.HasPrefix(p.s, "=") {
			p.s = p.s[1:]
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for i := range ps {
			if ps[i].Key == k {
				ps[i].Value, replaced = v, true
			}
		}
		if !replaced {
			ps = append(ps, sfParam{k, v})
		}
	}
	return ps, nil
}

// key is §4.2.3.3.
func (p *sfParser) key() (string, error) {
	if p.s == "" || !(isLcalpha(p.s[0]) || p.s[0] == '*') {
		return "", p.fail("a key must start with a lowercase letter or '*'")
	}
	i := 1
	for i < len(p.s) && (isLcalpha(p.s[i]) || isDigit(p.s[i]) || strings.IndexByte("_-.*", p.s[i]) >= 0) {
		i++
	}
	k := p.s[:i]
	p.s = p.s[i:]
	return k, nil
}

// bareItem is §4.2.3.1.
func (p *sfParser) bareItem() (any, error) {
	if p.s == "" {
		return nil, p.fail("missing bare item")
	}
	switch c := p.s[0]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		return p.token(), nil
	case c == ':':
		return p.bytes()
	case c == '?':
		return p.boolean()
	case c == '@':
		p.s = p.s[1:]
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		i, ok := n.(int64)
		if !ok {
			return nil, p.fail("a date must be an integer")
		}
		return sfDate(i), nil
	case c == '%':
		return p.display()
	}
	return nil, p.fail("unknown bare item")
}

// number is §4.2.4.
func (p *sfParser) number() (any, error) {
	neg := strings.HasPrefix(p.s, "-")
	if neg {
		p.s = p.s[1:]
	}
	if p.s == "" || !isDigit(p.s[0]) {
		return nil, p.fail("a number needs a digit")
	}
	i, dot := 0, -1
	for i < len(p.s) {
		c := p.s[i]
		if isDigit(c) {
			i++
		} else if c == '.' && dot < 0 {
			if i > 12 {
				return nil, p.fail("decimal integer part too long")
			}
			dot = i
			i++
		} else {
			break
		}
		if dot < 0 && i > 15 || dot >= 0 && i > 16 {
			return nil, p.fail("number too long")
		}
	}
	num := p.s[:i]
	p.s = p.s[i:]
	if dot < 0 {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, p.fail("bad integer")
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	if dot == len(num)-1 {
		return nil, p.fail("a decimal cannot end with '.'")
	}
	if len(num)-dot-1 > 3 {
		return nil, p.fail("more than three fractional digits")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return nil, p.fail("bad decimal")
	}
	if neg {
		f = -f
	}
	return sfDecimal(f), nil
}

// str is §4.2.5.
func (p *sfParser) str() (string, error) {
	var b strings.Builder
	p.s = p.s[1:]
	for p.s != "" {
		c := p.s[0]
		p.s = p.s[1:]
		switch {
		case c == '\\':
			if p.s == "" || (p.s[0] != '"' && p.s[0] != '\\') {
				return "", p.fail("bad escape in a string")
			}
			b.WriteByte(p.s[0])
			p.s = p.s[1:]
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", p.fail("a string holds a character outside %%x20-7E")
		default:
			b.WriteByte(c)
		}
	}
	return "", p.fail("unterminated string")
}

// token is §4.2.6.
func (p *sfParser) token() sfToken {
	i := 1
	for i < len(p.s) && (isTchar(p.s[i]) || p.s[i] == ':' || p.s[i] == '/') {
		i++
	}
	t := p.s[:i]
	p.s = p.s[i:]
	return sfToken(t)
}

// bytes is §4.2.7.
func (p *sfParser) bytes() ([]byte, error) {
	end := strings.IndexByte(p.s[1:], ':')
	if end < 0 {
		return nil, p.fail("unterminated byte sequence")
	}
	enc := p.s[1 : 1+end]
	p.s = p.s[2+end:]
	for i := 0; i < len(enc); i++ {
		if !(isAlpha(enc[i]) || isDigit(enc[i]) || strings.IndexByte("+/=", enc[i]) >= 0) {
			return nil, p.fail("bad byte sequence character")
		}
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, p.fail("bad base64")
	}
	return b, nil
}

// boolean is §4.2.8.
func (p *sfParser) boolean() (bool, error) {
	if len(p.s) < 2 || (p.s[1] != '0' && p.s[1] != '1') {
		return false, p.fail("a boolean is ?0 or ?1")
	}
	v := p.s[1] == '1'
	p.s = p.s[2:]
	return v, nil
}

// display is §4.2.10.
func (p *sfParser) display() (sfDisplay, error) {
	if !strings.HasPrefix(p.s, `%"`) {
		return "", p.fail(`a display string starts with %%"`)
	}
	p.s = p.s[2:]
	var b []byte
	for p.s != "" {
		c := p.s[0]
		p.s = p.s[1:]
		switch {
		case c < 0x20 || c > 0x7e:
			return "", p.fail("a display string holds a character outside %%x20-7E")
		case c == '%':
			if len(p.s) < 2 || !isLowerHex(p.s[0]) || !isLowerHex(p.s[1]) {
				return "", p.fail("bad percent-encoding")
			}
			n, _ := strconv.ParseUint(p.s[:2], 16, 8)
			b = append(b, byte(n))
			p.s = p.s[2:]
		case c == '"':
			if !utf8.Valid(b) {
				return "", p.fail("a display string is not UTF-8")
			}
			return sfDisplay(b), nil
		default:
			b = append(b, c)
		}
	}
	return "", p.fail("unterminated display string")
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLcalpha(c byte) bool  { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool    { return isLcalpha(c) || 'A' <= c && c <= 'Z' }
func isLowerHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' }
func isTchar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// TestSFParser checks the test parser itself on RFC 9651's examples and on
// inputs it must refuse, so that a field it accepts is a valid List.
func TestSFParser(t *testing.T) {
	good := []struct {
		in   string
		want string // fmt of the members
	}{
		{`sugar, tea, rum`, `[{sugar []} {tea []} {rum []}]`},
		{`"burst";q=100;w=60,"daily";q=1000;w=86400`, `[{burst [{q 100} {w 60}]} {daily [{q 1000} {w 86400}]}]`},
		{`"default";r=50;t=30`, `[{default [{r 50} {t 30}]}]`},
		{`"a";q=1;w=1 ,  "b";r=0`, `[{a [{q 1} {w 1}]} {b [{r 0}]}]`},
		{`("foo" "bar"), ("baz"), ("bat" "one"), ()`, `[{[{foo []} {bar []}] []} {[{baz []}] []} {[{bat []} {one []}] []} {[] []}]`},
		{`("foo"; a=1;b=2);lvl=5, ("bar" "baz");lvl=1`, `[{[{foo [{a 1} {b 2}]}] [{lvl 5}]} {[{bar []} {baz []}] [{lvl 1}]}]`},
		{`abc;a=1;b=2; cde_456, (ghi;jk=4 l);q="9";r=w`, `[{abc [{a 1} {b 2} {cde_456 true}]} {[{ghi [{jk 4}]} {l []}] [{q 9} {r w}]}]`},
		{`1;a;b=?0`, `[{1 [{a true} {b false}]}]`},
		{`4.5, -0.123, :cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:, @1659578233, %"f%c3%bc%c3%bcr"`, `[{4.5 []} {-0.123 []} {[112 114 101 116 101 110 100 32 116 104 105 115 32 105 115 32 98 105 110 97 114 121 32 99 111 110 116 101 110 116 46] []} {1659578233 []} {füür []}]`},
		{`"a\"b\\c"`, `[{a"b\c []}]`},
		{`"x";a=1;a=2`, `[{x [{a 2}]}]`},
		{``, `[]`},
	}
	for _, c := range good {
		got, err := parseSFList(c.in)
		if err != nil {
			t.Errorf("parseSFList(%q): %v", c.in, err)
			continue
		}
		if s := fmt.Sprint(got); s != c.want {
			t.Errorf("parseSFList(%q) = %s, want %s", c.in, s, c.want)
		}
	}
	if got, err := parseSFList(`"a";r=1`, `"b";r=2`); err != nil || len(got) != 2 {
		t.Errorf("two field lines: %v, %v; want two members", got, err)
	}
	bad := []string{
		`"a",`, `"a" "b"`, `"a";Q=1`, `"a";q=`, `"a";q=1.`, `"a";q=1.2345`, `"a";q=1234567890123456`,
		`"unterminated`, `"bad\escape"`, "\"tab\tinside\"", `"ü"`, `(a b`, `(a,b)`, `:abc`, `:a*b:`, `:abc=:x`,
		`?2`, `@1.5`, `%"F%C3"`, `%"%c3"`, `%"x`, `#`, `"a";1=2`, `a,,b`, `, a`, `-`, `-a`,
		`1234567890123.5`,
	}
	for _, in := range bad {
		if got, err := parseSFList(in); err == nil {
			t.Errorf("parseSFList(%q) = %v, want an error", in, got)
		}
	}
}
