package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// refuseBase is the rest of every refused package: the vocabulary a step
// needs, the helpers, and a function that is not a helper.
const refuseBase = `package p

type Params struct {
	Name   string
	Period int64
	Limit  int64
}

func (q Params) Double() int64 { return 2 * q.Limit }

type Decision struct {
	Limited    bool
	Remaining  int64
	RetryAfter int64
	ResetAfter int64
}

type State struct {
	Last int64
	N    int64
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func other(a int64) int64 { return a }

func mk(now int64) State { return State{Last: now} }

// X is the test algorithm's code in the Redis script.
const X = 1
`

// stepWith is a valid XInit and an XStep with the given body.
func stepWith(body string) string {
	return `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Decision) {
` + body + `}
`
}

// refuseCases are programs the generator must refuse. The offending line
// of x.go carries the marker "// ERROR"; the refusal must start with
// "p/x.go:<that line>: " and contain msg.
var refuseCases = []struct {
	name string
	src  string // x.go
	msg  string
}{
	{"for loop", stepWith(`	n := s.N
	for i := int64(0); i < cost; i++ { // ERROR
		n += 1
	}
	return State{Last: now, N: n}, Decision{}
`), "ForStmt is not allowed in a step function (only :=, =, var, if/else and return)"},
	{"range loop", stepWith(`	n := s.N
	for range cost { // ERROR
		n += 1
	}
	return State{Last: now, N: n}, Decision{}
`), "RangeStmt is not allowed in a step function"},
	{"switch", stepWith(`	n := s.N
	switch { // ERROR
	case cost > 1:
		n = 1
	}
	return State{Last: now, N: n}, Decision{}
`), "SwitchStmt is not allowed in a step function"},
	{"division", stepWith(`	n := s.N
	n = n +
		s.N / q.Period // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator / is not allowed (use floorDiv or ceilDiv for division)"},
	{"remainder", stepWith(`	n := s.N % q.Period // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator % is not allowed (use floorDiv or ceilDiv for division)"},
	{"division assignment", stepWith(`	n := s.N
	n /= q.Period // ERROR
	return State{Last: now, N: n}, Decision{}
`), "/= is not allowed (use floorDiv or ceilDiv for division)"},
	{"remainder assignment", stepWith(`	n := s.N
	n %= q.Period // ERROR
	return State{Last: now, N: n}, Decision{}
`), "%= is not allowed (use floorDiv or ceilDiv for division)"},
	{"shift", stepWith(`	n := s.N << 1 // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator << is not allowed"},
	{"bitwise and", stepWith(`	n := s.N & 1 // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator & is not allowed"},
	{"unary xor", stepWith(`	n := ^s.N // ERROR
	return State{Last: now, N: n}, Decision{}
`), "unary ^ is not allowed"},
	{"call of a non-helper", stepWith(`	n := s.N
	n = other(n) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "call of other is not allowed (only ceilDiv, floorDiv, later, max, min)"},
	{"method call", stepWith(`	n := q.Double() // ERROR
	return State{Last: now, N: n}, Decision{}
`), "Params.Double is not int64: only int64 parameters reach Lua"},
	{"float64 local", stepWith(`	f := 1.5 // ERROR
	return s, Decision{Remaining: int64(f)}
`), "f has type float64: only int64 and bool values are allowed"},
	{"int local by :=", stepWith(`	n := 3 // ERROR
	return s, Decision{Remaining: int64(n)}
`), "n has type int: only int64 and bool values are allowed"},
	{"int local by var", stepWith(`	var n int // ERROR
	return s, Decision{Remaining: int64(n)}
`), "variable n has type int: only int64 and bool locals are allowed"},
	{"float64 local by var", stepWith(`	var x float64 // ERROR
	return s, Decision{Remaining: int64(x)}
`), "variable x has type float64: only int64 and bool locals are allowed"},
	{"float64 constant", stepWith(`	var x = 0.5 // ERROR
	return s, Decision{Remaining: int64(x)}
`), "constant 0.5 has kind Float: only integer and bool constants are allowed"},
	{"float64 conversion", stepWith(`	n := int64(float64(s.N) * 1.5) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "float64(s.N) * 1.5 has type float64: only int64 and bool values are allowed"},
	{"struct local", stepWith(`	d := Decision{Limited: true} // ERROR
	return s, d
`), "d has type p.Decision: only int64 and bool values are allowed"},
	{"const declaration", stepWith(`	const k = 3 // ERROR
	return State{Last: now, N: k}, Decision{}
`), "only var declarations are allowed"},
	{"if with init", stepWith(`	if n := s.N + cost; n > q.Limit { // ERROR
		return s, Decision{Limited: true}
	}
	return State{Last: now, N: s.N + cost}, Decision{}
`), "if with an init statement is not allowed"},
	{"else if with init", stepWith(`	if cost == 0 {
		return s, Decision{}
	} else if n := s.N + cost; n > q.Limit { // ERROR
		return s, Decision{Limited: true}
	}
	return State{Last: now, N: s.N + cost}, Decision{}
`), "if with an init statement is not allowed"},
	{"statement after return", stepWith(`	if cost > q.Limit {
		return s, Decision{Limited: true}
		now = 0 // ERROR
	}
	return State{Last: now}, Decision{}
`), "statement after return is not allowed"},
	{"increment", stepWith(`	n := s.N
	n++ // ERROR
	return State{Last: now, N: n}, Decision{}
`), "IncDecStmt is not allowed in a step function"},
	{"blank assignment", stepWith(`	_ = cost // ERROR
	return s, Decision{}
`), "blank assignment is not allowed"},
	{"closure", stepWith(`	f := func(x int64) int64 { return x + 1 } // ERROR
	return State{Last: now, N: f(s.N)}, Decision{}
`), "f has type func(x int64) int64: only int64 and bool values are allowed"},
	{"called closure", stepWith(`	n := func() int64 { // ERROR
		return s.N + 1
	}()
	return State{Last: now, N: n}, Decision{}
`), "is not allowed (only ceilDiv, floorDiv, later, max, min)"},
	{"goto", stepWith(`	if cost == 0 {
		goto done // ERROR
	}
	s.N = s.N + cost
done:
	return s, Decision{}
`), "BranchStmt is not allowed in a step function"},
	{"defer", stepWith(`	defer other(cost) // ERROR
	return s, Decision{}
`), "DeferStmt is not allowed in a step function"},
	{"go statement", stepWith(`	go other(cost) // ERROR
	return s, Decision{}
`), "GoStmt is not allowed in a step function"},
	{"block statement", stepWith(`	{ // ERROR
		now = s.Last
	}
	return s, Decision{}
`), "BlockStmt is not allowed in a step function"},
	{"unkeyed struct literal", stepWith(`	return State{now, s.N}, Decision{} // ERROR
`), "struct literals must name their fields"},
	{"returned call", stepWith(`	return mk(now), Decision{} // ERROR
`), "CallExpr is not allowed in return (use a struct literal)"},
	{"constant beyond 2^53", stepWith(`	n := s.N + (1<<53 + 1) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "constant 9007199254740993 is not exact in Lua"},
	{"string parameter", stepWith(`	if q.Name == "" { // ERROR
		return s, Decision{Limited: true}
	}
	return s, Decision{}
`), "Params.Name is not int64: only int64 parameters reach Lua"},
	{"bare return of named results", `package p

//throttled:init
func XInit(q Params, now int64) (s State) {
	return // ERROR
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Decision) {
	return s, Decision{}
}
`, "bare return is not allowed (return the results explicitly)"},
	{"bare return of named step results", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (ns State, d Decision) {
	if cost > q.Limit {
		return // ERROR
	}
	return s, Decision{}
}
`, "bare return is not allowed (return the results explicitly)"},
	{"named result returned", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (ns State, d Decision) {
	return s, d // ERROR
}
`, "only parameters and struct literals may be returned"},
	{"non-ASCII local", stepWith(`	Δ := now - s.Last // ERROR
	return State{Last: now, N: Δ}, Decision{}
`), "name Δ is not allowed: Lua names are ASCII letters, digits and _"},
	{"non-ASCII parameter", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, coût int64) (State, Decision) { // ERROR
	return s, Decision{Remaining: coût}
}
`, "name coût is not allowed: Lua names are ASCII letters, digits and _"},
	{"non-ASCII state field", `package p

type Meter struct {
	Last  int64
	Débit int64 // ERROR
}

//throttled:init
func XInit(q Params, now int64) Meter {
	return Meter{Last: now}
}

//throttled:step
func XStep(s Meter, q Params, now, cost int64) (Meter, Decision) {
	return s, Decision{}
}
`, "field Meter.Débit is not allowed: Lua names are ASCII letters, digits and _"},
	{"non-ASCII decision field", `package p

type Verdict struct {
	Limited    bool
	ResetAfter int64
	Reste      int64
	Après      int64 // ERROR
}

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Verdict) {
	return s, Verdict{}
}
`, "field Verdict.Après is not allowed: Lua names are ASCII letters, digits and _"},
	{"local named like a flattened field", stepWith(`	s_Last := now // ERROR
	return State{Last: s.Last, N: s_Last}, Decision{}
`), "name s_Last is not allowed: its Lua name s_Last is also that of s.Last"},
	{"local named like an inline temporary", stepWith(`	h1 := now
	n := floorDiv(h1, q.Period) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "variable h1 is not allowed: this call of floorDiv, written inline in the script, needs its Lua name h1 for a temporary"},
	{"local named like an inline result", stepWith(`	dLimited := cost > q.Limit // ERROR
	return State{Last: now}, Decision{Limited: dLimited}
`), "name dLimited is not allowed: its Lua name dLimited is also that of the inlined XStep's result dLimited"},
	{"local named like a renamed keyword", stepWith(`	end := now
	if cost > 0 {
		end_ := end + 1 // ERROR
		return State{Last: end_}, Decision{}
	}
	return State{Last: end}, Decision{}
`), "name end_ is not allowed: its Lua name end_ is also that of end"},
	{"parameter named like a renamed keyword", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, then, cost int64) (State, Decision) {
	then_ := then + 1 // ERROR
	return State{Last: then_}, Decision{}
}
`, "name then_ is not allowed: its Lua name then_ is also that of then"},
	{"missing init", `package p

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Decision) { // ERROR
	return s, Decision{}
}

// XInit is not marked.
func XInit(q Params, now int64) State {
	return State{Last: now}
}
`, "XStep has no XInit marked //throttled:init"},
	{"missing step", `package p

//throttled:init
func XInit(q Params, now int64) State { // ERROR
	return State{Last: now}
}
`, "XInit has no XStep marked //throttled:step"},
	{"misnamed step", `package p

//throttled:step
func Decide(s State, q Params, now, cost int64) (State, Decision) { // ERROR
	return s, Decision{}
}
`, "//throttled:step function Decide must be named <Algorithm>Step"},
	{"misnamed init", `package p

//throttled:init
func Start(q Params, now int64) State { // ERROR
	return State{Last: now}
}
`, "//throttled:init function Start must be named <Algorithm>Init"},
	{"step with int cost", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now int64, cost int) (State, Decision) { // ERROR
	return s, Decision{}
}
`, "signature must be func XStep(s XState, q Params, now, cost int64) (XState, Decision)"},
	{"step without cost", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now int64) (State, Decision) { // ERROR
	return s, Decision{}
}
`, "signature must be func XStep(s XState, q Params, now, cost int64) (XState, Decision)"},
	{"step results swapped", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (Decision, State) { // ERROR
	return Decision{}, s
}
`, "signature must be func XStep(s XState, q Params, now, cost int64) (XState, Decision)"},
	{"step on a pointer", `package p

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s *State, q Params, now, cost int64) (State, Decision) { // ERROR
	return *s, Decision{}
}
`, "signature must be func XStep(s XState, q Params, now, cost int64) (XState, Decision)"},
	{"init returns another state", `package p

type Other struct{ Last int64 }

//throttled:init
func XInit(q Params, now int64) Other { // ERROR
	return Other{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Decision) {
	return s, Decision{}
}
`, "signature must be func XInit(q Params, now int64) XState"},
	{"state without Last first", `package p

type Meter struct {
	N    int64
	Last int64
}

//throttled:init
func XInit(q Params, now int64) Meter {
	return Meter{Last: now}
}

//throttled:step
func XStep(s Meter, q Params, now, cost int64) (Meter, Decision) { // ERROR
	return s, Decision{}
}
`, "Meter must have Last (the time of the last admission) as its first field"},
	{"string field in state", `package p

type Meter struct {
	Last int64
	Key  string
}

//throttled:init
func XInit(q Params, now int64) Meter {
	return Meter{Last: now}
}

//throttled:step
func XStep(s Meter, q Params, now, cost int64) (Meter, Decision) { // ERROR
	return s, Decision{}
}
`, "field Meter.Key has type string: state fields must be int64 and decision fields int64 or bool"},
	{"state that is not a struct", `package p

type Level int64

//throttled:init
func XInit(q Params, now int64) Level {
	return Level(now)
}

//throttled:step
func XStep(s Level, q Params, now, cost int64) (Level, Decision) { // ERROR
	return s, Decision{}
}
`, "signature must be func XStep(s XState, q Params, now, cost int64) (XState, Decision)"},
	{"flattened parameter fields sharing a name", `package p

type Meter struct {
	Last     int64
	N_Period int64
}

//throttled:init
func XInit(q Params, now int64) Meter {
	return Meter{Last: now}
}

//throttled:step
func XStep(s Meter, s_N Params, now, cost int64) (Meter, Decision) { // ERROR
	return Meter{Last: now, N_Period: s_N.Period}, Decision{}
}
`, "name s_N.Period is not allowed: its Lua name s_N_Period is also that of s.N_Period"},
	{"assignment to a parenthesized name", stepWith(`	n := s.N
	(n) = cost // ERROR
	return State{Last: now, N: n}, Decision{}
`), "assignment to ParenExpr is not allowed"},
	{"assignment to a parenthesized parameter field", stepWith(`	(s).N = cost // ERROR
	return s, Decision{}
`), "(s).N: only fields of struct parameters may be selected"},
	{"two names from one call", stepWith(`	a, b := two(cost) // ERROR
	return State{Last: a, N: b}, Decision{}
`) + `
func two(x int64) (int64, int64) { return x, x }
`, "assignment must have as many values as names"},
	{"refused value of +=", stepWith(`	n := s.N
	n += s.N % 2 // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator % is not allowed"},
	{"refused left operand", stepWith(`	n := s.N%2 + cost // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator % is not allowed"},
	{"refused operand of unary minus", stepWith(`	n := -(s.N % 2) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator % is not allowed"},
	{"refused argument of a helper", stepWith(`	n := max(s.N%2, cost) // ERROR
	return State{Last: now, N: n}, Decision{}
`), "operator % is not allowed"},
	{"refused condition", stepWith(`	if s.N%2 == 0 { // ERROR
		return s, Decision{Limited: true}
	}
	return s, Decision{}
`), "operator % is not allowed"},
	{"refused statement in else", stepWith(`	if cost > q.Limit {
		return s, Decision{Limited: true}
	} else {
		n := s.N % 2 // ERROR
		return State{Last: now, N: n}, Decision{}
	}
`), "operator % is not allowed"},
	{"refused field of a returned literal", stepWith(`	return State{Last: now, N: s.N % 2}, Decision{} // ERROR
`), "operator % is not allowed"},
	{"index expression", stepWith(`	n := [2]int64{s.N, cost}[1] // ERROR
	return State{Last: now, N: n}, Decision{}
`), "IndexExpr is not allowed in a step function"},
	{"algorithm without a code", `package p

//throttled:init
func YInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func YStep(s State, q Params, now, cost int64) (State, Decision) { // ERROR
	return s, Decision{}
}
`, "algorithm Y needs an integer constant Y: its code in the Redis script"},
	{"algorithm code that is a string", `package p

const Y = "y"

//throttled:init
func YInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func YStep(s State, q Params, now, cost int64) (State, Decision) { // ERROR
	return s, Decision{}
}
`, "algorithm Y needs an integer constant Y: its code in the Redis script"},
	{"algorithm code 0", `package p

const Y = 0 // ERROR

//throttled:init
func YInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func YStep(s State, q Params, now, cost int64) (State, Decision) {
	return s, Decision{}
}
`, "constant Y = 0: an algorithm's code must be 1 to 255"},
	{"algorithm code 256", `package p

const Y = 256 // ERROR

//throttled:init
func YInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func YStep(s State, q Params, now, cost int64) (State, Decision) {
	return s, Decision{}
}
`, "constant Y = 256: an algorithm's code must be 1 to 255"},
	{"decision without ResetAfter", `package p

type Verdict struct {
	Limited   bool
	Remaining int64
}

//throttled:init
func XInit(q Params, now int64) State {
	return State{Last: now}
}

//throttled:step
func XStep(s State, q Params, now, cost int64) (State, Verdict) { // ERROR
	return s, Verdict{}
}
`, "Verdict must have the fields Limited bool, Remaining, RetryAfter, ResetAfter int64, in that order"},
}

// TestRefuse checks that every program outside the accepted subset is
// refused with "p/x.go:<line>: why", <line> being the offending one.
func TestRefuse(t *testing.T) {
	for _, c := range refuseCases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "p")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, src := range map[string]string{"base.go": refuseBase, "x.go": c.src} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			line := markedLine(t, c.src)
			out, err := runGenerate(t, root, "p")
			if err == nil {
				t.Fatalf("generate accepted the program; it wrote %d files", len(out))
			}
			msg := err.Error()
			t.Log(msg)
			prefix := fmt.Sprintf("p/x.go:%d: ", line)
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("refusal %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, c.msg) {
				t.Errorf("refusal %q does not say %q", msg, c.msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("refusal %q spans several lines", msg)
			}
		})
	}
}

// markedLine returns the 1-based line of src that carries "// ERROR".
func markedLine(t *testing.T, src string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "// ERROR") {
			if line != 0 {
				t.Fatalf("two lines are marked // ERROR: %d and %d", line, i+1)
			}
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatal("no line is marked // ERROR")
	}
	return line
}
