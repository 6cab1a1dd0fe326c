package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// luaKeywords are Lua 5.1's reserved words; Go names that collide get a "_" suffix.
var luaKeywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "if": true, "in": true, "local": true,
	"nil": true, "not": true, "or": true, "repeat": true, "return": true, "then": true,
	"true": true, "until": true, "while": true,
	// Names the script itself uses.
	"floorDiv": true, "ceilDiv": true, "later": true, "fmod": true, "min": true, "max": true,
	"math": true, "redis": true, "string": true,
	"tonumber": true, "KEYS": true, "ARGV": true, "init": true, "step": true,
}

// helpers are the Go functions a step may call, with their Lua twins.
var helpers = map[string]string{
	"floorDiv": "floorDiv",
	"ceilDiv":  "ceilDiv",
	"later":    "later",
	"min":      "min",
	"max":      "max",
}

// luaPrelude defines the helpers' Lua twins, exact for b in [1, 2^52] and
// integers a in [−2^53, 2^53], although a/b is rounded.
//
// For a > −2^52, Lua's a % b is a − floor(a/b)·b, and floor(a/b) is the
// true quotient q or, when the rounded a/b reaches the next integer, q + 1.
// The product is then an integer below 2^53 in magnitude, so exact: it is at
// most a when a ≥ 0 (a/b ≤ 2^53 rounds up to q + 1 only if within half an
// ulp of it, which (q+1)·b − a ≥ 1 rules out), and within |a| + b < 2^53
// when a < 0. a % b is thus the floored remainder r or r − b, and a % b % b
// is r in both cases (r/b and (r − b)/b round to no integer they do not
// floor to, as 1/b ≥ 2^-52). a − r is an exact multiple of b, so
// (a − r)/b is exact.
//
// Below −2^52, a − r could pass −2^53; math.fmod's truncated remainder t
// keeps a − t between a and 0, so (a − t)/b is the truncated quotient,
// exactly: the ceiling, and one more than the floor when t ≠ 0.
//
// The % path spares a C call (fmod) per division, which Redis notices in a
// script deciding hundreds of keys. The library functions are cached in
// locals: a global lookup per call costs too.
//
// The script's one-policy path and the single-decision scripts have the
// same functions expanded in place, by helperLines.
const luaPrelude = `local function floorDiv(a, b)
  if a > -4503599627370496 then
    return (a - a % b % b) / b
  end
  local t = fmod(a, b)
  if t < 0 then
    return (a - t) / b - 1
  end
  return a / b
end

local function ceilDiv(a, b)
  if a > -4503599627370496 then
    local r = a % b % b
    if r > 0 then
      return (a - r) / b + 1
    end
    return a / b
  end
  return (a - fmod(a, b)) / b
end

local function later(d, lag)
  if d > 0 then
    return d + lag
  end
  return d
end
`

// luaLocals binds the library functions the helpers and steps call, before
// the script's prelude. The one-policy path, above it, and the
// single-decision scripts bind none: binding costs two instructions a name
// on every call, and they call them only in rare branches, through math.
const luaLocals = "local fmod, min, max = math.fmod, math.min, math.max"

// translator turns one marked function into a Lua local function.
type translator struct {
	src     *source
	alg     *algorithm
	structs map[string]*types.Named // struct-typed parameters, flattened to name_Field
	names   map[string]string       // Lua name → the Go name it stands for
	buf     strings.Builder
	depth   int
	notes   []*ast.CommentGroup // the function body's comments not yet written
	inline  *inlining           // set when the function is written inline (translateInline)
	// assigned holds the Lua names the body assigns to (=, +=, …), not
	// those it declares (:=, var).
	assigned map[string]bool
}

// inlining is the state of a function written inline: where its results
// go, and the helper calls of the statement being written, computed into
// temporaries before it.
type inlining struct {
	results []string  // the Lua names a return assigns, in order
	temps   int       // temporaries made so far (h1, h2, …)
	pre     []preLine // lines to write before the current statement
}

// preLine is a line of a helper's expansion, depth levels below the
// statement it precedes.
type preLine struct {
	depth int
	text  string
}

// usedParams returns the Params fields read by the algorithm's two
// functions, in declaration order, refusing non-int64 ones.
func (s *source) usedParams(a *algorithm) ([]string, error) {
	used := map[string]bool{}
	var err error
	for _, fd := range []*ast.FuncDecl{a.Init, a.Step} {
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || err != nil {
				return err == nil
			}
			if tv, ok := s.info.Types[sel.X]; ok && types.Identical(tv.Type, a.Params) {
				if !isInt64(s.info.Types[sel].Type) {
					err = s.errorf(sel.Pos(), "%s.%s is not int64: only int64 parameters reach Lua", a.Params.Obj().Name(), sel.Sel.Name)
				}
				used[sel.Sel.Name] = true
			}
			return true
		})
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fields(a.Params) {
		if used[f] {
			out = append(out, f)
		}
	}
	return out, nil
}

// translateFunc emits `local function <luaName>(...) ... end`.
func (s *source) translateFunc(a *algorithm, fd *ast.FuncDecl, luaName string) (string, error) {
	t := s.newTranslator(a)
	params, err := t.params(fd)
	if err != nil {
		return "", err
	}
	if err := t.claimLocals(fd.Body); err != nil {
		return "", err
	}
	fmt.Fprintf(&t.buf, "-- %s\n", s.where(fd))
	if fd.Doc != nil { // Text drops the //throttled: directive
		for _, l := range luaComment(fd.Doc) {
			t.buf.WriteString(l + "\n")
		}
	}
	fmt.Fprintf(&t.buf, "local function %s(%s)\n", luaName, strings.Join(params, ", "))
	t.depth = 1
	if err := t.body(fd); err != nil {
		return "", err
	}
	t.buf.WriteString("end\n")
	return t.buf.String(), nil
}

// newTranslator returns a translator for one of a's functions.
func (s *source) newTranslator(a *algorithm) *translator {
	return &translator{src: s, alg: a, structs: map[string]*types.Named{}, names: map[string]string{}, assigned: map[string]bool{}}
}

// where returns fd's file (as the source directory's) and line, e.g.
// "algo/gcra.go:27".
func (s *source) where(fd *ast.FuncDecl) string {
	pos := s.fset.Position(fd.Pos())
	return fmt.Sprintf("%s:%d", filepath.ToSlash(filepath.Join(s.dirName(), filepath.Base(pos.Filename))), pos.Line)
}

// body writes fd's statements, with the comments among them, at t.depth.
func (t *translator) body(fd *ast.FuncDecl) error {
	t.notes = t.src.commentsIn(fd.Body)
	if err := t.block(fd.Body.List); err != nil {
		return err
	}
	t.flushNotes(fd.Body.Rbrace)
	return nil
}

// translateInline writes the function fd as statements instead of a
// function: a `repeat … until true` block that binds its parameters to
// args (Lua expressions, one per flattened parameter; a parameter the body
// never reads is not bound, nor one whose argument is the local of its own
// name and which the body never assigns to, read in place: a binding costs
// Redis a Lua VM instruction, some 50 machine instructions, every call),
// assigns its results
// to results (names the caller declared) and leaves by `break` where the Go
// function returns. The helpers floorDiv, ceilDiv and later are expanded in
// place (helperLines), so the block makes no closure and calls no Lua
// function: the script's one-policy path and the single-decision scripts
// run it, where making the prelude's closures on every call cost more than
// the step itself. Step functions have no loops, so every break leaves this block; and a Go
// return is the last statement of its block, as Lua's break must be.
func (s *source) translateInline(a *algorithm, fd *ast.FuncDecl, args, results []string, depth int) (string, error) {
	t := s.newTranslator(a)
	t.inline = &inlining{results: results}
	params, err := t.params(fd)
	if err != nil {
		return "", err
	}
	if len(params) != len(args) {
		return "", s.errorf(fd.Pos(), "%s has %d parameters, the script passes %d", fd.Name.Name, len(params), len(args))
	}
	// A local of fd named like a result would take its assignments.
	for _, r := range results {
		if err := t.claim(fd.Pos(), r, "the inlined "+fd.Name.Name+"'s result "+r); err != nil {
			return "", err
		}
	}
	if err := t.claimLocals(fd.Body); err != nil {
		return "", err
	}
	t.depth = depth
	t.line("repeat -- %s, inline (%s)", fd.Name.Name, s.where(fd))
	t.depth++
	head := t.buf.String() // the repeat line
	t.buf.Reset()
	if err := t.body(fd); err != nil {
		return "", err
	}
	body := t.buf.String()
	t.buf.Reset()
	t.buf.WriteString(head)
	var bound, to []string
	for i, p := range params {
		read := regexp.MustCompile(`\b` + regexp.QuoteMeta(p) + `\b`).MatchString(body) // a comment may say it too: then bound
		if read && (args[i] != p || t.assigned[p]) {
			bound, to = append(bound, p), append(to, args[i])
		}
	}
	if len(bound) > 0 {
		t.line("local %s = %s", strings.Join(bound, ", "), strings.Join(to, ", "))
	}
	t.buf.WriteString(body)
	t.depth--
	t.line("until true")
	return strings.TrimSuffix(t.buf.String(), "\n"), nil
}

// params claims and returns the Lua names of fd's parameters, struct
// parameters flattened into one name per field.
func (t *translator) params(fd *ast.FuncDecl) ([]string, error) {
	var params []string
	for _, field := range fd.Type.Params.List {
		for _, name := range field.Names {
			typ := t.src.info.Defs[name].Type()
			if n := structNamed(typ); n != nil {
				t.structs[name.Name] = n
				for _, f := range t.structFields(n) {
					if err := t.claim(name.Pos(), name.Name+"_"+f, name.Name+"."+f); err != nil {
						return nil, err
					}
					params = append(params, name.Name+"_"+f)
				}
				continue
			}
			if !isInt64(typ) {
				return nil, t.src.errorf(name.Pos(), "parameter %s has type %s: only int64 and struct parameters are allowed", name.Name, typ)
			}
			if err := t.claim(name.Pos(), t.local(name.Name), name.Name); err != nil {
				return nil, err
			}
			params = append(params, t.local(name.Name))
		}
	}
	return params, nil
}

// commentsIn returns the comment groups inside body, in source order.
func (s *source) commentsIn(body *ast.BlockStmt) []*ast.CommentGroup {
	var out []*ast.CommentGroup
	for _, f := range s.files {
		if f.Pos() <= body.Pos() && body.End() <= f.End() {
			for _, g := range f.Comments {
				if body.Lbrace < g.Pos() && g.End() <= body.Rbrace {
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// luaComment returns a Go comment group as Lua comment lines.
func luaComment(g *ast.CommentGroup) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(g.Text(), "\n"), "\n") {
		if l = strings.TrimRight(l, " \t"); l == "" {
			out = append(out, "--")
		} else {
			out = append(out, "-- "+l)
		}
	}
	return out
}

// flushNotes writes, as whole lines, the comments that end before pos.
func (t *translator) flushNotes(pos token.Pos) {
	for len(t.notes) > 0 && t.notes[0].End() <= pos {
		for _, l := range luaComment(t.notes[0]) {
			t.line("%s", l)
		}
		t.notes = t.notes[1:]
	}
}

// trailingNote appends to the last line written a comment that follows the
// statement st on its last line.
func (t *translator) trailingNote(st ast.Stmt) {
	if len(t.notes) == 0 {
		return
	}
	g := t.notes[0]
	if t.src.fset.Position(g.Pos()).Line != t.src.fset.Position(st.End()).Line {
		return
	}
	lines := luaComment(g)
	if len(lines) != 1 {
		return
	}
	b := strings.TrimSuffix(t.buf.String(), "\n")
	t.buf.Reset()
	t.buf.WriteString(b + " " + lines[0] + "\n")
	t.notes = t.notes[1:]
}

// structFields lists the fields a flattened struct contributes: all of a
// state or decision, only the used ones of Params.
func (t *translator) structFields(n *types.Named) []string {
	if types.Identical(n, t.alg.Params) {
		return t.alg.UsedParam
	}
	return fields(n)
}

// claim records that luaName stands for goName, refusing a name Lua 5.1
// cannot spell (its names are ASCII) and two Go names sharing one Lua name
// (a keyword's "_" form, or a local named like a flattened field such as
// s_Last), which would make one silently shadow the other.
func (t *translator) claim(at token.Pos, luaName, goName string) error {
	if !isASCII(luaName) {
		return t.src.errorf(at, "name %s is not allowed: Lua names are ASCII letters, digits and _", goName)
	}
	if prev, ok := t.names[luaName]; ok && prev != goName {
		return t.src.errorf(at, "name %s is not allowed: its Lua name %s is also that of %s", goName, luaName, prev)
	}
	t.names[luaName] = goName
	return nil
}

// claimLocals claims the Lua names of the variables declared in body, in
// source order.
func (t *translator) claimLocals(body *ast.BlockStmt) error {
	var err error
	ast.Inspect(body, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if !ok || err != nil || id.Name == "_" {
			return err == nil
		}
		if _, ok := t.src.info.Defs[id].(*types.Var); ok {
			err = t.claim(id.Pos(), t.local(id.Name), id.Name)
		}
		return err == nil
	})
	return err
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (t *translator) local(name string) string {
	if luaKeywords[name] {
		return name + "_"
	}
	return name
}

// stmtLine writes a statement's line after the helper expansions its
// expressions made (inline only).
func (t *translator) stmtLine(format string, args ...any) {
	if in := t.inline; in != nil {
		for _, l := range in.pre {
			t.depth += l.depth
			t.line("%s", l.text)
			t.depth -= l.depth
		}
		in.pre = in.pre[:0]
	}
	t.line(format, args...)
}

func (t *translator) line(format string, args ...any) {
	t.buf.WriteString(strings.Repeat("  ", t.depth))
	fmt.Fprintf(&t.buf, format, args...)
	t.buf.WriteByte('\n')
}

func (t *translator) block(stmts []ast.Stmt) error {
	for i, st := range stmts {
		if _, ok := st.(*ast.ReturnStmt); ok && i != len(stmts)-1 {
			return t.src.errorf(stmts[i+1].Pos(), "statement after return is not allowed")
		}
		t.flushNotes(st.Pos())
		if err := t.stmt(st); err != nil {
			return err
		}
		if _, ok := st.(*ast.IfStmt); !ok {
			t.trailingNote(st)
		}
	}
	return nil
}

func (t *translator) stmt(st ast.Stmt) error {
	switch st := st.(type) {
	case *ast.AssignStmt:
		return t.assign(st)
	case *ast.DeclStmt:
		return t.decl(st)
	case *ast.IfStmt:
		return t.ifStmt(st, false)
	case *ast.ReturnStmt:
		return t.ret(st)
	default:
		return t.src.errorf(st.Pos(), "%s is not allowed in a step function (only :=, =, var, if/else and return)", nodeKind(st))
	}
}

func (t *translator) assign(st *ast.AssignStmt) error {
	var lhs []string
	for _, l := range st.Lhs {
		switch l := l.(type) {
		case *ast.Ident:
			if l.Name == "_" {
				return t.src.errorf(l.Pos(), "blank assignment is not allowed")
			}
			if err := t.scalar(l); err != nil {
				return err
			}
			lhs = append(lhs, t.local(l.Name))
		case *ast.SelectorExpr:
			name, err := t.selector(l)
			if err != nil {
				return err
			}
			lhs = append(lhs, name)
		default:
			return t.src.errorf(l.Pos(), "assignment to %s is not allowed", nodeKind(l))
		}
	}
	if st.Tok != token.DEFINE {
		for _, n := range lhs {
			t.assigned[n] = true
		}
	}
	switch st.Tok {
	case token.DEFINE, token.ASSIGN:
		if len(st.Rhs) != len(st.Lhs) {
			return t.src.errorf(st.Pos(), "assignment must have as many values as names")
		}
		var rhs []string
		for _, r := range st.Rhs {
			e, err := t.expr(r)
			if err != nil {
				return err
			}
			rhs = append(rhs, e)
		}
		if st.Tok == token.DEFINE {
			t.stmtLine("local %s = %s", strings.Join(lhs, ", "), strings.Join(rhs, ", "))
		} else {
			t.stmtLine("%s = %s", strings.Join(lhs, ", "), strings.Join(rhs, ", "))
		}
		return nil
	case token.ADD_ASSIGN, token.SUB_ASSIGN, token.MUL_ASSIGN:
		if len(lhs) != 1 {
			return t.src.errorf(st.Pos(), "%s must assign one name", st.Tok)
		}
		e, err := t.expr(st.Rhs[0])
		if err != nil {
			return err
		}
		op := map[token.Token]token.Token{token.ADD_ASSIGN: token.ADD, token.SUB_ASSIGN: token.SUB, token.MUL_ASSIGN: token.MUL}[st.Tok]
		t.stmtLine("%s = %s %s %s", lhs[0], lhs[0], strings.TrimSuffix(st.Tok.String(), "="),
			t.operand(st.Rhs[0], e, luaPrec(&ast.BinaryExpr{Op: op}), true))
		return nil
	default:
		return t.src.errorf(st.Pos(), "%s is not allowed (use floorDiv or ceilDiv for division)", st.Tok)
	}
}

func (t *translator) decl(st *ast.DeclStmt) error {
	gd, ok := st.Decl.(*ast.GenDecl)
	if !ok || gd.Tok != token.VAR {
		return t.src.errorf(st.Pos(), "only var declarations are allowed")
	}
	for _, spec := range gd.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, name := range vs.Names {
			typ := t.src.info.Defs[name].Type()
			var val string
			switch {
			case i < len(vs.Values):
				e, err := t.expr(vs.Values[i])
				if err != nil {
					return err
				}
				val = e
			case isInt64(typ):
				val = "0"
			case isBool(typ):
				val = "false"
			}
			if val == "" || !(isInt64(typ) || isBool(typ)) {
				return t.src.errorf(name.Pos(), "variable %s has type %s: only int64 and bool locals are allowed", name.Name, typ)
			}
			t.stmtLine("local %s = %s", t.local(name.Name), val)
		}
	}
	return nil
}

func (t *translator) ifStmt(st *ast.IfStmt, isElse bool) error {
	if st.Init != nil {
		return t.src.errorf(st.Init.Pos(), "if with an init statement is not allowed")
	}
	cond, err := t.expr(st.Cond)
	if err != nil {
		return err
	}
	nested := false // an else if written as else, the helpers, if (inline)
	switch {
	case isElse && t.inline != nil && len(t.inline.pre) > 0:
		t.depth--
		t.line("else")
		t.depth++
		t.stmtLine("if %s then", cond)
		t.depth++
		nested = true
	case isElse:
		t.depth--
		t.line("elseif %s then", cond)
		t.depth++
	default:
		t.stmtLine("if %s then", cond)
		t.depth++
	}
	if err := t.block(st.Body.List); err != nil {
		return err
	}
	t.flushNotes(st.Body.Rbrace)
	switch e := st.Else.(type) {
	case nil:
	case *ast.IfStmt:
		err = t.ifStmt(e, true)
	case *ast.BlockStmt:
		t.depth--
		t.line("else")
		t.depth++
		if err := t.block(e.List); err != nil {
			return err
		}
		t.flushNotes(e.Rbrace)
	}
	if _, chained := st.Else.(*ast.IfStmt); !chained {
		t.depth--
		t.line("end")
	}
	if nested {
		t.depth--
		t.line("end")
	}
	return err
}

// ret flattens each returned struct into its fields.
func (t *translator) ret(st *ast.ReturnStmt) error {
	if len(st.Results) == 0 {
		return t.src.errorf(st.Pos(), "bare return is not allowed (return the results explicitly)")
	}
	var out []string
	for _, r := range st.Results {
		typ := structNamed(t.src.info.Types[r].Type)
		if typ == nil {
			return t.src.errorf(r.Pos(), "only structs are returned")
		}
		switch r := r.(type) {
		case *ast.CompositeLit:
			vals := map[string]string{}
			for _, el := range r.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					return t.src.errorf(el.Pos(), "struct literals must name their fields")
				}
				e, err := t.expr(kv.Value)
				if err != nil {
					return err
				}
				vals[kv.Key.(*ast.Ident).Name] = e
			}
			for _, f := range fields(typ) {
				v, ok := vals[f]
				switch {
				case ok:
				case fieldIsBool(typ, f):
					v = "false"
				default:
					v = "0"
				}
				out = append(out, v)
			}
		case *ast.Ident:
			if t.structs[r.Name] == nil {
				return t.src.errorf(r.Pos(), "only parameters and struct literals may be returned")
			}
			for _, f := range fields(typ) {
				out = append(out, r.Name+"_"+f)
			}
		default:
			return t.src.errorf(r.Pos(), "%s is not allowed in return (use a struct literal)", nodeKind(r))
		}
	}
	if in := t.inline; in != nil {
		if len(out) != len(in.results) {
			return t.src.errorf(st.Pos(), "return of %d values where the script takes %d", len(out), len(in.results))
		}
		// One assignment a result: a multiple assignment evaluates every
		// value into a temporary register first, one more instruction a
		// value. The values cannot name a result (claimed in
		// translateInline), so the order is free.
		for i, r := range in.results {
			if i == 0 {
				t.stmtLine("%s = %s", r, out[i])
			} else {
				t.line("%s = %s", r, out[i])
			}
		}
		t.line("break")
		return nil
	}
	t.line("return %s", strings.Join(out, ", "))
	return nil
}

func (t *translator) scalar(e ast.Expr) error {
	typ := t.src.info.Types[e].Type
	if id, ok := e.(*ast.Ident); ok && typ == nil {
		if obj := t.src.info.Uses[id]; obj != nil {
			typ = obj.Type()
		} else if obj := t.src.info.Defs[id]; obj != nil {
			typ = obj.Type()
		}
	}
	if typ == nil || !(isInt64(typ) || isBool(typ)) {
		return t.src.errorf(e.Pos(), "%s has type %s: only int64 and bool values are allowed", exprString(e), typ)
	}
	return nil
}

func (t *translator) selector(e *ast.SelectorExpr) (string, error) {
	x, ok := e.X.(*ast.Ident)
	if !ok || t.structs[x.Name] == nil {
		return "", t.src.errorf(e.Pos(), "%s: only fields of struct parameters may be selected", exprString(e))
	}
	if err := t.scalar(e); err != nil {
		return "", err
	}
	return x.Name + "_" + e.Sel.Name, nil
}

func (t *translator) expr(e ast.Expr) (string, error) {
	tv := t.src.info.Types[e]
	if tv.Value != nil {
		switch tv.Value.Kind() {
		case constant.Int:
			v, exact := constant.Int64Val(tv.Value)
			if !exact || v > 1<<53 || v < -(1<<53) {
				return "", t.src.errorf(e.Pos(), "constant %s is not exact in Lua", tv.Value)
			}
			return fmt.Sprint(v), nil
		case constant.Bool:
			return fmt.Sprint(constant.BoolVal(tv.Value)), nil
		default:
			return "", t.src.errorf(e.Pos(), "constant %s has kind %s: only integer and bool constants are allowed", tv.Value, tv.Value.Kind())
		}
	}
	if tv.Type != nil && !isInt64(tv.Type) && !isBool(tv.Type) {
		return "", t.src.errorf(e.Pos(), "%s has type %s: only int64 and bool values are allowed", exprString(e), tv.Type)
	}
	switch e := e.(type) {
	case *ast.Ident:
		if err := t.scalar(e); err != nil {
			return "", err
		}
		return t.local(e.Name), nil
	case *ast.SelectorExpr:
		return t.selector(e)
	case *ast.ParenExpr:
		return t.expr(e.X)
	case *ast.UnaryExpr:
		x, err := t.expr(e.X)
		if err != nil {
			return "", err
		}
		switch e.Op {
		case token.SUB:
			if x = t.operand(e.X, x, precUnary, false); strings.HasPrefix(x, "-") {
				x = "(" + x + ")" // "--" would start a Lua comment
			}
			return "-" + x, nil
		case token.NOT:
			return "not " + t.operand(e.X, x, precUnary, false), nil
		}
		return "", t.src.errorf(e.Pos(), "unary %s is not allowed", e.Op)
	case *ast.BinaryExpr:
		op, ok := map[token.Token]string{
			token.ADD: "+", token.SUB: "-", token.MUL: "*",
			token.LSS: "<", token.LEQ: "<=", token.GTR: ">", token.GEQ: ">=",
			token.EQL: "==", token.NEQ: "~=", token.LAND: "and", token.LOR: "or",
		}[e.Op]
		if !ok {
			return "", t.src.errorf(e.OpPos, "operator %s is not allowed (use floorDiv or ceilDiv for division)", e.Op)
		}
		x, err := t.expr(e.X)
		if err != nil {
			return "", err
		}
		y, err := t.expr(e.Y)
		if err != nil {
			return "", err
		}
		prec := luaPrec(e)
		return t.operand(e.X, x, prec, false) + " " + op + " " + t.operand(e.Y, y, prec, true), nil
	case *ast.CallExpr:
		return t.call(e)
	}
	return "", t.src.errorf(e.Pos(), "%s is not allowed in a step function", nodeKind(e))
}

func (t *translator) call(e *ast.CallExpr) (string, error) {
	id, ok := e.Fun.(*ast.Ident)
	if !ok {
		return "", t.src.errorf(e.Pos(), "call of %s is not allowed (only %s)", exprString(e.Fun), helperList())
	}
	if tn, ok := t.src.info.Uses[id].(*types.TypeName); ok && len(e.Args) == 1 && isInt64(tn.Type()) {
		return t.expr(e.Args[0]) // int64(x): a no-op in Lua
	}
	luaName, ok := helpers[id.Name]
	if !ok {
		return "", t.src.errorf(e.Pos(), "call of %s is not allowed (only %s)", id.Name, helperList())
	}
	var args []string
	for _, a := range e.Args {
		s, err := t.expr(a)
		if err != nil {
			return "", err
		}
		args = append(args, s)
	}
	if t.inline != nil {
		if (id.Name != "min" && id.Name != "max") || len(args) == 2 {
			return t.expand(e, id.Name, args)
		}
		luaName = "math." + luaName // the inline paths bind no locals for them (luaLocals)
	}
	return luaName + "(" + strings.Join(args, ", ") + ")", nil
}

// expand writes the helper call name(args…) as statements computing it
// into a new temporary, before the statement that uses it, and returns the
// temporary's name: the prelude's functions, line for line, with their
// returns assigning the temporary.
func (t *translator) expand(e *ast.CallExpr, name string, args []string) (string, error) {
	in := t.inline
	in.temps++
	h := fmt.Sprintf("h%d", in.temps)
	for _, n := range []string{h, h + "b", h + "r"} {
		if prev, ok := t.names[n]; ok {
			return "", t.src.errorf(e.Pos(), "variable %s is not allowed: this call of %s, written inline in the script, needs its Lua name %s for a temporary", prev, name, n)
		}
		t.names[n] = "a temporary"
	}
	in.pre = append(in.pre, helperLines(name, h, args)...)
	return h, nil
}

// isLuaName reports whether s is a Lua name or a decimal integer: an
// argument a helper's expansion may repeat without computing it again.
func isLuaName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// helperLines returns the statements that compute floorDiv, ceilDiv,
// later, min or max of two args (Lua expressions) into the new local h, as
// the prelude's functions do (min and max as math.min and math.max of
// integers, without a C call): the first argument is copied into h, a
// second that is not a name into the local h.."b"; h.."r" is the
// remainder.
func helperLines(name, h string, args []string) []preLine {
	b := args[1]
	var out []preLine
	add := func(depth int, format string, a ...any) {
		out = append(out, preLine{depth, fmt.Sprintf(format, a...)})
	}
	add(0, "local %s = %s", h, args[0])
	if !isLuaName(b) {
		add(0, "local %sb = %s", h, b)
		b = h + "b"
	}
	r := h + "r"
	switch name {
	case "floorDiv":
		add(0, "if %s > -4503599627370496 then", h)
		add(1, "%s = (%s - %s %% %s %% %s) / %s", h, h, h, b, b, b)
		add(0, "else")
		add(1, "local %s = math.fmod(%s, %s)", r, h, b)
		add(1, "if %s < 0 then", r)
		add(2, "%s = (%s - %s) / %s - 1", h, h, r, b)
		add(1, "else")
		add(2, "%s = %s / %s", h, h, b)
		add(1, "end")
		add(0, "end")
	case "ceilDiv":
		add(0, "if %s > -4503599627370496 then", h)
		add(1, "local %s = %s %% %s %% %s", r, h, b, b)
		add(1, "if %s > 0 then", r)
		add(2, "%s = (%s - %s) / %s + 1", h, h, r, b)
		add(1, "else")
		add(2, "%s = %s / %s", h, h, b)
		add(1, "end")
		add(0, "else")
		add(1, "%s = (%s - math.fmod(%s, %s)) / %s", h, h, h, b, b)
		add(0, "end")
	case "later":
		add(0, "if %s > 0 then", h)
		add(1, "%s = %s + %s", h, h, b)
		add(0, "end")
	case "min": // the comment names the helper for the script's tests (prelude_test.go)
		add(0, "if %s > %s then -- min", h, b)
		add(1, "%s = %s", h, b)
		add(0, "end")
	case "max":
		add(0, "if %s < %s then -- max", h, b)
		add(1, "%s = %s", h, b)
		add(0, "end")
	}
	return out
}

func helperList() string {
	var names []string
	for n := range helpers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Lua 5.1's precedence of the operators a step function may use, lowest
// first. All are left-associative; unary minus and not bind tighter than
// any binary operator, as in Go.
const (
	precOr = iota + 1
	precAnd
	precCompare
	precAdd
	precMul
	precUnary
	precAtom
)

// luaPrec returns the precedence of e in Lua.
func luaPrec(e ast.Expr) int {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return luaPrec(e.X)
	case *ast.BinaryExpr:
		switch e.Op {
		case token.LOR:
			return precOr
		case token.LAND:
			return precAnd
		case token.ADD, token.SUB:
			return precAdd
		case token.MUL:
			return precMul
		default:
			return precCompare
		}
	case *ast.UnaryExpr:
		return precUnary
	}
	return precAtom
}

// operand returns the Lua text lua of the operand e of an operator of
// precedence prec, in parentheses only where Lua would group it otherwise:
// when it binds more loosely, or equally on the right (the arithmetic
// operators are left-associative, so a - (b - c) keeps its parentheses), or
// when both are comparisons.
func (t *translator) operand(e ast.Expr, lua string, prec int, right bool) string {
	// Comparisons do not chain in Go, but do in Lua: (a < b) == c keeps them.
	if p := luaPrec(e); p < prec || (right || prec == precCompare) && p == prec {
		return "(" + lua + ")"
	}
	return lua
}

func nodeKind(n ast.Node) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast.")
}

func exprString(e ast.Expr) string { return types.ExprString(e) }
