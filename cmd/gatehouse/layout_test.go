package main

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gatehouse/gatehouse"

// TestImportWalls keeps the design's walls standing: imports point one way,
// down the data path.
func TestImportWalls(t *testing.T) {
	root, _ := filepath.Abs("../..")
	// package (relative) → Gatehouse packages it may import (prefixes).
	allowed := map[string][]string{
		"ca":                 {"ca/"},
		"netsetup":           {"netsetup/"},
		"policy":             {"policy/"},
		"recorder":           {"recorder/"},
		"intercept":          {"ca", "policy", "recorder", "intercept/"},
		"intercept/identity": {},
		"intercept/sigv4":    {},
		"intercept/awscreds": {},
		"deploy/lab":         {},
	}
	for pkg, ok := range allowed {
		t.Run(pkg, func(t *testing.T) {
			bp, err := build.ImportDir(filepath.Join(root, pkg), 0)
			if err != nil {
				t.Fatal(err)
			}
			if bp.Doc == "" {
				t.Errorf("package %s has no package doc", pkg)
			}
			for _, imp := range bp.Imports {
				rel, mine := strings.CutPrefix(imp, module+"/")
				if !mine {
					continue
				}
				permitted := false
				for _, p := range ok {
					if rel == strings.TrimSuffix(p, "/") || strings.HasPrefix(rel, p) {
						permitted = true
					}
				}
				if !permitted {
					t.Errorf("%s imports %s, which the design forbids", pkg, rel)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "cmd/gatehouse/main.go")); err != nil {
		t.Fatal(err)
	}
}
