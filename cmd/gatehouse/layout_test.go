package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gatehouse/gatehouse"

// TestPackageContracts keeps the design's walls standing, in one place for
// every package: imports point one way, down the data path; each package
// doc is its contract (what it owns, what it never does, who imports it);
// and the packages that handle secrets never log or print.
func TestPackageContracts(t *testing.T) {
	root, _ := filepath.Abs("../..")
	// package → Gatehouse packages it may import (a trailing / allows the
	// package's own sub-packages).
	allowed := map[string][]string{
		"ca":                 {},
		"netsetup":           {},
		"policy":             {"policy/"},
		"policy/approval":    {},
		"policy/mask":        {},
		"recorder":           {"recorder/"},
		"recorder/export":    {"recorder"},
		"intercept":          {"ca", "policy", "policy/", "recorder", "intercept/"},
		"intercept/awsapi":   {},
		"intercept/identity": {},
		"intercept/sigv4":    {},
		"intercept/awscreds": {},
		"deploy/lab":         {},
	}
	silent := map[string]bool{"ca": true, "intercept/identity": true, "intercept/sigv4": true, "intercept/awscreds": true, "intercept/awsapi": true, "recorder": true, "recorder/export": true, "policy/mask": true}
	for pkg, ok := range allowed {
		t.Run(pkg, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no Go files in %s: %v", pkg, err)
			}
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
					path, _ := strconv.Unquote(imp.Path.Value)
					if silent[pkg] && path == "log" {
						t.Errorf("%s imports log; %s never logs", name, pkg)
					}
					rel, mine := strings.CutPrefix(path, module+"/")
					if mine && !permitted(rel, ok) {
						t.Errorf("%s imports %s, which the design forbids", name, rel)
					}
				}
				if silent[pkg] {
					noLogging(t, fset, f, pkg)
				}
			}
			for _, section := range []string{"What it owns", "What it never does", "Who imports it"} {
				if !strings.Contains(doc.String(), section) {
					t.Errorf("package %s doc lacks %q", pkg, section)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "cmd/gatehouse/main.go")); err != nil {
		t.Fatal(err)
	}
}

func permitted(rel string, allowed []string) bool {
	for _, p := range allowed {
		if rel == strings.TrimSuffix(p, "/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(rel, p)) {
			return true
		}
	}
	return false
}

// noLogging fails on calls that would put a secret where people read it:
// slog's logging calls, fmt.Print*, os.Stdout and os.Stderr.
func noLogging(t *testing.T, fset *token.FileSet, f *ast.File, pkg string) {
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		name := sel.Sel.Name
		switch {
		case x.Name == "slog" && (strings.HasPrefix(name, "Info") || strings.HasPrefix(name, "Warn") ||
			strings.HasPrefix(name, "Error") || strings.HasPrefix(name, "Debug") || name == "Log" || name == "Default"):
			t.Errorf("%s: slog.%s: %s never logs", fset.Position(sel.Pos()), name, pkg)
		case x.Name == "fmt" && strings.HasPrefix(name, "Print"):
			t.Errorf("%s: fmt.%s: %s never prints", fset.Position(sel.Pos()), name, pkg)
		case x.Name == "os" && (name == "Stdout" || name == "Stderr"):
			t.Errorf("%s: os.%s: %s never prints", fset.Position(sel.Pos()), name, pkg)
		}
		return true
	})
}
