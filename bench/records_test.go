package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSectionKeepsTheOthers: the records workload run alone replaces
// its own section of BENCHMARKS.md and keeps the lab workloads' figures.
func TestWriteSectionKeepsTheOthers(t *testing.T) {
	const title = "## Recorder"
	tests := []struct{ name, before, want string }{
		{"added before the closing paragraph",
			"# B\n\n## Small\n\nsmall\n\nNot measured yet: x.\n",
			"# B\n\n## Small\n\nsmall\n\n## Recorder\n\nnew\n\nNot measured yet: x.\n"},
		{"replaced before the closing paragraph",
			"# B\n\n## Small\n\nsmall\n\n## Recorder\n\nold\nold\n\nNot measured yet: x.\n",
			"# B\n\n## Small\n\nsmall\n\n## Recorder\n\nnew\n\nNot measured yet: x.\n"},
		{"replaced before another section",
			"# B\n\n## Recorder\n\nold\n\n## Large\n\nlarge\n",
			"# B\n\n## Recorder\n\nnew\n\n## Large\n\nlarge\n"},
		{"replaced at the end",
			"# B\n\n## Small\n\nsmall\n\n## Recorder\n\nold\n",
			"# B\n\n## Small\n\nsmall\n\n## Recorder\n\nnew\n"},
		{"appended", "# B\n\n## Small\n\nsmall\n", "# B\n\n## Small\n\nsmall\n\n## Recorder\n\nnew\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if err := os.WriteFile(f, []byte(tt.before), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := writeSection(f, title, title+"\n\nnew\n"); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(f)
			if string(got) != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
