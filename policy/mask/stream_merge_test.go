package mask

import (
	"bytes"
	"slices"
	"testing"
)

// stReversed returns d's matches last first: a detector that does not
// keep to the contract's order, which Stream.find sorts instead of
// merging.
type stReversed struct{ Detector }

func (d stReversed) Find(b []byte) [][2]int {
	out := d.Detector.Find(b)
	slices.Reverse(out)
	return out
}

// Matches out of order, in-order and mixed give the same stream, equal to
// masking the whole text.
func TestStreamDetectorsOutOfOrder(t *testing.T) {
	dets := stDetectors(t)
	text := []byte(stText + " " + stText + " hunter alice 1111222233334444")
	want := stWhole(text, dets, stTag{})
	for _, rev := range []int{-1, 0, 2, 4} {
		ds := slices.Clone(dets)
		if rev >= 0 {
			ds[rev] = stReversed{ds[rev]}
		}
		for _, block := range []int{1, 7, 40, 1000} {
			got, _, err := stMask(t, bytes.NewReader(text), ds, stTag{}, StreamOptions{BlockSize: block})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("detector %d reversed, block %d:\n got %s\nwant %s", rev, block, got, want)
			}
		}
	}
}
