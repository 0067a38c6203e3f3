package mask

// Detector finds sensitive values in text: each match is a half-open byte
// range [start, end) of b. Matches do not overlap and come in order.
// MaxLen bounds a match's length, so a streaming masker knows how many
// bytes to hold back across a chunk boundary; 0 means the detector only
// works on whole values (field rules), never on streams.
type Detector interface {
	Name() string
	Find(b []byte) [][2]int
	MaxLen() int
}

// Replacer turns one sensitive value into what the agent sees. It must be
// deterministic for a given value (keyed hashes keep equal values
// correlatable) and must not return the value itself.
type Replacer interface {
	Replace(detector string, value []byte) []byte
}
