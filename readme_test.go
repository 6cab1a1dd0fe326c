package throttled_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// snippetPrelude makes a README snippet that is not a whole program into a
// function body: the imports and names the snippets assume.
const snippetPrelude = `package snippet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/httplimit"
	"github.com/throttled-go/throttled/store"
	"github.com/throttled-go/throttled/store/memstore"
	"github.com/throttled-go/throttled/store/redisstore"
	"github.com/throttled-go/throttled/typed"
)

var (
	ctx        = context.Background()
	redisStore store.Store[string]
	l          *throttled.Limiter
	hello      http.Handler
)

func callAPI(context.Context) error    { return nil }
func isPaying(string) bool               { return false }
var _ = httplimit.New
var _ slog.Logger

func snippet() error {
`

// TestREADMESnippetsCompile type-checks every Go snippet of README.md, so
// the README cannot drift from the API: whole programs as they are, the
// others inside a function after snippetPrelude. Snippets fenced as
// "go mcpsdk" use a module of their own; contrib/mcpsdk's tests check them. Only "declared and not
// used" and "imported and not used" are forgiven (a snippet shows a part).
func TestREADMESnippetsCompile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d Go snippets in README.md; the pattern is broken", len(blocks))
	}
	fset := token.NewFileSet()
	imp := exportImporter(t, fset)
	for i, b := range blocks {
		src := b[1]
		if !strings.HasPrefix(src, "package ") {
			src = snippetPrelude + src + "\nreturn nil\n}\n"
		}
		f, err := parser.ParseFile(fset, "snippet.go", src, 0)
		if err != nil {
			t.Errorf("README snippet %d does not parse: %v\n%s", i+1, err, b[1])
			continue
		}
		var errs []string
		conf := types.Config{Importer: imp, Error: func(err error) {
			msg := err.Error()
			if !strings.Contains(msg, "declared and not used") && !strings.Contains(msg, "imported and not used") {
				errs = append(errs, msg)
			}
		}}
		conf.Check("snippet", fset, []*ast.File{f}, nil)
		if len(errs) > 0 {
			t.Errorf("README snippet %d does not compile:\n%s\n%s", i+1, strings.Join(errs, "\n"), b[1])
		}
	}
}

// exportImporter imports packages from the compiler's export data, which
// `go list -export` builds (or finds in the build cache).
func exportImporter(t *testing.T, fset *token.FileSet) types.Importer {
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}",
		".", "./typed", "./algo", "./store/...", "./async", "./httplimit").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "="); ok && file != "" {
			exports[path] = file
		}
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	})
}
