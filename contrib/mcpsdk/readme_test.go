package mcpsdk_test

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

// TestRootREADMESnippets type-checks the snippets of the repository's
// README.md fenced as "go mcpsdk": the root module cannot, as they import
// this module and the MCP SDK.
func TestRootREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go mcpsdk\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("no snippet fenced as go mcpsdk in README.md")
	}
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}", ".", "github.com/throttled-go/throttled").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "="); ok && file != "" {
			exports[path] = file
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	})
	const prelude = `package snippet

import (
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/contrib/mcpsdk"
	"github.com/throttled-go/throttled/typed"
)

var server *mcp.Server

var _ = throttled.PerMin

func snippet() {
`
	for i, b := range blocks {
		f, err := parser.ParseFile(fset, "snippet.go", prelude+b[1]+"\n}\n", 0)
		if err != nil {
			t.Errorf("snippet %d does not parse: %v", i+1, err)
			continue
		}
		var errs []string
		conf := types.Config{Importer: imp, Error: func(err error) {
			if msg := err.Error(); !strings.Contains(msg, "declared and not used") {
				errs = append(errs, msg)
			}
		}}
		conf.Check("snippet", fset, []*ast.File{f}, nil)
		if len(errs) > 0 {
			t.Errorf("README snippet %d does not compile:\n%s\n%s", i+1, strings.Join(errs, "\n"), b[1])
		}
	}
}
