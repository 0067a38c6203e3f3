package mask

// Detector finds sensitive values in text: each match is a half-open byte
// range [start, end) of b. Matches do not overlap and come in order.
// MaxLen bounds a match's length, so a streaming masker knows how many
// bytes to hold back across a chunk boundary; 0 means the detector only
// works on whole values (field rules), never on streams.
//
// For the built-in detectors MaxLen also covers the context a match
// depends on (the byte either side that must not extend the word, the
// field name before a secret key), so any span of text that decides a
// match is at most MaxLen bytes long. Find treats the ends of b as
// boundaries: a streamer must not trust a match that ends within MaxLen
// of the end of a chunk it has not finished reading (it could grow, or
// vanish, once the next bytes are seen) unless b ends at the end of the
// stream. Detectors are safe for concurrent use.
type Detector interface {
	Name() string
	Find(b []byte) [][2]int
	MaxLen() int
}

// Replacer turns one sensitive value into what the agent sees. It must be
// deterministic for a given value (keyed hashes keep equal values
// correlatable) and must not return the value itself. detector is the
// name of what found the value: a Detector's Name or a field rule's name.
// Replacers are safe for concurrent use.
type Replacer interface {
	Replace(detector string, value []byte) []byte
}
