package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSectionsKeepsTheOthers: a run of some workloads replaces their
// sections of BENCHMARKS.md, in the workloads' order, and keeps the other
// workloads' figures (the records workload alone, the mask workload alone).
func TestWriteSectionsKeepsTheOthers(t *testing.T) {
	const (
		intro   = "# Benchmarks\n\nold run\n"
		small   = "## Small calls\n\nsmall\n"
		large   = "## 1 GiB PUT and GET\n\nlarge\n\n```\n## not a heading\n```\n"
		masked  = maskSection + " (1 GiB)\n\nold mask\n"
		records = recordsSection + "\n\nold records\n"
		other   = "## Peers\n\nsquid\n"
	)
	closing := "\n" + notMeasured
	doc := func(parts ...string) string { return strings.Join(parts, "\n") + closing }
	tests := []struct {
		name, before string
		intro        string
		sections     map[string]string
		want         string
	}{
		{"records added before the closing paragraph", doc(intro, small), "",
			map[string]string{"records": recordsSection + "\n\nnew\n"},
			doc(intro, small, recordsSection+"\n\nnew\n")},
		{"records replaced", doc(intro, small, large, records), "",
			map[string]string{"records": recordsSection + "\n\nnew\n"},
			doc(intro, small, large, recordsSection+"\n\nnew\n")},
		{"mask added between large and records", doc(intro, small, large, records), "",
			map[string]string{"mask": maskSection + " (1 GiB)\n\nnew\n"},
			doc(intro, small, large, maskSection+" (1 GiB)\n\nnew\n", records)},
		{"mask replaced, whatever its size", doc(intro, small, large, masked, records), "",
			map[string]string{"mask": maskSection + " (64 MiB)\n\nnew\n"},
			doc(intro, small, large, maskSection+" (64 MiB)\n\nnew\n", records)},
		{"small and large replace the opening too", doc(intro, small, large, masked, records), "# Benchmarks\n\nnew run\n",
			map[string]string{"small": "## Small calls\n\nnew small\n", "large": "## 64 MiB PUT and GET\n\nnew large\n"},
			doc("# Benchmarks\n\nnew run\n", "## Small calls\n\nnew small\n", "## 64 MiB PUT and GET\n\nnew large\n", masked, records)},
		{"conns added after small, small replaced", doc(intro, small, large, records), "",
			map[string]string{"conns": connsSection + "\n\nnew conns\n", "small": smallSection + "\n\nnew small\n"},
			doc(intro, smallSection+"\n\nnew small\n", connsSection+"\n\nnew conns\n", large, records)},
		{"idle and held added between mask and records", doc(intro, small, large, masked, records), "",
			map[string]string{"held": heldSection + " (1000 at once)\n\nnew held\n", "idle": idleSection + " (10000)\n\nnew idle\n"},
			doc(intro, small, large, masked, idleSection+" (10000)\n\nnew idle\n", heldSection+" (1000 at once)\n\nnew held\n", records)},
		{"idle replaced, held kept", doc(intro, masked, idleSection+" (10)\n\nold idle\n", heldSection+" (5 at once)\n\nold held\n", records), "",
			map[string]string{"idle": idleSection + " (10000)\n\nnew idle\n"},
			doc(intro, masked, idleSection+" (10000)\n\nnew idle\n", heldSection+" (5 at once)\n\nold held\n", records)},
		{"a section the bench does not write is kept", doc(intro, small, other), "",
			map[string]string{"mask": maskSection + " (1 GiB)\n\nnew\n"},
			doc(intro, small, maskSection+" (1 GiB)\n\nnew\n", other)},
		{"no file", "", "",
			map[string]string{"records": recordsSection + "\n\nnew\n"},
			doc("# Benchmarks\n\nWritten by `go run ./bench`; each section says what ran and when.\n", recordsSection+"\n\nnew\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if tt.before != "" {
				if err := os.WriteFile(f, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeSections(f, tt.intro, tt.sections); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(f)
			if string(got) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
