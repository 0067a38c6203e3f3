package mask

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
)

// StreamOptions tune a Stream. The zero value is the default.
type StreamOptions struct {
	// BlockSize is how many bytes are read and masked at a time, beyond
	// the window the detectors need (0: the larger of 256 KiB and four
	// windows). Smaller blocks hold less but rescan the window more
	// often: with the built-in detectors (a 16 KiB window) 64 KiB blocks
	// mask a quarter slower than 256 KiB ones.
	BlockSize int
}

// Stream masks a text body as it is read: what comes out is the body with
// every detector match replaced, in bounded memory.
//
// A match can straddle the end of what has been read so far, so a Stream
// holds back a window of W = max(MaxLen) bytes, and keeps the W bytes
// before the text not yet released as context for the detectors (the byte
// before a card number, the field name before a secret key). A match is
// decided once the W bytes after its start are known: each block releases
// the text up to W bytes short of what was read, or to the end of a match
// that starts before that. Memory is one buffer of 2W + BlockSize bytes,
// fixed at construction, plus the replacements of the block being read
// out.
//
// The blocks are cut at the same offsets however the source splits the
// body, so the output depends only on the bytes (and Read waits for a
// full block or the end of the body before it releases anything). For detectors whose
// decisions depend on no more than MaxLen bytes around a match (the
// Detector contract) it equals masking the whole body at once (FindAll
// and Replace). Where a detector's choice runs further (a long run of
// overlapping deny-list values, a match longer than MaxLen), what falls
// past the emitted text is still masked, as a match of its own.
//
// A Stream is an io.Reader for one goroutine; Report may be called from
// any goroutine.
//
// Masker.Stream builds one from a profile's detectors and replacers.
type Stream struct {
	src  io.Reader
	dets []Detector
	rep  Replacer
	win  int // W = max(MaxLen): left context kept, look-ahead held back

	// buf[:ctx] was emitted and is context, buf[ctx:n] is not yet
	// emitted. len(buf) never changes.
	buf    []byte
	ctx, n int
	eof    bool // the source returned io.EOF
	// lastEnd is where the last match replaced ends in buf; open says
	// it ended at the end of what was read, so it may go on (a match
	// longer than its detector's MaxLen).
	lastEnd int
	open    bool
	err     error // sticky; returned once out is drained
	out     [][]byte
	outBuf  [][]byte
	ms      []streamMatch
	// find's buffers, kept from round to round: matches in order,
	// where each detector's end in ms and its next one.
	merged     []streamMatch
	ends, next []int
	detCounts  []int // matches replaced in a round, by detector

	mu     sync.Mutex
	counts Report
}

// errStreamDetector reports a detector that returned a range outside the
// text it was given; masking around it could leak, so the body fails.
var errStreamDetector = errors.New("detector returned a range outside its text")

// NewStream returns a Stream masking r with dets, each match replaced by
// rep. Detectors with MaxLen 0 (whole values only) are refused, since no
// window could hold their matches. With no detectors the body passes
// through unchanged.
func NewStream(r io.Reader, dets []Detector, rep Replacer, opts StreamOptions) (*Stream, error) {
	if rep == nil {
		return nil, errors.New("mask stream: no replacer")
	}
	maxLen := 1
	for _, d := range dets {
		if d == nil {
			return nil, errors.New("mask stream: nil detector")
		}
		if d.MaxLen() <= 0 {
			return nil, fmt.Errorf("mask stream: detector %s works on whole values only (MaxLen %d): use it in a field rule", d.Name(), d.MaxLen())
		}
		maxLen = max(maxLen, d.MaxLen())
	}
	win := maxLen
	block := opts.BlockSize
	if block < 0 {
		return nil, fmt.Errorf("mask stream: block size %d is negative", block)
	}
	if block == 0 {
		block = max(256<<10, 4*win)
	}
	return &Stream{
		src:  r,
		dets: slices.Clone(dets),
		rep:  rep,
		win:  win,
		buf:  make([]byte, 2*win+block),
	}, nil
}

// Stream masks a text body with the masker's detectors as it is read (see
// Stream). Field rules do not apply to text.
func (m *Masker) Stream(r io.Reader, opts StreamOptions) (*Stream, error) {
	return NewStream(r, m.Detectors, m.replacer(), opts)
}

// Report returns how many values each detector masked so far, by
// detector name; complete once Read has returned io.EOF.
func (s *Stream) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// Read implements io.Reader. An error from the source, or from a detector,
// is returned in place of the text not yet masked: the unmasked bytes
// held back are never released.
func (s *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.round()
	}
	n := 0
	for n < len(p) && len(s.out) > 0 {
		k := copy(p[n:], s.out[0])
		n += k
		if s.out[0] = s.out[0][k:]; len(s.out[0]) == 0 {
			s.out = s.out[1:]
		}
	}
	return n, nil
}

// round reads the next block and queues its masked text in s.out, or sets
// s.err.
func (s *Stream) round() {
	if s.eof {
		s.err = io.EOF
		return
	}
	// Keep the last W emitted bytes as context for the next block.
	keep := min(s.ctx, s.win)
	drop := s.ctx - keep
	copy(s.buf, s.buf[drop:s.n])
	s.n -= drop
	s.ctx = keep
	s.lastEnd -= drop
	if err := s.fill(); err != nil {
		s.err = err
		return
	}
	text := s.buf[:s.n]
	safe := s.n - s.win
	if s.eof {
		safe = s.n
	}
	ms, err := s.find(text)
	if err != nil {
		s.err = err
		return
	}
	s.out = s.outBuf[:0]
	if len(s.detCounts) != len(s.dets) {
		s.detCounts = make([]int, len(s.dets))
	}
	replaced := 0
	pos := s.ctx
	s.open = false
	for _, m := range ms {
		if m.start >= safe {
			break // undecided until more is read
		}
		name := s.dets[m.det].Name()
		s.emit(text[pos:m.start], s.rep.Replace(name, text[m.start:m.end]))
		s.detCounts[m.det]++
		replaced++
		pos = m.end
		s.lastEnd, s.open = m.end, m.end == s.n && !s.eof
	}
	end := max(pos, safe)
	s.emit(text[pos:end])
	s.ctx = end
	s.outBuf = s.out[:0]
	if replaced > 0 {
		s.mu.Lock()
		for i, n := range s.detCounts {
			if n > 0 {
				s.counts.add(s.dets[i].Name(), n)
				s.detCounts[i] = 0
			}
		}
		s.mu.Unlock()
	}
	if len(s.out) == 0 && s.eof {
		s.err = io.EOF
	}
}

func (s *Stream) emit(bs ...[]byte) {
	for _, b := range bs {
		if len(b) > 0 {
			s.out = append(s.out, b)
		}
	}
}

// fill reads until the buffer is full or the source ends, so blocks are
// cut at offsets that do not depend on how the source splits its reads.
func (s *Stream) fill() error {
	empty := 0
	for s.n < len(s.buf) {
		k, err := s.src.Read(s.buf[s.n:])
		s.n += k
		switch {
		case err == io.EOF:
			s.eof = true
			return nil
		case err != nil:
			return err
		case k == 0:
			if empty++; empty >= 100 {
				return io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
	return nil
}

// find runs the detectors over text and resolves overlaps as FindAll
// does, leftmost first and then longest. Matches that end in the emitted
// context were dealt with in an earlier round. One that reaches from the
// context into new text is dropped if it overlaps the last match
// replaced, as FindAll would drop it; otherwise (the rest of a match
// longer than MaxLen, a detector whose choice depends on more than
// MaxLen bytes) it is cut to the new part, so nothing not yet emitted
// escapes.
func (s *Stream) find(text []byte) ([]streamMatch, error) {
	ms := s.ms[:0]
	// ends[i] is where detector i's matches end in ms. Each detector's
	// come in order, so they are merged rather than sorted (unless one
	// does not keep to that).
	ends := s.ends[:0]
	inOrder := true
	for i, d := range s.dets {
		first := len(ms)
		for _, r := range d.Find(text) {
			start, end := r[0], r[1]
			if start < 0 || start > end || end > len(text) {
				return nil, fmt.Errorf("mask stream: detector %s: [%d, %d) in %d bytes: %w", d.Name(), start, end, len(text), errStreamDetector)
			}
			if start == end || end <= s.ctx {
				continue
			}
			if start < s.ctx && start < s.lastEnd && !s.open {
				continue
			}
			m := streamMatch{max(start, s.ctx), end, i}
			if len(ms) > first && cmpStreamMatch(ms[len(ms)-1], m) > 0 {
				inOrder = false
			}
			ms = append(ms, m)
		}
		ends = append(ends, len(ms))
	}
	s.ms, s.ends = ms, ends
	if len(ms) < 2 {
		return ms, nil
	}
	if !inOrder {
		// FindAll's order: leftmost, then longest, then the detector first
		// in the list (FindAll sorts stably).
		slices.SortFunc(ms, cmpStreamMatch)
		out := ms[:1]
		for _, m := range ms[1:] {
			if m.start >= out[len(out)-1].end {
				out = append(out, m)
			}
		}
		return out, nil
	}
	// The same order by merging: next[i] is detector i's next match in
	// ms. Each match taken that overlaps the last one kept is dropped.
	next := s.next[:0]
	for i := range ends {
		if i == 0 {
			next = append(next, 0)
		} else {
			next = append(next, ends[i-1])
		}
	}
	s.next = next
	out := s.merged[:0]
	for {
		best := -1
		for i, k := range next {
			if k < ends[i] && (best < 0 || cmpStreamMatch(ms[k], ms[next[best]]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		m := ms[next[best]]
		next[best]++
		if len(out) == 0 || m.start >= out[len(out)-1].end {
			out = append(out, m)
		}
	}
	s.merged = out
	return out, nil
}

// cmpStreamMatch orders matches as FindAll does: leftmost, then longest,
// then the detector first in the list.
func cmpStreamMatch(a, b streamMatch) int {
	if a.start != b.start {
		return a.start - b.start
	}
	if a.end != b.end {
		return b.end - a.end
	}
	return a.det - b.det
}

// streamMatch is a match of s.dets[det].
type streamMatch struct{ start, end, det int }
