package main

import (
	_ "embed"
	"fmt"
	"go/constant"
	"go/types"
	"strings"
	"text/template"

	"github.com/throttled-go/throttled/store"
)

// scriptTemplate is the Redis script around the translated step functions:
// Lua that a Redis reviewer can read as Lua, with the places where the
// translated functions and the per-algorithm shapes go.
//
//go:embed script.lua.tmpl
var scriptTemplate string

// singleTemplate is the script deciding one request under one policy of
// one algorithm; it shares script.lua.tmpl's definitions.
//
//go:embed single.lua.tmpl
var singleTemplate string

// singleData is what singleTemplate fills in.
type singleData struct {
	Source string // as scriptData's
	A      scriptAlgorithm
}

// scriptData is what the template fills in.
type scriptData struct {
	Source      string // the step functions' directory, e.g. "algo"
	Locals      string // the line binding the library functions the helpers use
	Prelude     string // the helpers' Lua twins
	MaxPolicies int    // the most policies one request may have
	StateSlots  int    // the most state fields of any algorithm
	ParamSlots  int    // the most parameters any algorithm reads
	FieldCounts []int  // the distinct numbers of state fields, ascending
	Algorithms  []scriptAlgorithm
}

// scriptAlgorithm is one algorithm's part of the script.
type scriptAlgorithm struct {
	Code  int64  // the value of the constant named like the algorithm
	Name  string // e.g. TokenBucket
	Snake string // e.g. token_bucket
	Lower string // e.g. tokenBucket: its functions are tokenBucketInit and tokenBucketStep
	Init  string // the translated init function
	Step  string // the translated step function
	// InlineInit and InlineStep are the two written inline for the
	// one-policy path (translateInline), at its indentation; SingleInit
	// and SingleStep the same for the algorithm's single-decision script,
	// at its, where the state and the parameters are locals named as the
	// step function's flattened parameters (SingleState, SingleParams:
	// s_Last, q_Period…), so that the step reads them in place.
	InlineInit, InlineStep    string
	SingleInit, SingleStep    string
	SingleState, SingleParams []string
	State                     []string // the state's fields
	Params                    []string // the Params fields its functions read
	// BoundName is the parameter that bounds the Decision's Remaining
	// (remainingBound), "" when none does, and SingleBound its local in
	// the single-decision script, which replies to an allowed decision
	// with one integer in its radix.
	BoundName, SingleBound string
}

var scriptFuncs = template.FuncMap{
	// list "s" 3 → "s1, s2, s3"; list "s" 2 "[j]" → "s1[j], s2[j]".
	"list": func(prefix string, n int, suffix ...string) string {
		names := numbered(prefix, n)
		for i := range names {
			names[i] += strings.Join(suffix, "")
		}
		return strings.Join(names, ", ")
	},
	// pad 2 3 → ", 0": the zeros that pad n values to width.
	"pad":    func(n, width int) string { return strings.Repeat(", 0", width-n) },
	"repeat": func(s string, n int) string { return strings.Repeat(s, n) },
	"join":   strings.Join,
	// expand "ceilDiv" "ttl" "a" "b" 3 → the lines computing ceilDiv(a, b)
	// into the new local ttl, at indentation 3.
	"expand": func(name, out, a, b string, depth int) string {
		var sb strings.Builder
		for _, l := range helperLines(name, out, []string{a, b}) {
			sb.WriteString(strings.Repeat("  ", depth+l.depth) + l.text + "\n")
		}
		return sb.String()
	},
	"add":  func(a, b int) int { return a + b },
	"mul":  func(a, b int) int { return a * b },
	"iota": func(n int) []int { return make([]int, n) },
	// storedState 2 → the Lua condition that s1, s2 and expires, a state
	// of 2 fields read from a key, can be stored numbers: each a whole
	// number in [0, 2^53].
	"storedState": func(n int) string { return storedState(numbered("s", n)) },
	// storedStateOf ["s_Last", "s_Ahead"] → the same for those names.
	"storedStateOf": func(names []string) string { return storedState(names) },
}

// storedState returns the Lua condition that the state fields names and
// expires, read from a key, can be stored numbers: each a whole number in
// [0, 2^53].
func storedState(names []string) string {
	conds := make([]string, 0, len(names)+1)
	for _, v := range append(append([]string{}, names...), "expires") {
		conds = append(conds, fmt.Sprintf("%s >= 0 and %s <= 9007199254740992 and %s %% 1 == 0", v, v, v))
	}
	return strings.Join(conds, " and ")
}

// luaScripts assembles the Redis scripts, keyed by their file names under
// store/redisstore/lua: throttled.lua, the helpers' twins, every
// algorithm's translated init and step functions, and the glue of
// script.lua.tmpl, which decides requests under several policies at once
// exactly as the memory store does (internal/steps and store/memstore);
// and for each algorithm <snake>.lua (singleFile), its init and step
// written inline in single.lua.tmpl, which decides one request under one
// policy as throttled.lua does.
func (s *source) luaScripts(algs []*algorithm) (map[string]string, error) {
	tmpl, err := template.New("script.lua.tmpl").Funcs(scriptFuncs).Parse(scriptTemplate)
	if err != nil {
		return nil, err
	}
	if _, err := tmpl.New("single.lua.tmpl").Parse(singleTemplate); err != nil {
		return nil, err
	}
	data := scriptData{Source: s.dirName(), Locals: luaLocals, Prelude: strings.TrimRight(luaPrelude, "\n"), MaxPolicies: store.MaxPolicies}
	for _, a := range algs {
		sa := scriptAlgorithm{Name: a.Name, Snake: a.Snake(), Lower: a.Lower(), State: fields(a.State), Params: a.UsedParam}
		var err error
		if sa.Init, err = s.translateFunc(a, a.Init, a.Lower()+"Init"); err != nil {
			return nil, err
		}
		if sa.Step, err = s.translateFunc(a, a.Step, a.Lower()+"Step"); err != nil {
			return nil, err
		}
		if sa.Code, err = s.algorithmCode(a); err != nil {
			return nil, err
		}
		// The inline paths' names: state s1…, parameters q1…, new state
		// n1… and the Decision's fields dLimited….
		st, qs := numbered("s", len(sa.State)), numbered("q", len(sa.Params))
		if sa.InlineInit, err = s.translateInline(a, a.Init, append(qs, "now"), st, initDepth); err != nil {
			return nil, err
		}
		stepArgs := append(append(append([]string{}, st...), qs...), "now", "cost")
		results := append(numbered("n", len(sa.State)), "dLimited", "dRemaining", "dRetryAfter", "dResetAfter")
		if sa.InlineStep, err = s.translateInline(a, a.Step, stepArgs, results, stepDepth); err != nil {
			return nil, err
		}
		// The single-decision script's locals: named as the step's
		// parameters (the init's, when it names them alike, are the same).
		names, err := s.newTranslator(a).params(a.Step)
		if err != nil {
			return nil, err
		}
		sa.SingleState = names[:len(st)]
		sa.SingleParams = names[len(st) : len(st)+len(qs)]
		if i := remainingBound(a.UsedParam); i >= 0 {
			sa.BoundName, sa.SingleBound = a.UsedParam[i], sa.SingleParams[i]
		}
		singleArgs := append(append(append([]string{}, sa.SingleState...), sa.SingleParams...), "now", "cost")
		if sa.SingleInit, err = s.translateInline(a, a.Init, append(append([]string{}, sa.SingleParams...), "now"), sa.SingleState, singleInitDepth); err != nil {
			return nil, err
		}
		if sa.SingleStep, err = s.translateInline(a, a.Step, singleArgs, results, singleStepDepth); err != nil {
			return nil, err
		}
		data.StateSlots = max(data.StateSlots, len(sa.State))
		data.ParamSlots = max(data.ParamSlots, len(sa.Params))
		data.Algorithms = append(data.Algorithms, sa)
	}
	for n := 1; n <= data.StateSlots; n++ {
		for _, a := range data.Algorithms {
			if len(a.State) == n {
				data.FieldCounts = append(data.FieldCounts, n)
				break
			}
		}
	}
	out := map[string]string{}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	out["throttled.lua"] = b.String()
	for _, a := range data.Algorithms {
		b.Reset()
		if err := tmpl.ExecuteTemplate(&b, "single.lua.tmpl", singleData{Source: data.Source, A: a}); err != nil {
			return nil, err
		}
		out[singleFile(a.Snake)] = b.String()
	}
	return out, nil
}

// singleFile is the file name under store/redisstore/lua of the script
// deciding one request under one policy of the algorithm named snake
// (token_bucket).
func singleFile(snake string) string { return snake + ".lua" }

// remainingBound returns the index in used, the Params fields an
// algorithm reads, of the one its Decision's Remaining never exceeds, or
// -1 when it reads none: algo.Params.Max, the Limit a state reports, which
// is Burst for the buckets and Limit for the windows (algo's tests check
// Remaining ≤ Max for every algorithm). The single-decision script
// replies to an allowed decision with one integer,
// ResetAfter·(bound+1) + Remaining (when below 2^52), which the Go binding
// decodes with the same radix (replyRadix).
func remainingBound(used []string) int {
	for _, name := range []string{"Burst", "Limit"} {
		for i, u := range used {
			if u == name {
				return i
			}
		}
	}
	return -1
}

// initDepth and stepDepth are the indentations of the inlined functions in
// the one-policy path of script.lua.tmpl, singleInitDepth and
// singleStepDepth in single.lua.tmpl.
const (
	initDepth, stepDepth             = 5, 6
	singleInitDepth, singleStepDepth = 1, 0
)

// numbered returns prefix1 … prefixN.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

// paramSlots is the most Params fields any algorithm reads.
func paramSlots(algs []*algorithm) int {
	n := 0
	for _, a := range algs {
		n = max(n, len(a.UsedParam))
	}
	return n
}

// algorithmCode returns the value of the package's constant named like the
// algorithm (algo.TokenBucket for TokenBucket): the code by which the Go
// side names the algorithm to the script.
func (s *source) algorithmCode(a *algorithm) (int64, error) {
	c, ok := s.pkg.Scope().Lookup(a.Name).(*types.Const)
	if !ok || c.Val().Kind() != constant.Int {
		return 0, s.errorf(a.Step.Pos(), "algorithm %s needs an integer constant %s: its code in the Redis script", a.Name, a.Name)
	}
	v, exact := constant.Int64Val(c.Val())
	if !exact || v < 1 || v > 255 {
		return 0, s.errorf(c.Pos(), "constant %s = %s: an algorithm's code must be 1 to 255", a.Name, c.Val())
	}
	return v, nil
}

// checkGlue verifies the names the glue relies on.
func checkGlue(s *source, a *algorithm) error {
	st := fields(a.State)
	if len(st) == 0 || st[0] != "Last" {
		return s.errorf(a.Step.Pos(), "%s must have Last (the time of the last admission) as its first field", a.State.Obj().Name())
	}
	for _, n := range []*types.Named{a.State, a.Decision} {
		st := n.Underlying().(*types.Struct)
		for i := range st.NumFields() {
			if f := st.Field(i); !isASCII(f.Name()) {
				return s.errorf(f.Pos(), "field %s.%s is not allowed: Lua names are ASCII letters, digits and _", n.Obj().Name(), f.Name())
			}
		}
	}
	if got := strings.Join(fields(a.Decision), ", "); got != "Limited, Remaining, RetryAfter, ResetAfter" || !fieldIsBool(a.Decision, "Limited") {
		return s.errorf(a.Step.Pos(), "%s must have the fields Limited bool, Remaining, RetryAfter, ResetAfter int64, in that order (it has %s)", a.Decision.Obj().Name(), got)
	}
	return nil
}

func (s *source) dirName() string { return strings.TrimPrefix(strings.TrimSuffix(s.dir, "/"), "./") }
