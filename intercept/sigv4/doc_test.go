package sigv4

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The package doc is the contract: what sigv4 owns, what it never does,
// who imports it. And sigv4 imports no other Gatehouse package: it parses
// and signs, it never looks up identities, decides or records.
func TestPackageContract(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc.WriteString(f.Doc.Text())
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/gatehouse/gatehouse/") {
				t.Errorf("%s imports %s; sigv4 must import no other Gatehouse package", name, path)
			}
			switch path {
			case "net", "log", "log/slog":
				t.Errorf("%s imports %s: sigv4 never dials or logs", name, path)
			}
		}
	}
	for _, section := range []string{"What it owns", "What it never does", "Who imports it"} {
		if !strings.Contains(doc.String(), section) {
			t.Errorf("package doc lacks %q", section)
		}
	}
}
