package awsapi

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestContract holds the package to its doc: the three sections, no
// import of another Gatehouse package, and no logging or printing (Params
// is where request data would leak).
func TestContract(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	var doc strings.Builder
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
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
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/gatehouse/gatehouse") {
				t.Errorf("%s imports %s: awsapi imports no other Gatehouse package", name, p)
			}
			if p == "log" || p == "log/slog" || p == "os" {
				t.Errorf("%s imports %s: awsapi never logs, prints or touches files", name, p)
			}
		}
	}
	for _, s := range []string{"What it owns", "What it never does", "Who imports it"} {
		if !strings.Contains(doc.String(), s) {
			t.Errorf("package doc lacks %q", s)
		}
	}
}
