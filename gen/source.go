package main

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// Directives that mark the functions the generator translates.
const (
	initDirective = "//throttled:init"
	stepDirective = "//throttled:step"
)

// source is a type-checked package of step functions.
type source struct {
	dir   string // as given, used in messages and headers
	fset  *token.FileSet
	files []*ast.File
	info  *types.Info
	pkg   *types.Package
}

// algorithm is one marked XInit/XStep pair.
type algorithm struct {
	Name      string // Go name prefix, e.g. "TokenBucket"
	File      string // source file of the step function, relative to the package dir
	Init      *ast.FuncDecl
	Step      *ast.FuncDecl
	State     *types.Named // the state struct
	Params    *types.Named // the params struct
	Decision  *types.Named // the decision struct
	UsedParam []string     // Params fields the two functions read, in declaration order
}

// Snake returns the algorithm's file-name form, e.g. "token_bucket".
func (a *algorithm) Snake() string { return snake(a.Name) }

// Lower returns the algorithm's unexported Go form, e.g. "tokenBucket".
func (a *algorithm) Lower() string {
	if strings.ToUpper(a.Name) == a.Name {
		return strings.ToLower(a.Name)
	}
	return strings.ToLower(a.Name[:1]) + a.Name[1:]
}

func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// load parses and type-checks the non-test Go files of dir.
func load(dir string) (*source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &source{dir: dir, fset: token.NewFileSet()}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(s.fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("%s: no Go files", dir)
	}
	s.info = &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Defs:  map[*ast.Ident]types.Object{},
		Uses:  map[*ast.Ident]types.Object{},
	}
	conf := types.Config{Importer: importer.ForCompiler(s.fset, "source", nil)}
	s.pkg, err = conf.Check(s.files[0].Name.Name, s.fset, s.files, s.info)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// errorf formats a refusal as "file:line: why".
func (s *source) errorf(at token.Pos, format string, args ...any) error {
	p := s.fset.Position(at)
	return fmt.Errorf("%s:%d: %s", filepath.ToSlash(filepath.Join(s.dir, filepath.Base(p.Filename))), p.Line, fmt.Sprintf(format, args...))
}

func directive(fd *ast.FuncDecl) string {
	if fd.Doc == nil {
		return ""
	}
	for _, c := range fd.Doc.List {
		t := strings.TrimSpace(c.Text)
		if t == initDirective || t == stepDirective {
			return t
		}
	}
	return ""
}

// algorithms finds the marked pairs, sorted by name, and checks their
// signatures:
//
//	func XInit(q Params, now int64) XState
//	func XStep(s XState, q Params, now, cost int64) (XState, Decision)
func (s *source) algorithms() ([]*algorithm, error) {
	byName := map[string]*algorithm{}
	get := func(name string) *algorithm {
		if byName[name] == nil {
			byName[name] = &algorithm{Name: name}
		}
		return byName[name]
	}
	for _, f := range s.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			switch directive(fd) {
			case initDirective:
				name, ok := strings.CutSuffix(fd.Name.Name, "Init")
				if !ok || name == "" {
					return nil, s.errorf(fd.Pos(), "%s function %s must be named <Algorithm>Init", initDirective, fd.Name.Name)
				}
				get(name).Init = fd
			case stepDirective:
				name, ok := strings.CutSuffix(fd.Name.Name, "Step")
				if !ok || name == "" {
					return nil, s.errorf(fd.Pos(), "%s function %s must be named <Algorithm>Step", stepDirective, fd.Name.Name)
				}
				a := get(name)
				a.Step = fd
				a.File = filepath.Base(s.fset.Position(fd.Pos()).Filename)
			}
		}
	}
	var out []*algorithm
	for _, a := range byName {
		if a.Step == nil {
			return nil, s.errorf(a.Init.Pos(), "%sInit has no %sStep marked %s", a.Name, a.Name, stepDirective)
		}
		if a.Init == nil {
			return nil, s.errorf(a.Step.Pos(), "%sStep has no %sInit marked %s", a.Name, a.Name, initDirective)
		}
		if err := s.checkSignatures(a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no functions marked %s", s.dir, stepDirective)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *source) checkSignatures(a *algorithm) error {
	step := s.info.Defs[a.Step.Name].Type().(*types.Signature)
	init := s.info.Defs[a.Init.Name].Type().(*types.Signature)
	want := fmt.Sprintf("func %sStep(s %sState, q Params, now, cost int64) (%sState, Decision)", a.Name, a.Name, a.Name)
	if step.Params().Len() != 4 || step.Results().Len() != 2 {
		return s.errorf(a.Step.Pos(), "signature must be %s", want)
	}
	a.State = structNamed(step.Params().At(0).Type())
	a.Params = structNamed(step.Params().At(1).Type())
	a.Decision = structNamed(step.Results().At(1).Type())
	if a.State == nil || a.Params == nil || a.Decision == nil ||
		!isInt64(step.Params().At(2).Type()) || !isInt64(step.Params().At(3).Type()) ||
		!types.Identical(step.Results().At(0).Type(), a.State) {
		return s.errorf(a.Step.Pos(), "signature must be %s", want)
	}
	if init.Params().Len() != 2 || init.Results().Len() != 1 ||
		!types.Identical(init.Params().At(0).Type(), a.Params) || !isInt64(init.Params().At(1).Type()) ||
		!types.Identical(init.Results().At(0).Type(), a.State) {
		return s.errorf(a.Init.Pos(), "signature must be func %sInit(q Params, now int64) %sState", a.Name, a.Name)
	}
	for _, st := range []*types.Named{a.State, a.Params, a.Decision} {
		fields := st.Underlying().(*types.Struct)
		for i := range fields.NumFields() {
			f := fields.Field(i)
			if st == a.Params && !isInt64(f.Type()) {
				continue // non-numeric params never reach Lua; using one is refused where it is read
			}
			if !isInt64(f.Type()) && !(st == a.Decision && isBool(f.Type())) {
				return s.errorf(a.Step.Pos(), "field %s.%s has type %s: state fields must be int64 and decision fields int64 or bool", st.Obj().Name(), f.Name(), f.Type())
			}
		}
	}
	return nil
}

func structNamed(t types.Type) *types.Named {
	n, ok := t.(*types.Named)
	if !ok {
		return nil
	}
	if _, ok := n.Underlying().(*types.Struct); !ok {
		return nil
	}
	return n
}

func isInt64(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && (b.Kind() == types.Int64 || b.Kind() == types.UntypedInt)
}

func isBool(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && (b.Kind() == types.Bool || b.Kind() == types.UntypedBool)
}

// fields returns the names of a struct type's fields in declaration order.
func fields(n *types.Named) []string {
	st := n.Underlying().(*types.Struct)
	out := make([]string, st.NumFields())
	for i := range out {
		out[i] = st.Field(i).Name()
	}
	return out
}

// fieldIsBool reports whether the named field of n is a bool.
func fieldIsBool(n *types.Named, name string) bool {
	st := n.Underlying().(*types.Struct)
	for i := range st.NumFields() {
		if st.Field(i).Name() == name {
			return isBool(st.Field(i).Type())
		}
	}
	return false
}
