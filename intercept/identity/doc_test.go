package identity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The package doc is the contract: what identity owns, what it never does,
// who imports it. The walls: it imports no other Gatehouse package, and it
// never logs (no log import, no slog calls, nothing printed), so a token,
// secret or session token cannot reach a log from here.
func TestPackageContract(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc.WriteString(f.Doc.Text())
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/gatehouse/gatehouse/") {
				t.Errorf("%s imports %s; identity imports no other Gatehouse package", name, path)
			}
			if path == "log" {
				t.Errorf("%s imports log; identity never logs", name)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch {
			case x.Name == "slog" && (strings.HasPrefix(sel.Sel.Name, "Info") || strings.HasPrefix(sel.Sel.Name, "Warn") ||
				strings.HasPrefix(sel.Sel.Name, "Error") || strings.HasPrefix(sel.Sel.Name, "Debug") || sel.Sel.Name == "Log" || sel.Sel.Name == "Default"):
				t.Errorf("%s: slog.%s: identity never logs", fset.Position(sel.Pos()), sel.Sel.Name)
			case x.Name == "fmt" && strings.HasPrefix(sel.Sel.Name, "Print"):
				t.Errorf("%s: fmt.%s: identity never prints", fset.Position(sel.Pos()), sel.Sel.Name)
			case x.Name == "os" && (sel.Sel.Name == "Stdout" || sel.Sel.Name == "Stderr"):
				t.Errorf("%s: os.%s: identity never prints", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	for _, section := range []string{"What it owns", "What it never does", "Who imports it"} {
		if !strings.Contains(doc.String(), section) {
			t.Errorf("package doc lacks %q", section)
		}
	}
}
